//! The compliance report as data. Serialized, this is the JSON form (`--format json`),
//! documented field by field in docs/report-schema.md; the other formats render it.
//! Durations are whole seconds unless a field says otherwise; times are RFC 3339 in UTC.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Bumped when a field changes meaning or disappears (adding a field does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// The report's "now": every age is measured to it.
    pub generated_at: DateTime<Utc>,
    pub lifeboat_version: String,
    /// The repository's display name (never credentials).
    pub repository: String,
    pub window: Window,
    /// The worst status of its databases.
    pub status: Status,
    /// Whether any target is configured; without targets only encryption is judged.
    pub targets_configured: bool,
    /// Sentences about the whole report (no targets configured, no databases…).
    pub notes: Vec<String>,
    pub databases: Vec<DatabaseReport>,
    /// Backups and records that do not count as evidence, and why.
    pub ignored: Vec<Ignored>,
}

/// The period the figures cover: `[start, end]`, `end` = `generated_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seconds: i64,
    /// IANA time zone the calendar's days are in.
    pub timezone: String,
}

/// Overall status of a database (and of the report): ordered, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Every configured control passes with a margin.
    Ok,
    /// Every control passes, but a figure is above 80% of its target.
    AtRisk,
    /// A control fails.
    Breach,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::AtRisk => "AT RISK",
            Status::Breach => "BREACH",
        }
    }
}

/// Control names as AWS Backup Audit Manager has them, so auditors recognise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlId {
    /// The newest restorable backup's consistent point is within the RPO.
    LastRecoveryPointCreated,
    /// The newest backup that passed a verification is within `verify_within`.
    RecoveryPointVerified,
    /// The last measured restore time is within the RTO.
    RestoreTimeMeetsTarget,
    /// The newest backup is encrypted and signed by a trusted key.
    RecoveryPointEncrypted,
    /// Restorable backups reach back at least `min_retention`.
    MinimumRetention,
    /// The newest snapshot has an encrypted copy in every DR region (RDS targets only; AWS
    /// Backup Audit Manager's `BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION`).
    #[serde(rename = "RESOURCES_PROTECTED_BY_CROSS_REGION")]
    CrossRegion,
}

impl ControlId {
    pub fn name(self) -> &'static str {
        match self {
            ControlId::LastRecoveryPointCreated => "LAST_RECOVERY_POINT_CREATED",
            ControlId::RecoveryPointVerified => "RECOVERY_POINT_VERIFIED",
            ControlId::RestoreTimeMeetsTarget => "RESTORE_TIME_MEETS_TARGET",
            ControlId::RecoveryPointEncrypted => "RECOVERY_POINT_ENCRYPTED",
            ControlId::MinimumRetention => "MINIMUM_RETENTION",
            ControlId::CrossRegion => "RESOURCES_PROTECTED_BY_CROSS_REGION",
        }
    }

    /// What the control asks, in words.
    pub fn question(self) -> &'static str {
        match self {
            ControlId::LastRecoveryPointCreated => "newest restorable backup within the RPO",
            ControlId::RecoveryPointVerified => {
                "newest verified backup within the verification interval"
            }
            ControlId::RestoreTimeMeetsTarget => "last measured restore time within the RTO",
            ControlId::RecoveryPointEncrypted => "newest backup encrypted and signed",
            ControlId::MinimumRetention => "restorable backups reach back the minimum retention",
            ControlId::CrossRegion => "an encrypted copy of the newest snapshot in every DR region",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlStatus {
    Pass,
    Fail,
    /// Its target is not set: neither passes nor fails.
    NotConfigured,
}

impl ControlStatus {
    pub fn label(self) -> &'static str {
        match self {
            ControlStatus::Pass => "PASS",
            ControlStatus::Fail => "FAIL",
            ControlStatus::NotConfigured => "NOT CONFIGURED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Control {
    pub id: ControlId,
    pub status: ControlStatus,
    /// Passes, but its figure is above 80% of the target.
    pub at_risk: bool,
    /// One sentence with the figures.
    pub reason: String,
    pub target_seconds: Option<u64>,
    /// The figure compared with the target (seconds), when there is one.
    pub achieved_seconds: Option<f64>,
}

/// The targets that applied to a database, in seconds (`null` = not configured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetSeconds {
    pub rpo: Option<u64>,
    pub rto: Option<u64>,
    pub verify_within: Option<u64>,
    pub min_retention: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseReport {
    /// The database's name; an RDS target's is `rds:<target>`.
    pub name: String,
    /// `database` (logical backups) or `rds` (an RDS / Aurora target: see `rds`).
    pub kind: String,
    pub status: Status,
    pub targets: TargetSeconds,
    pub controls: Vec<Control>,
    pub figures: Figures,
    /// Every trusted verification of this database in the window, oldest first: the RTO trend.
    pub restores: Vec<RestorePoint>,
    /// Failed verifications in the window, oldest first.
    pub failures: Vec<Failure>,
    /// Age of the newest restorable backup over the window (a sawtooth), as vertices.
    pub backup_age: Vec<AgePoint>,
    /// One entry per calendar day of the window, in the report's time zone.
    pub calendar: Vec<CalendarDay>,
    /// Backups whose consistent point is later than `generated_at` (clock skew).
    pub future_dated: Vec<FutureDated>,
    /// Sentences about the window that do not change the status (a past gap over the RPO…).
    pub findings: Vec<String>,
    /// An RDS target's own facts; absent for logical databases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rds: Option<RdsDetail>,
}

/// What an RDS target's row is computed from, beside the figures every row has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RdsDetail {
    pub target: String,
    /// `instance` or `cluster`.
    pub kind: String,
    pub identifier: String,
    pub region: String,
    /// Whether the RDS API answered for the source (else the figures come from the records).
    pub live: bool,
    /// Why the API did not answer, per region.
    pub errors: Vec<String>,
    /// Point-in-time recovery reaches up to here (from the API, now).
    pub latest_restorable_time: Option<DateTime<Utc>>,
    /// Days of automated backups (0: no point-in-time recovery).
    pub backup_retention_days: Option<i32>,
    /// The newest snapshot of a trusted set (still present, when the API answered).
    pub newest_snapshot: Option<RdsPoint>,
    /// Per DR region: the newest copy of a trusted set there.
    pub copies: Vec<RdsCopy>,
    /// The achieved recovery point: the later of `latest_restorable_time` and the newest DR
    /// copy's point.
    pub recovery_point: Option<DateTime<Utc>>,
    /// `point-in-time` or `dr-copy`: which of the two it is.
    pub recovery_point_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RdsPoint {
    pub snapshot: String,
    pub region: String,
    pub taken_at: DateTime<Utc>,
    pub encrypted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RdsCopy {
    pub region: String,
    /// The newest copy there, if any.
    pub newest: Option<RdsPoint>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Restorable backups whose consistent point is in the window.
    pub backups_in_window: u32,
    /// The newest restorable backup (of any time).
    pub newest_backup: Option<BackupPoint>,
    /// The oldest restorable backup (of any time).
    pub oldest_backup: Option<BackupPoint>,
    /// Achieved RPO now: `generated_at` minus the newest restorable consistent point (0 when
    /// that is in the future). `null` when no restorable backup exists.
    pub current_rpo_seconds: Option<i64>,
    /// The highest the newest restorable backup's age reached in the window (the sawtooth's
    /// peak), from its first restorable backup on.
    pub max_backup_age_seconds: Option<i64>,
    /// The largest gap between consecutive verified recovery points, counting from the
    /// window's start (or the last verified point before it) and up to `generated_at`.
    pub worst_rpo: Gap,
    /// Verified recovery points in the window.
    pub verified_points_in_window: u32,
    /// The newest verified recovery point whose backup is still restorable.
    pub newest_verified: Option<VerifiedPoint>,
    /// The newest measured restore (any time).
    pub last_restore: Option<RestorePoint>,
    /// Trusted verifications of this database in the window.
    pub verifications: u32,
    pub verifications_passed: u32,
    pub verifications_failed: u32,
    /// passed / verifications; `null` without verifications.
    pub pass_rate: Option<f64>,
    /// How far restorable backups reach back: `generated_at` minus the oldest consistent point.
    pub retention_seconds: Option<i64>,
    /// Stored (compressed, encrypted) and plain bytes of this database in the newest backup.
    pub newest_stored_bytes: Option<u64>,
    pub newest_plain_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupPoint {
    pub backup: String,
    pub consistent_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedPoint {
    pub backup: String,
    pub consistent_at: DateTime<Utc>,
    /// When the verification that proved it finished.
    pub verified_at: DateTime<Utc>,
    pub record: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub seconds: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The gap starts at the window's start (no verified point before it).
    pub from_window_start: bool,
    /// The gap ends at `generated_at` (not at a verified point).
    pub to_now: bool,
}

/// One verification of one database: the RTO trend's point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePoint {
    /// When the verification finished.
    pub at: DateTime<Utc>,
    pub record: String,
    pub backup: String,
    /// Measured restore time (the RTO); `null` when the restore itself failed.
    pub restore_seconds: Option<f64>,
    /// Restore plus checks.
    pub total_seconds: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub record: String,
    pub backup: String,
    /// Why the restore or the run stopped, when it did.
    pub error: Option<String>,
    pub failed_checks: Vec<FailedCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCheck {
    pub kind: String,
    pub name: String,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgePoint {
    pub at: DateTime<Utc>,
    pub seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarDay {
    pub date: NaiveDate,
    /// Restorable backups whose consistent point falls on this day.
    pub backups: u32,
    /// Trusted verifications that finished on this day, passed and failed.
    pub verifications_passed: u32,
    pub verifications_failed: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FutureDated {
    pub backup: String,
    pub consistent_at: DateTime<Utc>,
    pub ahead_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// `backup` or `verification`.
    pub kind: String,
    pub id: String,
    pub reason: String,
}

impl Report {
    /// Databases in breach with their failing controls, for the exit error; `None` when
    /// nothing is in breach.
    pub fn breach_summary(&self) -> Option<String> {
        if self.status != Status::Breach {
            return None;
        }
        let parts: Vec<String> = self
            .databases
            .iter()
            .filter(|d| d.status == Status::Breach)
            .map(|d| {
                let failed: Vec<&str> = d
                    .controls
                    .iter()
                    .filter(|c| c.status == ControlStatus::Fail)
                    .map(|c| c.id.name())
                    .collect();
                format!("{} fails {}", d.name, failed.join(", "))
            })
            .collect();
        Some(if parts.is_empty() {
            self.notes.join(" ")
        } else {
            parts.join("; ")
        })
    }

    pub fn database(&self, name: &str) -> Option<&DatabaseReport> {
        self.databases.iter().find(|d| d.name == name)
    }
}

impl DatabaseReport {
    pub fn control(&self, id: ControlId) -> Option<&Control> {
        self.controls.iter().find(|c| c.id == id)
    }
}
