//! The backups a repository holds: listing (only complete backups, i.e. with a manifest),
//! resolving `latest`, the in-progress marker a running backup keeps fresh, and cleanup of
//! what an interrupted backup left behind.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::repository::layout::{
    backup_of_key, in_progress_key, manifest_key, IN_PROGRESS_NAME, MANIFEST_NAME,
};
use crate::repository::{
    backup_prefix, BackupId, RepoDescriptor, Repository, DESCRIPTOR_KEY, FORMAT_VERSION,
};

/// A backup whose marker has not been refreshed for this long is abandoned.
pub const STALE_AFTER_SECS: i64 = 15 * 60;
/// How often a running backup refreshes its marker.
pub const HEARTBEAT_SECS: u64 = 60;

/// Written when a backup starts and refreshed while it runs; removed after the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InProgress {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Where `pid` means something: boot id and PID namespace. Containers and cloned VMs
    /// share host names, so the host name alone cannot say that a PID is ours to check.
    #[serde(default)]
    pub pid_space: Option<String>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

impl InProgress {
    pub fn new(id: &BackupId) -> Self {
        let now = Utc::now();
        InProgress {
            id: id.0.clone(),
            host: hostname(),
            pid: std::process::id(),
            pid_space: pid_space(),
            started_at: now,
            heartbeat_at: now,
        }
    }

    /// Abandoned: its process is gone (checked only in our own PID space) or it stopped
    /// refreshing the marker.
    pub fn is_abandoned(&self, now: DateTime<Utc>) -> bool {
        let ours = self.pid_space.is_some() && self.pid_space == pid_space();
        if ours && !process_alive(self.pid) {
            return true;
        }
        now - self.heartbeat_at > Duration::seconds(STALE_AFTER_SECS)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// This boot of this kernel and this PID namespace, or `None` where /proc cannot say.
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let stat = std::path::Path::new("/proc").join(pid.to_string());
    // Without /proc (not Linux) we cannot tell: rely on the heartbeat instead.
    !std::path::Path::new("/proc/self").exists() || stat.exists()
}

/// Keeps the in-progress marker fresh until dropped.
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    last_refresh: Arc<std::sync::Mutex<std::time::Instant>>,
}

impl Heartbeat {
    pub async fn start(repo: Arc<Repository>, id: &BackupId) -> Result<Self> {
        let key = in_progress_key(id);
        let mut marker = InProgress::new(id);
        repo.put_bytes(
            &key,
            Bytes::from(serde_json::to_vec_pretty(&marker).unwrap_or_default()),
        )
        .await?;
        let last_refresh = Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
        let last = last_refresh.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(HEARTBEAT_SECS)).await;
                marker.heartbeat_at = Utc::now();
                let body = Bytes::from(serde_json::to_vec_pretty(&marker).unwrap_or_default());
                match repo.put_bytes(&key, body).await {
                    Ok(()) => {
                        if let Ok(mut t) = last.lock() {
                            *t = std::time::Instant::now();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not refresh the in-progress marker")
                    }
                }
            }
        });
        Ok(Heartbeat { task, last_refresh })
    }

    /// Fails if the marker went unrefreshed long enough that another run may have taken this
    /// backup for abandoned and begun deleting it (the process was suspended, or the
    /// repository unreachable): such a backup must not be committed.
    pub fn check_fresh(&self) -> Result<()> {
        let since = self
            .last_refresh
            .lock()
            .map(|t| t.elapsed().as_secs())
            .unwrap_or(u64::MAX);
        if since > (STALE_AFTER_SECS as u64) / 2 {
            return Err(Error::Backup(format!(
                "the in-progress marker was last refreshed {since} s ago; another run may have \
                 removed this backup as abandoned, so it is not committed (rerun the backup)"
            )));
        }
        Ok(())
    }
}

/// Checks, just before a backup is committed, that the repository holds every object its
/// manifest names, at the recorded size: whatever happened while it ran (a cleanup by
/// another run, a store that lost a write), a manifest never names a missing object.
pub async fn check_objects_stored(repo: &Repository, manifest: &Manifest) -> Result<()> {
    let prefix = backup_prefix(&BackupId(manifest.id.clone()));
    let stored: std::collections::HashMap<String, u64> = repo
        .list(&prefix)
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    for object in manifest.objects() {
        let key = format!("{prefix}{}", object.key);
        match stored.get(&key) {
            Some(&size) if size == object.size => {}
            Some(&size) => {
                return Err(repo.error(format!(
                    "{key} holds {size} bytes after it was written with {}; the backup is not \
                     committed",
                    object.size
                )))
            }
            None => {
                return Err(repo.error(format!(
                    "{key} is missing after it was written; the backup is not committed"
                )))
            }
        }
    }
    Ok(())
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads and checks the repository descriptor.
pub async fn descriptor(repo: &Repository) -> Result<RepoDescriptor> {
    let bytes = repo
        .get_bytes_if_exists(DESCRIPTOR_KEY)
        .await?
        .ok_or_else(|| {
            repo.error("is not a lifeboat repository (no lifeboat.json); run `lifeboat init` first")
        })?;
    let d: RepoDescriptor = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        object: format!("{}/{DESCRIPTOR_KEY}", repo.name()),
        reason: e.to_string(),
    })?;
    if d.format_version > FORMAT_VERSION {
        return Err(repo.error(format!(
            "uses format {} from {}; upgrade lifeboat",
            d.format_version, d.created_by
        )));
    }
    Ok(d)
}

/// What the repository holds under `backups/`, grouped per backup id.
struct Scan {
    complete: Vec<BackupId>,
    incomplete: BTreeMap<BackupId, bool>,
}

async fn scan(repo: &Repository) -> Result<Scan> {
    let mut seen: BTreeMap<BackupId, (bool, bool)> = BTreeMap::new();
    for obj in repo.list("backups/").await? {
        if let Some((id, tail)) = backup_of_key(&obj.key) {
            let entry = seen.entry(id).or_default();
            entry.0 |= tail == MANIFEST_NAME;
            entry.1 |= tail == IN_PROGRESS_NAME;
        }
    }
    let mut complete = Vec::new();
    let mut incomplete = BTreeMap::new();
    for (id, (has_manifest, has_marker)) in seen {
        if has_manifest {
            complete.push(id);
        } else {
            incomplete.insert(id, has_marker);
        }
    }
    Ok(Scan {
        complete,
        incomplete,
    })
}

/// Complete backups, oldest first, with their manifests. A manifest that cannot be read
/// (damaged, or from a newer lifeboat) is reported and left out, so one bad backup does not
/// hide the good ones.
pub async fn list(repo: &Repository) -> Result<Vec<Manifest>> {
    let scan = scan(repo).await?;
    let mut out = Vec::with_capacity(scan.complete.len());
    for id in scan.complete {
        match load_manifest(repo, &id).await {
            Ok(m) => out.push(m),
            Err(e @ (Error::Corrupt { .. } | Error::Backup(_))) => {
                tracing::warn!(backup = %id, error = %e, "skipping a backup whose manifest cannot be read");
            }
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

pub async fn load_manifest(repo: &Repository, id: &BackupId) -> Result<Manifest> {
    let bytes = repo
        .get_bytes(&manifest_key(id))
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => no_such_backup(repo, &id.0),
            other => other,
        })?;
    Manifest::parse(&id.0, &bytes)
}

fn no_such_backup(repo: &Repository, id: &str) -> Error {
    Error::Backup(format!(
        "{id} not found in {} (or it never completed); see `lifeboat list`",
        repo.name()
    ))
}

/// Resolves `latest` or an id (a unique prefix is enough) to a complete backup.
pub async fn resolve(repo: &Repository, wanted: &str) -> Result<Manifest> {
    if wanted == "latest" {
        let all = list(repo).await?;
        return all.into_iter().last().ok_or_else(|| {
            Error::Backup(format!(
                "none found in {}: run `lifeboat backup` first",
                repo.name()
            ))
        });
    }
    // A whole id is read directly; anything else (including a timestamp without its
    // suffix, which also looks like an id) is matched as a prefix of complete backups.
    if BackupId::is_valid(wanted) {
        let wanted_id = &BackupId(wanted.to_string());
        if let Some(bytes) = repo.get_bytes_if_exists(&manifest_key(wanted_id)).await? {
            return Manifest::parse(wanted, &bytes);
        }
    }
    let scan = scan(repo).await?;
    let matches: Vec<&BackupId> = scan
        .complete
        .iter()
        .filter(|id| id.0.starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => load_manifest(repo, one).await,
        [] if BackupId::is_valid(wanted) => Err(no_such_backup(repo, wanted)),
        [] => Err(Error::Backup(format!(
            "`{wanted}` matches no backup in {}; see `lifeboat list`",
            repo.name()
        ))),
        _ => Err(Error::Backup(format!(
            "`{wanted}` matches {} backups; give more of the id",
            matches.len()
        ))),
    }
}

/// Deletes what interrupted backups left behind: directories without a manifest whose
/// marker is missing or abandoned. A backup still running keeps a fresh marker and is left
/// alone. Returns the ids removed.
pub async fn cleanup_incomplete(repo: &Repository) -> Result<Vec<BackupId>> {
    let now = Utc::now();
    let mut removed = Vec::new();
    for (id, has_marker) in scan(repo).await?.incomplete {
        let abandoned = if has_marker {
            match repo.get_bytes_if_exists(&in_progress_key(&id)).await? {
                Some(b) => serde_json::from_slice::<InProgress>(&b)
                    .map(|m| m.is_abandoned(now))
                    .unwrap_or(true),
                // Gone since the scan: the backup has just completed (the marker is removed
                // right after the manifest is written). Never abandoned.
                None => false,
            }
        } else {
            // No marker: written before the marker (a crash in the first instant) or after
            // it was removed (impossible without a manifest). Keep it until it is stale.
            let newest = repo
                .list(&backup_prefix(&id))
                .await?
                .iter()
                .filter_map(|o| o.modified)
                .max();
            newest.is_none_or(|t| now - t > Duration::seconds(STALE_AFTER_SECS))
        };
        // The scan is a moment old: a backup that completed since then is not touched.
        if abandoned && !repo.exists(&manifest_key(&id)).await? {
            let n = repo.delete_prefix(&backup_prefix(&id)).await?;
            tracing::info!(backup = %id, objects = n, "removed an incomplete backup");
            removed.push(id);
        }
    }
    Ok(removed)
}

/// `lifeboat init`: writes the descriptor; refuses a location that already holds a
/// repository or any backup.
pub async fn init(
    repo: &Repository,
    recipient_fingerprints: Vec<String>,
) -> Result<RepoDescriptor> {
    if let Repository::Local(_) = repo {
        // A local repository's directory is created by init.
    } else {
        repo.check_reachable().await?;
    }
    if repo.exists(DESCRIPTOR_KEY).await? {
        return Err(repo.error("already holds a lifeboat repository; nothing was changed"));
    }
    if !repo.list("backups/").await?.is_empty() {
        return Err(repo.error(
            "already holds backups but no lifeboat.json; refusing to initialize over them",
        ));
    }
    let d = RepoDescriptor::new(recipient_fingerprints);
    repo.put_bytes(
        DESCRIPTOR_KEY,
        Bytes::from(serde_json::to_vec_pretty(&d).unwrap_or_default()),
    )
    .await?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(pid: u32, pid_space: Option<String>, age_secs: i64) -> InProgress {
        let then = Utc::now() - Duration::seconds(age_secs);
        InProgress {
            id: "20260101T000000Z-0000".into(),
            host: hostname(),
            pid,
            pid_space,
            started_at: then,
            heartbeat_at: then,
        }
    }

    /// A PID that no process has: above the kernel's pid_max limit.
    const DEAD_PID: u32 = 4_194_304 + 1;

    #[test]
    fn a_dead_process_counts_only_in_our_own_pid_space() {
        let now = Utc::now();
        // Ours, gone: abandoned at once (the kill -9 case).
        assert!(marker(DEAD_PID, pid_space(), 0).is_abandoned(now));
        // Ours, alive (this very process): kept.
        assert!(!marker(std::process::id(), pid_space(), 0).is_abandoned(now));
        // Another container or machine with the same host name: its PIDs mean nothing
        // here, so only a stale heartbeat makes it abandoned.
        let elsewhere = Some("other-boot/pid:[1]".to_string());
        assert!(!marker(DEAD_PID, elsewhere.clone(), 60).is_abandoned(now));
        assert!(marker(DEAD_PID, elsewhere, STALE_AFTER_SECS + 60).is_abandoned(now));
        // A marker that does not say where its PID lives: heartbeat only.
        assert!(!marker(DEAD_PID, None, 60).is_abandoned(now));
    }
}
