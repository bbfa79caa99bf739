//! One run of a job: a child process of the same binary running the job's command line,
//! exactly as a one-shot run from cron would, stopped by SIGTERM (then SIGKILL) on timeout
//! or at the end of the shutdown grace period.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::schedule::JobSpec;

/// How long a child has, after SIGTERM, to clean up (abort its uploads, release its lock)
/// before it is killed.
pub const TERM_WAIT: Duration = Duration::from_secs(60);

/// How job processes are started: the program (this binary), the global arguments that
/// come before every job's command line, and environment variables to set.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: PathBuf,
    pub base_args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Success,
    Failure,
    /// Stopped after the job's timeout.
    Timeout,
    /// Stopped at shutdown, after the grace period.
    Cancelled,
    /// Could not be started at all.
    NotStarted,
}

impl RunResult {
    pub fn name(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Failure => "failure",
            RunResult::Timeout => "timeout",
            RunResult::Cancelled => "cancelled",
            RunResult::NotStarted => "not_started",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub result: RunResult,
    /// The exit code, or 128 + the signal that ended it; -1 if it never started.
    pub exit_code: i32,
    pub duration: Duration,
    /// Whether it had to be killed with SIGKILL (did not stop cleanly on SIGTERM).
    pub killed: bool,
}

/// Runs `job` once and waits for it; `hard_stop` ends it (SIGTERM, then SIGKILL after
/// [`TERM_WAIT`]) once the shutdown grace period is over. `on_start` receives the pid.
pub async fn run(
    launcher: &Launcher,
    job: &JobSpec,
    run_id: &str,
    hard_stop: &Cancel,
    on_start: impl FnOnce(u32),
) -> RunOutcome {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&launcher.program);
    cmd.args(&launcher.base_args)
        .args(&job.command)
        .envs(launcher.env.iter().map(|(k, v)| (k, v)))
        .env("LIFEBOAT_JOB", &job.name)
        .env("LIFEBOAT_RUN_ID", run_id)
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C on the daemon's terminal reaches the daemon,
        // which gives running jobs their grace period, not the jobs directly.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(job = %job.name, run_id, error = %e, program = %launcher.program.display(), "cannot start the job's process");
            return RunOutcome {
                result: RunResult::NotStarted,
                exit_code: -1,
                duration: started.elapsed(),
                killed: false,
            };
        }
    };
    let pid = child.id().unwrap_or_default();
    on_start(pid);
    let timeout = async {
        match job.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let (status, stopped_by) = tokio::select! {
        status = child.wait() => (status.map(|s| (s, false)), None),
        _ = timeout => (terminate(&mut child, pid, &job.name, "timeout").await, Some(RunResult::Timeout)),
        _ = hard_stop.cancelled() => (terminate(&mut child, pid, &job.name, "shutdown grace period over").await, Some(RunResult::Cancelled)),
    };
    let killed = matches!(&status, Err(_) | Ok((_, true)));
    let exit_code = match &status {
        Ok((s, _)) => exit_code_of(s),
        Err(_) => -1,
    };
    let result = match stopped_by {
        Some(r) => r,
        None if exit_code == 0 => RunResult::Success,
        None => RunResult::Failure,
    };
    RunOutcome {
        result,
        exit_code,
        duration: started.elapsed(),
        killed,
    }
}

/// SIGTERM, wait up to [`TERM_WAIT`], then SIGKILL. Returns the status and whether SIGKILL
/// was needed.
async fn terminate(
    child: &mut tokio::process::Child,
    pid: u32,
    job: &str,
    why: &str,
) -> std::io::Result<(std::process::ExitStatus, bool)> {
    tracing::warn!(job, pid, reason = why, "stopping the job (SIGTERM)");
    send_sigterm(pid);
    match tokio::time::timeout(TERM_WAIT, child.wait()).await {
        Ok(status) => Ok((status?, false)),
        Err(_) => {
            tracing::error!(
                job,
                pid,
                "the job did not stop within {}s of SIGTERM; killing it",
                TERM_WAIT.as_secs()
            );
            child.kill().await?;
            Ok((child.wait().await?, true))
        }
    }
}

fn send_sigterm(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) with a positive pid of our own child and a valid signal number has
    // no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc != 0 {
        tracing::warn!(pid, error = %std::io::Error::last_os_error(), "could not send SIGTERM");
    }
}

fn exit_code_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
