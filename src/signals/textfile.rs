//! The metrics textfile, for node-exporter's textfile collector (or anything that reads
//! the Prometheus text format from a file).
//!
//! An update, step by step: take an advisory lock on `<file>.lock` beside it (so two
//! one-shot runs finishing at once never lose each other's figures), read the current file
//! back (it is our own output: [`MetricsState::parse`]), apply the run's figures, write
//! `<file>.<pid>.tmp` in the same directory, fsync it, rename it over the file, fsync the
//! directory. Readers see the old file or the new one, never a part. The `.prom` file holds
//! only exposition text; the figures of earlier runs are kept by reading it back, so there
//! is no second state file to drift from it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::metrics::MetricsState;
use crate::error::{Error, Result};

/// How long an update waits for another lifeboat process's update of the same file.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Textfile {
    path: PathBuf,
    lock_wait: Duration,
}

impl Textfile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Textfile {
            path: path.into(),
            lock_wait: LOCK_WAIT,
        }
    }

    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<file>.lock`: the advisory lock every update holds. It stays (empty) beside the
    /// file; collectors read only `*.prom`.
    pub fn lock_path(&self) -> PathBuf {
        suffixed(&self.path, ".lock")
    }

    fn temp_path(&self, pid: u32) -> PathBuf {
        suffixed(&self.path, &format!(".{pid}.tmp"))
    }

    /// The figures in the file now (none if it does not exist). Lines that cannot be read
    /// are logged as warnings and dropped.
    pub fn read(&self) -> Result<MetricsState> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MetricsState::new()),
            Err(source) => {
                return Err(Error::ReadFile {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let (state, warnings) = MetricsState::parse(&text);
        for w in warnings {
            tracing::warn!(file = %self.path.display(), "metrics textfile: dropped {w}");
        }
        Ok(state)
    }

    /// Applies `change` to the file's figures and writes the result atomically, under the
    /// lock. Runs on a blocking thread.
    pub async fn update<F>(&self, change: F) -> Result<MetricsState>
    where
        F: FnOnce(&mut MetricsState) + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.update_blocking(change))
            .await
            .map_err(|source| Error::Worker {
                pool: "metrics textfile",
                source,
            })?
    }

    /// [`update`](Self::update) on the calling thread.
    pub fn update_blocking<F>(&self, change: F) -> Result<MetricsState>
    where
        F: FnOnce(&mut MetricsState),
    {
        let _lock = self.lock()?;
        self.remove_debris();
        let mut state = self.read()?;
        change(&mut state);
        self.write(&state)?;
        Ok(state)
    }

    /// Waits up to `lock_wait` for the advisory lock; released when the file handle drops.
    fn lock(&self) -> Result<std::fs::File> {
        let path = self.lock_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::io(
                    format!("metrics textfile: cannot open {}", path.display()),
                    e,
                )
            })?;
        let deadline = Instant::now() + self.lock_wait;
        loop {
            // Called through the trait: std's own File::try_lock is newer than our MSRV.
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(file),
                Err(fs4::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(Error::io(
                        format!(
                            "metrics textfile: {} is held by another process",
                            path.display()
                        ),
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("still locked after {}s", self.lock_wait.as_secs()),
                        ),
                    ))
                }
                Err(fs4::TryLockError::Error(e)) => {
                    return Err(Error::io(
                        format!("metrics textfile: cannot lock {}", path.display()),
                        e,
                    ))
                }
            }
        }
    }

    /// Temporary files of runs that died between writing and renaming: under the lock,
    /// any `<file>.<pid>.tmp` is such debris.
    fn remove_debris(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(middle) = file_name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".tmp"))
            else {
                continue;
            };
            if !middle.is_empty() && middle.chars().all(|c| c.is_ascii_digit()) {
                tracing::debug!(file = %entry.path().display(), "removing a leftover metrics temp file");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Writes the temp file, flushes it, renames it over the file, flushes the directory.
    fn write(&self, state: &MetricsState) -> Result<()> {
        let tmp = self.temp_path(std::process::id());
        let written = write_synced(&tmp, state.render().as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| sync_dir(&self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(
                format!("metrics textfile: cannot write {}", self.path.display()),
                e,
            ));
        }
        Ok(())
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => std::fs::File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::metrics::{Metric, Series};

    #[test]
    fn updates_keep_earlier_figures_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = Textfile::new(dir.path().join("lifeboat.prom"));
        file.update_blocking(|m| m.set(Metric::Rpo, &Series::new("r", "a"), 1.0))
            .unwrap();
        file.update_blocking(|m| m.set(Metric::Rpo, &Series::new("r", "b"), 2.0))
            .unwrap();
        let m = file.read().unwrap();
        assert_eq!(m.get(Metric::Rpo, &Series::new("r", "a")), Some(1.0));
        assert_eq!(m.get(Metric::Rpo, &Series::new("r", "b")), Some(2.0));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["lifeboat.prom", "lifeboat.prom.lock"]);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.prom");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let file = Textfile::new(&path);
                std::thread::spawn(move || {
                    for j in 0..5 {
                        file.update_blocking(|m| {
                            m.set(Metric::Rpo, &Series::new("r", &format!("db{i}_{j}")), 1.0)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let m = Textfile::new(&path).read().unwrap();
        assert_eq!(m.samples().count(), 40);
    }

    #[test]
    fn a_held_lock_times_out_with_a_readable_error() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            Textfile::new(dir.path().join("m.prom")).with_lock_wait(Duration::from_millis(100));
        let held = file.lock().unwrap();
        let err = file.update_blocking(|_| {}).unwrap_err().to_string();
        assert!(
            err.contains("m.prom.lock is held by another process"),
            "{err}"
        );
        drop(held);
        file.update_blocking(|_| {}).unwrap();
    }

    #[test]
    fn leftover_temp_files_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = Textfile::new(dir.path().join("m.prom"));
        std::fs::write(dir.path().join("m.prom.999999.tmp"), "half").unwrap();
        std::fs::write(dir.path().join("m.prom.notes.tmp"), "not ours").unwrap();
        file.update_blocking(|_| {}).unwrap();
        assert!(!dir.path().join("m.prom.999999.tmp").exists());
        assert!(dir.path().join("m.prom.notes.tmp").exists());
    }

    #[test]
    fn an_unwritable_directory_is_an_error_naming_the_file() {
        let file = Textfile::new("/nonexistent-dir-for-lifeboat/m.prom");
        let err = file.update_blocking(|_| {}).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent-dir-for-lifeboat/m.prom"),
            "{err}"
        );
    }
}
