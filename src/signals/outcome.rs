//! What the commands tell the signals: small plain types, so `backup`, `verify`, `report`,
//! `drill` and the daemon each fill one in with what they know and call the facade.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::repository::records::VerificationRecord;

/// One `lifeboat backup` run of a repository.
#[derive(Debug, Clone)]
pub struct BackupRun {
    /// The repository's display name (`s3://bucket/prefix` or a path; never credentials).
    pub repository: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: BackupOutcome,
}

#[derive(Debug, Clone)]
pub enum BackupOutcome {
    Succeeded {
        backup_id: String,
        databases: Vec<BackedUpDatabase>,
    },
    /// No backup was written. `databases` are the ones the run was asked for (empty when it
    /// was to take every database of the server and failed before listing them).
    Failed {
        databases: Vec<String>,
        error: String,
    },
}

/// One database of a successful backup.
#[derive(Debug, Clone)]
pub struct BackedUpDatabase {
    pub name: String,
    /// The recovery point: the time of the snapshot every object of it was read in.
    pub consistent_at: DateTime<Utc>,
    /// Bytes stored in the repository for it (compressed and encrypted).
    pub stored_bytes: u64,
}

impl BackupRun {
    /// A successful run, from the manifest it wrote.
    pub fn succeeded(repository: &str, manifest: &Manifest) -> Self {
        let databases = manifest
            .databases
            .iter()
            .map(|d| BackedUpDatabase {
                name: d.name.clone(),
                consistent_at: d.consistent_at,
                stored_bytes: [&d.pre_data, &d.post_data, &d.sequences, &d.large_objects]
                    .into_iter()
                    .chain(d.tables.iter().map(|t| &t.object))
                    .map(|o| o.stored_size())
                    .sum(),
            })
            .collect();
        BackupRun {
            repository: repository.to_string(),
            started_at: manifest.started_at,
            finished_at: manifest.finished_at,
            outcome: BackupOutcome::Succeeded {
                backup_id: manifest.id.clone(),
                databases,
            },
        }
    }

    /// A failed run: `databases` as asked for (possibly none), the error as reported.
    pub fn failed(
        repository: &str,
        started_at: DateTime<Utc>,
        databases: Vec<String>,
        error: &dyn std::fmt::Display,
    ) -> Self {
        BackupRun {
            repository: repository.to_string(),
            started_at,
            finished_at: Utc::now(),
            outcome: BackupOutcome::Failed {
                databases,
                error: error.to_string(),
            },
        }
    }
}

impl BackupRun {
    /// An `rds snapshot` set, as the backup of the database `rds:<target>` (the name the
    /// report gives it): the snapshot's creation is the recovery point, its allocated
    /// storage the size. So one set of metrics and alerts covers both worlds.
    pub fn rds_snapshot(
        repository: &str,
        set: &crate::repository::records::RdsSnapshotSet,
    ) -> Self {
        BackupRun {
            repository: repository.to_string(),
            started_at: set.started_at,
            finished_at: set.finished_at,
            outcome: BackupOutcome::Succeeded {
                backup_id: set.id.clone(),
                databases: vec![BackedUpDatabase {
                    name: rds_series(&set.target),
                    consistent_at: set.snapshot.created_at.unwrap_or(set.started_at),
                    stored_bytes: set
                        .snapshot
                        .allocated_gib
                        .map_or(0, |g| g.max(0) as u64 * (1 << 30)),
                }],
            },
        }
    }
}

/// The `database` label of an RDS target's figures: `rds:<target>`, as in the report.
pub fn rds_series(target: &str) -> String {
    format!("rds:{target}")
}

/// One `lifeboat prune` run (not a dry run: that changes nothing and signals nothing).
#[derive(Debug, Clone)]
pub struct PruneRun {
    pub repository: String,
    pub finished_at: DateTime<Utc>,
    /// Backups deleted (before the failure, if it failed).
    pub deleted: usize,
    /// Complete backups left.
    pub kept: usize,
    pub freed_bytes: u64,
    /// Why it failed, as reported.
    pub error: Option<String>,
}

/// One `lifeboat check` run.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub repository: String,
    pub finished_at: DateTime<Utc>,
    /// Problems found, when the check completed.
    pub problems: Option<usize>,
    /// What went wrong, as reported: the problems, or why the check could not run.
    pub error: Option<String>,
}

impl CheckRun {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.problems == Some(0)
    }
}

/// One `lifeboat verify` run of one backup.
#[derive(Debug, Clone)]
pub struct VerifyRun {
    pub repository: String,
    pub backup_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Each database verified, passed or not.
    pub databases: Vec<VerifiedDatabase>,
    /// Why the run stopped before verifying any database (a scratch server that did not
    /// start, an unreadable backup…); `databases` then lists none.
    pub error: Option<String>,
    /// The databases the run was asked to verify, for a run that failed before any:
    /// those are the ones marked failed.
    pub requested: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VerifiedDatabase {
    pub name: String,
    pub passed: bool,
    /// The measured RTO: seconds from the first byte fetched to a restored database,
    /// when the restore completed.
    pub restore_seconds: Option<f64>,
    /// What failed, in one line (the first failed check, or the restore's error).
    pub problem: Option<String>,
}

impl VerifyRun {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.databases.iter().all(|d| d.passed)
    }

    /// From the signed record `verify` wrote.
    pub fn from_record(repository: &str, record: &VerificationRecord) -> Self {
        let databases = record
            .databases
            .iter()
            .map(|d| {
                let failed_check = d
                    .checks
                    .iter()
                    .find(|c| !c.passed)
                    .map(|c| format!("{} {}: {}", c.kind, c.name, c.evidence));
                VerifiedDatabase {
                    name: d.name.clone(),
                    passed: d.passed,
                    restore_seconds: d.error.is_none().then_some(d.restore_seconds),
                    problem: if d.passed {
                        None
                    } else {
                        d.error.clone().or(failed_check)
                    },
                }
            })
            .collect();
        VerifyRun {
            repository: repository.to_string(),
            backup_id: Some(record.backup.clone()),
            started_at: record.started_at,
            finished_at: record.finished_at,
            databases,
            error: record.error.clone(),
            requested: Vec::new(),
        }
    }
}

/// A database's overall compliance status, as the report decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    Ok,
    AtRisk,
    Breach,
}

impl ComplianceStatus {
    /// The value of `lifeboat_compliance_status`.
    pub fn code(self) -> f64 {
        match self {
            ComplianceStatus::Ok => 0.0,
            ComplianceStatus::AtRisk => 1.0,
            ComplianceStatus::Breach => 2.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ComplianceStatus::Ok => "OK",
            ComplianceStatus::AtRisk => "AT_RISK",
            ComplianceStatus::Breach => "BREACH",
        }
    }
}

/// Compliance figures of a repository's databases, as computed by `report` (or the
/// daemon's overdue check).
#[derive(Debug, Clone)]
pub struct ComplianceRun {
    pub repository: String,
    /// When the figures were computed: the RPO is the newest backup's age at this time.
    pub computed_at: DateTime<Utc>,
    pub databases: Vec<DatabaseCompliance>,
}

#[derive(Debug, Clone)]
pub struct DatabaseCompliance {
    pub name: String,
    pub status: ComplianceStatus,
    /// Achieved RPO: age of the newest restorable backup; `None` when there is none.
    pub rpo_seconds: Option<f64>,
    pub rpo_target_seconds: Option<f64>,
    /// The newest backup is older than the RPO target (or there is none): the caller
    /// decides, so the daemon can raise it even when no backup job ever ran.
    pub overdue: bool,
    /// The newest restorable backup, if any.
    pub newest_backup: Option<String>,
    /// Why the status is not OK, one readable line per failed or at-risk control.
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::records::{CheckResult, DatabaseVerification, VerifyTarget};

    fn database(name: &str, passed: bool, error: Option<&str>) -> DatabaseVerification {
        DatabaseVerification {
            name: name.into(),
            consistent_at: Utc::now(),
            restored_as: format!("{name}_verify"),
            passed,
            restore_seconds: 12.5,
            total_seconds: 14.0,
            stages: vec![],
            bytes: 1,
            rows: 1,
            checks: vec![
                CheckResult {
                    kind: "table".into(),
                    name: "public.ok".into(),
                    passed: true,
                    evidence: "3 rows".into(),
                },
                CheckResult {
                    kind: "table".into(),
                    name: "public.orders".into(),
                    passed,
                    evidence: "restored 9 rows, backup recorded 10".into(),
                },
            ],
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn a_verification_record_becomes_a_verify_run() {
        let record = VerificationRecord {
            format: "lifeboat-verification".into(),
            format_version: 1,
            id: "r1".into(),
            backup: "b1".into(),
            lifeboat_version: "0.1.0".into(),
            host: "h".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            target: VerifyTarget {
                kind: "throwaway".into(),
                server: "postgres@localhost:5433".into(),
                server_version: "17.2".into(),
            },
            passed: false,
            databases: vec![
                database("app", true, None),
                database("billing", false, None),
                database("crm", false, Some("restore failed: disk full")),
            ],
            error: None,
        };
        let run = VerifyRun::from_record("s3://b/p", &record);
        assert!(!run.passed());
        assert_eq!(run.backup_id.as_deref(), Some("b1"));
        let [app, billing, crm] = &run.databases[..] else {
            panic!("{run:?}")
        };
        assert!(app.passed && app.problem.is_none());
        assert_eq!(app.restore_seconds, Some(12.5));
        assert_eq!(
            billing.problem.as_deref(),
            Some("table public.orders: restored 9 rows, backup recorded 10")
        );
        assert_eq!(crm.restore_seconds, None);
        assert_eq!(crm.problem.as_deref(), Some("restore failed: disk full"));
    }
}
