//! What the report is computed from: the repository's complete backups and its verification
//! records, each with whether its signature is trusted. Gathered once (reads only signed
//! documents, takes no lock), then handed to the pure [`super::compute`].

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::repository::catalog::Listed;
use std::collections::BTreeMap;

use crate::repository::records::{RdsSnapshotSet, Stored, VerificationRecord};
use crate::repository::{Repository, SignatureStatus, DESCRIPTOR_KEY};

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub repository: String,
    /// When the repository was created, if its descriptor's signature is trusted (an
    /// unsigned date could hide deleted history, so it is not used then).
    pub repository_created_at: Option<DateTime<Utc>>,
    pub backups: Vec<BackupFact>,
    pub verifications: Vec<VerificationFact>,
    /// The configured RDS targets: their signed snapshot sets and what the API says now.
    pub rds: Vec<RdsFact>,
}

/// One RDS target: its snapshot-set records and, when the API answered, its state now.
#[derive(Debug, Clone)]
pub struct RdsFact {
    pub target: crate::rds::RdsTarget,
    pub sets: Vec<RdsSetFact>,
    /// The source as RDS describes it now (`None`: the source region did not answer).
    pub source: Option<crate::rds::Source>,
    /// lifeboat's snapshots (by tag) per region, for each region that answered.
    pub present: BTreeMap<String, Vec<crate::rds::Snapshot>>,
    /// What did not answer, and why.
    pub errors: Vec<String>,
    /// Restores of the target measured by drills (trusted drill records), oldest first.
    pub restores: Vec<RdsRestoreFact>,
}

/// One measured restore of an RDS target: a drill's scratch instance, restore call to
/// available.
#[derive(Debug, Clone)]
pub struct RdsRestoreFact {
    /// When the drill finished.
    pub at: DateTime<Utc>,
    /// The drill record's key.
    pub record: String,
    /// The snapshot restored.
    pub snapshot: String,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct RdsSetFact {
    pub key: String,
    pub trusted: bool,
    pub signature: String,
    pub record: RdsSnapshotSet,
}

impl RdsFact {
    /// The report's name of the target, `rds:<name>`.
    pub fn name(&self) -> String {
        self.target.report_name()
    }

    /// Whether the snapshot `id` still exists in `region`: by the listing when the region
    /// answered, else as recorded (assumed present).
    pub fn present(&self, region: &str, id: &str) -> bool {
        match self.present.get(region) {
            Some(list) => list
                .iter()
                .any(|s| s.id.eq_ignore_ascii_case(id) && s.available()),
            None => true,
        }
    }

    /// Reads the records and asks the API (every region; failures are noted, not fatal).
    pub async fn gather(
        repo: &Repository,
        rds: &crate::rds::Rds,
        target: &crate::rds::RdsTarget,
    ) -> Result<RdsFact> {
        let sets = repo
            .rds_snapshot_sets(Some(&target.name))
            .await?
            .into_iter()
            .map(|s| RdsSetFact {
                trusted: s.trusted(),
                signature: s.signature.label(),
                key: s.key,
                record: s.record,
            })
            .collect();
        let mut errors = Vec::new();
        let source = match rds
            .api(target, &target.region)
            .source(&target.identifier)
            .await
        {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        let mut present = BTreeMap::new();
        for region in target.regions() {
            match crate::rds::list::tagged(rds, target, &region).await {
                Ok(list) => {
                    present.insert(region, list);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let mut restores: Vec<RdsRestoreFact> = repo
            .records::<crate::drill::DrillReport>(crate::drill::DRILLS_DIR)
            .await?
            .into_iter()
            .filter(|d| d.trusted())
            .filter_map(|d| {
                let e = d.record.rds.as_ref()?;
                (e.target == target.name).then_some(())?;
                Some(RdsRestoreFact {
                    at: d.record.finished_at,
                    snapshot: e.snapshot.clone(),
                    seconds: e.restore_seconds?,
                    record: d.key.clone(),
                })
            })
            .collect();
        restores.sort_by_key(|r| r.at);
        Ok(RdsFact {
            target: target.clone(),
            sets,
            source,
            present,
            errors,
            restores,
        })
    }
}

#[derive(Debug, Clone)]
pub struct BackupFact {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Encrypted to at least one recipient.
    pub encrypted: bool,
    /// Signed by a trusted key: with a complete manifest, what makes it restorable.
    pub trusted: bool,
    /// The signature's state in words (`signed <key>`, `UNTRUSTED KEY …`, `UNSIGNED`…).
    pub signature: String,
    pub databases: Vec<DatabaseFact>,
}

#[derive(Debug, Clone)]
pub struct DatabaseFact {
    pub name: String,
    pub consistent_at: DateTime<Utc>,
    pub stored_bytes: u64,
    pub plain_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct VerificationFact {
    /// Where the record is stored.
    pub key: String,
    /// Signed by a trusted key: only then does it count as evidence.
    pub trusted: bool,
    pub signature: String,
    pub record: VerificationRecord,
}

impl BackupFact {
    pub fn from_listed(listed: &Listed) -> Self {
        let m = &listed.manifest;
        BackupFact {
            id: m.id.clone(),
            started_at: m.started_at,
            finished_at: m.finished_at,
            encrypted: !m.encryption.recipient_fingerprints.is_empty(),
            trusted: matches!(listed.signature, SignatureStatus::Verified(_)),
            signature: listed.signature.label(),
            databases: m
                .databases
                .iter()
                .map(|d| DatabaseFact {
                    name: d.name.clone(),
                    consistent_at: d.consistent_at,
                    stored_bytes: d.streams().map(|s| s.stored_size()).sum(),
                    plain_bytes: d.streams().map(|s| s.plain_size).sum(),
                })
                .collect(),
        }
    }

    pub fn database(&self, name: &str) -> Option<&DatabaseFact> {
        self.databases.iter().find(|d| d.name == name)
    }
}

impl VerificationFact {
    pub fn from_stored(stored: Stored<VerificationRecord>) -> Self {
        VerificationFact {
            trusted: stored.trusted(),
            signature: stored.signature.label(),
            key: stored.key,
            record: stored.record,
        }
    }
}

impl Facts {
    /// Reads the repository: its descriptor's creation time, every complete backup, every
    /// verification record.
    pub async fn gather(repo: &Repository) -> Result<Facts> {
        let descriptor = repo.descriptor().await?;
        let (_, status) = repo.get_signed(DESCRIPTOR_KEY).await?;
        let repository_created_at =
            matches!(status, SignatureStatus::Verified(_)).then_some(descriptor.created_at);
        let backups = repo
            .list_backups()
            .await?
            .iter()
            .map(BackupFact::from_listed)
            .collect();
        let verifications = repo
            .verifications(None)
            .await?
            .into_iter()
            .map(VerificationFact::from_stored)
            .collect();
        Ok(Facts {
            repository: repo.name(),
            repository_created_at,
            backups,
            verifications,
            rds: Vec::new(),
        })
    }
}
