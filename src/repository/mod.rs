//! Where backups live: a local directory or an S3(-compatible) bucket, behind one small
//! interface of whole-object and streamed reads and writes. Writes are atomic: an object is
//! either absent or complete (temporary file + rename; S3 multipart completed last).

mod descriptor;
pub mod layout;
mod local;
mod s3;

pub use descriptor::{RepoDescriptor, FORMAT_VERSION};
pub use layout::{backup_prefix, BackupId, DESCRIPTOR_KEY};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::pipeline::{ChunkReceiver, ChunkSender};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl RepoLocation {
    /// Accepts a path, `file:///path` or `s3://bucket/prefix`.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::config(format!(
                    "repository `{url}` names no bucket (expected s3://bucket/prefix)"
                )));
            }
            return Ok(RepoLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(RepoLocation::Local(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(Error::config(format!(
                "repository `{url}`: unsupported scheme (use a path, file://… or s3://…)"
            )));
        }
        if url.is_empty() {
            return Err(Error::config("repository location is empty"));
        }
        Ok(RepoLocation::Local(PathBuf::from(url)))
    }
}

impl std::fmt::Display for RepoLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoLocation::Local(p) => write!(f, "{}", p.display()),
            RepoLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            RepoLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RepoSettings {
    pub location: RepoLocation,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: bool,
    pub part_size: u64,
    pub upload_concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Key relative to the repository root.
    pub key: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

pub enum Repository {
    Local(local::LocalRepo),
    S3(s3::S3Repo),
}

impl Repository {
    pub async fn open(settings: &RepoSettings) -> Result<Self> {
        Ok(match &settings.location {
            RepoLocation::Local(path) => Repository::Local(local::LocalRepo::new(path.clone())),
            RepoLocation::S3 { .. } => Repository::S3(s3::S3Repo::connect(settings).await?),
        })
    }

    /// How errors and reports name this repository (never with credentials).
    pub fn name(&self) -> String {
        match self {
            Repository::Local(r) => r.name(),
            Repository::S3(r) => r.name(),
        }
    }

    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: reason.into(),
        }
    }

    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<()> {
        match self {
            Repository::Local(r) => r.put_bytes(key, data).await,
            Repository::S3(r) => r.put_bytes(key, data).await,
        }
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        match self {
            Repository::Local(r) => r.get_bytes(key).await,
            Repository::S3(r) => r.get_bytes(key).await,
        }
    }

    /// Stores a stream of chunks as one object; the object appears only if the stream
    /// ends with `Chunk::End`, and a stream that closes early leaves nothing behind.
    pub async fn put_stream(&self, key: &str, rx: ChunkReceiver) -> Result<()> {
        match self {
            Repository::Local(r) => r.put_stream(key, rx).await,
            Repository::S3(r) => r.put_stream(key, rx).await,
        }
    }

    /// Sends an object's bytes as chunks followed by `Chunk::End`. Returns `Ok` early if
    /// the receiver goes away: the consumer reports its own error.
    pub async fn get_stream(&self, key: &str, tx: ChunkSender) -> Result<()> {
        match self {
            Repository::Local(r) => r.get_stream(key, tx).await,
            Repository::S3(r) => r.get_stream(key, tx).await,
        }
    }

    /// Every object under `prefix` (recursively), in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        match self {
            Repository::Local(r) => r.list(prefix).await,
            Repository::S3(r) => r.list(prefix).await,
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.get_bytes_if_exists(key).await? {
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    pub async fn get_bytes_if_exists(&self, key: &str) -> Result<Option<Bytes>> {
        match self.get_bytes(key).await {
            Ok(b) => Ok(Some(b)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self {
            Repository::Local(r) => r.delete(key).await,
            Repository::S3(r) => r.delete(key).await,
        }
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let objects = self.list(prefix).await?;
        let n = objects.len();
        for o in objects {
            self.delete(&o.key).await?;
        }
        if let Repository::Local(r) = self {
            r.remove_empty_dirs(prefix);
        }
        Ok(n)
    }

    /// Fails with a readable message if the repository cannot be reached or written.
    pub async fn check_reachable(&self) -> Result<()> {
        match self {
            Repository::Local(r) => r.check_reachable().await,
            Repository::S3(r) => r.check_reachable().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            RepoLocation::parse("s3://bkt/nightly/app/").unwrap(),
            RepoLocation::S3 {
                bucket: "bkt".into(),
                prefix: "nightly/app".into()
            }
        );
        assert_eq!(
            RepoLocation::parse("file:///var/backups").unwrap(),
            RepoLocation::Local("/var/backups".into())
        );
        assert_eq!(
            RepoLocation::parse("./repo").unwrap(),
            RepoLocation::Local("./repo".into())
        );
        assert!(RepoLocation::parse("s3:///x").is_err());
        assert!(RepoLocation::parse("gs://bucket").is_err());
    }
}
