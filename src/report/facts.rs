//! What the report is computed from: the repository's complete backups and its verification
//! records, each with whether its signature is trusted. Gathered once (reads only signed
//! documents, takes no lock), then handed to the pure [`super::compute`].

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::repository::catalog::Listed;
use crate::repository::records::{Stored, VerificationRecord};
use crate::repository::{Repository, SignatureStatus, DESCRIPTOR_KEY};

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub repository: String,
    /// When the repository was created, if its descriptor's signature is trusted (an
    /// unsigned date could hide deleted history, so it is not used then).
    pub repository_created_at: Option<DateTime<Utc>>,
    pub backups: Vec<BackupFact>,
    pub verifications: Vec<VerificationFact>,
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
        })
    }
}
