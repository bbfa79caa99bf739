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

pub use location::{StorageLocation, StorageSettings};
pub use memory::MemoryStore;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::error::Result;
use crate::pipeline::{ChunkReceiver, ChunkSender};

/// An object as a listing or `head` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the store's root.
    pub key: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
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

    /// Deletes an object; deleting a missing one succeeds.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Fails with a readable message if the store cannot be reached.
    async fn check_reachable(&self) -> Result<()>;

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
