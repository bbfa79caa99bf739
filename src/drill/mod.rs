//! `lifeboat drill --scenario FILE`: the quarterly disaster-recovery drill as one command.
//!
//! A scenario (TOML) names what to restore (the latest backup, or the newest before a time),
//! where (a throwaway server or a scratch server), which checks, and the targets. The drill
//! runs each step, timing it and keeping its evidence — repository reached, backup chosen
//! (by id and the SHA-256 of its manifest), restore and checks, RPO and RTO against the
//! targets, clean-up — and writes an auditor-ready report as Markdown, HTML and JSON to a
//! local directory and, signed, into the repository (`drills/<id>.json`). A drill that fails
//! still writes its report.

pub mod rds;
mod render;
pub mod scenario;

pub use render::figure_text;
pub use scenario::Scenario;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::Identity;
use crate::error::{Error, Result};
use crate::repository::layout::manifest_key;
use crate::repository::records::{DatabaseVerification, VerificationRecord, RECORD_FORMAT_VERSION};
use crate::repository::{BackupId, Repository};
use crate::verify::{self, Keep, VerifyOptions, Which};

pub const DRILLS_DIR: &str = "drills/";
pub const DRILL_FORMAT: &str = "lifeboat-drill";

/// The drill's report: what an auditor reads (also its JSON form and its record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillReport {
    pub format: String,
    pub format_version: u32,
    pub id: String,
    pub scenario: String,
    pub lifeboat_version: String,
    /// Who ran it: the operating-system user and the host.
    pub run_by: String,
    pub host: String,
    pub repository: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub passed: bool,
    /// The backup restored, when one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupEvidence>,
    pub steps: Vec<Step>,
    pub rpo: Figure,
    pub rto: Figure,
    /// The verification record written by the restore step, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationRecord>,
    /// An RDS drill's evidence: the DR copy restored, the scratch instance, its clean-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds: Option<rds::RdsDrillEvidence>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackupEvidence {
    pub id: String,
    /// SHA-256 of the backup's manifest as stored (it names every object's SHA-256).
    pub manifest_sha256: String,
    pub consistent_at: DateTime<Utc>,
    pub databases: Vec<String>,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub seconds: f64,
    pub passed: bool,
    pub evidence: String,
    /// The step could not run (an RDS scratch instance not reachable for SQL checks): neither
    /// a pass nor a failure, and shown as NOT RUN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_run: bool,
}

impl Step {
    /// `pass`, `FAIL` or `NOT RUN`.
    pub fn result(&self) -> &'static str {
        match (self.not_run, self.passed) {
            (true, _) => "NOT RUN",
            (false, true) => "pass",
            (false, false) => "FAIL",
        }
    }
}

/// An achieved figure against its target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achieved_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_seconds: Option<f64>,
    /// `met`, `missed`, `not measured`, or `no target`.
    pub status: String,
}

impl Figure {
    fn judge(achieved: Option<f64>, target: Option<f64>) -> Figure {
        let status = match (achieved, target) {
            (None, _) => "not measured",
            (Some(_), None) => "no target",
            (Some(a), Some(t)) if a <= t => "met",
            _ => "missed",
        };
        Figure {
            achieved_seconds: achieved,
            target_seconds: target,
            status: status.into(),
        }
    }

    fn failed(&self) -> bool {
        matches!(self.status.as_str(), "missed" | "not measured") && self.target_seconds.is_some()
    }
}

/// Where the report went.
#[derive(Debug)]
pub struct DrillOutcome {
    pub report: DrillReport,
    pub files: Vec<PathBuf>,
    /// The record in the repository, unless writing it failed (then why).
    pub record: std::result::Result<String, String>,
}

pub struct DrillOptions {
    pub jobs: usize,
    pub pg_bin_dir: Option<PathBuf>,
    pub progress: crate::progress::Progress,
    pub lock: crate::repository::lock::LockOptions,
    /// Directory for the local report files (default: the scenario's, else `.`).
    pub output_dir: Option<PathBuf>,
    /// Assertions from the configuration, added to the scenario's.
    pub assertions: Vec<crate::config::AssertionConfig>,
    /// SIGTERM/SIGINT: the restore is stopped and cleaned up, and no report is written
    /// (a drill cut short proves nothing either way).
    pub cancel: crate::cancel::Cancel,
    /// The RDS settings and clients, for a scenario with an `[rds]` section.
    pub rds: Option<Arc<crate::rds::Rds>>,
}

/// Runs the drill. Errors only when the report itself cannot be written, or when the run is
/// cancelled; a failed step is in the report (and [`DrillOutcome::failure`] gives the exit
/// error).
pub async fn run(
    repo: Arc<Repository>,
    identities: Vec<Identity>,
    scenario: &Scenario,
    opts: &DrillOptions,
) -> Result<DrillOutcome> {
    let started_at = Utc::now();
    let mut steps = Vec::new();
    let mut backup = None;
    let mut verification = None;

    // 1. The repository: reachable, and ours.
    let reached = timed(&mut steps, "repository reachable and trusted", async {
        repo.require_trust()?;
        let d = repo.descriptor().await?;
        Ok::<_, StepFailed>(format!(
            "{} (format {}, created by {})",
            repo.name(),
            d.format_version,
            d.created_by
        ))
    })
    .await;

    // 2–3 of an RDS scenario: the newest DR-region copy restored into a scratch instance,
    // timed, checked when reachable, always deleted.
    let mut rds_evidence = None;
    if let (true, Some(rs)) = (reached, &scenario.rds) {
        let assertions: Vec<_> = scenario
            .assertion
            .iter()
            .chain(opts.assertions.iter())
            .cloned()
            .collect();
        rds_evidence = rds::run(&repo, opts.rds.as_deref(), rs, &assertions, &mut steps).await;
    }

    // 2. The backup the scenario names, with the checksum of its manifest.
    if reached && scenario.rds.is_none() {
        timed(&mut steps, "backup chosen", async {
            let chosen = choose_backup(&repo, scenario).await?;
            let text = format!(
                "backup {} (manifest SHA-256 {}), consistent at {}, {} database(s), {} bytes stored",
                chosen.id,
                chosen.manifest_sha256,
                chosen.consistent_at.format("%Y-%m-%d %H:%M:%S UTC"),
                chosen.databases.len(),
                chosen.stored_bytes
            );
            backup = Some(chosen);
            Ok::<_, StepFailed>(text)
        })
        .await;
    }

    // 3. Restore and check, on the scenario's scratch server.
    if let Some(b) = &backup {
        let vopts = VerifyOptions {
            which: Which::Named(b.id.clone()),
            databases: scenario.databases.clone(),
            scratch: scenario.scratch(opts.pg_bin_dir.clone())?,
            keep: Keep::Never,
            jobs: opts.jobs,
            assertions: scenario
                .assertion
                .iter()
                .chain(opts.assertions.iter())
                .cloned()
                .collect(),
            pg_bin_dir: opts.pg_bin_dir.clone(),
            progress: opts.progress.clone(),
            lock: opts.lock,
            cancel: opts.cancel.clone(),
        };
        timed(&mut steps, "restore and verify", async {
            let v = verify::verify(repo.clone(), identities.clone(), &vopts).await?;
            let text = verification_evidence(&v.record, &v.key);
            let passed = v.record.passed;
            verification = Some(v.record);
            if passed {
                Ok(text)
            } else {
                Err(StepFailed(text))
            }
        })
        .await;
        if opts.cancel.is_cancelled() {
            return Err(opts.cancel.error());
        }
        steps.push(Step {
            name: "clean-up".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            seconds: 0.0,
            passed: true,
            evidence: "scratch databases dropped and the throwaway server (if any) removed by \
                       the restore step, whatever its outcome"
                .into(),
            not_run: false,
        });
    }

    // 4. The figures against the targets.
    let point = match &rds_evidence {
        Some(e) => e.taken_at,
        None => backup.as_ref().map(|b| b.consistent_at),
    };
    let rpo = Figure::judge(
        point.map(|p| (started_at - p).num_milliseconds() as f64 / 1000.0),
        scenario.targets.rpo_seconds()?,
    );
    // Every database of the scenario restored, one after another: the time to recover all.
    let restored = match &rds_evidence {
        Some(e) => e.restore_seconds,
        None => verification
            .as_ref()
            .filter(|v| v.databases.iter().all(|d| d.error.is_none()))
            .map(|v| v.databases.iter().map(|d| d.restore_seconds).sum()),
    };
    let rto = Figure::judge(restored, scenario.targets.rto_seconds()?);
    let finished_at = Utc::now();
    let passed = steps.iter().all(|s| s.passed) && !rpo.failed() && !rto.failed();
    let report = DrillReport {
        format: DRILL_FORMAT.into(),
        format_version: RECORD_FORMAT_VERSION,
        id: VerificationRecord::new_id(finished_at),
        scenario: scenario.name.clone(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        run_by: run_by(),
        host: crate::repository::liveness::hostname(),
        repository: repo.name(),
        started_at,
        finished_at,
        passed,
        backup,
        steps,
        rpo,
        rto,
        verification,
        rds: rds_evidence,
    };

    // 5. The report: local files first (they need no repository), then the signed record.
    let dir = opts
        .output_dir
        .clone()
        .or_else(|| scenario.report_dir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let files = write_files(&dir, &report)?;
    let record = repo
        .put_record(&format!("{DRILLS_DIR}{}.json", report.id), &report)
        .await
        .map(|()| format!("{DRILLS_DIR}{}.json", report.id))
        .map_err(|e| e.to_string());
    Ok(DrillOutcome {
        report,
        files,
        record,
    })
}

impl DrillOutcome {
    /// The error to exit with: a failed verification (3), a missed target (7), another
    /// failed step (1), or a report that could not be recorded in the repository (4).
    pub fn failure(&self) -> Option<Error> {
        let r = &self.report;
        let report = self
            .files
            .first()
            .map(|f| format!(" (details in {})", f.display()))
            .unwrap_or_default();
        let failed: Vec<String> = r
            .steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| {
                let first = s
                    .evidence
                    .lines()
                    .find(|l| l.contains("FAILED"))
                    .or_else(|| s.evidence.lines().next())
                    .unwrap_or_default();
                format!("step `{}` failed: {first}{report}", s.name)
            })
            .collect();
        if r.steps
            .iter()
            .any(|s| !s.passed && s.name == "restore and verify")
        {
            return Some(Error::VerificationFailed {
                backup: r.backup.as_ref().map(|b| b.id.clone()).unwrap_or_default(),
                summary: failed.join("; "),
            });
        }
        if !failed.is_empty() {
            return Some(Error::Backup(format!(
                "drill `{}` failed: {}",
                r.scenario,
                failed.join("; ")
            )));
        }
        let missed: Vec<String> = [("RPO", &r.rpo), ("RTO", &r.rto)]
            .iter()
            .filter(|(_, f)| f.failed())
            .map(|(n, f)| format!("{n} {}", render::figure_text(f)))
            .collect();
        if !missed.is_empty() {
            return Some(Error::Breach {
                summary: format!("drill `{}`: {}", r.scenario, missed.join("; ")),
            });
        }
        if let Err(e) = &self.record {
            return Some(Error::Repository {
                repo: r.repository.clone(),
                reason: format!(
                    "the drill's report was written to files but not recorded in the \
                     repository: {e}"
                ),
            });
        }
        None
    }
}

/// A failed step's evidence.
pub(crate) struct StepFailed(pub(crate) String);

impl From<Error> for StepFailed {
    fn from(e: Error) -> Self {
        StepFailed(e.to_string())
    }
}

/// The operating-system user running the drill.
fn run_by() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| match crate::repository::liveness::uid() {
            Some(uid) => format!("uid {uid}"),
            None => "uid ?".into(),
        })
}

/// Runs one step, timing it; its error becomes the step's failed evidence.
pub(crate) async fn timed(
    steps: &mut Vec<Step>,
    name: &str,
    work: impl std::future::Future<Output = std::result::Result<String, StepFailed>>,
) -> bool {
    let started_at = Utc::now();
    let t = std::time::Instant::now();
    let outcome = work.await;
    let passed = outcome.is_ok();
    steps.push(Step {
        name: name.into(),
        started_at,
        finished_at: Utc::now(),
        seconds: t.elapsed().as_secs_f64(),
        passed,
        evidence: outcome.unwrap_or_else(|e| e.0),
        not_run: false,
    });
    passed
}

async fn choose_backup(repo: &Repository, scenario: &Scenario) -> Result<BackupEvidence> {
    let manifest = match scenario.at()? {
        Some(at) => {
            let db = scenario.databases.first().map(String::as_str);
            repo.resolve_at(at, db).await?.0
        }
        None => {
            repo.resolve(scenario.backup.as_deref().unwrap_or("latest"))
                .await?
        }
    };
    let bytes = repo
        .store()
        .get(&manifest_key(&BackupId(manifest.id.clone())))
        .await?;
    let databases: Vec<String> = if scenario.databases.is_empty() {
        manifest.databases.iter().map(|d| d.name.clone()).collect()
    } else {
        scenario.databases.clone()
    };
    Ok(BackupEvidence {
        id: manifest.id.clone(),
        manifest_sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        consistent_at: manifest.consistent_at(),
        databases,
        stored_bytes: manifest.stored_size(),
    })
}

/// One line for the passing databases, one per failing one (with why), and the record.
fn verification_evidence(r: &VerificationRecord, key: &str) -> String {
    let mut lines = Vec::new();
    let good: Vec<&DatabaseVerification> = r.databases.iter().filter(|d| d.passed).collect();
    if !good.is_empty() {
        let checks: usize = good.iter().map(|d| d.checks.len()).sum();
        let tables: usize = good
            .iter()
            .map(|d| d.checks.iter().filter(|c| c.kind == "table").count())
            .sum();
        let secs: f64 = good.iter().map(|d| d.restore_seconds).sum();
        lines.push(format!(
            "{} of {} database(s) restored in {secs:.1}s on a {} server (PostgreSQL {}) and passed \
             all {checks} checks ({tables} tables compared row by row)",
            good.len(),
            r.databases.len(),
            r.target.kind,
            r.target.server_version
        ));
    }
    for d in r.databases.iter().filter(|d| !d.passed) {
        let why = match &d.error {
            Some(e) => e.clone(),
            None => d
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{} {}: {}", c.kind, c.name, c.evidence))
                .collect::<Vec<_>>()
                .join("; "),
        };
        lines.push(format!("{} FAILED: {why}", d.name));
    }
    lines.push(format!("record {key}"));
    lines.join("\n")
}

/// Writes `drill-<id>.md`, `.html` and `.json` into `dir`, each atomically.
fn write_files(dir: &Path, report: &DrillReport) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Corrupt {
        object: "drill report".into(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    for (ext, text) in [
        ("md", render::markdown(report)),
        ("html", render::html(report)),
        ("json", json),
    ] {
        let path = dir.join(format!("drill-{}.{ext}", report.id));
        crate::report::write_atomically(&path, text.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}
