//! The daemon's memory of each job's runs, kept in a small JSON file so that missed runs
//! and overdue jobs are known across restarts. Written atomically (temporary file renamed
//! into place) after every run. A missing file is an empty state; an unreadable one is
//! reported and replaced.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What is known of one job's runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JobState {
    /// When the daemon first had this job configured (the overdue clock of a job that never
    /// succeeded starts here).
    pub known_since: Option<DateTime<Utc>>,
    pub last_started: Option<DateTime<Utc>>,
    pub last_finished: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    pub last_exit_code: Option<i32>,
    pub last_duration_seconds: Option<f64>,
    /// `success`, `failure`, `timeout` or `cancelled`.
    pub last_result: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateFile {
    #[serde(default)]
    pub jobs: BTreeMap<String, JobState>,
}

impl StateFile {
    /// Reads `path`; missing is empty; unreadable is a warning and an empty state.
    pub fn load(path: &Path) -> StateFile {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "the scheduler state file is unreadable; starting without it (missed runs are not caught up)");
                StateFile::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the scheduler state file; starting without it");
                StateFile::default()
            }
        }
    }

    /// Writes atomically: `<path>.tmp`, then renamed into place.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(format!("writing the scheduler state {}", path.display()), e))
    }

    /// Checks at start that the state can be written where configured.
    pub fn check_writable(path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::config(format!(
                "[scheduler] state_file: directory {} does not exist; create it or set \
                 state_file to a writable path",
                dir.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_a_missing_or_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert!(StateFile::load(&path).jobs.is_empty());
        let mut s = StateFile::default();
        s.jobs.insert(
            "nightly".into(),
            JobState {
                last_exit_code: Some(0),
                last_success: Some(Utc::now()),
                ..Default::default()
            },
        );
        s.save(&path).unwrap();
        assert_eq!(StateFile::load(&path).jobs, s.jobs);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(StateFile::load(&path).jobs.is_empty());
        assert!(StateFile::check_writable(&dir.path().join("x/y.json")).is_err());
        assert!(StateFile::check_writable(&path).is_ok());
    }
}
