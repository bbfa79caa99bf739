use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a repository is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StorageLocation {
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
            return Ok(StorageLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(StorageLocation::Local(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(Error::config(format!(
                "repository `{url}`: unsupported scheme (use a path, file://… or s3://…)"
            )));
        }
        if url.is_empty() {
            return Err(Error::config("repository location is empty"));
        }
        Ok(StorageLocation::Local(PathBuf::from(url)))
    }
}

impl std::fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageLocation::Local(p) => write!(f, "{}", p.display()),
            StorageLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            StorageLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Everything needed to open a store.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub location: StorageLocation,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: bool,
    pub part_size: u64,
    pub upload_concurrency: usize,
}

impl StorageSettings {
    /// A local directory with default tuning.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        StorageSettings {
            location: StorageLocation::Local(path.into()),
            endpoint: None,
            region: None,
            path_style: false,
            part_size: crate::config::DEFAULT_PART_SIZE,
            upload_concurrency: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            StorageLocation::parse("s3://bkt/nightly/app/").unwrap(),
            StorageLocation::S3 {
                bucket: "bkt".into(),
                prefix: "nightly/app".into()
            }
        );
        assert_eq!(
            StorageLocation::parse("file:///var/backups").unwrap(),
            StorageLocation::Local("/var/backups".into())
        );
        assert_eq!(
            StorageLocation::parse("./repo").unwrap(),
            StorageLocation::Local("./repo".into())
        );
        assert!(StorageLocation::parse("s3:///x").is_err());
        assert!(StorageLocation::parse("gs://bucket").is_err());
    }
}
