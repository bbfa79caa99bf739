//! An in-memory store for unit tests of repository logic. The conformance suite holds it to
//! the same rules as the real stores, so tests on it say something about them.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{split_delimited, Listing, ObjectMeta, Storage};
use crate::error::{Error, Result};
use crate::pipeline::{Chunk, ChunkReceiver, ChunkSender, PLAIN_BLOCK};

#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, (Bytes, DateTime<Utc>)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, (Bytes, DateTime<Utc>)>> {
        // Every critical section is a single map operation: a panic cannot leave it half done.
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Test helper: pretends an object was last written at `when`.
    pub fn set_modified(&self, key: &str, when: DateTime<Utc>) {
        if let Some(entry) = self.map().get_mut(key) {
            entry.1 = when;
        }
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            repo: self.name(),
            key: key.to_string(),
        }
    }
}

#[async_trait]
impl Storage for MemoryStore {
    fn name(&self) -> String {
        "memory:".into()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        self.map().insert(key.to_string(), (data, Utc::now()));
        Ok(())
    }

    async fn put_stream(&self, key: &str, mut rx: ChunkReceiver) -> Result<()> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = rx.recv().await {
            match chunk {
                Chunk::Data(b) => buf.extend_from_slice(&b),
                Chunk::End => return self.put(key, buf.freeze()).await,
            }
        }
        Err(Error::Repository {
            repo: self.name(),
            reason: format!("upload of {key} aborted before its end"),
        })
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let found = self.map().get(key).map(|(b, _)| b.clone());
        found.ok_or_else(|| self.not_found(key))
    }

    async fn get_stream(&self, key: &str, offset: u64, tx: ChunkSender) -> Result<()> {
        let data = self.get(key).await?;
        let mut rest = data.slice((offset as usize).min(data.len())..);
        while !rest.is_empty() {
            let n = rest.len().min(PLAIN_BLOCK);
            if tx.send(Chunk::Data(rest.split_to(n))).await.is_err() {
                return Ok(());
            }
        }
        let _ = tx.send(Chunk::End).await;
        Ok(())
    }

    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing> {
        let mut out = Listing::default();
        for (key, (data, modified)) in self.map().range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if delimited {
                if let Some(sub) = split_delimited(prefix, key) {
                    if out.prefixes.last().map(String::as_str) != Some(sub) {
                        out.prefixes.push(sub.to_string());
                    }
                    continue;
                }
            }
            out.objects.push(ObjectMeta {
                key: key.clone(),
                size: data.len() as u64,
                modified: Some(*modified),
                retain_until: None,
            });
        }
        Ok(out)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        Ok(self.map().get(key).map(|(data, modified)| ObjectMeta {
            key: key.to_string(),
            size: data.len() as u64,
            modified: Some(*modified),
            retain_until: None,
        }))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.map().remove(key);
        Ok(())
    }

    async fn check_reachable(&self) -> Result<()> {
        Ok(())
    }

    async fn remove_debris(&self, _prefix: &str, _older_than: chrono::Duration) -> Result<usize> {
        // Writes are atomic map inserts: nothing is ever left half written.
        Ok(0)
    }
}
