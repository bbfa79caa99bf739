//! Repository locks, with restic's semantics.
//!
//! - `backup` and `restore` take a **shared** lock; commands that delete (`forget`, later
//!   `prune`) take an **exclusive** one. Shared locks coexist; an exclusive lock excludes
//!   every other lock.
//! - A lock is a file `locks/<token>-<n>.json` naming its host, PID, PID space, run token and
//!   start time. It is refreshed every 5 minutes by writing the next generation and deleting
//!   the previous one (never overwriting in place).
//! - A lock is **stale** when it was not refreshed for 30 minutes, or at once when its
//!   process is gone (checked only in our own PID space; for our own PID, only while the run
//!   that wrote it holds its token). Stale locks are ignored, and removed by `unlock`.
//! - Acquiring works without conditional writes: look for conflicting locks; write ours;
//!   wait for the store's listing lag (200 ms on S3-compatible stores, none on a
//!   filesystem) and look again; on a conflict, remove ours and back off. With a store
//!   whose listings show completed writes (S3 since 2020, MinIO, a filesystem), two
//!   contenders cannot both succeed: whichever looks last sees the other's lock. Both may
//!   fail (and retry with `--retry-lock`).
//! - A holder checks its own lock is fresh before a destructive step, so a process that
//!   was suspended past the stale time never acts on a lock another process may have
//!   taken over.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

use super::layout::{lock_key, LOCKS_DIR};
use super::liveness::{Freshness, Owner, RunToken};
use super::Repository;
use crate::error::{Error, Result};
use crate::storage::Storage;

pub const LOCK_STALE_SECS: i64 = 30 * 60;
pub const LOCK_REFRESH_SECS: u64 = 5 * 60;
const BACKOFF_START: std::time::Duration = std::time::Duration::from_secs(5);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A lock file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockFile {
    pub kind: LockKind,
    /// The command that holds it (`backup`, `restore`, `forget`…).
    pub command: String,
    #[serde(flatten)]
    pub owner: Owner,
    pub refreshed_at: DateTime<Utc>,
}

impl LockFile {
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.refreshed_at > Duration::seconds(LOCK_STALE_SECS) || self.owner.is_gone()
    }

    fn conflicts_with(&self, wanted: LockKind) -> bool {
        self.kind == LockKind::Exclusive || wanted == LockKind::Exclusive
    }

    pub fn describe(&self) -> String {
        format!(
            "{} lock of `lifeboat {}` ({}, refreshed {})",
            match self.kind {
                LockKind::Shared => "a shared",
                LockKind::Exclusive => "an exclusive",
            },
            self.command,
            self.owner.describe(),
            self.refreshed_at.format("%H:%M:%S UTC")
        )
    }

    fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

/// A lock as found in the repository.
#[derive(Debug, Clone)]
pub struct FoundLock {
    pub key: String,
    /// `None` if the file could not be read as a lock.
    pub lock: Option<LockFile>,
    pub modified: Option<DateTime<Utc>>,
}

impl FoundLock {
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        match &self.lock {
            Some(l) => l.is_stale(now),
            // Unreadable: judged by its age alone.
            None => self
                .modified
                .is_none_or(|t| now - t > Duration::seconds(LOCK_STALE_SECS)),
        }
    }

    pub fn describe(&self) -> String {
        match &self.lock {
            Some(l) => l.describe(),
            None => format!("an unreadable lock file {}", self.key),
        }
    }
}

/// How long to keep trying for a lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct LockOptions {
    pub retry_for: std::time::Duration,
}

/// A held lock, refreshed in the background until released. Dropping it without `release`
/// stops the refresh and deletes the lock file in the background (best effort; a lock left
/// behind by a killed process is stale at once for processes in the same PID space).
pub struct LockGuard {
    store: Arc<dyn Storage>,
    kind: LockKind,
    key: Arc<Mutex<String>>,
    freshness: Freshness,
    task: tokio::task::JoinHandle<()>,
    _run: RunToken,
}

impl Repository {
    /// Every lock file in the repository.
    pub async fn locks(&self) -> Result<Vec<FoundLock>> {
        let mut out = Vec::new();
        for meta in self.store().list(LOCKS_DIR, false).await?.objects {
            let lock = match self.store().get(&meta.key).await {
                Ok(b) => serde_json::from_slice::<LockFile>(&b).ok(),
                // Released since the listing.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            out.push(FoundLock {
                key: meta.key,
                lock,
                modified: meta.modified,
            });
        }
        Ok(out)
    }

    /// Live locks that conflict with taking `kind`, other than the one at `own`.
    async fn conflicts(&self, kind: LockKind, own: Option<&str>) -> Result<Vec<FoundLock>> {
        let now = Utc::now();
        Ok(self
            .locks()
            .await?
            .into_iter()
            .filter(|l| Some(l.key.as_str()) != own)
            .filter(|l| !l.is_stale(now))
            .filter(|l| l.lock.as_ref().is_none_or(|f| f.conflicts_with(kind)))
            .collect())
    }

    /// Takes a lock for `command`, waiting up to `opts.retry_for` for conflicting locks to
    /// go away. Fails with `Error::Locked` (exit 6) naming the holder.
    pub async fn lock(
        &self,
        kind: LockKind,
        command: &str,
        opts: LockOptions,
    ) -> Result<LockGuard> {
        let started = std::time::Instant::now();
        let mut backoff = BACKOFF_START;
        let run = RunToken::new();
        let file = LockFile {
            kind,
            command: command.to_string(),
            owner: run.owner(),
            refreshed_at: Utc::now(),
        };
        let key = lock_key(run.as_str(), 0);
        loop {
            let mut holders = self.conflicts(kind, None).await?;
            if holders.is_empty() {
                self.store().put(&key, file.to_json()).await.map_err(|e| {
                    e.with_note(
                        "taking a repository lock needs write access; with read-only \
                         credentials, restore with --no-lock",
                    )
                })?;
                tokio::time::sleep(self.store().listing_lag()).await;
                holders = self.conflicts(kind, Some(&key)).await?;
                if holders.is_empty() {
                    tracing::debug!(key, ?kind, "lock taken");
                    return Ok(LockGuard::start(self.store().clone(), kind, key, file, run));
                }
                self.store().delete(&key).await?;
            }
            let waited = started.elapsed();
            if waited >= opts.retry_for {
                return Err(Error::Locked {
                    repo: self.name(),
                    holder: holders
                        .iter()
                        .map(FoundLock::describe)
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            // Jitter keeps two contenders that keep seeing each other from moving in step.
            let jitter = std::time::Duration::from_millis(rand::random::<u64>() % 1000);
            let pause = (backoff + jitter).min(opts.retry_for - waited);
            tracing::info!(
                holder = %holders[0].describe(),
                "the repository is locked; waiting {:.0} s",
                pause.as_secs_f64()
            );
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// `lifeboat unlock`: removes stale locks, or every lock with `all`. Returns the locks
    /// removed.
    pub async fn unlock(&self, all: bool) -> Result<Vec<FoundLock>> {
        let now = Utc::now();
        let mut removed = Vec::new();
        for l in self.locks().await? {
            if all || l.is_stale(now) {
                self.store().delete(&l.key).await?;
                removed.push(l);
            }
        }
        Ok(removed)
    }
}

impl LockGuard {
    fn start(
        store: Arc<dyn Storage>,
        kind: LockKind,
        key: String,
        mut file: LockFile,
        run: RunToken,
    ) -> Self {
        let key = Arc::new(Mutex::new(key));
        let freshness = Freshness::new();
        let (s, k, fresh) = (store.clone(), key.clone(), freshness.clone());
        let token = run.as_str().to_string();
        let task = tokio::spawn(async move {
            let mut generation = 0;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(LOCK_REFRESH_SECS)).await;
                generation += 1;
                file.refreshed_at = Utc::now();
                let next = lock_key(&token, generation);
                if let Err(e) = s.put(&next, file.to_json()).await {
                    tracing::warn!(error = %e, "could not refresh the repository lock");
                    continue;
                }
                let previous =
                    std::mem::replace(&mut *k.lock().unwrap_or_else(|p| p.into_inner()), next);
                fresh.touch();
                if let Err(e) = s.delete(&previous).await {
                    tracing::warn!(error = %e, "could not remove the previous lock file");
                }
            }
        });
        LockGuard {
            store,
            kind,
            key,
            freshness,
            task,
            _run: run,
        }
    }

    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// Fails if the lock went unrefreshed for long enough that another process may have
    /// taken it for stale.
    pub fn check_fresh(&self) -> Result<()> {
        self.freshness.check(
            LOCK_STALE_SECS,
            "the repository lock",
            "another process may have taken it over, so nothing more is done (rerun the command)",
        )
    }

    fn current_key(&self) -> String {
        self.key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops refreshing and deletes the lock file.
    pub async fn release(self) {
        self.task.abort();
        let key = self.current_key();
        if let Err(e) = self.store.delete(&key).await {
            tracing::warn!(error = %e, key, "could not remove the repository lock; `lifeboat unlock` removes it once stale");
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, key) = (self.store.clone(), self.current_key());
            handle.spawn(async move {
                let _ = store.delete(&key).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::transaction::tests::test_repo;

    fn none() -> LockOptions {
        LockOptions::default()
    }

    #[tokio::test]
    async fn shared_locks_coexist_and_exclude_an_exclusive_one() {
        let (repo, _) = test_repo().await;
        let a = repo.lock(LockKind::Shared, "backup", none()).await.unwrap();
        let b = repo
            .lock(LockKind::Shared, "restore", none())
            .await
            .unwrap();
        let err = repo
            .lock(LockKind::Exclusive, "forget", none())
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("lifeboat backup"), "{err}");
        a.release().await;
        b.release().await;
        let x = repo
            .lock(LockKind::Exclusive, "forget", none())
            .await
            .unwrap();
        let err = repo
            .lock(LockKind::Shared, "backup", none())
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("exclusive lock of `lifeboat forget`"),
            "{err}"
        );
        x.release().await;
        assert!(repo.locks().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_stale_lock_is_taken_over_and_unlock_removes_it() {
        let (repo, store) = test_repo().await;
        // A lock from another machine, not refreshed for 31 minutes.
        let old = LockFile {
            kind: LockKind::Exclusive,
            command: "forget".into(),
            owner: Owner {
                host: "elsewhere".into(),
                pid: 7,
                pid_space: Some("other-boot/pid:[1]".into()),
                token: Some("dead".into()),
                started_at: Utc::now() - Duration::hours(2),
            },
            refreshed_at: Utc::now() - Duration::minutes(31),
        };
        store.put("locks/dead-0.json", old.to_json()).await.unwrap();
        let fresh = LockFile {
            refreshed_at: Utc::now(),
            ..old.clone()
        };
        store
            .put("locks/live-0.json", fresh.to_json())
            .await
            .unwrap();
        // The live one blocks; the stale one alone would not.
        assert!(repo.lock(LockKind::Shared, "backup", none()).await.is_err());
        store.delete("locks/live-0.json").await.unwrap();
        let held = repo
            .lock(LockKind::Exclusive, "forget", none())
            .await
            .unwrap();
        held.release().await;
        let removed = repo.unlock(false).await.unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].key, "locks/dead-0.json");
    }

    #[tokio::test]
    async fn a_lock_of_a_finished_run_in_this_process_is_stale() {
        let (repo, store) = test_repo().await;
        // What a crashed job of a daemon leaves: a lock with our own PID whose run is over.
        let run = RunToken::new();
        let leftover = LockFile {
            kind: LockKind::Exclusive,
            command: "forget".into(),
            owner: run.owner(),
            refreshed_at: Utc::now(),
        };
        store
            .put("locks/mine-0.json", leftover.to_json())
            .await
            .unwrap();
        assert!(repo.lock(LockKind::Shared, "backup", none()).await.is_err());
        drop(run);
        let again = repo
            .lock(LockKind::Exclusive, "forget", none())
            .await
            .unwrap();
        again.release().await;
    }

    #[tokio::test]
    async fn retry_lock_waits_for_the_holder() {
        let (repo, _) = test_repo().await;
        let held = repo
            .lock(LockKind::Exclusive, "forget", none())
            .await
            .unwrap();
        let waiter = {
            let repo = repo.clone();
            tokio::spawn(async move {
                let opts = LockOptions {
                    retry_for: std::time::Duration::from_secs(30),
                };
                repo.lock(LockKind::Shared, "backup", opts)
                    .await
                    .map(|g| g.kind())
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        held.release().await;
        assert_eq!(waiter.await.unwrap().unwrap(), LockKind::Shared);
    }
}
