//! The delete path: a document first, then its signature, then the objects it names, so
//! that at every moment what remains is either a complete, valid document with all its
//! objects, or something no reader takes as valid (objects without a document). Used by
//! `forget` and `prune`. A pinned backup is refused here, so no path deletes it.

use super::layout::{manifest_key, signature_key};
use super::lock::{LockGuard, LockKind};
use super::{backup_prefix, BackupId, Repository};
use crate::error::{Error, Result};
use crate::storage;

impl Repository {
    /// Deletes a complete backup. Needs the exclusive lock: nothing may be reading it.
    /// Refuses a pinned backup.
    pub async fn delete_backup(&self, id: &BackupId, lock: &LockGuard) -> Result<usize> {
        if lock.kind() != LockKind::Exclusive {
            return Err(self.error("deleting a backup needs the exclusive lock"));
        }
        lock.check_fresh()?;
        let manifest = manifest_key(id);
        let Some(meta) = self.store().head(&manifest).await? else {
            return Err(Error::BackupNotFound {
                repo: self.name(),
                id: id.0.clone(),
            });
        };
        // The manifest is written last, so it is retained longest: once its date has
        // passed, so have those of the objects it names.
        if let Some(until) = meta.retain_until.filter(|t| *t > chrono::Utc::now()) {
            return Err(Error::Retained {
                what: format!("backup {id}"),
                until: until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
        }
        if let Some(pin) = self.pin_of(&id.0).await? {
            let reason = pin.describe();
            return Err(Error::Pinned {
                id: id.0.clone(),
                reason: if reason.is_empty() {
                    "no reason given".into()
                } else {
                    reason
                },
            });
        }
        self.delete_document(&manifest).await?;
        let n = self.delete_incomplete(&backup_prefix(id)).await?;
        tracing::info!(backup = %id, objects = n + 2, "deleted a backup");
        Ok(n + 2)
    }

    /// Deletes a signed document: the document, then its signature.
    pub async fn delete_document(&self, key: &str) -> Result<()> {
        self.store().delete(key).await?;
        self.store().delete(&signature_key(key)).await
    }

    /// Deletes every object under `prefix`, whose document (if it ever had one) is already
    /// gone. Returns how many objects were deleted.
    pub(crate) async fn delete_incomplete(&self, prefix: &str) -> Result<usize> {
        let objects = storage::list_all(self.store().as_ref(), prefix).await?;
        for o in &objects {
            self.store().delete(&o.key).await?;
        }
        Ok(objects.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::lock::LockOptions;
    use crate::repository::manifest::StoredObject;
    use crate::repository::transaction::tests::test_repo;
    use crate::storage::{self, Storage};
    use bytes::Bytes;

    #[tokio::test]
    async fn delete_needs_the_exclusive_lock_and_takes_the_manifest_first() {
        let (repo, store) = test_repo().await;
        let id = BackupId("20260101T000000Z-00aa".into());
        let prefix = backup_prefix(&id);
        let tx = repo.begin(prefix.clone(), &id.0).await.unwrap();
        store
            .put(&format!("{prefix}db/x"), Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let x = StoredObject {
            key: "db/x".into(),
            size: 3,
            sha256: String::new(),
        };
        tx.commit("manifest.json", b"{}".to_vec(), [x].iter())
            .await
            .unwrap();

        let shared = repo
            .lock(LockKind::Shared, "restore", LockOptions::default())
            .await
            .unwrap();
        let err = repo.delete_backup(&id, &shared).await.unwrap_err();
        assert!(err.to_string().contains("exclusive lock"), "{err}");
        shared.release().await;
        assert!(store.head(&manifest_key(&id)).await.unwrap().is_some());

        let lock = repo
            .lock(LockKind::Exclusive, "forget", LockOptions::default())
            .await
            .unwrap();
        // Pinned: refused, nothing deleted; unpinned: deleted.
        repo.pin(&id, Some("legal hold".into()), &lock)
            .await
            .unwrap();
        let err = repo.delete_backup(&id, &lock).await.unwrap_err();
        assert!(matches!(err, Error::Pinned { .. }), "{err}");
        assert!(err.to_string().contains("legal hold"), "{err}");
        assert!(store.head(&manifest_key(&id)).await.unwrap().is_some());
        repo.unpin(&id.0, &lock).await.unwrap();
        assert_eq!(repo.delete_backup(&id, &lock).await.unwrap(), 3);
        assert!(storage::list_all(store.as_ref(), "backups/")
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            repo.delete_backup(&id, &lock).await,
            Err(Error::BackupNotFound { .. })
        ));
        lock.release().await;
    }
}
