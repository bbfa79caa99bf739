//! Which backups a repository holds: listing (only complete backups, i.e. with a manifest),
//! resolving `latest` or an id, and cleanup of what interrupted backups left behind.
//! Listing costs one delimited listing of `backups/` plus one read per backup: O(backups),
//! never O(objects).

use chrono::{DateTime, Duration, Utc};

use super::layout::{backup_of_prefix, in_progress_key, manifest_key, BACKUPS_DIR};
use super::manifest::Manifest;
use super::transaction::{InProgress, STALE_AFTER_SECS};
use super::{backup_prefix, BackupId, Repository, SignatureStatus};
use crate::error::{Error, Result};
use crate::storage;

/// A complete backup as `list` shows it.
pub struct Listed {
    pub manifest: Manifest,
    pub signature: SignatureStatus,
}

/// A backup directory without a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub id: BackupId,
    /// Its writer is gone (a crash, a kill): the next cleanup removes it. Otherwise a
    /// backup is being written there, and nothing touches it.
    pub abandoned: bool,
}

/// How long debris of crashed writes (temporary files, open multipart uploads) is left
/// alone before it is removed: longer than any single object's upload takes.
pub const DEBRIS_GRACE_HOURS: i64 = 24;

impl Repository {
    /// Ids of every backup directory, complete or not, oldest first.
    pub async fn backup_ids(&self) -> Result<Vec<BackupId>> {
        let listing = self.store().list(BACKUPS_DIR, true).await?;
        let mut ids: Vec<BackupId> = listing
            .prefixes
            .iter()
            .filter_map(|p| backup_of_prefix(p))
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn is_complete(&self, id: &BackupId) -> Result<bool> {
        Ok(self.store().head(&manifest_key(id)).await?.is_some())
    }

    /// Complete backups, oldest first, with their manifests and signature status. A
    /// manifest that cannot be read (damaged, or from a newer lifeboat) is reported and
    /// left out, so one bad backup does not hide the good ones; its signature is shown, not
    /// enforced: `restore` and `show` enforce it.
    pub async fn list_backups(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        for id in self.backup_ids().await? {
            match self.read_manifest(&id).await {
                Ok((manifest, signature)) => out.push(Listed {
                    manifest,
                    signature,
                }),
                Err(Error::NotFound { .. }) => {}
                Err(e @ (Error::Corrupt { .. } | Error::Backup(_))) => {
                    tracing::warn!(backup = %id, error = %e, "a backup whose manifest cannot be read");
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| {
            (a.manifest.started_at, &a.manifest.id).cmp(&(b.manifest.started_at, &b.manifest.id))
        });
        Ok(out)
    }

    /// Reads a manifest and its signature status, enforcing nothing.
    pub(crate) async fn read_manifest(&self, id: &BackupId) -> Result<(Manifest, SignatureStatus)> {
        let (bytes, status) = self.get_signed(&manifest_key(id)).await?;
        let manifest = Manifest::parse(&id.0, &bytes)?;
        // Format 1 was never signed: whatever the check found (no signature, or no trusted
        // key to check with), the status says why.
        let status = match status {
            SignatureStatus::Verified(_) => status,
            _ if manifest.format_version < 2 => SignatureStatus::Legacy,
            other => other,
        };
        Ok((manifest, status))
    }

    /// A complete backup's manifest, whose signature the trust policy accepts.
    pub async fn load_manifest(&self, id: &BackupId) -> Result<Manifest> {
        let (manifest, status) = self.read_manifest(id).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::BackupNotFound {
                repo: self.name(),
                id: id.0.clone(),
            },
            other => other,
        })?;
        self.accept(&format!("backup {id}"), &status)?;
        Ok(manifest)
    }

    /// Resolves `latest` or an id (a unique prefix is enough) to a complete, trusted backup.
    /// `latest` is the newest complete backup, and only that one: if its manifest cannot be
    /// read or verified, this fails naming it, and never falls back to an older backup.
    pub async fn resolve(&self, wanted: &str) -> Result<Manifest> {
        self.require_trust()?;
        let id = self.resolve_id(wanted).await?;
        let loaded = self.load_manifest(&id).await;
        if wanted == "latest" {
            return loaded.map_err(|e| {
                e.with_note(&format!(
                    "this is the newest backup ({id}); to restore an older one, name it by id \
                     (see `lifeboat list`)"
                ))
            });
        }
        loaded
    }

    /// `--at TIME`: the newest complete backup whose consistent point (of `database`, or of
    /// any of its databases) is at or before `at`, with that consistent point. Like
    /// `latest`, it never falls back past a backup it cannot trust: that fails, naming it.
    pub async fn resolve_at(
        &self,
        at: DateTime<Utc>,
        database: Option<&str>,
    ) -> Result<(Manifest, DateTime<Utc>)> {
        self.require_trust()?;
        let point = |m: &Manifest| match database {
            Some(name) => m
                .databases
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.consistent_at),
            None => Some(m.consistent_at()),
        };
        let listed = self.list_backups().await?;
        let best = listed
            .into_iter()
            .filter_map(|l| point(&l.manifest).map(|p| (p, l)))
            .filter(|(p, _)| *p <= at)
            .max_by(|(a, la), (b, lb)| (a, &la.manifest.id).cmp(&(b, &lb.manifest.id)));
        let Some((consistent_at, listed)) = best else {
            let of = database
                .map(|d| format!(" of database {d}"))
                .unwrap_or_default();
            return Err(Error::BackupNotFound {
                repo: self.name(),
                id: format!(
                    "with a consistent point{of} at or before {}",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            });
        };
        let id = listed.manifest.id.clone();
        self.accept(&format!("backup {id}"), &listed.signature)
            .map_err(|e| {
                e.with_note(&format!(
                    "it is the newest backup before that time ({id}); to restore an older                      one, name it by id (see `lifeboat list`)"
                ))
            })?;
        Ok((listed.manifest, consistent_at))
    }

    /// The id of the complete backup `wanted` names: `latest`, an id, or a unique prefix of
    /// one. Reads no manifest, so it also names backups that are damaged or untrusted (to
    /// delete them).
    pub async fn resolve_id(&self, wanted: &str) -> Result<BackupId> {
        if wanted == "latest" {
            for id in self.backup_ids().await?.into_iter().rev() {
                if self.is_complete(&id).await? {
                    return Ok(id);
                }
            }
            return Err(Error::Backup(format!(
                "none found in {}: run `lifeboat backup` first",
                self.name()
            )));
        }
        // A whole id is checked directly; anything else (including a timestamp without its
        // suffix, which also looks like an id) is matched as a prefix of complete backups.
        if BackupId::is_valid(wanted) {
            let id = BackupId(wanted.to_string());
            if self.is_complete(&id).await? {
                return Ok(id);
            }
        }
        let mut matches = Vec::new();
        for id in self.backup_ids().await? {
            if id.0.starts_with(wanted) && self.is_complete(&id).await? {
                matches.push(id);
            }
        }
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 if BackupId::is_valid(wanted) => Err(Error::BackupNotFound {
                repo: self.name(),
                id: wanted.to_string(),
            }),
            0 => Err(Error::Backup(format!(
                "`{wanted}` matches no backup in {}; see `lifeboat list`",
                self.name()
            ))),
            n => Err(Error::Backup(format!(
                "`{wanted}` matches {n} backups; give more of the id"
            ))),
        }
    }

    /// Backup directories without a manifest: a backup being written (its marker fresh and
    /// its process alive), or what an interrupted one left (`abandoned`).
    pub async fn incomplete_backups(&self) -> Result<Vec<Incomplete>> {
        let now = Utc::now();
        let mut out = Vec::new();
        for id in self.backup_ids().await? {
            if self.is_complete(&id).await? {
                continue;
            }
            let abandoned = self.is_abandoned(&id, now).await?;
            out.push(Incomplete { id, abandoned });
        }
        Ok(out)
    }

    /// Whether an incomplete backup's writer is gone: its marker says so, or (no marker)
    /// its newest object is older than the stale period.
    async fn is_abandoned(&self, id: &BackupId, now: DateTime<Utc>) -> Result<bool> {
        let prefix = backup_prefix(id);
        match self.store().get(&in_progress_key(&prefix)).await {
            Ok(b) => Ok(serde_json::from_slice::<InProgress>(&b)
                .map(|m| m.is_abandoned(now))
                .unwrap_or(true)),
            Err(Error::NotFound { .. }) => {
                // No marker: written before the marker (a crash in the first instant) or
                // the backup completed since the listing (the marker goes right after the
                // manifest). Keep it until its newest object is stale.
                let newest = storage::list_all(self.store().as_ref(), &prefix)
                    .await?
                    .iter()
                    .filter_map(|o| o.modified)
                    .max();
                Ok(newest.is_none_or(|t| now - t > Duration::seconds(STALE_AFTER_SECS)))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes what interrupted backups left behind: directories without a manifest whose
    /// marker is missing or abandoned (a backup still running keeps a fresh marker and is
    /// left alone), and storage debris (temporary files, open multipart uploads) older than
    /// a day. Returns the ids removed.
    pub async fn cleanup_incomplete(&self) -> Result<Vec<BackupId>> {
        let removed = self.remove_abandoned().await?;
        let debris = self.remove_old_debris().await?;
        if debris > 0 {
            tracing::info!(count = debris, "removed leftovers of interrupted uploads");
        }
        Ok(removed)
    }

    /// Deletes the directories of abandoned backups (never one being written). Returns the
    /// ids removed.
    pub async fn remove_abandoned(&self) -> Result<Vec<BackupId>> {
        let mut removed = Vec::new();
        for found in self.incomplete_backups().await? {
            // The listing is a moment old: a backup that completed since then is not touched.
            if found.abandoned && !self.is_complete(&found.id).await? {
                let prefix = backup_prefix(&found.id);
                let n = match self.delete_incomplete(&prefix).await {
                    Ok(n) => n,
                    Err(Error::Retained { until, .. }) => {
                        tracing::info!(backup = %found.id, until, "an incomplete backup is still under Object Lock; it is removed on a run after that date");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                self.store()
                    .remove_debris(&prefix, Duration::zero())
                    .await?;
                tracing::info!(backup = %found.id, objects = n, "removed an incomplete backup");
                removed.push(found.id);
            }
        }
        Ok(removed)
    }

    /// Removes storage debris of interrupted uploads (temporary files, open multipart
    /// uploads) older than [`DEBRIS_GRACE_HOURS`]. Returns how many.
    pub async fn remove_old_debris(&self) -> Result<usize> {
        self.store()
            .remove_debris("", Duration::hours(DEBRIS_GRACE_HOURS))
            .await
    }
}
