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
    /// S3 Object Lock for what the repository never rewrites; `None` writes plain objects.
    pub object_lock: Option<ObjectLock>,
}

/// S3 Object Lock: each object the repository writes once (documents, backup data,
/// records) is stored with a retain-until date `retain` after it is written, in `mode`, so
/// neither a mistake nor stolen credentials can delete it earlier. Objects the repository
/// rewrites or removes in routine work (locks, in-progress markers, pins) are exempt: the
/// repository says which through `exempt`.
#[derive(Debug, Clone, Copy)]
pub struct ObjectLock {
    pub mode: LockMode,
    pub retain: std::time::Duration,
    pub exempt: fn(&str) -> bool,
}

/// S3's two Object Lock modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` may still delete early; lifeboat never does.
    Governance,
    /// Nobody, not even the account's root user, can delete before the date.
    Compliance,
}

impl LockMode {
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "governance" => Ok(LockMode::Governance),
            "compliance" => Ok(LockMode::Compliance),
            other => Err(Error::config(format!(
                "object lock mode `{other}` is neither `governance` nor `compliance`"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "governance",
            LockMode::Compliance => "compliance",
        }
    }
}

impl ObjectLock {
    /// Whether `key` is written locked.
    pub fn applies_to(&self, key: &str) -> bool {
        !(self.exempt)(key)
    }
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
            object_lock: None,
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
