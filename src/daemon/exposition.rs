//! What the daemon serves: Prometheus text (the textfile's metrics as the jobs last wrote
//! them, plus the scheduler's own figures per job) and the /status JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::Ordering;

use super::{lock, Shared};
use crate::signals::metrics::unix_seconds;

/// The scheduler's metrics, each with one sample per job.
const JOB_METRICS: &[(&str, &str, &str)] = &[
    (
        "lifeboat_job_next_run_timestamp_seconds",
        "gauge",
        "When the job runs next (Unix time, jitter included).",
    ),
    (
        "lifeboat_job_last_success_timestamp_seconds",
        "gauge",
        "When the job last finished successfully (Unix time).",
    ),
    (
        "lifeboat_job_last_failure_timestamp_seconds",
        "gauge",
        "When the job last failed, timed out or was cancelled (Unix time).",
    ),
    (
        "lifeboat_job_last_duration_seconds",
        "gauge",
        "How long the job's last run took.",
    ),
    (
        "lifeboat_job_last_exit_code",
        "gauge",
        "Exit code of the job's last run (README: exit codes; 128+N: ended by signal N).",
    ),
    ("lifeboat_job_running", "gauge", "1 while the job runs."),
    (
        "lifeboat_job_overdue",
        "gauge",
        "1 when the job's last success is older than its schedule allows.",
    ),
    (
        "lifeboat_job_skipped_total",
        "counter",
        "Runs skipped because the previous run had not finished.",
    ),
];

pub fn metrics(shared: &Shared) -> String {
    let mut out = lock(&shared.metrics).render();
    let status = lock(&shared.status).clone();
    let state = lock(&shared.state).clone();
    for (name, kind, help) in JOB_METRICS {
        let mut lines = Vec::new();
        for job in &shared.spec.jobs {
            let st = status.get(&job.name).cloned().unwrap_or_default();
            let js = state.jobs.get(&job.name).cloned().unwrap_or_default();
            let value = match *name {
                "lifeboat_job_next_run_timestamp_seconds" => st.next_run.map(unix_seconds),
                "lifeboat_job_last_success_timestamp_seconds" => js.last_success.map(unix_seconds),
                "lifeboat_job_last_failure_timestamp_seconds" => js.last_failure.map(unix_seconds),
                "lifeboat_job_last_duration_seconds" => js.last_duration_seconds,
                "lifeboat_job_last_exit_code" => js.last_exit_code.map(f64::from),
                "lifeboat_job_running" => Some(if st.running { 1.0 } else { 0.0 }),
                "lifeboat_job_overdue" => Some(if st.overdue { 1.0 } else { 0.0 }),
                "lifeboat_job_skipped_total" => Some(st.skipped as f64),
                _ => None,
            };
            if let Some(v) = value {
                lines.push(format!(
                    "{name}{{job_name=\"{}\"}} {v}\n",
                    escape_label(&job.name)
                ));
            }
        }
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        out.extend(lines);
    }
    let ready = if is_ready(shared) { 1 } else { 0 };
    out.push_str(&format!(
        "# HELP lifeboat_scheduler_ready 1 while the scheduler takes work (0 while stopping).\n\
         # TYPE lifeboat_scheduler_ready gauge\nlifeboat_scheduler_ready {ready}\n"
    ));
    out
}

pub fn is_ready(shared: &Shared) -> bool {
    shared.ready.load(Ordering::SeqCst) && !shared.stopping.load(Ordering::SeqCst)
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Serialize)]
pub struct Status {
    ready: bool,
    stopping: bool,
    started_at: DateTime<Utc>,
    max_concurrent: usize,
    jobs: Vec<JobView>,
}

#[derive(Serialize)]
struct JobView {
    name: String,
    command: Vec<String>,
    schedule: String,
    dialect: &'static str,
    timezone: String,
    overlap: &'static str,
    missed: &'static str,
    next_run: Option<DateTime<Utc>>,
    running: bool,
    pid: Option<u32>,
    queued: bool,
    overdue: bool,
    runs: u64,
    skipped: u64,
    last: crate::schedule::JobState,
}

pub fn status(shared: &Shared) -> Status {
    let status = lock(&shared.status).clone();
    let state = lock(&shared.state).clone();
    let jobs = shared
        .spec
        .jobs
        .iter()
        .map(|job| {
            let st = status.get(&job.name).cloned().unwrap_or_default();
            JobView {
                name: job.name.clone(),
                command: job.command.clone(),
                schedule: job.schedule.source().to_string(),
                dialect: job.schedule.dialect().describe(),
                timezone: job.timezone.name().to_string(),
                overlap: match job.overlap {
                    crate::schedule::Overlap::Skip => "skip",
                    crate::schedule::Overlap::Queue => "queue",
                },
                missed: match job.missed {
                    crate::schedule::Missed::RunOnce => "run-once",
                    crate::schedule::Missed::Skip => "skip",
                },
                next_run: st.next_run,
                running: st.running,
                pid: st.pid,
                queued: st.queued,
                overdue: st.overdue,
                runs: st.runs,
                skipped: st.skipped,
                last: state.jobs.get(&job.name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    Status {
        ready: is_ready(shared),
        stopping: shared.stopping.load(Ordering::SeqCst),
        started_at: shared.started_at,
        max_concurrent: shared.spec.max_concurrent,
        jobs,
    }
}
