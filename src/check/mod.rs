//! `lifeboat check`: the repository's integrity without a restore, restic's `check` for
//! lifeboat. In phases:
//!
//! 1. the descriptor: readable, a format this lifeboat knows, its signature;
//! 2. every backup: a complete one's manifest parses and its signature verifies against the
//!    trusted keys; incomplete ones are counted (a running or interrupted backup);
//! 3. every object a manifest names is stored at its recorded size;
//! 4. with `--read-data` (or a subset), the selected streams are read whole: the stored
//!    bytes' SHA-256 always, and with an identity, decryption and the plaintext hash too.
//!
//! Every problem is named; the command fails if there is any.

mod subset;

pub use subset::ReadData;

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::crypto::Identity;
use crate::error::{Error, Result};
use crate::pipeline::{ObjectReader, ReadSource};
use crate::repository::manifest::{Manifest, ObjectStats};
use crate::repository::{backup_prefix, BackupId, Repository, SignatureStatus};
use crate::storage::{self, get_stream_resuming, RetryPolicy};

/// What `check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub backups: usize,
    pub incomplete: usize,
    pub objects: usize,
    pub streams_read: usize,
    pub bytes_read: u64,
    /// Whether read data was decrypted (an identity was given) or only its stored bytes hashed.
    pub decrypted: bool,
    pub problems: Vec<String>,
}

pub async fn check(
    repo: &Arc<Repository>,
    identities: Option<Vec<Identity>>,
    read: ReadData,
) -> Result<CheckReport> {
    let mut report = CheckReport {
        decrypted: identities.is_some(),
        ..Default::default()
    };
    // 1. The descriptor.
    repo.descriptor().await?;
    // 2. Every backup.
    let mut manifests = Vec::new();
    for id in repo.backup_ids().await? {
        match check_manifest(repo, &id).await? {
            Found::Complete(m) => manifests.push(*m),
            Found::Incomplete => report.incomplete += 1,
            Found::Problem(p) => report.problems.push(p),
        }
    }
    report.backups = manifests.len();
    // 3. Every object present at its size.
    for m in &manifests {
        let prefix = backup_prefix(&BackupId(m.id.clone()));
        let stored: HashMap<String, u64> = storage::list_all(repo.store().as_ref(), &prefix)
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        for object in m.objects() {
            report.objects += 1;
            let key = format!("{prefix}{}", object.key);
            match stored.get(&key) {
                Some(&size) if size == object.size => {}
                Some(&size) => report.problems.push(format!(
                    "backup {}: {} is {size} bytes, the manifest says {}",
                    m.id, object.key, object.size
                )),
                None => report
                    .problems
                    .push(format!("backup {}: {} is missing", m.id, object.key)),
            }
        }
    }
    // 4. Read data: the subset chosen over every stream of every backup.
    let all: Vec<(usize, &ObjectStats)> = manifests
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.streams().map(move |s| (i, s)))
        .collect();
    let streams: Vec<&ObjectStats> = all.iter().map(|(_, s)| *s).collect();
    let chosen = read.choose_by_size(&streams);
    for (index, m) in manifests.iter().enumerate() {
        let hasher = identities
            .as_ref()
            .map(|ids| crate::restore::plain_hasher(m, ids));
        let source = |hasher| ReadSource {
            store: repo.store().clone(),
            prefix: backup_prefix(&BackupId(m.id.clone())),
            identities: Arc::new(identities.clone().unwrap_or_default()),
            hasher,
        };
        let mine = chosen
            .iter()
            .map(|&c| all[c])
            .filter(|(i, _)| *i == index)
            .map(|(_, s)| s);
        for stream in mine {
            report.streams_read += 1;
            report.bytes_read += stream.stored_size();
            let outcome = match &hasher {
                Some(Ok(h)) => read_decrypted(&source(h.clone()), stream).await,
                Some(Err(e)) => Err(Error::Key(e.to_string())),
                None => read_stored(repo, &m.id, stream).await,
            };
            if let Err(e) = outcome {
                report.problems.push(format!("backup {}: {e}", m.id));
            }
        }
    }
    Ok(report)
}

enum Found {
    Complete(Box<Manifest>),
    Incomplete,
    Problem(String),
}

async fn check_manifest(repo: &Repository, id: &BackupId) -> Result<Found> {
    let (manifest, status) = match repo.read_manifest(id).await {
        Ok(found) => found,
        Err(Error::NotFound { .. }) => return Ok(Found::Incomplete),
        Err(e @ (Error::Corrupt { .. } | Error::Backup(_))) => {
            return Ok(Found::Problem(format!("backup {id}: {e}")))
        }
        Err(e) => return Err(e),
    };
    match status {
        SignatureStatus::Verified(_) => Ok(Found::Complete(Box::new(manifest))),
        SignatureStatus::Unchecked => Ok(Found::Problem(format!(
            "backup {id}: its signature was not checked (no trusted key configured)"
        ))),
        other => Ok(Found::Problem(format!(
            "backup {id}: signature {}",
            other.label()
        ))),
    }
}

/// Reads a stream through the restore pipeline: SHA-256, decryption, plaintext hash.
async fn read_decrypted(source: &ReadSource, stream: &ObjectStats) -> Result<()> {
    let mut reader = ObjectReader::open(source, stream.clone());
    while reader.next().await?.is_some() {}
    Ok(())
}

/// Without an identity: every part's stored bytes against the manifest's size and SHA-256.
async fn read_stored(repo: &Repository, id: &str, stream: &ObjectStats) -> Result<()> {
    use sha2::Digest;
    for part in &stream.parts {
        let key = format!("{}{}", backup_prefix(&BackupId(id.to_string())), part.key);
        let (tx, mut rx) = tokio::sync::mpsc::channel(crate::pipeline::CHANNEL_DEPTH);
        let store = repo.store().clone();
        let fetch = {
            let key = key.clone();
            tokio::spawn(async move {
                get_stream_resuming(store, &key, tx, &RetryPolicy::default()).await
            })
        };
        let (mut hash, mut size) = (sha2::Sha256::new(), 0u64);
        while let Some(crate::pipeline::Chunk::Data(b)) = rx.recv().await {
            hash.update(&b);
            size += b.len() as u64;
        }
        fetch.await.map_err(|e| Error::Repository {
            repo: repo.name(),
            reason: format!("reading {key}: {e}"),
        })??;
        let sha = hex::encode(hash.finalize());
        if size != part.size || sha != part.sha256 {
            return Err(Error::Corrupt {
                object: part.key.clone(),
                reason: format!(
                    "stored object is {size} bytes with SHA-256 {sha}, manifest says {} bytes \
                     with {}",
                    part.size, part.sha256
                ),
            });
        }
    }
    Ok(())
}
