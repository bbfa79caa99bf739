//! The repository format: everything lifeboat stores, typed in one place, and the rules
//! that make writing and deleting it safe (docs/repository-format.md states them first).
//!
//! - [`layout`]: object keys; [`descriptor`], [`manifest`]: the documents;
//! - signed documents: every document lifeboat writes has a minisign signature beside it,
//!   written before the document itself, and readers check it against the configured
//!   trusted keys;
//! - [`transaction`]: a multi-object write (a backup) — begin (marker, heartbeat), write
//!   objects, commit (manifest last, only if every object is present and the marker is
//!   fresh), abort;
//! - [`delete`]: the delete path — the document first, then its objects, so nothing half
//!   deleted ever looks valid;
//! - [`lock`]: shared and exclusive repository locks (restic's semantics);
//! - [`catalog`]: which backups exist, `latest`, cleanup of interrupted writes;
//! - [`pins`]: pinned backups, which the delete path refuses.
//!
//! The storage underneath is a [`Storage`]: this module never knows which one.

pub mod catalog;
pub mod database;
pub mod delete;
mod descriptor;
pub mod layout;
pub mod liveness;
pub mod lock;
pub mod manifest;
pub mod pins;
pub mod records;
pub mod transaction;

pub use descriptor::RepoDescriptor;
pub use layout::{backup_prefix, BackupId, DESCRIPTOR_KEY};
pub use manifest::FORMAT_VERSION;

use bytes::Bytes;
use std::sync::Arc;

use crate::crypto::sign::{self, SignatureProblem, Verified};
use crate::crypto::{SigningKey, TrustedKey};
use crate::error::{Error, Result};
use crate::storage::{self, Storage, StorageSettings};

/// Which signatures a reader accepts.
#[derive(Clone, Default)]
pub struct Trust {
    /// Public keys from configuration (never from the repository).
    pub keys: Vec<TrustedKey>,
    /// Break-glass: read documents whose signature is missing or wrong, with a warning.
    pub skip_check: bool,
}

/// The keys a command was given: a signing key to write, trusted keys to read.
#[derive(Clone, Default)]
pub struct Keys {
    pub signer: Option<Arc<SigningKey>>,
    pub trust: Trust,
}

/// What the check of a document's signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    Verified(Verified),
    /// Not checked: no trusted key is configured.
    Unchecked,
    /// Format 1 documents were never signed.
    Legacy,
    Failed(SignatureProblem),
}

impl SignatureStatus {
    /// A short word for listings.
    pub fn label(&self) -> String {
        match self {
            SignatureStatus::Verified(v) => format!("signed {}", v.key_id),
            SignatureStatus::Unchecked => "unchecked".into(),
            SignatureStatus::Legacy => "UNSIGNED (format 1)".into(),
            SignatureStatus::Failed(SignatureProblem::Missing) => "UNSIGNED".into(),
            SignatureStatus::Failed(SignatureProblem::UntrustedKey(k)) => {
                format!("UNTRUSTED KEY {k}")
            }
            SignatureStatus::Failed(_) => "BAD SIGNATURE".into(),
        }
    }
}

pub struct Repository {
    store: Arc<dyn Storage>,
    keys: Keys,
}

impl Repository {
    pub fn new(store: Arc<dyn Storage>, keys: Keys) -> Self {
        Repository { store, keys }
    }

    pub async fn open(settings: &StorageSettings, keys: Keys) -> Result<Self> {
        Ok(Self::new(storage::open(settings).await?, keys))
    }

    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// How errors and reports name this repository (never with credentials).
    pub fn name(&self) -> String {
        self.store.name()
    }

    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: reason.into(),
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.keys.trust
    }

    pub(crate) fn signer(&self) -> Result<&SigningKey> {
        self.keys.signer.as_deref().ok_or_else(|| {
            Error::Key(
                "no signing key given: writing to a repository needs one (--signing-key, \
                 LIFEBOAT_SIGNING_KEY_FILE or [signing] key_file); make one with `lifeboat key \
                 generate --signing FILE`"
                    .into(),
            )
        })
    }

    /// Fails before anything is read into a database if signatures cannot be checked: no
    /// trusted key configured, and no break-glass override.
    pub fn require_trust(&self) -> Result<()> {
        if self.keys.trust.keys.is_empty() && !self.keys.trust.skip_check {
            return Err(Error::Key(
                "no trusted signing key configured: restoring runs SQL from the repository, so \
                 only backups signed by a trusted key are accepted. Give the backup side's \
                 public key with --trusted-key, LIFEBOAT_TRUSTED_KEYS or [signing] \
                 trusted_keys"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Writes a signed document: the signature first, then the document, so a document
    /// never exists without its signature. The trusted comment names the key, binding the
    /// signature to where the document lives.
    pub(crate) async fn put_signed(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let signer = self.signer()?;
        let signature = signer.sign(&bytes, &format!("lifeboat {key}"))?;
        self.store
            .put(&layout::signature_key(key), Bytes::from(signature))
            .await?;
        self.store.put(key, Bytes::from(bytes)).await
    }

    /// Reads a document and checks its signature (when trusted keys are configured).
    pub(crate) async fn get_signed(&self, key: &str) -> Result<(Bytes, SignatureStatus)> {
        let bytes = self.store.get(key).await?;
        let status = self.signature_status(key, &bytes).await?;
        Ok((bytes, status))
    }

    async fn signature_status(&self, key: &str, bytes: &[u8]) -> Result<SignatureStatus> {
        if self.keys.trust.keys.is_empty() {
            return Ok(SignatureStatus::Unchecked);
        }
        let signature = match self.store.get(&layout::signature_key(key)).await {
            Ok(s) => s,
            Err(Error::NotFound { .. }) => {
                return Ok(SignatureStatus::Failed(SignatureProblem::Missing))
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&signature);
        Ok(match sign::verify(bytes, &text, &self.keys.trust.keys) {
            Ok(v) if v.comment == format!("lifeboat {key}") => SignatureStatus::Verified(v),
            // A valid signature made for another document, copied here.
            Ok(v) => SignatureStatus::Failed(SignatureProblem::Invalid(v.key_id)),
            Err(p) => SignatureStatus::Failed(p),
        })
    }

    /// Applies the trust policy to a document's signature status.
    pub(crate) fn accept(&self, what: &str, status: &SignatureStatus) -> Result<()> {
        let problem = match status {
            SignatureStatus::Verified(_) => return Ok(()),
            SignatureStatus::Unchecked => "no trusted signing key is configured".to_string(),
            SignatureStatus::Legacy => {
                "it was written in format 1, before backups were signed".to_string()
            }
            SignatureStatus::Failed(p) => p.to_string(),
        };
        if self.keys.trust.skip_check {
            tracing::warn!(
                "SIGNATURE NOT VERIFIED for {what}: {problem}. --insecure-skip-signature is set, \
                 so it is used anyway: anyone who could write to the repository could have \
                 written it"
            );
            return Ok(());
        }
        Err(Error::Unauthenticated {
            what: what.to_string(),
            problem,
        })
    }

    /// Reads and checks the repository descriptor.
    pub async fn descriptor(&self) -> Result<RepoDescriptor> {
        let (bytes, status) = match self.get_signed(DESCRIPTOR_KEY).await {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => return Err(Error::NotARepository { repo: self.name() }),
            Err(e) => return Err(e),
        };
        let d: RepoDescriptor = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            object: format!("{}/{DESCRIPTOR_KEY}", self.name()),
            reason: e.to_string(),
        })?;
        if d.format_version > FORMAT_VERSION {
            return Err(self.error(format!(
                "uses format {} from {}; upgrade lifeboat",
                d.format_version, d.created_by
            )));
        }
        // Signed so its origin can be checked (by hand, and by `config check`), but never
        // refused: nothing lifeboat executes comes from it, trusted keys are configuration,
        // and refusing it would lock every restore out of the repository once the key that
        // signed it at `init` is retired.
        if let SignatureStatus::Failed(problem) = &status {
            if d.format_version >= 2 {
                tracing::warn!(repository = %self.name(), "the repository descriptor's signature is not trusted: {problem}");
            }
        }
        Ok(d)
    }

    /// The descriptor of a repository this lifeboat may write to (format 2).
    pub async fn descriptor_for_write(&self) -> Result<RepoDescriptor> {
        self.signer()?;
        let d = self.descriptor().await?;
        if d.format_version < FORMAT_VERSION {
            return Err(self.error(format!(
                "is in format {}, which this lifeboat restores from but no longer writes (it \
                 has no signatures); create a new repository with `lifeboat init` for new \
                 backups — the old backups stay restorable",
                d.format_version
            )));
        }
        Ok(d)
    }

    /// `lifeboat init`: writes the signed descriptor; refuses a location that already holds
    /// a repository or any backup.
    pub async fn init(&self, recipient_fingerprints: Vec<String>) -> Result<RepoDescriptor> {
        let signer = self.signer()?;
        if self.store.head(DESCRIPTOR_KEY).await?.is_some() {
            return Err(self.error("already holds a lifeboat repository; nothing was changed"));
        }
        if !storage::list_all(self.store.as_ref(), layout::BACKUPS_DIR)
            .await?
            .is_empty()
        {
            return Err(self.error(
                "already holds backups but no lifeboat.json; refusing to initialize over them",
            ));
        }
        let d = RepoDescriptor::new(recipient_fingerprints, vec![signer.id()]);
        self.put_signed(DESCRIPTOR_KEY, d.to_json()).await?;
        Ok(d)
    }
}
