//! Pins: backups that nothing deletes — not `prune`, not `forget`, not the scheduler — until
//! they are unpinned. A pin is a signed document `pins/<backup-id>.json` (signature first,
//! like every document). Its existence is what protects: a pin whose signature does not
//! verify, or that cannot be parsed, still protects its backup (it can only stop a
//! deletion), and is reported as such.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::layout::SIGNATURE_SUFFIX;
use super::liveness::hostname;
use super::lock::LockGuard;
use super::{BackupId, Repository, SignatureStatus};
use crate::error::{Error, Result};
use crate::storage;

pub const PINS_DIR: &str = "pins/";
pub const PIN_FORMAT: &str = "lifeboat-pin";
pub const PIN_FORMAT_VERSION: u32 = 1;

/// A pin document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pin {
    pub format: String,
    pub format_version: u32,
    /// The backup it protects (its key says so too; the key is what counts).
    pub backup: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub pinned_at: DateTime<Utc>,
    /// The host `lifeboat pin` ran on.
    pub host: String,
}

/// A pin as found in the repository.
#[derive(Debug, Clone)]
pub struct FoundPin {
    pub backup: String,
    /// `None` when the document could not be read as a pin (it protects all the same).
    pub pin: Option<Pin>,
    pub signature: SignatureStatus,
}

impl FoundPin {
    /// The reason, with a warning when the pin cannot be vouched for.
    pub fn describe(&self) -> String {
        let mut text = match &self.pin {
            Some(p) => p.reason.clone().unwrap_or_default(),
            None => "an unreadable pin document".into(),
        };
        let trusted = matches!(
            self.signature,
            SignatureStatus::Verified(_) | SignatureStatus::Unchecked
        );
        if !trusted {
            let note = format!("pin signature: {}", self.signature.label());
            text = if text.is_empty() {
                note
            } else {
                format!("{text} ({note})")
            };
        }
        text
    }
}

pub fn pin_key(backup: &str) -> String {
    format!("{PINS_DIR}{backup}.json")
}

/// The backup a pin's key names.
fn backup_of_pin_key(key: &str) -> Option<&str> {
    let id = key.strip_prefix(PINS_DIR)?.strip_suffix(".json")?;
    BackupId::is_valid(id).then_some(id)
}

/// What `pin` did.
#[derive(Debug)]
pub enum Pinned {
    Now(Pin),
    /// It was pinned already; the existing pin is left as it is.
    Already(FoundPin),
}

impl Repository {
    /// Pins a complete backup. Holds a lock so that a prune running now (exclusive) either
    /// finished before or sees the pin.
    pub async fn pin(
        &self,
        id: &BackupId,
        reason: Option<String>,
        _lock: &LockGuard,
    ) -> Result<Pinned> {
        self.signer()?;
        if let Some(found) = self.pin_of(&id.0).await? {
            return Ok(Pinned::Already(found));
        }
        let pin = Pin {
            format: PIN_FORMAT.into(),
            format_version: PIN_FORMAT_VERSION,
            backup: id.0.clone(),
            reason: reason.filter(|r| !r.trim().is_empty()),
            pinned_at: Utc::now(),
            host: hostname(),
        };
        self.put_record(&pin_key(&id.0), &pin).await?;
        tracing::info!(backup = %id, "pinned");
        Ok(Pinned::Now(pin))
    }

    /// Removes a backup's pin. Returns the pin removed, if there was one.
    pub async fn unpin(&self, backup: &str, _lock: &LockGuard) -> Result<Option<FoundPin>> {
        let Some(found) = self.pin_of(backup).await? else {
            return Ok(None);
        };
        self.delete_document(&pin_key(backup)).await?;
        tracing::info!(backup, "unpinned");
        Ok(Some(found))
    }

    /// The pin of one backup, if it is pinned.
    pub async fn pin_of(&self, backup: &str) -> Result<Option<FoundPin>> {
        let key = pin_key(backup);
        match self.get_signed(&key).await {
            Ok((bytes, signature)) => Ok(Some(found_pin(backup, &bytes, signature))),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every pin, by backup id.
    pub async fn pins(&self) -> Result<BTreeMap<String, FoundPin>> {
        let mut out = BTreeMap::new();
        for o in storage::list_all(self.store().as_ref(), PINS_DIR).await? {
            if o.key.ends_with(SIGNATURE_SUFFIX) {
                continue;
            }
            let Some(backup) = backup_of_pin_key(&o.key) else {
                tracing::warn!(key = %o.key, "ignoring an object in pins/ that names no backup");
                continue;
            };
            match self.get_signed(&o.key).await {
                Ok((bytes, signature)) => {
                    out.insert(backup.to_string(), found_pin(backup, &bytes, signature));
                }
                // Unpinned between the listing and the read.
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn found_pin(backup: &str, bytes: &[u8], signature: SignatureStatus) -> FoundPin {
    let pin = match serde_json::from_slice::<Pin>(bytes) {
        Ok(p) if p.backup == backup => Some(p),
        Ok(p) => {
            tracing::warn!(
                key = %pin_key(backup),
                names = %p.backup,
                "a pin document names another backup; it protects {backup}, where it is stored"
            );
            None
        }
        Err(e) => {
            tracing::warn!(key = %pin_key(backup), "an unreadable pin document (it still protects its backup): {e}");
            None
        }
    };
    FoundPin {
        backup: backup.to_string(),
        pin,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::lock::{LockKind, LockOptions};
    use crate::repository::transaction::tests::test_repo;
    use crate::storage::Storage;
    use bytes::Bytes;

    #[tokio::test]
    async fn pins_are_signed_documents_and_any_pin_protects() {
        let (repo, store) = test_repo().await;
        let lock = repo
            .lock(LockKind::Shared, "pin", LockOptions::default())
            .await
            .unwrap();
        let id = BackupId("20260101T000000000Z-00aa".into());
        let done = repo
            .pin(&id, Some("audit 2026".into()), &lock)
            .await
            .unwrap();
        assert!(matches!(done, Pinned::Now(ref p) if p.reason.as_deref() == Some("audit 2026")));
        assert!(store
            .head("pins/20260101T000000000Z-00aa.json.minisig")
            .await
            .unwrap()
            .is_some());
        // Pinning again keeps the first pin.
        let again = repo.pin(&id, Some("other".into()), &lock).await.unwrap();
        assert!(matches!(again, Pinned::Already(ref f) if f.describe() == "audit 2026"));

        // A planted pin without a signature still protects, and says what it is.
        store
            .put(
                "pins/20260101T000000000Z-00bb.json",
                Bytes::from_static(b"not json"),
            )
            .await
            .unwrap();
        let all = repo.pins().await.unwrap();
        assert_eq!(all.len(), 2);
        let planted = &all["20260101T000000000Z-00bb"];
        assert!(planted.pin.is_none());
        assert_eq!(
            planted.describe(),
            "an unreadable pin document (pin signature: UNSIGNED)"
        );

        let removed = repo.unpin(&id.0, &lock).await.unwrap().unwrap();
        assert_eq!(removed.describe(), "audit 2026");
        assert!(repo.unpin(&id.0, &lock).await.unwrap().is_none());
        assert!(store
            .head("pins/20260101T000000000Z-00aa.json.minisig")
            .await
            .unwrap()
            .is_none());
        assert_eq!(repo.pins().await.unwrap().len(), 1);
        lock.release().await;
    }
}
