//! Storage: where the bytes of a repository live. One small trait, [`Storage`], with three
//! implementations — a local directory, S3 (or an S3-compatible store) and an in-memory
//! store for unit tests — and one conformance suite (tests/integration/storage.rs) that
//! holds all three to the same rules:
//!
//! - an object is visible whole or not at all: a write that fails or is interrupted leaves
//!   nothing a reader or a listing can see;
//! - listings are complete (past 1,000 keys), sorted by key, and can stop at a delimiter (`/`)
//!   so that a directory of backups is listed without listing every object inside them;
//! - deleting a missing key succeeds;
//! - nothing depends on conditional writes, request checksums or virtual-host addressing.
//!
//! Nothing outside this module knows which store it talks to. What is stored, and the rules
//! that make a backup safe, belong to [`crate::repository`].

mod local;
mod location;
mod memory;
mod s3;

pub use location::{LockMode, ObjectLock, StorageLocation, StorageSettings};
pub use memory::MemoryStore;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::pipeline::{Chunk, ChunkReceiver, ChunkSender, CHANNEL_DEPTH};

/// An object as a listing or `head` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the store's root.
    pub key: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
    /// Until when S3 Object Lock keeps the object from being deleted (`head` only; `None`
    /// where the store has no lock or the object none).
    pub retain_until: Option<DateTime<Utc>>,
}

/// What a listing found: objects, and with a delimiter, the "directories" below the prefix
/// (each ending in `/`).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub objects: Vec<ObjectMeta>,
    pub prefixes: Vec<String>,
}

/// The storage interface. Keys are `/`-separated relative paths without `..`.
#[async_trait]
pub trait Storage: Send + Sync {
    /// How errors and reports name the store (never with credentials).
    fn name(&self) -> String;

    /// Stores a small object whole, replacing any object of that key.
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;

    /// Stores a stream of chunks as one object, with bounded memory. The object appears
    /// only if the stream ends with `Chunk::End`; a stream that closes early, or any
    /// failure, leaves nothing visible.
    async fn put_stream(&self, key: &str, rx: ChunkReceiver) -> Result<()>;

    /// Reads a whole (small) object. A missing key is `Error::NotFound`.
    async fn get(&self, key: &str) -> Result<Bytes>;

    /// Sends an object's bytes from `offset` on as chunks, then `Chunk::End`. Returns `Ok`
    /// early if the receiver goes away: the consumer reports its own error.
    async fn get_stream(&self, key: &str, offset: u64, tx: ChunkSender) -> Result<()>;

    /// Objects under `prefix`, sorted by key. With `delimited`, only the objects directly
    /// under it, and the sub-prefixes (`prefix` + name + `/`) in `Listing::prefixes`.
    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing>;

    /// The object's size and time, or `None` if it does not exist.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>>;

    /// Deletes an object; deleting a missing one succeeds. On a store with Object Lock,
    /// every version of the key goes (not just a delete marker), and an object still
    /// retained is refused with [`Error::Retained`].
    async fn delete(&self, key: &str) -> Result<()>;

    /// Fails with a readable message if the store cannot be reached.
    async fn check_reachable(&self) -> Result<()>;

    /// How long a completed write may take to show in a listing from another process:
    /// what a lock waits before it looks for competitors again. Zero where listings are
    /// immediate (a filesystem, memory); S3-compatible stores may lag briefly.
    fn listing_lag(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The Object Lock the store writes with, if any.
    fn object_lock(&self) -> Option<ObjectLock> {
        None
    }

    /// Removes what interrupted writes under `prefix` left behind and older than
    /// `older_than`: temporary files of a directory store, open multipart uploads of S3.
    /// Returns how many were removed.
    async fn remove_debris(&self, prefix: &str, older_than: chrono::Duration) -> Result<usize>;
}

/// Opens the store a location names.
pub async fn open(settings: &StorageSettings) -> Result<Arc<dyn Storage>> {
    Ok(match &settings.location {
        StorageLocation::Local(path) => Arc::new(local::LocalStore::new(path.clone())),
        StorageLocation::S3 { .. } => Arc::new(s3::S3Store::connect(settings).await?),
    })
}

/// How reads survive a flaky network: attempts after a transient failure, with exponential
/// backoff. A download that made progress since its last failure starts counting afresh.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: std::time::Duration,
    pub max_backoff: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, failures: u32) -> std::time::Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1 << failures.saturating_sub(1).min(16));
        let jitter = std::time::Duration::from_millis(rand::random::<u64>() % 100);
        exp.min(self.max_backoff) + jitter
    }
}

/// Runs `op` until it succeeds, fails for good, or fails transiently `policy.attempts` times.
pub async fn retrying<T, F, Fut>(policy: &RetryPolicy, what: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut failures = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && failures + 1 < policy.attempts => {
                failures += 1;
                let pause = policy.backoff(failures);
                tracing::warn!(object = what, error = %e, attempt = failures, "retrying in {} ms", pause.as_millis());
                tokio::time::sleep(pause).await;
            }
            Err(e) if e.is_transient() => {
                return Err(e.with_note(&format!("gave up after {} attempts", failures + 1)))
            }
            other => return other,
        }
    }
}

/// Streams `key` into `tx` like [`Storage::get_stream`], but survives the network: a
/// transient failure is retried with backoff, and a body that broke off resumes with a
/// ranged read from the byte it reached. The consumer sees one unbroken stream, so the
/// checksums it computes cover the seams. Gives up after `policy.attempts` failures in a
/// row without progress, naming the object.
pub async fn get_stream_resuming(
    store: Arc<dyn Storage>,
    key: &str,
    tx: ChunkSender,
    policy: &RetryPolicy,
) -> Result<()> {
    let mut offset = 0u64;
    let mut failures = 0u32;
    loop {
        let (part_tx, mut part_rx) = tokio::sync::mpsc::channel(CHANNEL_DEPTH);
        let fetch = {
            let (store, key) = (store.clone(), key.to_string());
            tokio::spawn(async move { store.get_stream(&key, offset, part_tx).await })
        };
        let mut progressed = false;
        while let Some(chunk) = part_rx.recv().await {
            match chunk {
                Chunk::Data(b) => {
                    offset += b.len() as u64;
                    progressed = true;
                    if tx.send(Chunk::Data(b)).await.is_err() {
                        // The consumer stopped reading; its own error is the one to report.
                        return Ok(());
                    }
                }
                Chunk::End => {
                    let _ = tx.send(Chunk::End).await;
                    return Ok(());
                }
            }
        }
        // The stream closed without its end: the read failed.
        let err = match fetch.await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => Error::Unavailable {
                repo: store.name(),
                reason: format!("reading {key} stopped without an error"),
            },
            Err(join) => Error::Repository {
                repo: store.name(),
                reason: format!("reading {key}: task failed: {join}"),
            },
        };
        if progressed {
            failures = 0;
        }
        failures += 1;
        if !err.is_transient() {
            return Err(err);
        }
        if failures >= policy.attempts {
            return Err(err.with_note(&format!(
                "gave up after {failures} attempts in a row at byte {offset} of {key}"
            )));
        }
        let pause = policy.backoff(failures);
        tracing::warn!(object = key, offset, error = %err, "download broke off; resuming in {} ms", pause.as_millis());
        tokio::time::sleep(pause).await;
    }
}

/// Every object under `prefix`, recursively.
pub async fn list_all(store: &dyn Storage, prefix: &str) -> Result<Vec<ObjectMeta>> {
    Ok(store.list(prefix, false).await?.objects)
}

/// Whether `key` sits directly under `prefix` (no further `/`), or else the sub-prefix it
/// belongs to. Shared by the stores that list by filtering keys.
pub(crate) fn split_delimited<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    rest.find('/').map(|i| &key[..prefix.len() + i + 1])
}
