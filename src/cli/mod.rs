//! The thin command-line edge: parse, resolve configuration, call the library, print.

mod args;
mod output;
mod rds;

pub use args::{Cli, LogFormat};

use anyhow::{Context, Result};
use std::sync::Arc;

use args::{Command, ConfigCommand, KeyCommand, ScheduleCommand, SourceArgs};
use lifeboat::cancel::Cancel;
use lifeboat::config::{Overrides, RetentionOverrides, Settings};
use lifeboat::daemon::{self, DaemonOptions, Launcher};
use lifeboat::dump::{self, BackupOptions};
use lifeboat::progress::Progress;
use lifeboat::report;
use lifeboat::repository::lock::{LockKind, LockOptions};
use lifeboat::repository::pins::Pinned;
use lifeboat::repository::{BackupId, Repository};
use lifeboat::restore::{self, RestoreOptions};
use lifeboat::schedule::SchedulerSpec;
use lifeboat::signals::{BackupRun, CheckRun, PruneRun, Signals, VerifyRun};
use lifeboat::{crypto, demo, Error};

fn overrides(cli: &Cli, source: Option<&SourceArgs>) -> Overrides {
    let r = &cli.repo;
    Overrides {
        repo: r.repo.clone(),
        s3_endpoint: r.s3_endpoint.clone(),
        s3_region: r.s3_region.clone(),
        s3_path_style: r.s3_path_style,
        part_size: r.part_size.clone(),
        source: source.and_then(|s| s.source.clone()),
        databases: source.map(|s| s.databases.clone()).unwrap_or_default(),
        pg_bin_dir: r.pg_bin_dir.clone(),
        recipients: r
            .recipients
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
        recipients_file: r.recipients_file.clone(),
        identity_file: r.identity_file.clone(),
        signing_key_file: r.signing_key.clone(),
        trusted_keys: r
            .trusted_keys
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
        trusted_keys_file: r.trusted_keys_file.clone(),
        insecure_skip_signature: r.insecure_skip_signature,
        metrics_file: r.metrics_file.clone(),
        ..Default::default()
    }
}

async fn open_repo(settings: &Settings) -> Result<Arc<Repository>, Error> {
    Ok(Arc::new(
        Repository::open(&settings.repository()?, settings.keys()?).await?,
    ))
}

fn lock_options(cli: &Cli) -> LockOptions {
    LockOptions {
        retry_for: cli.repo.retry_lock.unwrap_or_default(),
    }
}

/// Runs the command. SIGTERM/SIGINT cancel it: `backup`, `verify`, `drill` and `run` stop
/// cleanly by themselves (see `lifeboat::cancel`): a backup's write is aborted, a
/// verification's scratch database dropped; any other command is stopped where it is (its
/// repository lock is released as it is dropped). Either way the exit code is 143 or 130.
pub async fn run(cli: Cli) -> Result<()> {
    let cancel = Cancel::new();
    cancel
        .on_signals()
        .context("installing the SIGTERM/SIGINT handlers")?;
    if matches!(
        cli.command,
        Command::Backup { .. } | Command::Verify { .. } | Command::Drill { .. } | Command::Run
    ) {
        return dispatch(&cli, &cancel).await;
    }
    let mut work = Box::pin(dispatch(&cli, &cancel));
    tokio::select! {
        result = &mut work => return result,
        _ = cancel.cancelled() => {}
    }
    drop(work);
    // Cleanups spawned as the work was dropped (the lock's removal) get a moment to finish.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    Err(cancel.error().into())
}

async fn dispatch(cli: &Cli, cancel: &Cancel) -> Result<()> {
    match &cli.command {
        Command::Init => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let recipients = settings.recipients()?;
            let repo = open_repo(&settings).await?;
            let fps: Vec<String> = recipients.iter().map(crypto::fingerprint).collect();
            let d = repo.init(fps.clone()).await?;
            println!(
                "initialized repository {} (recipients {}; signed by key {})",
                repo.name(),
                fps.join(", "),
                d.signing_key_ids.join(", ")
            );
        }
        Command::Backup {
            source,
            jobs,
            globals,
            lock_timeout,
            split_size,
            compression_level,
            compression_threads,
            segment_size,
            json,
        } => {
            let mut ov = overrides(cli, Some(source));
            ov.segment_size = segment_size.clone();
            ov.jobs = *jobs;
            ov.globals = *globals;
            ov.lock_timeout_secs = *lock_timeout;
            let settings = Settings::load(cli.config.clone(), ov)?;
            let signals = Signals::from_settings(&settings)?;
            let started_at = chrono::Utc::now();
            let result = async {
                let tuning = dump::Tuning {
                    split_size: Some(split_size.clone()),
                    compression_level: Some(*compression_level),
                    compression_threads: *compression_threads,
                    segment_bytes: Some(settings.segment_bytes()?),
                };
                let mut opts = BackupOptions::new(
                    settings.source()?,
                    settings.recipients()?,
                    &tuning,
                    Progress::bytes("backing up", show_progress(cli)),
                )?;
                opts.lock = lock_options(cli);
                opts.cancel = cancel.clone();
                let repo = open_repo(&settings).await?;
                let manifest = dump::backup(repo.clone(), opts).await?;
                Ok::<_, Error>((manifest, repo.name()))
            }
            .await;
            let repo_name = || {
                settings
                    .repository()
                    .map(|r| r.location.to_string())
                    .unwrap_or_default()
            };
            match result {
                Ok((manifest, repo_name)) => {
                    if *json {
                        println!("{}", String::from_utf8_lossy(&manifest.to_json()));
                    } else {
                        output::backup_summary(&manifest, &repo_name);
                    }
                    signals
                        .backup_finished(&BackupRun::succeeded(&repo_name, &manifest))
                        .await;
                }
                Err(e) => {
                    let asked = settings.source().map(|s| s.databases).unwrap_or_default();
                    let run = BackupRun::failed(&repo_name(), started_at, asked, &e);
                    signals.backup_finished(&run).await;
                    return Err(e.into());
                }
            }
        }
        Command::List { json } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            let all = repo.list_backups().await?;
            if *json {
                let rows: Vec<_> = all.iter().map(output::list_row).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                output::list_table(&all);
            }
        }
        Command::Show { backup, json } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            let m = repo.resolve(backup).await?;
            if *json {
                println!("{}", String::from_utf8_lossy(&m.to_json()));
            } else {
                output::show(&m);
            }
        }
        Command::Restore {
            backup,
            at,
            database,
            into,
            create,
            clean,
            tables,
            schema_only,
            data_only,
            jobs,
            allow_older_target,
            globals,
            no_lock,
            keep_old,
            database_properties,
            locale_fallback,
            json,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let at = at
                .as_deref()
                .map(lifeboat::config::parse_point_in_time)
                .transpose()?;
            let mut opts = RestoreOptions {
                backup: backup.clone().unwrap_or_default(),
                database: database.clone(),
                create: *create,
                clean: *clean,
                tables: tables.clone(),
                schema_only: *schema_only,
                data_only: *data_only,
                jobs: jobs.unwrap_or_else(lifeboat::config::default_jobs),
                allow_older_target: *allow_older_target,
                globals: *globals,
                pg_bin_dir: settings.pg_bin_dir(),
                progress: Progress::bytes("restoring", show_progress(cli)),
                lock: lock_options(cli),
                no_lock: *no_lock,
                keep_old: *keep_old,
                evidence: None,
                database_properties: *database_properties,
                locale_fallback: *locale_fallback,
                best_effort_properties: false,
            };
            opts.validate()?;
            let identities = settings.identities()?;
            let target = lifeboat::postgres::ConnSpec::from_url_and_env(Some(into))?;
            let repo = open_repo(&settings).await?;
            if let Some(at) = at {
                let (manifest, point) = repo.resolve_at(at, database.as_deref()).await?;
                output::point_in_time(&manifest.id, at, point);
                opts.backup = manifest.id;
            }
            let report = restore::restore(repo, &target, identities, &opts).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                output::restore_summary(&report);
            }
        }
        Command::Verify {
            backup,
            at,
            databases,
            scratch_url,
            keep,
            keep_on_failure,
            jobs,
            json,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let which = match (at, backup) {
                (Some(at), _) => {
                    lifeboat::verify::Which::At(lifeboat::config::parse_point_in_time(at)?)
                }
                (None, b) => {
                    lifeboat::verify::Which::Named(b.clone().unwrap_or_else(|| "latest".into()))
                }
            };
            let opts = lifeboat::verify::VerifyOptions {
                which,
                databases: databases.clone(),
                scratch: settings.scratch(scratch_url.as_deref())?,
                keep: match (keep, keep_on_failure) {
                    (true, _) => lifeboat::verify::Keep::Always,
                    (false, true) => lifeboat::verify::Keep::OnFailure,
                    _ => lifeboat::verify::Keep::Never,
                },
                jobs: jobs.unwrap_or_else(lifeboat::config::default_jobs),
                assertions: settings.assertions()?,
                pg_bin_dir: settings.pg_bin_dir(),
                progress: Progress::bytes("verifying", show_progress(cli)),
                lock: lock_options(cli),
                cancel: cancel.clone(),
            };
            let signals = Signals::from_settings(&settings)?;
            let identities = settings.identities()?;
            let repo = open_repo(&settings).await?;
            let repo_name = repo.name();
            let verified = lifeboat::verify::verify(repo, identities, &opts).await?;
            signals
                .verify_finished(&VerifyRun::from_record(&repo_name, &verified.record))
                .await;
            if *json {
                println!("{}", serde_json::to_string_pretty(&verified.record)?);
                for k in &verified.kept {
                    eprintln!("{k}");
                }
            } else {
                output::verification(&verified);
            }
            if let Some(failure) = verified.failure() {
                return Err(failure.into());
            }
        }
        Command::Drill {
            scenario,
            output_dir,
            jobs,
            json,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let scenario = lifeboat::drill::Scenario::load(scenario)?;
            let opts = lifeboat::drill::DrillOptions {
                jobs: jobs.unwrap_or_else(lifeboat::config::default_jobs),
                pg_bin_dir: settings.pg_bin_dir(),
                progress: Progress::bytes("drill: restoring", show_progress(cli)),
                lock: lock_options(cli),
                output_dir: output_dir.clone(),
                assertions: settings.assertions()?,
                cancel: cancel.clone(),
                rds: match &scenario.rds {
                    Some(_) => Some(Arc::new(lifeboat::rds::Rds::new(settings.rds()?).await)),
                    None => None,
                },
            };
            let signals = Signals::from_settings(&settings)?;
            // An RDS drill restores a snapshot: it needs no age identity.
            let identities = match &scenario.rds {
                Some(_) => Vec::new(),
                None => settings.identities()?,
            };
            let repo = open_repo(&settings).await?;
            let repo_name = repo.name();
            let outcome = lifeboat::drill::run(repo, identities, &scenario, &opts).await?;
            if let Some(record) = &outcome.report.verification {
                signals
                    .verify_finished(&VerifyRun::from_record(&repo_name, record))
                    .await;
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&outcome.report)?);
            } else {
                output::drill(&outcome);
            }
            if let Some(failure) = outcome.failure() {
                return Err(failure.into());
            }
        }
        Command::Check {
            read_data,
            read_data_subset,
            json,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let read = match (read_data, read_data_subset) {
                (_, Some(subset)) => lifeboat::check::ReadData::parse(subset)?,
                (true, None) => lifeboat::check::ReadData::All,
                (false, None) => lifeboat::check::ReadData::None,
            };
            let identity_given = settings.overrides.identity_file.is_some()
                || settings.file.encryption.identity_file.is_some();
            let identities = if identity_given {
                Some(settings.identities()?)
            } else {
                None
            };
            let signals = Signals::from_settings(&settings)?;
            let repo = open_repo(&settings).await?;
            let result = lifeboat::check::check(&repo, identities, read).await;
            let failure = match &result {
                Ok(r) if r.problems.is_empty() => None,
                Ok(r) => Some(Error::CheckFailed {
                    repo: repo.name(),
                    problems: r.problems.len(),
                }),
                Err(_) => None,
            };
            signals
                .check_finished(&CheckRun {
                    repository: repo.name(),
                    finished_at: chrono::Utc::now(),
                    problems: result.as_ref().ok().map(|r| r.problems.len()),
                    error: match (&result, &failure) {
                        (Err(e), _) => Some(e.to_string()),
                        (Ok(r), Some(_)) => {
                            Some(output::problems_in_brief(&repo.name(), &r.problems))
                        }
                        _ => None,
                    },
                })
                .await;
            let report = result?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                output::check_report(&report);
            }
            if let Some(f) = failure {
                return Err(f.into());
            }
        }
        Command::Report {
            since,
            format,
            output,
            databases,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let targets = settings.targets()?;
            let params = report::ReportParams {
                now: chrono::Utc::now(),
                since: *since,
                timezone: settings.report_timezone()?,
                only: databases.clone(),
                expected: settings.configured_databases(),
            };
            let signals = Signals::from_settings(&settings)?;
            let repo = open_repo(&settings).await?;
            let rds_settings = settings.rds()?;
            let rds = match rds_settings.targets.is_empty() {
                true => None,
                false => Some(lifeboat::rds::Rds::new(rds_settings).await),
            };
            let r = report::generate_with_rds(&repo, &targets, &params, rds.as_ref()).await?;
            signals.report_computed(&report::compliance_run(&r)).await;
            let text = report::render(&r, (*format).into());
            match output {
                Some(path) => {
                    report::write_atomically(path, text.as_bytes())?;
                    output::report_written(&r, path);
                }
                None => print!("{text}"),
            }
            if let Some(summary) = r.breach_summary() {
                return Err(Error::Breach { summary }.into());
            }
        }
        Command::Forget { backups } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            let lock = repo
                .lock(LockKind::Exclusive, "forget", lock_options(cli))
                .await?;
            let result = async {
                // Every id resolved, and none pinned, before anything is deleted.
                let mut ids = Vec::new();
                for wanted in backups {
                    let id = repo.resolve_id(wanted).await?;
                    if let Some(pin) = repo.pin_of(&id.0).await? {
                        let reason = pin.describe();
                        return Err(Error::Pinned {
                            id: id.0,
                            reason: if reason.is_empty() {
                                "no reason given".into()
                            } else {
                                reason
                            },
                        });
                    }
                    ids.push(id);
                }
                for id in ids {
                    let n = repo.delete_backup(&id, &lock).await?;
                    println!("deleted backup {id} ({n} objects)");
                }
                Ok::<_, Error>(())
            }
            .await;
            lock.release().await;
            result?;
        }
        Command::Prune {
            policy,
            timezone,
            keep_verified,
            no_keep_verified,
            dry_run,
            json,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let retention = settings.retention(&RetentionOverrides {
                policy: policy.policy(),
                timezone: timezone.clone(),
                keep_verified: match (keep_verified, no_keep_verified) {
                    (_, true) => Some(false),
                    (true, _) => Some(true),
                    _ => None,
                },
            })?;
            let opts = lifeboat::prune::PruneOptions {
                policy: retention.policy,
                timezone: retention.timezone,
                keep_verified: retention.keep_verified,
                dry_run: *dry_run,
                lock: lock_options(cli),
            };
            let signals = Signals::from_settings(&settings)?;
            let repo = open_repo(&settings).await?;
            let json = *json;
            let result = lifeboat::prune::prune(&repo, &opts, |plan| {
                if !json {
                    output::prune_plan(plan);
                }
            })
            .await;
            if !opts.dry_run {
                let run = match &result {
                    Ok(report) => report.signal(),
                    Err(e) => PruneRun {
                        repository: repo.name(),
                        finished_at: chrono::Utc::now(),
                        deleted: 0,
                        kept: 0,
                        freed_bytes: 0,
                        error: Some(e.to_string()),
                    },
                };
                signals.prune_finished(&run).await;
            }
            let report = result?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                output::prune_done(&report);
            }
        }
        Command::Pin {
            backup,
            reason,
            list,
        } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            if *list {
                output::pins(&repo.pins().await?);
                return Ok(());
            }
            let wanted = backup.clone().unwrap_or_default();
            let lock = repo
                .lock(LockKind::Shared, "pin", lock_options(cli))
                .await?;
            let result = async {
                let id = repo.resolve_id(&wanted).await?;
                let done = repo.pin(&id, reason.clone(), &lock).await?;
                Ok::<_, Error>((id, done))
            }
            .await;
            lock.release().await;
            match result? {
                (id, Pinned::Now(pin)) => println!(
                    "pinned backup {id}{}: prune and forget will not delete it",
                    pin.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
                (id, Pinned::Already(found)) => println!(
                    "backup {id} was already pinned{}; the pin is unchanged",
                    Some(found.describe())
                        .filter(|d| !d.is_empty())
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
            }
        }
        Command::Unpin { backup } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            let lock = repo
                .lock(LockKind::Shared, "unpin", lock_options(cli))
                .await?;
            let result = async {
                let id = match repo.resolve_id(backup).await {
                    Ok(id) => id.0,
                    // A pin can outlive its backup only if the backup was removed behind
                    // lifeboat's back: its full id still unpins it.
                    Err(e) if !BackupId::is_valid(backup) => return Err(e),
                    Err(_) => backup.clone(),
                };
                match repo.unpin(&id, &lock).await? {
                    Some(found) => Ok((id, found)),
                    None => Err(Error::Backup(format!(
                        "{id} is not pinned; `lifeboat pin --list` lists the pins"
                    ))),
                }
            }
            .await;
            lock.release().await;
            let (id, _) = result?;
            println!("unpinned backup {id}: retention may delete it again");
        }
        Command::Unlock { remove_all } => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let repo = open_repo(&settings).await?;
            repo.descriptor().await?;
            let removed = repo.unlock(*remove_all).await?;
            for l in &removed {
                println!("removed {}", l.describe());
            }
            let left = repo.locks().await?.len();
            println!(
                "removed {} lock(s); {left} left{}",
                removed.len(),
                if left > 0 && !remove_all {
                    " (held by processes that may still run; --remove-all removes them too)"
                } else {
                    ""
                }
            );
        }
        Command::Run => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let spec = scheduler_spec(&settings)?;
            let opts = DaemonOptions {
                spec,
                launcher: child_launcher(cli)?,
                signals: Signals::from_settings(&settings)?,
                shutdown: cancel.clone(),
            };
            let report = daemon::run(opts).await?;
            if !report.killed.is_empty() {
                anyhow::bail!(
                    "stopped, but job(s) {} did not end within {}s of SIGTERM and were killed; \
                     the next backup cleans up what they left",
                    report.killed.join(", "),
                    daemon::child::TERM_WAIT.as_secs()
                );
            }
        }
        Command::Rds(cmd) => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            rds::dispatch(cli, &settings, cmd).await?;
        }
        Command::Schedule(ScheduleCommand::Check { next }) => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, None))?;
            let spec = scheduler_spec(&settings)?;
            output::schedule_check(&spec, *next, chrono::Utc::now());
        }
        Command::Config(ConfigCommand::Check { source }) => {
            let settings = Settings::load(cli.config.clone(), overrides(cli, Some(source)))?;
            output::config_check(&settings).await?;
        }
        Command::Key(KeyCommand::Generate { output, signing }) => {
            let pub_path = signing.as_ref().map(|p| {
                let mut s = p.clone().into_os_string();
                s.push(".pub");
                std::path::PathBuf::from(s)
            });
            for path in output.iter().chain(signing.iter()).chain(pub_path.iter()) {
                if path.exists() {
                    return Err(Error::Key(format!(
                        "{} already exists; refusing to overwrite a key",
                        path.display()
                    ))
                    .into());
                }
            }
            if let Some(output) = output {
                let (text, public) = crypto::generate_identity_file();
                write_private(output, &text)
                    .with_context(|| format!("writing {}", output.display()))?;
                eprintln!(
                    "wrote the age private key to {} — store a copy offline: without it no \
                     backup encrypted to it can be restored. Recipient (LIFEBOAT_AGE_RECIPIENTS):",
                    output.display()
                );
                println!("{public}");
            }
            if let (Some(signing), Some(pub_path)) = (signing, pub_path) {
                let (secret, public_file, key) = crypto::sign::generate()?;
                write_private(signing, &secret)
                    .with_context(|| format!("writing {}", signing.display()))?;
                std::fs::write(&pub_path, public_file)
                    .with_context(|| format!("writing {}", pub_path.display()))?;
                eprintln!(
                    "wrote the signing key to {} (for LIFEBOAT_SIGNING_KEY_FILE, on the backup \
                     side) and its public key to {}. Trusted key for restores \
                     (LIFEBOAT_TRUSTED_KEYS), id {}:",
                    signing.display(),
                    pub_path.display(),
                    key.id()
                );
                println!("{}", key.public_base64());
            }
        }
        Command::Key(KeyCommand::Public { identity }) => {
            for id in crypto::read_identity_file(identity)? {
                println!("{}", id.to_public());
            }
        }
        Command::Demo { keep } => {
            demo::run(demo::DemoOptions {
                keep: *keep,
                pg_bin_dir: cli.repo.pg_bin_dir.clone(),
            })
            .await?;
        }
    }
    Ok(())
}

/// `[scheduler]` and `[[job]]`, each job's command line checked by the CLI's own parser.
fn scheduler_spec(settings: &Settings) -> Result<SchedulerSpec, Error> {
    // Only to place the state file beside it: `run` checks the textfile itself.
    let textfile = (settings.overrides.metrics_file.clone())
        .or_else(|| settings.file.metrics.textfile.clone());
    // `rds …` jobs need a valid [rds] section: checked at load like the command lines.
    let has_rds_job = settings.file.job.iter().any(|j| {
        j.command
            .as_ref()
            .and_then(|c| c.first())
            .is_some_and(|w| w == "rds")
    });
    if has_rds_job {
        settings.rds()?;
    }
    SchedulerSpec::resolve(
        &settings.file.scheduler,
        &settings.file.job,
        textfile.as_deref(),
        &check_job_command,
    )
}

/// A job's command line must parse as a lifeboat command that ends (not `run`/`schedule`).
fn check_job_command(command: &[String]) -> std::result::Result<(), String> {
    use clap::Parser;
    let argv = std::iter::once("lifeboat".to_string()).chain(command.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(parsed) => match parsed.command {
            Command::Run | Command::Schedule(_) => Err(format!(
                "`{}` cannot be a job; a job is one command that ends (backup, verify, check, \
                 report, drill…)",
                command.join(" ")
            )),
            _ => Ok(()),
        },
        Err(e) => {
            let text = e.to_string();
            let summary: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            Err(format!(
                "`{}` is not a valid lifeboat command line: {}",
                command.join(" "),
                summary.join("; ").trim_start_matches("error: ")
            ))
        }
    }
}

/// Jobs run this very binary with the daemon's global settings: `--config`, the log format
/// and verbosity as arguments, the other global flags as their environment variables (the
/// rest of the environment is inherited).
fn child_launcher(cli: &Cli) -> Result<Launcher> {
    let program = std::env::current_exe().context("locating the lifeboat binary for the jobs")?;
    let mut base_args = Vec::new();
    if let Some(config) = &cli.config {
        let absolute = std::path::absolute(config)
            .with_context(|| format!("resolving {}", config.display()))?;
        base_args.push("--config".to_string());
        base_args.push(absolute.display().to_string());
    }
    base_args.push("--log-format".into());
    base_args.push(match cli.log_format {
        LogFormat::Json => "json".into(),
        LogFormat::Human => "human".into(),
    });
    base_args.extend((0..cli.verbose).map(|_| "-v".to_string()));
    let r = &cli.repo;
    if r.insecure_skip_signature {
        base_args.push("--insecure-skip-signature".into());
    }
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.join(","));
    let env = [
        ("LIFEBOAT_REPO", r.repo.clone()),
        ("LIFEBOAT_S3_ENDPOINT", r.s3_endpoint.clone()),
        ("LIFEBOAT_S3_REGION", r.s3_region.clone()),
        (
            "LIFEBOAT_S3_PATH_STYLE",
            r.s3_path_style.map(|b| b.to_string()),
        ),
        ("LIFEBOAT_PART_SIZE", r.part_size.clone()),
        ("LIFEBOAT_AGE_RECIPIENTS", list(&r.recipients)),
        ("LIFEBOAT_AGE_RECIPIENTS_FILE", path(&r.recipients_file)),
        ("LIFEBOAT_AGE_IDENTITY_FILE", path(&r.identity_file)),
        ("LIFEBOAT_PG_BIN_DIR", path(&r.pg_bin_dir)),
        ("LIFEBOAT_SIGNING_KEY_FILE", path(&r.signing_key)),
        ("LIFEBOAT_TRUSTED_KEYS", list(&r.trusted_keys)),
        ("LIFEBOAT_TRUSTED_KEYS_FILE", path(&r.trusted_keys_file)),
        ("LIFEBOAT_METRICS_FILE", path(&r.metrics_file)),
        (
            "LIFEBOAT_RETRY_LOCK",
            r.retry_lock
                .map(|d| humantime::format_duration(d).to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    Ok(Launcher {
        program,
        base_args,
        env,
    })
}

/// Progress bars only for a person at a terminal, never into log files or JSON logs.
fn show_progress(cli: &Cli) -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && cli.log_format == LogFormat::Human
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}
