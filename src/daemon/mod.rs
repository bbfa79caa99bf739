//! `lifeboat run`: the scheduler daemon.
//!
//! Each job has a **scheduler** task, which sleeps until the job's next instant (plus
//! jitter) and triggers it, and a **runner** task, which runs triggers one at a time as
//! child processes ([`child`]) once a slot of the global concurrency limit is free. A
//! trigger that arrives while the job is busy is dropped (`overlap = "skip"`) or kept for
//! one run after the current one (`"queue"`). An **overdue** check raises the `overdue`
//! notification once for a job whose last success is older than its schedule allows, even
//! if it never started. [`http`] serves /healthz, /readyz, /metrics and /status.
//!
//! On SIGTERM/SIGINT: no new runs start, /readyz fails, running jobs get the grace period
//! to finish, then they are sent SIGTERM (each cancels cleanly: see [`crate::cancel`]), and
//! the daemon exits once they are gone.

pub mod child;
mod exposition;
mod http;

pub use child::{Launcher, RunOutcome, RunResult};

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};

use crate::cancel::{Cancel, StopSignal};
use crate::error::{Error, Result};
use crate::schedule::{JobSpec, Overlap, SchedulerSpec, StateFile};
use crate::signals::{Event, MetricsState, Notification, Signals};

/// How often the overdue check runs.
const OVERDUE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest single sleep of a scheduler: it re-reads the wall clock at least this often,
/// so a suspended host or a clock step does not shift a run by hours.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// What the daemon needs besides its configuration.
pub struct DaemonOptions {
    pub spec: SchedulerSpec,
    pub launcher: Launcher,
    /// The metrics textfile (read after each run for /metrics) and the webhook (overdue).
    pub signals: Signals,
    /// Cancelled by SIGTERM/SIGINT: starts the shutdown.
    pub shutdown: Cancel,
}

/// How the daemon ended.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Jobs stopped at the end of the grace period (they cancelled cleanly).
    pub cancelled: Vec<String>,
    /// Jobs that had to be killed (SIGKILL): they may have left debris for the next run's
    /// cleanup.
    pub killed: Vec<String>,
}

/// What the daemon knows of a job while it runs.
#[derive(Debug, Clone, Default)]
struct JobStatus {
    next_run: Option<DateTime<Utc>>,
    /// Waiting for a slot or running.
    busy: bool,
    running: bool,
    pid: Option<u32>,
    queued: bool,
    overdue: bool,
    overdue_notified: bool,
    skipped: u64,
    runs: u64,
}

struct Shared {
    spec: SchedulerSpec,
    launcher: Launcher,
    signals: Signals,
    started_at: DateTime<Utc>,
    status: Mutex<BTreeMap<String, JobStatus>>,
    state: Mutex<StateFile>,
    metrics: Mutex<MetricsState>,
    ready: AtomicBool,
    stopping: AtomicBool,
    slots: Semaphore,
    shutdown: Cancel,
    /// Cancelled when the grace period is over: running children are stopped.
    hard_stop: Cancel,
    run_counter: AtomicU64,
    report: Mutex<ShutdownReport>,
}

impl Shared {
    fn with_status<T>(&self, job: &str, f: impl FnOnce(&mut JobStatus) -> T) -> T {
        let mut all = lock(&self.status);
        f(all.entry(job.to_string()).or_default())
    }

    fn job_state(&self, job: &str) -> crate::schedule::JobState {
        lock(&self.state).jobs.get(job).cloned().unwrap_or_default()
    }

    /// Re-reads the metrics textfile the jobs write (if one is configured).
    fn refresh_metrics(&self) {
        let Some(file) = self.signals.textfile() else {
            return;
        };
        match file.read() {
            Ok(m) => *lock(&self.metrics) = m,
            Err(e) => tracing::warn!("{e}; /metrics keeps the previous figures"),
        }
    }

    fn save_state(&self) {
        let state = lock(&self.state).clone();
        if let Err(e) = state.save(&self.spec.state_file) {
            tracing::warn!("{e}; missed runs may be caught up again after a restart");
        }
    }
}

/// Poison-tolerant lock: a panicked holder leaves plain data that is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the daemon until `shutdown` is cancelled and every running job has ended.
pub async fn run(opts: DaemonOptions) -> Result<ShutdownReport> {
    let shared = start(opts).await?;
    let listener = bind(&shared).await?;
    tokio::spawn(http::serve(listener, shared.clone()));
    let mut runners = tokio::task::JoinSet::new();
    for job in shared.spec.jobs.clone() {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(scheduler(shared.clone(), job.clone(), tx));
        runners.spawn(runner(shared.clone(), job, rx));
    }
    tokio::spawn(overdue_checks(shared.clone()));
    shared.ready.store(true, Ordering::SeqCst);
    tracing::info!(
        listen = %shared.spec.listen,
        jobs = shared.spec.jobs.len(),
        max_concurrent = shared.spec.max_concurrent,
        state_file = %shared.spec.state_file.display(),
        "scheduler started"
    );

    shared.shutdown.cancelled().await;
    begin_shutdown(&shared);
    while runners.join_next().await.is_some() {}
    let report = std::mem::take(&mut *lock(&shared.report));
    tracing::info!(
        cancelled = report.cancelled.len(),
        killed = report.killed.len(),
        "scheduler stopped"
    );
    Ok(report)
}

/// Loads the state, registers the jobs, reads the metrics.
async fn start(opts: DaemonOptions) -> Result<Arc<Shared>> {
    StateFile::check_writable(&opts.spec.state_file)?;
    let mut state = StateFile::load(&opts.spec.state_file);
    let now = Utc::now();
    for job in &opts.spec.jobs {
        let entry = state.jobs.entry(job.name.clone()).or_default();
        entry.known_since.get_or_insert(now);
    }
    let shared = Arc::new(Shared {
        status: Mutex::new(BTreeMap::new()),
        state: Mutex::new(state),
        metrics: Mutex::new(MetricsState::new()),
        ready: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        slots: Semaphore::new(opts.spec.max_concurrent),
        hard_stop: Cancel::new(),
        run_counter: AtomicU64::new(0),
        report: Mutex::new(ShutdownReport::default()),
        started_at: now,
        spec: opts.spec,
        launcher: opts.launcher,
        signals: opts.signals,
        shutdown: opts.shutdown,
    });
    shared.save_state();
    shared.refresh_metrics();
    Ok(shared)
}

async fn bind(shared: &Shared) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(shared.spec.listen)
        .await
        .map_err(|e| {
            Error::config(format!(
                "[scheduler] listen: cannot listen on {}: {e}; choose another address or port",
                shared.spec.listen
            ))
        })
}

/// Stop taking work; after the grace period, stop the running jobs.
fn begin_shutdown(shared: &Arc<Shared>) {
    shared.stopping.store(true, Ordering::SeqCst);
    let running: Vec<String> = lock(&shared.status)
        .iter()
        .filter(|(_, s)| s.running)
        .map(|(n, _)| n.clone())
        .collect();
    tracing::info!(
        signal = shared.shutdown.signal().map(StopSignal::name).unwrap_or("stop"),
        running = ?running,
        grace_period_seconds = shared.spec.grace_period.as_secs_f64(),
        "stopping: no new runs; running jobs may finish within the grace period"
    );
    let (hard_stop, grace) = (shared.hard_stop.clone(), shared.spec.grace_period);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        hard_stop.request(StopSignal::Terminate);
    });
}

/// Sleeps until each of the job's instants and triggers it.
async fn scheduler(shared: Arc<Shared>, job: JobSpec, tx: mpsc::Sender<&'static str>) {
    let now = Utc::now();
    let last = shared.job_state(&job.name).last_started;
    if job.catch_up_at_start(last, now) {
        tracing::info!(job = %job.name, last_run = ?last, "runs were missed while the daemon was down: running once now");
        trigger(&shared, &job, &tx, "catch-up");
    }
    let mut after = now;
    loop {
        let Some(instant) = job.next_after(after) else {
            tracing::warn!(job = %job.name, "the schedule has no further run");
            shared.with_status(&job.name, |s| s.next_run = None);
            return;
        };
        let jitter = chrono::Duration::from_std(job.jitter_delay()).unwrap_or_default();
        let at = instant + jitter;
        shared.with_status(&job.name, |s| s.next_run = Some(at));
        tokio::select! {
            _ = sleep_until(at) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        trigger(&shared, &job, &tx, "schedule");
        after = instant.max(Utc::now());
    }
}

async fn sleep_until(at: DateTime<Utc>) {
    loop {
        let left = at - Utc::now();
        let Ok(left) = left.to_std() else { return };
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(MAX_SLEEP)).await;
    }
}

/// Hands a trigger to the runner, by the job's overlap policy.
fn trigger(shared: &Shared, job: &JobSpec, tx: &mpsc::Sender<&'static str>, why: &'static str) {
    let busy = shared.with_status(&job.name, |s| s.busy);
    if busy && job.overlap == Overlap::Skip {
        shared.with_status(&job.name, |s| s.skipped += 1);
        tracing::warn!(job = %job.name, reason = why, "run skipped: the previous run has not finished (overlap = \"skip\")");
        return;
    }
    match tx.try_send(why) {
        Ok(()) if busy => {
            shared.with_status(&job.name, |s| s.queued = true);
            tracing::info!(job = %job.name, reason = why, "run queued: it starts when the previous run ends (overlap = \"queue\")");
        }
        Ok(()) => {}
        Err(_) => {
            shared.with_status(&job.name, |s| s.skipped += 1);
            tracing::warn!(job = %job.name, reason = why, "run skipped: one run of this job is already waiting");
        }
    }
}

/// Runs the job's triggers one at a time, each once a global slot is free.
async fn runner(shared: Arc<Shared>, job: JobSpec, mut rx: mpsc::Receiver<&'static str>) {
    loop {
        let why = tokio::select! {
            why = rx.recv() => match why { Some(w) => w, None => return },
            _ = shared.shutdown.cancelled() => return,
        };
        shared.with_status(&job.name, |s| {
            s.busy = true;
            s.queued = false;
        });
        let permit = tokio::select! {
            permit = shared.slots.acquire() => permit,
            _ = shared.shutdown.cancelled() => return,
        };
        if shared.shutdown.is_cancelled() {
            return;
        }
        run_once(&shared, &job, why).await;
        drop(permit);
        shared.with_status(&job.name, |s| s.busy = false);
    }
}

/// One run: start, wait, record, log.
async fn run_once(shared: &Arc<Shared>, job: &JobSpec, why: &str) {
    let started_at = Utc::now();
    let n = shared.run_counter.fetch_add(1, Ordering::SeqCst);
    let run_id = format!("{}-{}-{n}", job.name, started_at.format("%Y%m%dT%H%M%SZ"));
    let command = job.command.join(" ");
    tracing::info!(job = %job.name, command = %command, run_id = %run_id, reason = why, "job started");
    {
        let mut state = lock(&shared.state);
        state.jobs.entry(job.name.clone()).or_default().last_started = Some(started_at);
    }
    shared.save_state();
    shared.with_status(&job.name, |s| {
        s.running = true;
        s.runs += 1;
    });
    let name = job.name.clone();
    let outcome = child::run(&shared.launcher, job, &run_id, &shared.hard_stop, |pid| {
        shared.with_status(&name, |s| s.pid = Some(pid));
    })
    .await;
    record(shared, job, started_at, &outcome);
    let duration = outcome.duration.as_secs_f64();
    if outcome.result == RunResult::Success {
        tracing::info!(job = %job.name, command = %command, run_id = %run_id, duration_seconds = duration, exit_code = outcome.exit_code, result = outcome.result.name(), "job finished");
    } else {
        tracing::warn!(job = %job.name, command = %command, run_id = %run_id, duration_seconds = duration, exit_code = outcome.exit_code, result = outcome.result.name(), "job finished");
    }
}

fn record(shared: &Shared, job: &JobSpec, started_at: DateTime<Utc>, outcome: &RunOutcome) {
    let finished = Utc::now();
    {
        let mut state = lock(&shared.state);
        let s = state.jobs.entry(job.name.clone()).or_default();
        s.last_started = Some(started_at);
        s.last_finished = Some(finished);
        s.last_exit_code = Some(outcome.exit_code);
        s.last_duration_seconds = Some(outcome.duration.as_secs_f64());
        s.last_result = Some(outcome.result.name().to_string());
        if outcome.result == RunResult::Success {
            s.last_success = Some(finished);
        } else {
            s.last_failure = Some(finished);
        }
    }
    shared.save_state();
    shared.with_status(&job.name, |s| {
        s.running = false;
        s.pid = None;
        if outcome.result == RunResult::Success {
            s.overdue = false;
            s.overdue_notified = false;
        }
    });
    if outcome.result == RunResult::Cancelled || outcome.killed {
        let mut report = lock(&shared.report);
        if outcome.killed {
            report.killed.push(job.name.clone());
        } else {
            report.cancelled.push(job.name.clone());
        }
    }
    shared.refresh_metrics();
}

/// Raises `overdue` once per job whose last success (or, never having succeeded, its first
/// day under the daemon) is older than the schedule allows.
async fn overdue_checks(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(OVERDUE_CHECK_EVERY) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let now = Utc::now();
        for job in &shared.spec.jobs {
            let state = shared.job_state(&job.name);
            let Some(since) = state.last_success.or(state.known_since) else {
                continue;
            };
            let threshold = job.overdue_threshold(now);
            let overdue = now - since > threshold;
            let notify = shared.with_status(&job.name, |s| {
                s.overdue = overdue;
                let first = overdue && !s.overdue_notified;
                if first {
                    s.overdue_notified = true;
                }
                first
            });
            if notify {
                let message = match state.last_success {
                    Some(t) => format!(
                        "job `{}` ({}) last succeeded at {}, longer ago than its schedule allows ({})",
                        job.name,
                        job.command.join(" "),
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        crate::config::human_duration(threshold.num_seconds())
                    ),
                    None => format!(
                        "job `{}` ({}) has not succeeded since the scheduler first ran it at {} ({} ago, more than its schedule allows: {})",
                        job.name,
                        job.command.join(" "),
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        crate::config::human_duration((now - since).num_seconds()),
                        crate::config::human_duration(threshold.num_seconds())
                    ),
                };
                tracing::warn!(job = %job.name, "{message}");
                let n = Notification {
                    timestamp: now,
                    ..Notification::new(Event::Overdue, message)
                };
                shared.signals.notify(&n).await;
            }
        }
    }
}
