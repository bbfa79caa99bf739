//! Evidence records: what `verify` (and later `drill`) proved, kept in the repository as
//! signed, immutable JSON documents so that `report` can turn them into RPO/RTO figures.
//!
//! Records live outside `backups/` (`verifications/<backup-id>/<record-id>.json`), so
//! pruning a backup does not erase the evidence that it was once verified: an auditor's
//! 90-day window must survive retention. Each record is written once under a fresh id,
//! signature first, and never overwritten.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::layout::{BackupId, SIGNATURE_SUFFIX};
use super::{Repository, SignatureStatus};
use crate::error::{Error, Result};
use crate::storage;

pub const VERIFICATIONS_DIR: &str = "verifications/";
pub const VERIFICATION_FORMAT: &str = "lifeboat-verification";
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// One `lifeboat verify` run of one backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerificationRecord {
    pub format: String,
    pub format_version: u32,
    /// The record's own id (time-ordered like a backup id).
    pub id: String,
    /// The backup verified.
    pub backup: String,
    pub lifeboat_version: String,
    /// Host that ran the verification.
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Where the backup was restored.
    pub target: VerifyTarget,
    /// Every database passed every check.
    pub passed: bool,
    pub databases: Vec<DatabaseVerification>,
    /// Why the run stopped before its checks (the scratch server did not start…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerifyTarget {
    /// `throwaway` (a local server lifeboat started) or `server` (configured scratch server).
    pub kind: String,
    /// `user@host:port`, never a password.
    pub server: String,
    pub server_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatabaseVerification {
    pub name: String,
    /// The recovery point this database's backup holds.
    pub consistent_at: DateTime<Utc>,
    /// The scratch database it was restored as.
    pub restored_as: String,
    pub passed: bool,
    /// The measured RTO: from the first byte fetched to a database holding every object
    /// (schema, rows, indexes, constraints), before the checks.
    pub restore_seconds: f64,
    /// Restore plus checks.
    pub total_seconds: f64,
    pub stages: Vec<Stage>,
    /// Plaintext bytes of table rows restored.
    pub bytes: u64,
    pub rows: u64,
    pub checks: Vec<CheckResult>,
    /// The restore failed: why (no checks ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckResult {
    /// `table`, `sequence`, `large-objects`, `database-properties`, `schema`, `assertion`.
    pub kind: String,
    /// What was checked: a table's name, an assertion's name…
    pub name: String,
    pub passed: bool,
    /// What was compared, with the figures on both sides.
    pub evidence: String,
}

impl VerificationRecord {
    /// The time-ordered id of a record started at `at`.
    pub fn new_id(at: DateTime<Utc>) -> String {
        BackupId::new(at).0
    }

    /// Worst (largest) measured restore time of its databases, if any restored.
    pub fn restore_seconds(&self) -> Option<f64> {
        self.databases
            .iter()
            .filter(|d| d.error.is_none())
            .map(|d| d.restore_seconds)
            .reduce(f64::max)
    }
}

pub const RDS_DIR: &str = "rds/";
pub const RDS_SNAPSHOT_SET_FORMAT: &str = "lifeboat-rds-snapshot-set";

/// One `lifeboat rds snapshot` run of one RDS target: the snapshot in the source region and
/// its copies in the DR regions. Stored signed at `rds/<target>/<id>.json`, never
/// overwritten; `rds prune` deletes only snapshots that such a trusted record names (and
/// that carry lifeboat's tags), and `report` reads the recovery points from them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RdsSnapshotSet {
    pub format: String,
    pub format_version: u32,
    /// The set's id (time-ordered like a backup id); also the `lifeboat:set` tag.
    pub id: String,
    /// The `[[rds.target]]` name.
    pub target: String,
    /// `instance` or `cluster`.
    pub kind: crate::rds::Kind,
    /// The DB instance or cluster identifier.
    pub source: String,
    pub source_region: String,
    pub lifeboat_version: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The snapshot in the source region, as it was when available.
    pub snapshot: crate::rds::Snapshot,
    /// Its copies, one per DR region, as they were when available.
    pub copies: Vec<crate::rds::Snapshot>,
    /// The source's latest restorable time (point-in-time recovery) when the set finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_restorable: Option<DateTime<Utc>>,
}

impl RdsSnapshotSet {
    /// Whether the set names the snapshot `id` in `region`.
    pub fn names(&self, region: &str, id: &str) -> bool {
        std::iter::once(&self.snapshot)
            .chain(&self.copies)
            .any(|s| s.region == region && s.id.eq_ignore_ascii_case(id))
    }
}

pub fn rds_set_key(target: &str, id: &str) -> String {
    format!("{RDS_DIR}{target}/{id}.json")
}

/// A record read back from the repository, with its signature's status.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub key: String,
    pub record: T,
    pub signature: SignatureStatus,
}

impl<T> Stored<T> {
    /// Whether the record can count as evidence: signed by a trusted key.
    pub fn trusted(&self) -> bool {
        matches!(self.signature, SignatureStatus::Verified(_))
    }
}

pub fn verification_key(backup: &str, id: &str) -> String {
    format!("{VERIFICATIONS_DIR}{backup}/{id}.json")
}

impl Repository {
    /// Writes a verification record (signed; never overwrites one).
    pub async fn put_verification(&self, record: &VerificationRecord) -> Result<String> {
        let key = verification_key(&record.backup, &record.id);
        self.put_record(&key, record).await?;
        Ok(key)
    }

    /// Verification records, of one backup or of all, oldest first. Records that cannot be
    /// parsed are reported as warnings and skipped; the signature status of each is kept so
    /// callers decide what counts as evidence.
    pub async fn verifications(
        &self,
        backup: Option<&str>,
    ) -> Result<Vec<Stored<VerificationRecord>>> {
        let prefix = match backup {
            Some(b) => format!("{VERIFICATIONS_DIR}{b}/"),
            None => VERIFICATIONS_DIR.to_string(),
        };
        let mut out: Vec<Stored<VerificationRecord>> = self.records(&prefix).await?;
        out.retain(|s| {
            // A record copied under another backup's directory is not evidence for it.
            let expected = verification_key(&s.record.backup, &s.record.id);
            if s.key != expected {
                tracing::warn!(key = %s.key, "ignoring a verification record stored under the wrong key");
            }
            s.key == expected
        });
        out.sort_by_key(|s| s.record.finished_at);
        Ok(out)
    }

    /// Writes an RDS snapshot set record (signed; never overwrites one).
    pub async fn put_rds_snapshot_set(&self, set: &RdsSnapshotSet) -> Result<String> {
        let key = rds_set_key(&set.target, &set.id);
        self.put_record(&key, set).await?;
        Ok(key)
    }

    /// RDS snapshot set records, of one target or all, oldest first; a record stored under
    /// another target's or id's key is ignored (it is not evidence for it).
    pub async fn rds_snapshot_sets(
        &self,
        target: Option<&str>,
    ) -> Result<Vec<Stored<RdsSnapshotSet>>> {
        let prefix = match target {
            Some(t) => format!("{RDS_DIR}{t}/"),
            None => RDS_DIR.to_string(),
        };
        let mut out: Vec<Stored<RdsSnapshotSet>> = self.records(&prefix).await?;
        out.retain(|s| {
            let expected = rds_set_key(&s.record.target, &s.record.id);
            if s.key != expected {
                tracing::warn!(key = %s.key, "ignoring an RDS snapshot set stored under the wrong key");
            }
            s.key == expected && s.record.format == RDS_SNAPSHOT_SET_FORMAT
        });
        out.sort_by_key(|s| s.record.finished_at);
        Ok(out)
    }

    /// Writes a signed record document under a key that must not exist yet.
    pub async fn put_record<T: Serialize>(&self, key: &str, record: &T) -> Result<()> {
        if self.store().head(key).await?.is_some() {
            return Err(self.error(format!(
                "record {key} already exists; records are never overwritten"
            )));
        }
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::Corrupt {
            object: key.to_string(),
            reason: format!("cannot serialize: {e}"),
        })?;
        self.put_signed(key, bytes).await
    }

    /// Every `.json` record under `prefix`, parsed, with its signature status.
    pub async fn records<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<Stored<T>>> {
        let objects = storage::list_all(self.store().as_ref(), prefix).await?;
        let mut out = Vec::new();
        for o in objects {
            if !o.key.ends_with(".json") || o.key.ends_with(SIGNATURE_SUFFIX) {
                continue;
            }
            let (bytes, signature) = match self.get_signed(&o.key).await {
                Ok(found) => found,
                // Deleted between the listing and the read.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            match serde_json::from_slice::<T>(&bytes) {
                Ok(record) => out.push(Stored {
                    key: o.key.clone(),
                    record,
                    signature,
                }),
                Err(e) => tracing::warn!(key = %o.key, "ignoring an unreadable record: {e}"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::transaction::tests::test_repo;
    use crate::storage::Storage;

    fn record(backup: &str, id: &str, passed: bool) -> VerificationRecord {
        let at = Utc::now();
        VerificationRecord {
            format: VERIFICATION_FORMAT.into(),
            format_version: RECORD_FORMAT_VERSION,
            id: id.into(),
            backup: backup.into(),
            lifeboat_version: "test".into(),
            host: "h".into(),
            started_at: at,
            finished_at: at,
            target: VerifyTarget {
                kind: "throwaway".into(),
                server: "lifeboat@127.0.0.1:5432".into(),
                server_version: "15.0".into(),
            },
            passed,
            databases: vec![],
            error: None,
        }
    }

    #[tokio::test]
    async fn records_are_signed_never_overwritten_and_bound_to_their_key() {
        let (repo, store) = test_repo().await;
        let r = record("20261124T000000000Z-aaaa", "20261124T010000000Z-bbbb", true);
        let key = repo.put_verification(&r).await.unwrap();
        assert!(
            repo.put_verification(&r).await.is_err(),
            "overwrite refused"
        );
        let all = repo.verifications(None).await.unwrap();
        assert_eq!(all.len(), 1);
        assert!(all[0].trusted());
        assert_eq!(all[0].record, r);
        // The same record copied under another backup does not count for it.
        let bytes = store.get(&key).await.unwrap();
        let other = "verifications/20261124T000000000Z-cccc/20261124T010000000Z-bbbb.json";
        store.put(other, bytes).await.unwrap();
        let sig = store.get(&format!("{key}.minisig")).await.unwrap();
        store.put(&format!("{other}.minisig"), sig).await.unwrap();
        let of_c = repo
            .verifications(Some("20261124T000000000Z-cccc"))
            .await
            .unwrap();
        assert!(of_c.is_empty());
    }
}
