//! The `lifeboat` binary: argument parsing and logging set-up around the library.

mod cli;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn init_logging(format: cli::LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "lifeboat=info,warn",
        1 => "lifeboat=debug,info",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("LIFEBOAT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: cron and Kubernetes logs must stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Human => builder.with_target(false).init(),
    }
}

fn main() {
    let args = cli::Cli::parse();
    init_logging(args.log_format, args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(cli::run(args)) {
        let code = err
            .downcast_ref::<lifeboat::Error>()
            .map(lifeboat::Error::exit_code)
            .unwrap_or(1);
        // The library's errors are whole sentences that already name their cause; anyhow's
        // chain would print it a second time.
        match err.downcast_ref::<lifeboat::Error>() {
            Some(e) => eprintln!("error: {e}"),
            None => eprintln!("error: {err:#}"),
        }
        std::process::exit(code);
    }
}
