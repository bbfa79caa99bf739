//! `lifeboat prune`: restic's `forget --prune` for lifeboat — plan, then execute.
//!
//! 1. Check the policy (an empty one is refused before anything is read).
//! 2. A real run takes the **exclusive** lock (waiting for running backups and restores
//!    with `--retry-lock`); a dry run takes none and changes nothing.
//! 3. Survey, under the lock: complete backups (their signatures), pins, trusted passing
//!    verification records, incomplete backup directories. Plan with [`crate::retention`]:
//!    every backup with keep or delete and every reason.
//! 4. Show the plan (the same table for dry and real runs), then delete what it deletes,
//!    oldest first, through the repository's delete path (manifest first, then objects;
//!    pinned backups refused there too), checking the lock is fresh before each.
//! 5. Remove crashed runs' debris: backup directories whose writer is gone (one being
//!    written keeps a fresh marker and is never touched) and interrupted uploads older than
//!    the grace period.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::repository::catalog::{Listed, DEBRIS_GRACE_HOURS};
use crate::repository::layout::manifest_key;
use crate::repository::lock::{LockGuard, LockKind, LockOptions};
use crate::repository::{BackupId, Repository, SignatureStatus};
use crate::retention::{self, Entry, Policy, Protections, Row};
use crate::signals::PruneRun;

/// What `prune` is asked to do.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub policy: Policy,
    /// The zone of the calendar periods.
    pub timezone: Tz,
    /// Keep the newest backup of each database that passed a trusted verification.
    pub keep_verified: bool,
    /// Plan and show, change nothing, take no lock.
    pub dry_run: bool,
    pub lock: LockOptions,
}

/// The plan and what was done.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub repository: String,
    pub dry_run: bool,
    /// The policy in words.
    pub policy: String,
    pub timezone: String,
    pub keep_verified: bool,
    /// Every complete backup, oldest first.
    pub backups: Vec<PlannedBackup>,
    /// Backups being written now: never touched.
    pub in_progress: Vec<String>,
    /// Directories of backups whose writer is gone, removed by a real run.
    pub abandoned: Vec<Abandoned>,
    /// Leftovers of interrupted uploads older than the grace period, removed.
    pub debris_removed: usize,
    pub debris_grace_hours: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedBackup {
    #[serde(flatten)]
    pub row: Row,
    /// `keep` or `delete`.
    pub action: &'static str,
    pub stored_bytes: u64,
    /// A real run deleted it.
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Abandoned {
    pub id: String,
    pub removed: bool,
}

impl PruneReport {
    pub fn to_delete(&self) -> impl Iterator<Item = &PlannedBackup> {
        self.backups.iter().filter(|b| !b.row.keep)
    }

    /// What the metrics and notifications learn from a real run.
    pub fn signal(&self) -> PruneRun {
        let deleted: Vec<&PlannedBackup> = self.backups.iter().filter(|b| b.deleted).collect();
        PruneRun {
            repository: self.repository.clone(),
            finished_at: Utc::now(),
            deleted: deleted.len(),
            kept: self.backups.len() - deleted.len(),
            freed_bytes: deleted.iter().map(|b| b.stored_bytes).sum(),
            error: None,
        }
    }

    /// Stored bytes of the backups the plan deletes.
    pub fn bytes_to_delete(&self) -> u64 {
        self.to_delete().map(|b| b.stored_bytes).sum()
    }
}

/// Plans and (unless a dry run) applies the retention policy. `show` receives the plan
/// before anything is deleted.
pub async fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    show: impl FnOnce(&PruneReport),
) -> Result<PruneReport> {
    opts.policy.validate()?;
    repo.descriptor().await?;
    repo.require_trust()?;
    if opts.dry_run {
        let report = survey(repo, opts, Utc::now()).await?;
        show(&report);
        return Ok(report);
    }
    let lock = repo.lock(LockKind::Exclusive, "prune", opts.lock).await?;
    let result = execute(repo, opts, &lock, show).await;
    lock.release().await;
    result
}

async fn execute(
    repo: &Repository,
    opts: &PruneOptions,
    lock: &LockGuard,
    show: impl FnOnce(&PruneReport),
) -> Result<PruneReport> {
    // Surveyed under the lock: nothing else deletes now, and no backup starts or commits.
    let mut report = survey(repo, opts, Utc::now()).await?;
    show(&report);
    delete_planned(repo, &mut report, lock).await?;
    remove_debris(repo, &mut report, lock).await?;
    tracing::info!(
        repository = %report.repository,
        deleted = report.backups.iter().filter(|b| b.deleted).count(),
        kept = report.backups.iter().filter(|b| b.row.keep).count(),
        bytes = report.bytes_to_delete(),
        abandoned_removed = report.abandoned.iter().filter(|a| a.removed).count(),
        debris_removed = report.debris_removed,
        "prune done"
    );
    Ok(report)
}

/// Reads what the plan needs and plans.
async fn survey(repo: &Repository, opts: &PruneOptions, now: DateTime<Utc>) -> Result<PruneReport> {
    let listed = repo.list_backups().await?;
    let pins = repo.pins().await?;
    let verified = if opts.keep_verified {
        verified_databases(repo).await?
    } else {
        BTreeMap::new()
    };
    let incomplete = repo.incomplete_backups().await?;

    let skip_check = repo.trust().skip_check;
    let entries: Vec<Entry> = listed
        .iter()
        .map(|l| Entry {
            id: l.manifest.id.clone(),
            time: l.manifest.started_at,
            server: l.manifest.source.server.clone(),
            databases: l
                .manifest
                .databases
                .iter()
                .map(|d| d.name.clone())
                .collect(),
            counted: skip_check || matches!(l.signature, SignatureStatus::Verified(_)),
        })
        .collect();
    let protections = Protections {
        pins: pins
            .iter()
            .map(|(id, pin)| (id.clone(), pin.describe()))
            .collect(),
        verified,
        keep_verified: opts.keep_verified,
        retained: retained(repo, &listed, now).await?,
    };
    let plan = retention::plan(&opts.policy, &entries, &protections, opts.timezone, now);

    let sizes: BTreeMap<&str, u64> = listed
        .iter()
        .map(|l: &Listed| (l.manifest.id.as_str(), l.manifest.stored_size()))
        .collect();
    Ok(PruneReport {
        repository: repo.name(),
        dry_run: opts.dry_run,
        policy: opts.policy.describe(),
        timezone: opts.timezone.name().to_string(),
        keep_verified: opts.keep_verified,
        backups: plan
            .rows
            .into_iter()
            .map(|row| PlannedBackup {
                action: if row.keep { "keep" } else { "delete" },
                stored_bytes: sizes.get(row.id.as_str()).copied().unwrap_or(0),
                deleted: false,
                row,
            })
            .collect(),
        in_progress: incomplete
            .iter()
            .filter(|i| !i.abandoned)
            .map(|i| i.id.0.clone())
            .collect(),
        abandoned: incomplete
            .iter()
            .filter(|i| i.abandoned)
            .map(|i| Abandoned {
                id: i.id.0.clone(),
                removed: false,
            })
            .collect(),
        debris_removed: 0,
        debris_grace_hours: DEBRIS_GRACE_HOURS,
    })
}

/// On a store with Object Lock: the backups still retained, and until when (the manifest's
/// date, the latest of the backup's objects). Elsewhere nothing, without a request.
async fn retained(
    repo: &Repository,
    listed: &[Listed],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, DateTime<Utc>>> {
    let mut out = BTreeMap::new();
    if repo.store().object_lock().is_none() {
        return Ok(out);
    }
    for l in listed {
        let id = BackupId(l.manifest.id.clone());
        let meta = repo.store().head(&manifest_key(&id)).await?;
        if let Some(until) = meta.and_then(|m| m.retain_until).filter(|t| *t > now) {
            out.insert(id.0, until);
        }
    }
    Ok(out)
}

/// Backup id → databases that passed a verification whose record is signed by a trusted
/// key. An untrusted record proves nothing, so it protects nothing.
async fn verified_databases(repo: &Repository) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for stored in repo.verifications(None).await? {
        if !stored.trusted() {
            tracing::warn!(key = %stored.key, "a verification record whose signature is not trusted does not count for --keep-verified");
            continue;
        }
        for db in &stored.record.databases {
            if db.passed && db.error.is_none() {
                out.entry(stored.record.backup.clone())
                    .or_default()
                    .insert(db.name.clone());
            }
        }
    }
    Ok(out)
}

/// Deletes what the plan deletes, oldest first; stops at the first failure, saying how far
/// it got.
async fn delete_planned(
    repo: &Repository,
    report: &mut PruneReport,
    lock: &LockGuard,
) -> Result<()> {
    let total = report.to_delete().count();
    for (done, planned) in report
        .backups
        .iter_mut()
        .filter(|b| !b.row.keep)
        .enumerate()
    {
        let id = BackupId(planned.row.id.clone());
        repo.delete_backup(&id, lock).await.map_err(|e| {
            if done == 0 {
                return e.with_note("no backup was deleted; the next prune plans them again");
            }
            Error::Partial {
                done: format!(
                    "{done} of the {total} backups the plan deletes were deleted before this; \
                     the rest are untouched, and the next prune plans them again"
                ),
                error: Box::new(e),
            }
        })?;
        planned.deleted = true;
    }
    Ok(())
}

/// Removes abandoned backup directories and old upload leftovers.
async fn remove_debris(
    repo: &Repository,
    report: &mut PruneReport,
    lock: &LockGuard,
) -> Result<()> {
    lock.check_fresh()?;
    for id in repo.remove_abandoned().await? {
        match report.abandoned.iter_mut().find(|a| a.id == id.0) {
            Some(a) => a.removed = true,
            None => report.abandoned.push(Abandoned {
                id: id.0,
                removed: true,
            }),
        }
    }
    report.debris_removed = repo.remove_old_debris().await?;
    Ok(())
}
