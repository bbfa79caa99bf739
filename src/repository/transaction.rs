//! A write transaction: how a multi-object write (a backup, and every later writer of a
//! set of objects) becomes visible all at once.
//!
//! 1. **begin**: write `<prefix>in-progress.json` naming this run, and keep it fresh
//!    (refreshed every minute) while the transaction is open;
//! 2. **write** objects under the prefix (each atomically, by the store);
//! 3. **commit**: only if the marker was refreshed recently (nobody can have taken the
//!    write for abandoned and begun deleting it) and every object the document names is
//!    listed at its recorded size, write the document's signature, then the document:
//!    the commit point. Then remove the marker;
//! 4. **abort**: delete what was written. A crash skips this; the next writer's cleanup
//!    removes the directory once its marker is abandoned.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use super::layout::in_progress_key;
use super::liveness::{Freshness, Owner, RunToken};
use super::manifest::StoredObject;
use super::Repository;
use crate::error::Result;
use crate::storage;

/// A write whose marker has not been refreshed for this long is abandoned.
pub const STALE_AFTER_SECS: i64 = 15 * 60;
/// How often an open transaction refreshes its marker.
pub const HEARTBEAT_SECS: u64 = 60;

/// The in-progress marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InProgress {
    /// What is being written (the backup id).
    pub id: String,
    #[serde(flatten)]
    pub owner: Owner,
    pub heartbeat_at: DateTime<Utc>,
}

impl InProgress {
    /// Abandoned: its process is gone, or it stopped refreshing the marker.
    pub fn is_abandoned(&self, now: DateTime<Utc>) -> bool {
        self.owner.is_gone() || now - self.heartbeat_at > Duration::seconds(STALE_AFTER_SECS)
    }

    fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

/// An open write transaction. Dropping it without `commit` or `abort` leaves the objects
/// for the next cleanup (the marker stops being refreshed, and the run's token dies).
pub struct Transaction {
    repo: Arc<Repository>,
    prefix: String,
    task: tokio::task::JoinHandle<()>,
    freshness: Freshness,
    _run: RunToken,
}

impl Repository {
    /// Begins writing the objects under `prefix` (`backups/<id>/`). Fails before writing
    /// anything if this repository cannot be written (no signing key, format 1).
    pub async fn begin(self: &Arc<Self>, prefix: String, id: &str) -> Result<Transaction> {
        self.descriptor_for_write().await?;
        let run = RunToken::new();
        let key = in_progress_key(&prefix);
        let mut marker = InProgress {
            id: id.to_string(),
            owner: run.owner(),
            heartbeat_at: Utc::now(),
        };
        self.store().put(&key, marker.to_json()).await?;
        let freshness = Freshness::new();
        let (store, fresh) = (self.store().clone(), freshness.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(HEARTBEAT_SECS)).await;
                marker.heartbeat_at = Utc::now();
                match store.put(&key, marker.to_json()).await {
                    Ok(()) => fresh.touch(),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not refresh the in-progress marker")
                    }
                }
            }
        });
        Ok(Transaction {
            repo: self.clone(),
            prefix,
            task,
            freshness,
            _run: run,
        })
    }
}

impl Transaction {
    /// `backups/<id>/`: where this transaction's objects go.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn repo(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// Fails if the marker went unrefreshed long enough that another run may have taken
    /// this write for abandoned and begun deleting it (the process was suspended, or the
    /// repository unreachable): such a write must not be committed.
    pub fn check_fresh(&self) -> Result<()> {
        self.freshness.check(
            STALE_AFTER_SECS,
            "the in-progress marker",
            "another run may have removed this backup as abandoned, so it is not committed \
             (rerun the backup)",
        )
    }

    /// Checks that the store holds every object the document names, at its recorded size:
    /// whatever happened meanwhile (a cleanup by another run, a store that lost a write), a
    /// committed document never names a missing object.
    async fn check_objects_stored<'a>(
        &self,
        objects: impl Iterator<Item = &'a StoredObject>,
    ) -> Result<()> {
        let stored: HashMap<String, u64> =
            storage::list_all(self.repo.store().as_ref(), &self.prefix)
                .await?
                .into_iter()
                .map(|o| (o.key, o.size))
                .collect();
        for object in objects {
            let key = format!("{}{}", self.prefix, object.key);
            match stored.get(&key) {
                Some(&size) if size == object.size => {}
                Some(&size) => {
                    return Err(self.repo.error(format!(
                        "{key} holds {size} bytes after it was written with {}; the backup is \
                         not committed",
                        object.size
                    )))
                }
                None => {
                    return Err(self.repo.error(format!(
                        "{key} is missing after it was written; the backup is not committed"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Commits: writes `document` (signed) as `<prefix><name>` once every object it names
    /// is stored, then removes the marker. On failure the transaction is aborted.
    pub async fn commit<'a>(
        self,
        name: &str,
        document: Vec<u8>,
        objects: impl Iterator<Item = &'a StoredObject>,
    ) -> Result<()> {
        let committed = async {
            self.check_fresh()?;
            self.check_objects_stored(objects).await?;
            self.repo
                .put_signed(&format!("{}{name}", self.prefix), document)
                .await
        }
        .await;
        if let Err(e) = committed {
            self.abort().await;
            return Err(e);
        }
        self.task.abort();
        if let Err(e) = self
            .repo
            .store()
            .delete(&in_progress_key(&self.prefix))
            .await
        {
            // The write is complete; a leftover marker beside its document is harmless.
            tracing::warn!(error = %e, "could not remove the in-progress marker");
        }
        Ok(())
    }

    /// Deletes what the transaction wrote (best effort: a later cleanup removes the rest):
    /// its objects, then any upload still open under its prefix — a writer dropped while
    /// its upload was starting (another job failed first, or a signal stopped the run) may
    /// not live long enough to abort its own multipart upload.
    pub async fn abort(self) {
        self.task.abort();
        if let Err(e) = self.repo.delete_incomplete(&self.prefix).await {
            tracing::warn!(error = %e, "could not remove the failed write's objects");
        }
        if let Err(e) = self
            .repo
            .store()
            .remove_debris(&self.prefix, chrono::Duration::zero())
            .await
        {
            tracing::warn!(error = %e, "could not abort the failed write's open uploads");
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::repository::{Keys, Trust};
    use crate::storage::{MemoryStore, Storage};

    pub(crate) async fn test_repo() -> (Arc<Repository>, Arc<MemoryStore>) {
        let (_, _, key) = crate::crypto::sign::generate().unwrap();
        let trust = Trust {
            keys: vec![key.trusted()],
            skip_check: false,
        };
        let store = Arc::new(MemoryStore::new());
        let repo = Arc::new(Repository::new(
            store.clone(),
            Keys {
                signer: Some(Arc::new(key)),
                trust,
            },
        ));
        repo.init(vec![]).await.unwrap();
        (repo, store)
    }

    fn object(key: &str, size: u64) -> StoredObject {
        StoredObject {
            key: key.into(),
            size,
            sha256: String::new(),
        }
    }

    #[tokio::test]
    async fn commit_writes_signature_then_document_and_removes_the_marker() {
        let (repo, store) = test_repo().await;
        let tx = repo.begin("backups/b/".into(), "b").await.unwrap();
        assert!(store
            .head("backups/b/in-progress.json")
            .await
            .unwrap()
            .is_some());
        store
            .put("backups/b/x", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        tx.commit("doc.json", b"{}".to_vec(), [object("x", 3)].iter())
            .await
            .unwrap();
        let keys: Vec<String> = storage::list_all(store.as_ref(), "backups/b/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            keys,
            [
                "backups/b/doc.json",
                "backups/b/doc.json.minisig",
                "backups/b/x"
            ]
        );
    }

    #[tokio::test]
    async fn commit_refuses_a_missing_or_resized_object_and_aborts() {
        let (repo, store) = test_repo().await;
        let tx = repo.begin("backups/b/".into(), "b").await.unwrap();
        store
            .put("backups/b/x", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let err = tx
            .commit("doc.json", b"{}".to_vec(), [object("x", 4)].iter())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("holds 3 bytes"), "{err}");
        assert!(storage::list_all(store.as_ref(), "backups/")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_commit_racing_a_cleanup_never_loses_the_committed_backup() {
        let (repo, store) = test_repo().await;
        let id = "20260101T000000Z-0001";
        let prefix = format!("backups/{id}/");
        let tx = repo.begin(prefix.clone(), id).await.unwrap();
        store
            .put(&format!("{prefix}x"), Bytes::from_static(b"abc"))
            .await
            .unwrap();
        // A cleanup while the transaction is open leaves it alone: its marker is fresh and
        // its run alive.
        assert!(repo.cleanup_incomplete().await.unwrap().is_empty());
        tx.commit("manifest.json", b"{}".to_vec(), [object("x", 3)].iter())
            .await
            .unwrap();
        // And once committed, it is complete: no cleanup touches it.
        assert!(repo.cleanup_incomplete().await.unwrap().is_empty());
        assert!(store.head(&format!("{prefix}x")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn an_abandoned_write_is_cleaned_up() {
        let (repo, store) = test_repo().await;
        let id = "20260101T000000Z-0002";
        let prefix = format!("backups/{id}/");
        let tx = repo.begin(prefix.clone(), id).await.unwrap();
        store
            .put(&format!("{prefix}x"), Bytes::from_static(b"abc"))
            .await
            .unwrap();
        // The run dies without aborting (a daemon's failed job): same PID, dead token.
        drop(tx);
        let removed = repo.cleanup_incomplete().await.unwrap();
        assert_eq!(removed.len(), 1);
        assert!(storage::list_all(store.as_ref(), "backups/")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_write_without_marker_is_kept_until_stale() {
        let (repo, store) = test_repo().await;
        let key = "backups/20260101T000000Z-0003/x";
        store.put(key, Bytes::from_static(b"abc")).await.unwrap();
        assert!(repo.cleanup_incomplete().await.unwrap().is_empty());
        store.set_modified(key, Utc::now() - Duration::seconds(STALE_AFTER_SECS + 1));
        assert_eq!(repo.cleanup_incomplete().await.unwrap().len(), 1);
    }
}
