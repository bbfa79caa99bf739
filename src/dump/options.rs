//! What a backup is asked to do, validated in the library so that any caller (the CLI, a
//! future daemon) gets the same checks and defaults.

use crate::cancel::Cancel;
use crate::config::{self, SourceSettings};
use crate::crypto::Recipient;
use crate::error::{Error, Result};
use crate::pipeline::{EncodeOptions, DEFAULT_SEGMENT_BYTES};
use crate::progress::Progress;
use crate::repository::lock::LockOptions;

use super::plan::DEFAULT_SPLIT_BYTES;

pub struct BackupOptions {
    pub source: SourceSettings,
    pub recipients: Vec<Recipient>,
    pub encode: EncodeOptions,
    /// Tables larger than this are dumped as block ranges in parallel; 0 never splits.
    pub split_bytes: u64,
    pub progress: Progress,
    /// How long to wait for an exclusive lock (a prune) to go away.
    pub lock: LockOptions,
    /// Stops the backup cleanly (transaction aborted, lock released) when cancelled.
    pub cancel: Cancel,
}

/// How to split and compress, as a caller gives it.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Split tables larger than this size (`256MiB`); default [`DEFAULT_SPLIT_BYTES`].
    pub split_size: Option<String>,
    /// zstd level, 1 to 19; default 3.
    pub compression_level: Option<i32>,
    /// zstd worker threads per stream; default: cores / jobs when that is 2 or more, else 0.
    pub compression_threads: Option<u32>,
    /// Stored bytes after which a stream continues in a new object (validated by
    /// `Settings::segment_bytes`); default [`DEFAULT_SEGMENT_BYTES`].
    pub segment_bytes: Option<u64>,
}

pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;

impl BackupOptions {
    /// Validates the tuning against the source settings and fills in the defaults.
    pub fn new(
        source: SourceSettings,
        recipients: Vec<Recipient>,
        tuning: &Tuning,
        progress: Progress,
    ) -> Result<Self> {
        config::check_jobs(source.jobs)?;
        let split_bytes = match &tuning.split_size {
            Some(text) => {
                config::parse_size(text).map_err(|e| Error::config(format!("--split-size: {e}")))?
            }
            None => DEFAULT_SPLIT_BYTES,
        };
        let zstd_level = tuning
            .compression_level
            .unwrap_or(DEFAULT_COMPRESSION_LEVEL);
        check_level(zstd_level)?;
        let zstd_workers = tuning
            .compression_threads
            .unwrap_or_else(|| EncodeOptions::workers_for(source.jobs));
        Ok(BackupOptions {
            source,
            recipients,
            encode: EncodeOptions {
                zstd_level,
                zstd_workers,
                segment_bytes: tuning.segment_bytes.unwrap_or(DEFAULT_SEGMENT_BYTES),
            },
            split_bytes,
            progress,
            lock: LockOptions::default(),
            cancel: Cancel::new(),
        })
    }

    /// The checks of [`BackupOptions::new`], for options built field by field.
    pub fn validate(&self) -> Result<()> {
        config::check_jobs(self.source.jobs)?;
        check_level(self.encode.zstd_level)
    }
}

fn check_level(level: i32) -> Result<()> {
    if (1..=19).contains(&level) {
        Ok(())
    } else {
        Err(Error::config("--compression-level must be 1 to 19"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::ConnSpec;

    fn source(jobs: usize) -> SourceSettings {
        SourceSettings {
            conn: ConnSpec::from_url_and_env(Some("postgres://u@h/db")).unwrap(),
            databases: vec![],
            jobs,
            globals: false,
            pg_bin_dir: None,
            lock_timeout_secs: 60,
        }
    }

    fn new(jobs: usize, tuning: Tuning) -> Result<BackupOptions> {
        BackupOptions::new(source(jobs), vec![], &tuning, Progress::hidden())
    }

    #[test]
    fn defaults_and_checks() {
        let o = new(2, Tuning::default()).unwrap();
        assert_eq!(o.split_bytes, DEFAULT_SPLIT_BYTES);
        assert_eq!(o.encode.zstd_level, 3);
        assert_eq!(o.encode.zstd_workers, EncodeOptions::workers_for(2));
        let o = new(
            1,
            Tuning {
                split_size: Some("1MiB".into()),
                compression_level: Some(19),
                compression_threads: Some(0),
                segment_bytes: None,
            },
        )
        .unwrap();
        assert_eq!((o.split_bytes, o.encode.zstd_workers), (1 << 20, 0));

        let err = |jobs, tuning| {
            new(jobs, tuning)
                .err()
                .map(|e| (e.exit_code(), e.to_string()))
        };
        assert_eq!(
            err(0, Tuning::default()),
            Some((2, "configuration: jobs must be at least 1".into()))
        );
        let level = Tuning {
            compression_level: Some(20),
            ..Default::default()
        };
        assert_eq!(
            err(2, level),
            Some((
                2,
                "configuration: --compression-level must be 1 to 19".into()
            ))
        );
        let split = Tuning {
            split_size: Some("lots".into()),
            ..Default::default()
        };
        assert!(err(2, split).is_some_and(|(code, m)| code == 2 && m.contains("--split-size")));
    }
}
