//! Prometheus metrics: a model of lifeboat's samples ([`MetricsState`]), rendered in the
//! text exposition format (`# HELP`, `# TYPE`, one gauge per figure, labelled by
//! `repository` and `database`), parsed back from that text, and updated run by run.
//!
//! The conventions are those users already alert on: the key figure of a batch job is its
//! last-success timestamp (node-exporter textfile collector, CloudNativePG's
//! `last_available_backup_timestamp`, pgbackrest_exporter's last-completion figures), and a
//! failed run never overwrites it: it sets only the failure timestamp. Every name, unit and
//! label is listed in README ("Metrics").

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::outcome::{BackupOutcome, BackupRun, CheckRun, ComplianceRun, PruneRun, VerifyRun};

/// Every figure lifeboat exports. All are gauges labelled `repository` and `database`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    BackupLastSuccess,
    BackupLastFailure,
    BackupLastDuration,
    BackupLastSize,
    BackupLastRecoveryPoint,
    VerifyLastSuccess,
    VerifyLastFailure,
    VerifyLastRestore,
    Rpo,
    RpoTarget,
    ComplianceStatus,
    PruneLastSuccess,
    PruneLastFailure,
    PruneLastDeleted,
    PruneLastFreed,
    RepositoryBackups,
    CheckLastSuccess,
    CheckLastFailure,
    CheckLastProblems,
}

impl Metric {
    pub const ALL: [Metric; 19] = [
        Metric::BackupLastSuccess,
        Metric::BackupLastFailure,
        Metric::BackupLastDuration,
        Metric::BackupLastSize,
        Metric::BackupLastRecoveryPoint,
        Metric::VerifyLastSuccess,
        Metric::VerifyLastFailure,
        Metric::VerifyLastRestore,
        Metric::Rpo,
        Metric::RpoTarget,
        Metric::ComplianceStatus,
        Metric::PruneLastSuccess,
        Metric::PruneLastFailure,
        Metric::PruneLastDeleted,
        Metric::PruneLastFreed,
        Metric::RepositoryBackups,
        Metric::CheckLastSuccess,
        Metric::CheckLastFailure,
        Metric::CheckLastProblems,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::BackupLastSuccess => "lifeboat_backup_last_success_timestamp_seconds",
            Metric::BackupLastFailure => "lifeboat_backup_last_failure_timestamp_seconds",
            Metric::BackupLastDuration => "lifeboat_backup_last_duration_seconds",
            Metric::BackupLastSize => "lifeboat_backup_last_size_bytes",
            Metric::BackupLastRecoveryPoint => {
                "lifeboat_backup_last_recovery_point_timestamp_seconds"
            }
            Metric::VerifyLastSuccess => "lifeboat_verify_last_success_timestamp_seconds",
            Metric::VerifyLastFailure => "lifeboat_verify_last_failure_timestamp_seconds",
            Metric::VerifyLastRestore => "lifeboat_verify_last_restore_seconds",
            Metric::Rpo => "lifeboat_rpo_seconds",
            Metric::RpoTarget => "lifeboat_rpo_target_seconds",
            Metric::ComplianceStatus => "lifeboat_compliance_status",
            Metric::PruneLastSuccess => "lifeboat_prune_last_success_timestamp_seconds",
            Metric::PruneLastFailure => "lifeboat_prune_last_failure_timestamp_seconds",
            Metric::PruneLastDeleted => "lifeboat_prune_last_deleted_backups",
            Metric::PruneLastFreed => "lifeboat_prune_last_freed_bytes",
            Metric::RepositoryBackups => "lifeboat_repository_backups",
            Metric::CheckLastSuccess => "lifeboat_check_last_success_timestamp_seconds",
            Metric::CheckLastFailure => "lifeboat_check_last_failure_timestamp_seconds",
            Metric::CheckLastProblems => "lifeboat_check_last_problems",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Metric::BackupLastSuccess => {
                "Time the last successful backup of the database finished (Unix seconds)."
            }
            Metric::BackupLastFailure => "Time the last failed backup run ended (Unix seconds).",
            Metric::BackupLastDuration => {
                "Wall time of the last successful backup run that included the database."
            }
            Metric::BackupLastSize => {
                "Bytes stored (compressed, encrypted) for the database by its last successful \
                 backup."
            }
            Metric::BackupLastRecoveryPoint => {
                "Consistent point of the database's last successful backup: what a restore \
                 returns to (Unix seconds)."
            }
            Metric::VerifyLastSuccess => {
                "Time the last passing verification of the database finished (Unix seconds)."
            }
            Metric::VerifyLastFailure => {
                "Time the last failed verification of the database finished (Unix seconds)."
            }
            Metric::VerifyLastRestore => {
                "Measured restore time (RTO) of the database's last passing verification."
            }
            Metric::Rpo => {
                "Achieved RPO: age of the newest restorable backup when this was written."
            }
            Metric::RpoTarget => "Configured RPO target of the database.",
            Metric::ComplianceStatus => {
                "Compliance status of the database: 0 OK, 1 AT_RISK, 2 BREACH."
            }
            Metric::PruneLastSuccess => {
                "Time the last successful prune of the repository finished (Unix seconds)."
            }
            Metric::PruneLastFailure => {
                "Time the last failed prune of the repository ended (Unix seconds)."
            }
            Metric::PruneLastDeleted => "Backups the last successful prune deleted.",
            Metric::PruneLastFreed => "Stored bytes the last successful prune deleted.",
            Metric::RepositoryBackups => {
                "Complete backups in the repository after the last successful prune."
            }
            Metric::CheckLastSuccess => {
                "Time the last check of the repository that found no problem finished."
            }
            Metric::CheckLastFailure => {
                "Time the last check that found problems, or could not run, ended."
            }
            Metric::CheckLastProblems => "Problems the last completed check found.",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// A timestamp figure: newer values win, an older one never replaces it.
    fn is_timestamp(self) -> bool {
        self.name().ends_with("_timestamp_seconds")
    }
}

/// Which repository and database a sample is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub repository: String,
    pub database: String,
}

impl Series {
    pub fn new(repository: &str, database: &str) -> Self {
        Series {
            repository: repository.to_string(),
            database: database.to_string(),
        }
    }
}

/// lifeboat's samples: per metric, per (repository, database), one value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsState {
    samples: BTreeMap<Metric, BTreeMap<Series, f64>>,
}

/// Unix seconds with milliseconds, as Prometheus timestamps-as-values are written.
pub fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

impl MetricsState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.values().all(|s| s.is_empty())
    }

    pub fn get(&self, metric: Metric, series: &Series) -> Option<f64> {
        self.samples.get(&metric)?.get(series).copied()
    }

    pub fn set(&mut self, metric: Metric, series: &Series, value: f64) {
        self.samples
            .entry(metric)
            .or_default()
            .insert(series.clone(), value);
    }

    /// Sets a timestamp unless a newer one is already there (runs may finish out of order).
    fn set_newest(&mut self, metric: Metric, series: &Series, value: f64) {
        if self.get(metric, series).is_none_or(|old| old <= value) {
            self.set(metric, series, value);
        }
    }

    /// Every sample, metric by metric, series in order.
    pub fn samples(&self) -> impl Iterator<Item = (Metric, &Series, f64)> {
        self.samples
            .iter()
            .flat_map(|(m, s)| s.iter().map(move |(series, v)| (*m, series, *v)))
    }

    /// The databases of a repository that any sample is about.
    pub fn databases(&self, repository: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .samples()
            .filter(|(_, s, _)| s.repository == repository)
            .map(|(_, s, _)| s.database.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Takes every sample of `newer`, keeping ours where it has none. Timestamps merge as
    /// the newest of both.
    pub fn merge(&mut self, newer: &MetricsState) {
        for (metric, series, value) in newer.samples() {
            if metric.is_timestamp() {
                self.set_newest(metric, series, value);
            } else {
                self.set(metric, series, value);
            }
        }
    }

    /// The databases a failed run is recorded against: those it was asked for; else (a run
    /// over every database that failed before listing them) those already known for the
    /// repository; else one series with an empty `database` label.
    fn failed_databases(&self, repository: &str, asked: &[String]) -> Vec<String> {
        if !asked.is_empty() {
            return asked.to_vec();
        }
        let known = self.databases(repository);
        if known.is_empty() {
            vec![String::new()]
        } else {
            known
        }
    }

    /// A backup run: on success, every figure of each database it holds (unless a newer
    /// success is already recorded); on failure, only the failure time, and the RPO grown
    /// to the age of the last recovery point.
    pub fn record_backup(&mut self, run: &BackupRun) {
        let finished = unix_seconds(run.finished_at);
        match &run.outcome {
            BackupOutcome::Succeeded { databases, .. } => {
                for db in databases {
                    let s = Series::new(&run.repository, &db.name);
                    if self
                        .get(Metric::BackupLastSuccess, &s)
                        .is_some_and(|t| t > finished)
                    {
                        continue;
                    }
                    self.set(Metric::BackupLastSuccess, &s, finished);
                    self.set(
                        Metric::BackupLastDuration,
                        &s,
                        seconds_between(run.started_at, run.finished_at),
                    );
                    self.set(Metric::BackupLastSize, &s, db.stored_bytes as f64);
                    self.set(
                        Metric::BackupLastRecoveryPoint,
                        &s,
                        unix_seconds(db.consistent_at),
                    );
                    self.set(
                        Metric::Rpo,
                        &s,
                        seconds_between(db.consistent_at, run.finished_at),
                    );
                }
            }
            BackupOutcome::Failed { databases, .. } => {
                for name in self.failed_databases(&run.repository, databases) {
                    let s = Series::new(&run.repository, &name);
                    self.set_newest(Metric::BackupLastFailure, &s, finished);
                    if let Some(point) = self.get(Metric::BackupLastRecoveryPoint, &s) {
                        let age_ms = ((finished - point) * 1000.0).round();
                        self.set(Metric::Rpo, &s, age_ms / 1000.0);
                    }
                }
            }
        }
    }

    /// A verification run: per database, the success time and measured restore time, or
    /// the failure time. Backup figures are left as they are.
    pub fn record_verify(&mut self, run: &VerifyRun) {
        let finished = unix_seconds(run.finished_at);
        for db in &run.databases {
            let s = Series::new(&run.repository, &db.name);
            if db.passed {
                self.set_newest(Metric::VerifyLastSuccess, &s, finished);
                if let Some(r) = db.restore_seconds {
                    self.set(Metric::VerifyLastRestore, &s, r);
                }
            } else {
                self.set_newest(Metric::VerifyLastFailure, &s, finished);
            }
        }
        if run.databases.is_empty() && run.error.is_some() {
            for name in self.failed_databases(&run.repository, &run.requested) {
                let s = Series::new(&run.repository, &name);
                self.set_newest(Metric::VerifyLastFailure, &s, finished);
            }
        }
    }

    /// A prune run: repository-wide figures (the `database` label empty). A failure sets
    /// only its time, so the last success's figures stay.
    pub fn record_prune(&mut self, run: &PruneRun) {
        let s = Series::new(&run.repository, "");
        let finished = unix_seconds(run.finished_at);
        match &run.error {
            None => {
                self.set_newest(Metric::PruneLastSuccess, &s, finished);
                self.set(Metric::PruneLastDeleted, &s, run.deleted as f64);
                self.set(Metric::PruneLastFreed, &s, run.freed_bytes as f64);
                self.set(Metric::RepositoryBackups, &s, run.kept as f64);
            }
            Some(_) => self.set_newest(Metric::PruneLastFailure, &s, finished),
        }
    }

    /// A check run: repository-wide (the `database` label empty). Problems found, or a
    /// check that could not run, set the failure time; the problem count is that of the last
    /// check that completed.
    pub fn record_check(&mut self, run: &CheckRun) {
        let s = Series::new(&run.repository, "");
        let finished = unix_seconds(run.finished_at);
        if let Some(problems) = run.problems {
            self.set(Metric::CheckLastProblems, &s, problems as f64);
        }
        if run.passed() {
            self.set_newest(Metric::CheckLastSuccess, &s, finished);
        } else {
            self.set_newest(Metric::CheckLastFailure, &s, finished);
        }
    }

    /// Compliance figures: status, achieved RPO and its target, per database.
    pub fn record_compliance(&mut self, run: &ComplianceRun) {
        for db in &run.databases {
            let s = Series::new(&run.repository, &db.name);
            self.set(Metric::ComplianceStatus, &s, db.status.code());
            if let Some(rpo) = db.rpo_seconds {
                self.set(Metric::Rpo, &s, rpo);
            }
            if let Some(target) = db.rpo_target_seconds {
                self.set(Metric::RpoTarget, &s, target);
            }
        }
    }

    /// The text exposition format: per metric with samples, `# HELP`, `# TYPE … gauge`,
    /// then one line per series, sorted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (metric, series) in &self.samples {
            if series.is_empty() {
                continue;
            }
            let name = metric.name();
            out.push_str(&format!("# HELP {name} {}\n", escape_help(metric.help())));
            out.push_str(&format!("# TYPE {name} gauge\n"));
            for (s, value) in series {
                out.push_str(&format!(
                    "{name}{{repository=\"{}\",database=\"{}\"}} {}\n",
                    escape_label(&s.repository),
                    escape_label(&s.database),
                    format_value(*value)
                ));
            }
        }
        out
    }

    /// Reads text in the exposition format back: lifeboat's own metrics, written by
    /// [`render`](Self::render). Comments are skipped (they are regenerated); a line that
    /// cannot be read, or a sample of a metric or label set lifeboat does not write, is
    /// dropped and described in the returned warnings, never failing the whole read.
    pub fn parse(text: &str) -> (MetricsState, Vec<String>) {
        let mut state = MetricsState::new();
        let mut warnings = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_sample(line) {
                Ok((metric, series, value)) => state.set(metric, &series, value),
                Err(why) => warnings.push(format!("line {}: {why}", i + 1)),
            }
        }
        (state, warnings)
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Go's float syntax as Prometheus reads it: `NaN`, `+Inf`, `-Inf`, else Rust's shortest
/// round-trip decimal (never an exponent).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// `name{label="value",…} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(Metric, Series, f64), String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let metric = Metric::from_name(name).ok_or_else(|| {
        if name.is_empty() {
            "not a sample".to_string()
        } else {
            format!("`{name}` is not a lifeboat metric")
        }
    })?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("no value")?;
    let value = parse_value(value_text).ok_or_else(|| format!("`{value_text}` is not a value"))?;
    let repository = labels.remove("repository");
    let database = labels.remove("database");
    match (repository, database) {
        (Some(repository), Some(database)) if labels.is_empty() => Ok((
            metric,
            Series {
                repository,
                database,
            },
            value,
        )),
        _ => Err(format!(
            "{name} must have exactly the labels repository and database"
        )),
    }
}

/// Labels after `{`, up to and including `}`; returns them and the text after `}`.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("unterminated label set")?;
        let name = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: value not quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label {name}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name, value);
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::outcome::{
        BackedUpDatabase, ComplianceStatus, DatabaseCompliance, VerifiedDatabase,
    };
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn success(repo: &str, db: &str, start: i64, end: i64, bytes: u64) -> BackupRun {
        BackupRun {
            repository: repo.into(),
            started_at: at(start),
            finished_at: at(end),
            outcome: BackupOutcome::Succeeded {
                backup_id: "b1".into(),
                databases: vec![BackedUpDatabase {
                    name: db.into(),
                    consistent_at: at(start + 1),
                    stored_bytes: bytes,
                }],
            },
        }
    }

    fn failure(repo: &str, dbs: &[&str], end: i64) -> BackupRun {
        BackupRun {
            repository: repo.into(),
            started_at: at(end - 5),
            finished_at: at(end),
            outcome: BackupOutcome::Failed {
                databases: dbs.iter().map(|s| s.to_string()).collect(),
                error: "boom".into(),
            },
        }
    }

    #[test]
    fn success_sets_every_backup_figure() {
        let mut m = MetricsState::new();
        m.record_backup(&success("s3://b/p", "app", 1000, 1060, 4096));
        let s = Series::new("s3://b/p", "app");
        assert_eq!(m.get(Metric::BackupLastSuccess, &s), Some(1060.0));
        assert_eq!(m.get(Metric::BackupLastDuration, &s), Some(60.0));
        assert_eq!(m.get(Metric::BackupLastSize, &s), Some(4096.0));
        assert_eq!(m.get(Metric::BackupLastRecoveryPoint, &s), Some(1001.0));
        assert_eq!(m.get(Metric::Rpo, &s), Some(59.0));
        assert_eq!(m.get(Metric::BackupLastFailure, &s), None);
    }

    #[test]
    fn failure_keeps_the_last_success_figures() {
        let mut m = MetricsState::new();
        m.record_backup(&success("r", "app", 1000, 1060, 4096));
        let before = m.clone();
        m.record_backup(&failure("r", &["app"], 5000));
        let s = Series::new("r", "app");
        assert_eq!(m.get(Metric::BackupLastFailure, &s), Some(5000.0));
        for metric in [
            Metric::BackupLastSuccess,
            Metric::BackupLastDuration,
            Metric::BackupLastSize,
            Metric::BackupLastRecoveryPoint,
        ] {
            assert_eq!(m.get(metric, &s), before.get(metric, &s), "{metric:?}");
        }
        // The RPO grows: the last recovery point is now 3999 s old.
        assert_eq!(m.get(Metric::Rpo, &s), Some(3999.0));
    }

    #[test]
    fn a_failure_with_no_database_names_marks_the_known_ones() {
        let mut m = MetricsState::new();
        m.record_backup(&success("r", "app", 1000, 1060, 1));
        m.record_backup(&success("r", "billing", 1000, 1060, 1));
        m.record_backup(&success("other", "x", 1000, 1060, 1));
        m.record_backup(&failure("r", &[], 2000));
        assert_eq!(
            m.get(Metric::BackupLastFailure, &Series::new("r", "app")),
            Some(2000.0)
        );
        assert_eq!(
            m.get(Metric::BackupLastFailure, &Series::new("r", "billing")),
            Some(2000.0)
        );
        assert_eq!(
            m.get(Metric::BackupLastFailure, &Series::new("other", "x")),
            None
        );
        // Nothing known at all: one series with an empty database label.
        let mut fresh = MetricsState::new();
        fresh.record_backup(&failure("r", &[], 2000));
        assert_eq!(
            fresh.get(Metric::BackupLastFailure, &Series::new("r", "")),
            Some(2000.0)
        );
    }

    #[test]
    fn an_older_success_finishing_late_does_not_replace_a_newer_one() {
        let mut m = MetricsState::new();
        m.record_backup(&success("r", "app", 2000, 2100, 2));
        m.record_backup(&success("r", "app", 1000, 1050, 1));
        let s = Series::new("r", "app");
        assert_eq!(m.get(Metric::BackupLastSuccess, &s), Some(2100.0));
        assert_eq!(m.get(Metric::BackupLastSize, &s), Some(2.0));
    }

    #[test]
    fn verify_and_compliance_leave_backup_figures_alone() {
        let mut m = MetricsState::new();
        m.record_backup(&success("r", "app", 1000, 1060, 4096));
        m.record_verify(&VerifyRun {
            repository: "r".into(),
            backup_id: Some("b1".into()),
            started_at: at(2000),
            finished_at: at(2300),
            databases: vec![
                VerifiedDatabase {
                    name: "app".into(),
                    passed: true,
                    restore_seconds: Some(212.5),
                    problem: None,
                },
                VerifiedDatabase {
                    name: "billing".into(),
                    passed: false,
                    restore_seconds: Some(3.0),
                    problem: Some("table x: 3 rows, expected 4".into()),
                },
            ],
            error: None,
            requested: vec![],
        });
        m.record_compliance(&ComplianceRun {
            repository: "r".into(),
            computed_at: at(3000),
            databases: vec![DatabaseCompliance {
                name: "app".into(),
                status: ComplianceStatus::AtRisk,
                rpo_seconds: Some(1999.0),
                rpo_target_seconds: Some(93600.0),
                overdue: false,
                newest_backup: Some("b1".into()),
                reasons: vec![],
            }],
        });
        let app = Series::new("r", "app");
        let billing = Series::new("r", "billing");
        assert_eq!(m.get(Metric::BackupLastSuccess, &app), Some(1060.0));
        assert_eq!(m.get(Metric::VerifyLastSuccess, &app), Some(2300.0));
        assert_eq!(m.get(Metric::VerifyLastRestore, &app), Some(212.5));
        assert_eq!(m.get(Metric::VerifyLastFailure, &billing), Some(2300.0));
        assert_eq!(m.get(Metric::VerifyLastRestore, &billing), None);
        assert_eq!(m.get(Metric::ComplianceStatus, &app), Some(1.0));
        assert_eq!(m.get(Metric::Rpo, &app), Some(1999.0));
        assert_eq!(m.get(Metric::RpoTarget, &app), Some(93600.0));
    }

    #[test]
    fn a_verify_run_that_failed_early_marks_what_it_was_asked_for() {
        let mut m = MetricsState::new();
        m.record_verify(&VerifyRun {
            repository: "r".into(),
            backup_id: None,
            started_at: at(10),
            finished_at: at(20),
            databases: vec![],
            error: Some("scratch server did not start".into()),
            requested: vec!["app".into()],
        });
        assert_eq!(
            m.get(Metric::VerifyLastFailure, &Series::new("r", "app")),
            Some(20.0)
        );
    }

    #[test]
    fn renders_help_type_and_sorted_samples() {
        let mut m = MetricsState::new();
        m.record_backup(&success("s3://b/p", "zeta", 1000, 1060, 10));
        m.record_backup(&success("s3://b/p", "alpha", 1000, 1060, 20));
        let text = m.render();
        let size: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("lifeboat_backup_last_size_bytes"))
            .collect();
        assert_eq!(
            size,
            [
                "# HELP lifeboat_backup_last_size_bytes Bytes stored (compressed, encrypted) \
                 for the database by its last successful backup.",
                "# TYPE lifeboat_backup_last_size_bytes gauge",
                "lifeboat_backup_last_size_bytes{repository=\"s3://b/p\",database=\"alpha\"} 20",
                "lifeboat_backup_last_size_bytes{repository=\"s3://b/p\",database=\"zeta\"} 10",
            ]
        );
        // Families without samples are left out.
        assert!(!text.contains("verify"));
        assert!(text.ends_with('\n'));
        assert_eq!(MetricsState::new().render(), "");
    }

    #[test]
    fn render_then_parse_gives_the_same_state() {
        let mut m = MetricsState::new();
        m.record_backup(&success(
            "/var/backups/odd \"repo\"\\x",
            "db\nnew",
            10,
            20,
            7,
        ));
        let s = Series::new("r", "app");
        m.set(Metric::Rpo, &s, 1732492800.123);
        m.set(Metric::RpoTarget, &s, f64::INFINITY);
        m.set(Metric::ComplianceStatus, &s, 2.0);
        let (back, warnings) = MetricsState::parse(&m.render());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, m);
    }

    #[test]
    fn parse_drops_what_it_cannot_read_and_says_so() {
        let text = "# a comment\n\
                    lifeboat_rpo_seconds{repository=\"r\",database=\"a\"} 5\n\
                    lifeboat_rpo_seconds{repository=\"r\",database=\"b\" 5\n\
                    other_metric{repository=\"r\",database=\"a\"} 1\n\
                    lifeboat_rpo_seconds{database=\"c\"} 1\n\
                    lifeboat_rpo_seconds{repository=\"r\",database=\"d\"} lots\n\
                    \n\
                    lifeboat_compliance_status{ repository = \"r\" , database=\"a\", } 1 1700000000000\n";
        let (m, warnings) = MetricsState::parse(text);
        assert_eq!(m.get(Metric::Rpo, &Series::new("r", "a")), Some(5.0));
        assert_eq!(
            m.get(Metric::ComplianceStatus, &Series::new("r", "a")),
            Some(1.0)
        );
        assert_eq!(m.samples().count(), 2);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("line 3"), "{warnings:?}");
        assert!(warnings[1].contains("other_metric"), "{warnings:?}");
    }

    #[test]
    fn merge_takes_newer_samples_and_keeps_the_rest() {
        let mut old = MetricsState::new();
        old.record_backup(&success("r", "app", 1000, 1060, 1));
        old.record_backup(&success("r", "billing", 1000, 1060, 1));
        let mut newer = MetricsState::new();
        newer.record_backup(&success("r", "app", 2000, 2010, 9));
        newer.set(
            Metric::BackupLastRecoveryPoint,
            &Series::new("r", "app"),
            5.0,
        );
        old.merge(&newer);
        let app = Series::new("r", "app");
        assert_eq!(old.get(Metric::BackupLastSuccess, &app), Some(2010.0));
        assert_eq!(old.get(Metric::BackupLastSize, &app), Some(9.0));
        // A timestamp never goes back.
        assert_eq!(old.get(Metric::BackupLastRecoveryPoint, &app), Some(1001.0));
        assert_eq!(
            old.get(Metric::BackupLastSuccess, &Series::new("r", "billing")),
            Some(1060.0)
        );
    }

    #[test]
    fn prune_figures_are_per_repository_and_a_failure_keeps_the_last_success() {
        let mut m = MetricsState::new();
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let ok = PruneRun {
            repository: "r".into(),
            finished_at: at(1000),
            deleted: 3,
            kept: 9,
            freed_bytes: 4096,
            error: None,
        };
        m.record_prune(&ok);
        m.record_prune(&PruneRun {
            finished_at: at(2000),
            error: Some("unreachable".into()),
            ..ok.clone()
        });
        let s = Series::new("r", "");
        assert_eq!(m.get(Metric::PruneLastSuccess, &s), Some(1000.0));
        assert_eq!(m.get(Metric::PruneLastFailure, &s), Some(2000.0));
        assert_eq!(m.get(Metric::PruneLastDeleted, &s), Some(3.0));
        assert_eq!(m.get(Metric::PruneLastFreed, &s), Some(4096.0));
        assert_eq!(m.get(Metric::RepositoryBackups, &s), Some(9.0));
        let text = m.render();
        assert!(
            text.contains("lifeboat_prune_last_deleted_backups{repository=\"r\",database=\"\"} 3"),
            "{text}"
        );
        assert_eq!(MetricsState::parse(&text).0, m);
    }

    #[test]
    fn every_name_follows_prometheus_rules() {
        for m in Metric::ALL {
            let n = m.name();
            assert!(n.starts_with("lifeboat_"), "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{n}"
            );
            assert_eq!(Metric::from_name(n), Some(m));
            assert!(!m.help().contains('\n'));
        }
    }
}
