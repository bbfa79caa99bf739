//! `lifeboat verify`: proof that a backup restores. Each database of the backup is restored
//! into a scratch server with owners and grants (roles and tablespaces first when the
//! backup has them), every table is read back and compared with what the backup holds,
//! then sequences, large objects, the schema and the user's assertions; every stage is
//! timed. The result is kept as a signed verification record in the repository, which
//! `report` turns into RPO/RTO evidence.
//!
//! Phases: authenticate and lock → choose the backup and its databases → start the
//! scratch server → (roles) → per database: restore, check, drop → write the record.

pub mod checks;
pub mod digest;
mod scratch;

pub use scratch::ScratchChoice;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Instant;

use crate::cancel::Cancel;
use crate::config::AssertionConfig;
use crate::crypto::Identity;
use crate::error::{Error, Result};
use crate::manifest::{DatabaseBackup, Manifest};
use crate::postgres::{PgTool, PgTools};
use crate::repository::lock::{LockKind, LockOptions};
use crate::repository::records::{
    CheckResult, DatabaseVerification, Stage, VerificationRecord, RECORD_FORMAT_VERSION,
    VERIFICATION_FORMAT,
};
use crate::repository::Repository;
use crate::restore::{self, Evidence, RestoreOptions, Source};
use scratch::Scratch;

/// Which backup to verify.
#[derive(Debug, Clone)]
pub enum Which {
    /// An id, a unique prefix, or `latest`.
    Named(String),
    /// The newest backup whose consistent point is at or before this time.
    At(DateTime<Utc>),
}

/// When to keep the scratch database after the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Never,
    OnFailure,
    Always,
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub which: Which,
    /// Databases of the backup to verify; empty = all.
    pub databases: Vec<String>,
    pub scratch: ScratchChoice,
    pub keep: Keep,
    pub jobs: usize,
    pub assertions: Vec<AssertionConfig>,
    pub pg_bin_dir: Option<std::path::PathBuf>,
    pub progress: crate::progress::Progress,
    pub lock: LockOptions,
    /// SIGTERM/SIGINT: the database being restored is dropped, nothing is recorded, and the
    /// run ends with [`Error::Cancelled`].
    pub cancel: Cancel,
}

/// How long the steps around the restores (choosing the backup, starting the scratch
/// server) get to notice a cancellation before they are dropped where they are.
const CANCEL_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(10);

/// The outcome: the record (written to the repository under `key`), and what was kept.
#[derive(Debug)]
pub struct Verified {
    pub record: VerificationRecord,
    pub key: String,
    pub kept: Vec<String>,
}

pub async fn verify(
    repo: Arc<Repository>,
    identities: Vec<Identity>,
    opts: &VerifyOptions,
) -> Result<Verified> {
    crate::config::check_jobs(opts.jobs)?;
    repo.require_trust()?;
    // The record is the point of the run: without a key to sign it, refuse before working.
    repo.signer()?;
    repo.descriptor().await?;
    let lock = repo.lock(LockKind::Shared, "verify", opts.lock).await?;
    let result = tokio::select! {
        r = verify_locked(&repo, identities, opts) => r,
        _ = opts.cancel.cancelled_for(CANCEL_BACKSTOP) => Err(opts.cancel.error()),
    };
    lock.release().await;
    result
}

async fn verify_locked(
    repo: &Arc<Repository>,
    identities: Vec<Identity>,
    opts: &VerifyOptions,
) -> Result<Verified> {
    let started_at = Utc::now();

    // 1. The backup, its databases and the keys, checked before any server is started.
    let manifest = match &opts.which {
        Which::Named(name) => repo.resolve(name).await?,
        Which::At(at) => {
            let db = opts.databases.first().map(String::as_str);
            repo.resolve_at(*at, db).await?.0
        }
    };
    let databases = pick_databases(&manifest, &opts.databases)?;
    let source = Source::of_backup(repo, &manifest, identities.clone())?;
    warn_unused_assertions(&manifest, &opts.assertions);

    // 2. The scratch server, and the tools for it.
    let mut scratch = Scratch::start(&opts.scratch, &manifest).await?;
    let tools = PgTools::new(opts.pg_bin_dir.clone());
    let pg_dump = tools.at_least("pg_dump", crate::postgres::major_of(scratch.version_num))?;
    let psql = tools.newest("psql")?;

    // 3. Roles and tablespaces once for the server, so owners and grants restore as they
    //    were (and a missing role fails the restore, naming it).
    let mut globals_stage = None;
    let mut globals_error = None;
    if let Some(globals) = &manifest.globals {
        let t = Instant::now();
        if let Err(e) =
            restore::script::apply_globals(&psql, &scratch.conn("postgres"), &source, globals).await
        {
            globals_error = Some(e.to_string());
        }
        globals_stage = Some(Stage {
            name: "roles and tablespaces".into(),
            seconds: t.elapsed().as_secs_f64(),
        });
    }

    // 4. Each database: restore, check, drop.
    let mut results = Vec::new();
    let mut kept = Vec::new();
    for db in databases {
        let name = scratch.database_for(&db.name);
        let ctx = DatabaseRun {
            repo,
            manifest: &manifest,
            db,
            scratch: &scratch,
            source: &source,
            identities: &identities,
            pg_dump: &pg_dump,
            opts,
        };
        let mut v = match &globals_error {
            Some(e) => ctx.not_restored(format!("roles and tablespaces: {e}")),
            None => tokio::select! {
                v = ctx.run(name.clone()) => v,
                _ = opts.cancel.cancelled() => {
                    // The restore stops where it is; its database goes (FORCE ends its
                    // sessions), then the throwaway server with `scratch`.
                    if let Err(e) = scratch.drop_database(&name).await {
                        tracing::warn!("could not drop the scratch database {name}: {e}");
                    }
                    return Err(opts.cancel.error());
                }
            },
        };
        if let Some(stage) = &globals_stage {
            v.stages.insert(0, stage.clone());
        }
        let keep = match opts.keep {
            Keep::Always => true,
            Keep::OnFailure => !v.passed,
            Keep::Never => false,
        };
        if keep && v.error.is_none() {
            kept.push(format!(
                "{} kept as database {} on {}",
                db.name, v.restored_as, scratch.target.server
            ));
        } else if v.error.is_none() {
            if let Err(e) = scratch.drop_database(&v.restored_as).await {
                tracing::warn!("could not drop the scratch database {}: {e}", v.restored_as);
            }
        }
        results.push(v);
    }
    if !kept.is_empty() {
        if let Some(how) = scratch.keep() {
            kept.push(how);
        }
    }
    let target = scratch.target.clone();
    drop(scratch);

    // 5. The record, signed, beside the evidence of earlier runs.
    let finished_at = Utc::now();
    let record = VerificationRecord {
        format: VERIFICATION_FORMAT.into(),
        format_version: RECORD_FORMAT_VERSION,
        id: VerificationRecord::new_id(finished_at),
        backup: manifest.id.clone(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        host: crate::repository::liveness::hostname(),
        started_at,
        finished_at,
        target,
        passed: results.iter().all(|d| d.passed),
        databases: results,
        error: None,
    };
    let key = repo.put_verification(&record).await.map_err(|e| {
        e.with_note(&format!(
            "the verification {} but its record could not be written",
            if record.passed { "passed" } else { "failed" }
        ))
    })?;
    tracing::info!(backup = %record.backup, passed = record.passed, record = %key, "verification recorded");
    Ok(Verified { record, key, kept })
}

/// One database of the backup, restored and checked.
struct DatabaseRun<'a> {
    repo: &'a Arc<Repository>,
    manifest: &'a Manifest,
    db: &'a DatabaseBackup,
    scratch: &'a Scratch,
    source: &'a Source,
    identities: &'a [Identity],
    pg_dump: &'a PgTool,
    opts: &'a VerifyOptions,
}

impl DatabaseRun<'_> {
    fn not_restored(&self, error: String) -> DatabaseVerification {
        DatabaseVerification {
            name: self.db.name.clone(),
            consistent_at: self.db.consistent_at,
            restored_as: String::new(),
            passed: false,
            restore_seconds: 0.0,
            total_seconds: 0.0,
            stages: Vec::new(),
            bytes: 0,
            rows: 0,
            checks: Vec::new(),
            error: Some(error),
        }
    }

    async fn run(&self, name: String) -> DatabaseVerification {
        let started = Instant::now();
        let conn = self.scratch.conn(&name);
        let evidence = Arc::new(Evidence::default());
        let ropts = RestoreOptions {
            backup: self.manifest.id.clone(),
            database: Some(self.db.name.clone()),
            create: true,
            jobs: self.opts.jobs,
            pg_bin_dir: self.opts.pg_bin_dir.clone(),
            progress: self.opts.progress.clone(),
            no_lock: true,
            evidence: Some(evidence.clone()),
            // A scratch server may lack the source's locale, tablespace or roles: restore
            // anyway, and let the database-properties check report what differs.
            locale_fallback: true,
            best_effort_properties: true,
            ..RestoreOptions::default()
        };
        let restored = restore::restore_manifest(
            self.repo,
            self.manifest,
            &conn,
            self.identities.to_vec(),
            &ropts,
        )
        .await;
        let report = match restored {
            Ok(r) => r,
            Err(e) => {
                let mut v = self.not_restored(format!("the restore failed: {e}"));
                v.restored_as = name;
                v.total_seconds = started.elapsed().as_secs_f64();
                return v;
            }
        };
        let restore_seconds = started.elapsed().as_secs_f64();
        let mut stages: Vec<Stage> = report
            .steps
            .iter()
            .map(|(label, secs)| Stage {
                name: stage_name(label),
                seconds: *secs,
            })
            .collect();
        stages.push(Stage {
            name: "fetch and decrypt (overlapped with the data load; per loader)".into(),
            seconds: evidence.fetch_wait().as_secs_f64() / self.opts.jobs.max(1) as f64,
        });

        let t = Instant::now();
        let checks = self.checks(&name, &evidence).await;
        stages.push(Stage {
            name: "checks".into(),
            seconds: t.elapsed().as_secs_f64(),
        });
        DatabaseVerification {
            name: self.db.name.clone(),
            consistent_at: self.db.consistent_at,
            restored_as: name,
            passed: checks.iter().all(|c| c.passed),
            restore_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
            stages,
            bytes: report.bytes,
            rows: report.rows,
            checks,
            error: None,
        }
    }

    /// Every check, failures kept as failed checks (never an early return).
    async fn checks(&self, name: &str, evidence: &Evidence) -> Vec<CheckResult> {
        let conn = self.scratch.conn(name);
        let mut out = match checks::tables(
            &conn,
            self.db,
            &evidence.tables(),
            self.scratch.version_num,
            self.opts.jobs,
        )
        .await
        {
            Ok(tables) => tables,
            Err(e) => vec![checks::could_not_run("table", "tables", &e)],
        };
        let sequences = async {
            let sql = self.source.read_text(&self.db.sequences).await?;
            checks::sequences(&conn, &sql).await
        }
        .await;
        out.push(sequences.unwrap_or_else(|e| checks::could_not_run("sequences", "sequences", &e)));
        out.push(
            checks::large_objects(&conn, self.source, self.db)
                .await
                .unwrap_or_else(|e| checks::could_not_run("large-objects", "large objects", &e)),
        );
        out.push(
            checks::database_properties(&conn, self.db, self.scratch.version_num)
                .await
                .unwrap_or_else(|e| {
                    checks::could_not_run("database-properties", "database properties", &e)
                }),
        );
        out.push(
            checks::schema(&conn, self.source, self.db, self.pg_dump)
                .await
                .unwrap_or_else(|e| checks::could_not_run("schema", "schema", &e)),
        );
        for a in self
            .opts
            .assertions
            .iter()
            .filter(|a| a.database == self.db.name)
        {
            out.push(checks::assertion(&conn, a, self.db.consistent_at).await);
        }
        out
    }
}

/// Restore's step labels in the vocabulary of the verification report.
fn stage_name(label: &str) -> String {
    match label {
        "pre-data" => "schema".into(),
        "data and table indexes" => "data and table indexes".into(),
        "post-data" => "indexes and constraints".into(),
        other => other.into(),
    }
}

fn pick_databases<'a>(
    manifest: &'a Manifest,
    wanted: &[String],
) -> Result<Vec<&'a DatabaseBackup>> {
    if wanted.is_empty() {
        return Ok(manifest.databases.iter().collect());
    }
    wanted.iter().map(|w| manifest.database(w)).collect()
}

fn warn_unused_assertions(manifest: &Manifest, assertions: &[AssertionConfig]) {
    for a in assertions {
        if !manifest.databases.iter().any(|d| d.name == a.database) {
            tracing::warn!(
                "assertion `{}` is for database {}, which backup {} does not hold",
                a.name,
                a.database,
                manifest.id
            );
        }
    }
}

impl Verified {
    /// The error to exit with when a check failed.
    pub fn failure(&self) -> Option<Error> {
        if self.record.passed {
            return None;
        }
        let mut failed: Vec<String> = Vec::new();
        for d in &self.record.databases {
            if let Some(e) = &d.error {
                failed.push(format!("{}: {e}", d.name));
            }
            for c in d.checks.iter().filter(|c| !c.passed) {
                failed.push(format!("{}: {} {}: {}", d.name, c.kind, c.name, c.evidence));
            }
        }
        Some(Error::VerificationFailed {
            backup: self.record.backup.clone(),
            summary: failed.join("; "),
        })
    }
}
