//! `[scheduler]` and `[[job]]`, resolved and validated: every problem is one error naming
//! the job and the key.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::expr::CronExpr;
use crate::config::{JobSection, SchedulerSection};
use crate::error::{Error, Result};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(600);
pub const STATE_FILE_NAME: &str = "lifeboat-scheduler.json";

/// What a trigger does while the job is still running (or waiting for a slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The trigger is dropped and logged.
    Skip,
    /// The job runs again once the current run ends (at most one run waits).
    Queue,
}

/// Runs missed while the daemon was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// At most one catch-up run, at start.
    RunOnce,
    Skip,
}

/// One job, ready to schedule.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    /// The command line after `lifeboat`.
    pub command: Vec<String>,
    pub schedule: CronExpr,
    pub timezone: Tz,
    pub jitter: std::time::Duration,
    pub overlap: Overlap,
    pub missed: Missed,
    pub timeout: Option<std::time::Duration>,
    /// Explicit `overdue_after`; else twice the schedule's interval.
    pub overdue_after: Option<std::time::Duration>,
}

impl JobSpec {
    /// The next scheduled instant after `after` (before jitter).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_after(self.timezone, after)
    }

    /// A random delay in `[0, jitter]`.
    pub fn jitter_delay(&self) -> std::time::Duration {
        jitter_within(self.jitter, &mut rand::thread_rng())
    }

    /// How old the last success may get before the job is overdue.
    pub fn overdue_threshold(&self, now: DateTime<Utc>) -> Duration {
        match self.overdue_after {
            Some(d) => Duration::from_std(d).unwrap_or(Duration::MAX),
            None => self
                .schedule
                .interval(self.timezone, now)
                .map(|i| i * 2 + Duration::from_std(self.jitter).unwrap_or_default())
                .unwrap_or(Duration::MAX),
        }
    }

    /// Whether a run scheduled after `last_run` was missed by `now`.
    pub fn missed_since(&self, last_run: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.next_after(last_run).is_some_and(|t| t < now)
    }

    /// Whether to run once at start: missed runs and the `run-once` policy.
    pub fn catch_up_at_start(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match (self.missed, last_run) {
            (Missed::RunOnce, Some(last)) => self.missed_since(last, now),
            _ => false,
        }
    }
}

/// A uniformly random delay in `[0, max]`, at millisecond resolution.
pub fn jitter_within(max: std::time::Duration, rng: &mut impl rand::Rng) -> std::time::Duration {
    let ms = max.as_millis().min(u64::MAX as u128) as u64;
    if ms == 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::from_millis(rng.gen_range(0..=ms))
}

/// The whole scheduler configuration.
#[derive(Debug, Clone)]
pub struct SchedulerSpec {
    pub listen: SocketAddr,
    pub max_concurrent: usize,
    pub grace_period: std::time::Duration,
    pub state_file: PathBuf,
    pub jobs: Vec<JobSpec>,
}

/// Checks a job's command line (the CLI's parser: flags, values, a known subcommand).
pub type CommandCheck<'a> = &'a dyn Fn(&[String]) -> std::result::Result<(), String>;

impl SchedulerSpec {
    /// Resolves `[scheduler]` and every `[[job]]`. `check` validates each command line;
    /// `metrics_textfile` places the default state file.
    pub fn resolve(
        section: &SchedulerSection,
        jobs: &[JobSection],
        metrics_textfile: Option<&Path>,
        check: CommandCheck<'_>,
    ) -> Result<Self> {
        let listen_text = section.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.trim().parse::<SocketAddr>().map_err(|_| {
            Error::config(format!(
                "[scheduler] listen: `{listen_text}` is not an address; write IP:PORT, e.g. \
                 {DEFAULT_LISTEN} (or 0.0.0.0:9187 to be scraped from other hosts)"
            ))
        })?;
        let max_concurrent = section.max_concurrent.unwrap_or(1);
        if max_concurrent == 0 {
            return Err(Error::config(
                "[scheduler] max_concurrent: must be at least 1",
            ));
        }
        let grace_period = match &section.grace_period {
            Some(text) => duration("[scheduler] grace_period", text)?,
            None => DEFAULT_GRACE,
        };
        let default_tz = timezone("[scheduler] timezone", section.timezone.as_deref())?;
        let state_file = section.state_file.clone().unwrap_or_else(|| {
            metrics_textfile
                .and_then(Path::parent)
                .map(|dir| dir.join(STATE_FILE_NAME))
                .unwrap_or_else(|| PathBuf::from(STATE_FILE_NAME))
        });
        if jobs.is_empty() {
            return Err(Error::config(
                "no [[job]] configured: add at least one (see the examples in schedules/)",
            ));
        }
        let mut resolved: Vec<JobSpec> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let spec = resolve_job(i, job, default_tz, check)?;
            if resolved.iter().any(|j| j.name == spec.name) {
                return Err(Error::config(format!(
                    "[[job]] `{}`: name: two jobs have this name; names must be unique",
                    spec.name
                )));
            }
            resolved.push(spec);
        }
        Ok(SchedulerSpec {
            listen,
            max_concurrent,
            grace_period,
            state_file,
            jobs: resolved,
        })
    }
}

fn resolve_job(
    index: usize,
    job: &JobSection,
    default_tz: Tz,
    check: CommandCheck<'_>,
) -> Result<JobSpec> {
    let name = match job.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            return Err(Error::config(format!(
                "[[job]] number {}: name: missing; give every job a name",
                index + 1
            )))
        }
    };
    let key = |k: &str| format!("[[job]] `{name}`: {k}");
    let command = match &job.command {
        Some(c) if !c.is_empty() => c.clone(),
        _ => {
            return Err(Error::config(format!(
                "{}: missing; write the lifeboat command line as a list, e.g. [\"backup\", \
                 \"--globals\"]",
                key("command")
            )))
        }
    };
    check(&command).map_err(|e| Error::config(format!("{}: {e}", key("command"))))?;
    let text = job.schedule.as_deref().ok_or_else(|| {
        Error::config(format!(
            "{}: missing; write a cron expression, e.g. \"0 30 2 * * *\"",
            key("schedule")
        ))
    })?;
    let schedule =
        CronExpr::parse(text).map_err(|e| Error::config(format!("{}: {e}", key("schedule"))))?;
    let timezone = match &job.timezone {
        Some(t) => self::timezone(&key("timezone"), Some(t))?,
        None => default_tz,
    };
    let opt_duration =
        |k: &str, v: &Option<String>| v.as_deref().map(|text| duration(&key(k), text)).transpose();
    let overlap = match job.overlap.as_deref().map(str::trim) {
        None | Some("skip") => Overlap::Skip,
        Some("queue") => Overlap::Queue,
        Some(other) => {
            return Err(Error::config(format!(
                "{}: `{other}` is not a policy; write \"skip\" or \"queue\"",
                key("overlap")
            )))
        }
    };
    let missed = match job.missed.as_deref().map(str::trim) {
        None | Some("run-once") => Missed::RunOnce,
        Some("skip") => Missed::Skip,
        Some(other) => {
            return Err(Error::config(format!(
                "{}: `{other}` is not a policy; write \"run-once\" or \"skip\"",
                key("missed")
            )))
        }
    };
    Ok(JobSpec {
        command,
        schedule,
        timezone,
        jitter: opt_duration("jitter", &job.jitter)?.unwrap_or_default(),
        overlap,
        missed,
        timeout: opt_duration("timeout", &job.timeout)?,
        overdue_after: opt_duration("overdue_after", &job.overdue_after)?,
        name,
    })
}

fn duration(key: &str, text: &str) -> Result<std::time::Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::config(format!(
            "{key}: `{text}` is not a duration ({e}); write e.g. 30s, 5m, 2h"
        ))
    })
}

fn timezone(key: &str, name: Option<&str>) -> Result<Tz> {
    match name.map(str::trim) {
        None | Some("") => Ok(chrono_tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            Error::config(format!(
                "{key}: `{name}` is not an IANA time zone; write it like Europe/Berlin, \
                 America/New_York or UTC"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn accept_all(_: &[String]) -> std::result::Result<(), String> {
        Ok(())
    }

    fn job(schedule: &str) -> JobSection {
        JobSection {
            name: Some("nightly".into()),
            command: Some(vec!["backup".into()]),
            schedule: Some(schedule.into()),
            ..Default::default()
        }
    }

    fn resolve(jobs: &[JobSection]) -> Result<SchedulerSpec> {
        SchedulerSpec::resolve(&SchedulerSection::default(), jobs, None, &accept_all)
    }

    fn err(jobs: &[JobSection]) -> String {
        resolve(jobs).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let spec = resolve(&[job("0 30 2 * * *")]).unwrap();
        assert_eq!(spec.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(spec.max_concurrent, 1);
        assert_eq!(spec.grace_period, DEFAULT_GRACE);
        assert_eq!(spec.state_file, PathBuf::from(STATE_FILE_NAME));
        let j = &spec.jobs[0];
        assert_eq!(
            (j.overlap, j.missed, j.timezone),
            (Overlap::Skip, Missed::RunOnce, chrono_tz::UTC)
        );
        let beside = SchedulerSpec::resolve(
            &SchedulerSection::default(),
            &[job("@daily")],
            Some(Path::new("/var/lib/node_exporter/lifeboat.prom")),
            &accept_all,
        )
        .unwrap();
        assert_eq!(
            beside.state_file,
            PathBuf::from("/var/lib/node_exporter/lifeboat-scheduler.json")
        );
    }

    #[test]
    fn each_error_names_the_job_and_the_key() {
        let bad_expr = err(&[job("0 99 2 * * *")]);
        assert!(
            bad_expr.starts_with("configuration: [[job]] `nightly`: schedule:"),
            "{bad_expr}"
        );
        let bad_zone = err(&[JobSection {
            timezone: Some("Europe/Berlinn".into()),
            ..job("@daily")
        }]);
        assert!(
            bad_zone.contains("[[job]] `nightly`: timezone: `Europe/Berlinn` is not an IANA"),
            "{bad_zone}"
        );
        let bad_jitter = err(&[JobSection {
            jitter: Some("soon".into()),
            ..job("@daily")
        }]);
        assert!(
            bad_jitter.contains("[[job]] `nightly`: jitter: `soon` is not a duration"),
            "{bad_jitter}"
        );
        let bad_overlap = err(&[JobSection {
            overlap: Some("parallel".into()),
            ..job("@daily")
        }]);
        assert!(
            bad_overlap.contains("[[job]] `nightly`: overlap: `parallel`"),
            "{bad_overlap}"
        );
        let bad_missed = err(&[JobSection {
            missed: Some("all".into()),
            ..job("@daily")
        }]);
        assert!(
            bad_missed.contains("[[job]] `nightly`: missed: `all`"),
            "{bad_missed}"
        );
        let refuse = |c: &[String]| {
            if c.iter().any(|a| a == "--globalz") {
                Err("unexpected argument '--globalz'".to_string())
            } else {
                Ok(())
            }
        };
        let bad_flag = SchedulerSpec::resolve(
            &SchedulerSection::default(),
            &[JobSection {
                command: Some(vec!["backup".into(), "--globalz".into()]),
                ..job("@daily")
            }],
            None,
            &refuse,
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad_flag.contains("[[job]] `nightly`: command: unexpected argument '--globalz'"),
            "{bad_flag}"
        );
        let dup = err(&[job("@daily"), job("@hourly")]);
        assert!(dup.contains("two jobs have this name"), "{dup}");
        let unnamed = err(&[JobSection {
            name: None,
            ..job("@daily")
        }]);
        assert!(
            unnamed.contains("[[job]] number 1: name: missing"),
            "{unnamed}"
        );
        let bad_zone_default = SchedulerSpec::resolve(
            &SchedulerSection {
                timezone: Some("Mars/Olympus".into()),
                ..Default::default()
            },
            &[job("@daily")],
            None,
            &accept_all,
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad_zone_default.contains("[scheduler] timezone"),
            "{bad_zone_default}"
        );
        assert!(err(&[]).contains("no [[job]] configured"));
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let max = std::time::Duration::from_secs(300);
        let delays: Vec<_> = (0..2000).map(|_| jitter_within(max, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= max));
        // Spread over the range, not stuck at one end.
        assert!(delays.iter().any(|d| *d < max / 10));
        assert!(delays.iter().any(|d| *d > max * 9 / 10));
        assert_eq!(
            jitter_within(std::time::Duration::ZERO, &mut rng),
            std::time::Duration::ZERO
        );
    }

    #[test]
    fn missed_run_policy() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut spec = resolve(&[job("0 30 2 * * *")]).unwrap().jobs.remove(0);
        let now = at("2026-06-03T12:00:00Z");
        // Last run two nights ago: runs were missed; run-once catches up once.
        assert!(spec.catch_up_at_start(Some(at("2026-06-01T02:30:00Z")), now));
        // Last run last night: nothing missed.
        assert!(!spec.catch_up_at_start(Some(at("2026-06-03T02:30:00Z")), now));
        // Never ran: nothing to catch up (the overdue check covers it).
        assert!(!spec.catch_up_at_start(None, now));
        spec.missed = Missed::Skip;
        assert!(!spec.catch_up_at_start(Some(at("2026-06-01T02:30:00Z")), now));
    }

    #[test]
    fn overdue_threshold_defaults_to_two_intervals() {
        let spec = resolve(&[job("0 30 2 * * *")]).unwrap().jobs.remove(0);
        assert_eq!(spec.overdue_threshold(Utc::now()), Duration::hours(48));
        let explicit = resolve(&[JobSection {
            overdue_after: Some("3h".into()),
            ..job("0 30 2 * * *")
        }])
        .unwrap()
        .jobs
        .remove(0);
        assert_eq!(explicit.overdue_threshold(Utc::now()), Duration::hours(3));
    }
}
