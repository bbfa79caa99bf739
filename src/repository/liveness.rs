//! Who wrote a marker or a lock, and whether that writer is still alive.
//!
//! A writer is gone when it has not refreshed its marker for the stale period, or at once
//! when it ran in our own PID space (same boot, same PID namespace: host names alone are
//! shared by containers) and its process is dead. A long-running process (the daemon) runs
//! many jobs under one PID, so each marker also carries a per-run token: a marker with our
//! own PID is alive only while the run that wrote it still holds its token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Names the process and run that wrote a marker or lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Boot id and PID namespace: where `pid` means something.
    #[serde(default)]
    pub pid_space: Option<String>,
    /// This run's random token (absent in format 1 markers).
    #[serde(default)]
    pub token: Option<String>,
    /// When this run started.
    pub started_at: DateTime<Utc>,
}

fn live_tokens() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// A run's token, live (in this process) until dropped.
pub struct RunToken(String);

impl RunToken {
    pub fn new() -> Self {
        let token = hex::encode(rand::random::<[u8; 8]>());
        live_tokens()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone());
        RunToken(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn owner(&self) -> Owner {
        Owner {
            host: hostname(),
            pid: std::process::id(),
            pid_space: pid_space(),
            token: Some(self.0.clone()),
            started_at: Utc::now(),
        }
    }
}

impl Default for RunToken {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RunToken {
    fn drop(&mut self) {
        live_tokens()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

impl Owner {
    /// Known dead: only checkable in our own PID space.
    pub fn is_gone(&self) -> bool {
        let ours = self.pid_space.is_some() && self.pid_space == pid_space();
        if !ours {
            return false;
        }
        if self.pid == std::process::id() {
            // Our own process: alive only while the run that wrote it is.
            return match &self.token {
                Some(t) => !live_tokens()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(t),
                None => false,
            };
        }
        !process_alive(self.pid)
    }

    pub fn describe(&self) -> String {
        format!(
            "PID {} on {} since {}",
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// When a marker or lock was last refreshed, shared between the task that refreshes it and
/// the holder, who must not act on it once others may take it for stale.
#[derive(Clone)]
pub struct Freshness(Arc<Mutex<Instant>>);

impl Freshness {
    pub fn new() -> Self {
        Freshness(Arc::new(Mutex::new(Instant::now())))
    }

    pub fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Seconds since the last refresh.
    pub fn age_secs(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            .as_secs()
    }

    /// Fails with `consequence` once half of `stale_after_secs` passed without a refresh:
    /// beyond that, another process may take the marker for stale and act on it.
    pub fn check(&self, stale_after_secs: i64, what: &str, consequence: &str) -> crate::Result<()> {
        let since = self.age_secs();
        if since as i64 > stale_after_secs / 2 {
            return Err(crate::Error::Backup(format!(
                "{what} was last refreshed {since} s ago; {consequence}"
            )));
        }
        Ok(())
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new()
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The process's real user id, where /proc says it.
pub fn uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This boot of this kernel and this PID namespace, or `None` where /proc cannot say.
pub fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

fn process_alive(pid: u32) -> bool {
    let stat = std::path::Path::new("/proc").join(pid.to_string());
    // Without /proc (not Linux) we cannot tell: rely on the heartbeat instead.
    !std::path::Path::new("/proc/self").exists() || stat.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PID that no process has: above the kernel's pid_max limit.
    const DEAD_PID: u32 = 4_194_304 + 1;

    fn owner(pid: u32, pid_space: Option<String>, token: Option<String>) -> Owner {
        Owner {
            host: hostname(),
            pid,
            pid_space,
            token,
            started_at: Utc::now(),
        }
    }

    #[test]
    fn a_dead_process_counts_only_in_our_own_pid_space() {
        // Ours, gone: at once (the kill -9 case).
        assert!(owner(DEAD_PID, pid_space(), None).is_gone());
        // Another container or machine with the same host name: its PIDs mean nothing here.
        assert!(!owner(DEAD_PID, Some("other-boot/pid:[1]".into()), None).is_gone());
        // A marker that does not say where its PID lives: never known dead.
        assert!(!owner(DEAD_PID, None, None).is_gone());
    }

    #[test]
    fn our_own_pid_is_alive_only_while_the_run_holds_its_token() {
        let run = RunToken::new();
        let mine = run.owner();
        assert!(!mine.is_gone());
        drop(run);
        // The same process (a daemon) after that run failed: its leftovers are dead.
        assert!(mine.is_gone());
        // Format 1 markers have no token: our own PID counts as alive.
        assert!(!owner(std::process::id(), pid_space(), None).is_gone());
    }
}
