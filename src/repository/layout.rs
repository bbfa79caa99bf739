//! Object keys. Documented in docs/repository-format.md; change both together.

use chrono::{DateTime, Utc};
use rand::Rng;

/// The repository descriptor, written by `init`.
pub const DESCRIPTOR_KEY: &str = "lifeboat.json";
/// Every backup lives under `backups/<id>/`.
pub const BACKUPS_DIR: &str = "backups/";
/// Locks: `locks/<token>-<n>.json`.
pub const LOCKS_DIR: &str = "locks/";
pub const MANIFEST_NAME: &str = "manifest.json";
pub const IN_PROGRESS_NAME: &str = "in-progress.json";
/// A signed document `x` has its minisign signature beside it at `x.minisig`.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// Whether a key is written without S3 Object Lock: what the repository rewrites or removes
/// in routine work (locks, in-progress markers, pins). Everything else — the descriptor,
/// backups' objects, manifests, signatures, records — is written once and may be locked.
pub fn lock_exempt(key: &str) -> bool {
    key.starts_with(LOCKS_DIR)
        || key.starts_with(super::pins::PINS_DIR)
        || key.ends_with(IN_PROGRESS_NAME)
}

/// A backup's id: its start time in UTC to the millisecond plus a random suffix, so ids
/// sort by start time (which `latest` relies on) and two backups started at once do not
/// collide. Format 1 ids had whole seconds (`20261124T043254Z-e098`); they stay valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupId(pub String);

impl BackupId {
    pub fn new(at: DateTime<Utc>) -> Self {
        let suffix: u16 = rand::thread_rng().gen();
        BackupId(format!("{}-{suffix:04x}", at.format("%Y%m%dT%H%M%S%3fZ")))
    }

    pub fn is_valid(text: &str) -> bool {
        let ok_chars = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        ok_chars && text.len() >= 16 && text.len() <= 64
    }
}

impl std::fmt::Display for BackupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `backups/<id>/`
pub fn backup_prefix(id: &BackupId) -> String {
    format!("{BACKUPS_DIR}{}/", id.0)
}

pub fn manifest_key(id: &BackupId) -> String {
    format!("{}{MANIFEST_NAME}", backup_prefix(id))
}

pub fn signature_key(document_key: &str) -> String {
    format!("{document_key}{SIGNATURE_SUFFIX}")
}

pub fn in_progress_key(prefix: &str) -> String {
    format!("{prefix}{IN_PROGRESS_NAME}")
}

pub fn lock_key(token: &str, generation: u32) -> String {
    format!("{LOCKS_DIR}{token}-{generation}.json")
}

/// A directory name for a database inside a backup: its position plus a readable,
/// filesystem-safe rendering of its name (database names may hold any character).
pub fn database_dir(index: usize, name: &str) -> String {
    format!("db{index:03}-{}", safe_name(name))
}

/// The file name stem of a table's data object: its position and readable name.
pub fn table_stem(index: usize, schema: &str, name: &str) -> String {
    format!("{index:05}-{}", safe_name(&format!("{schema}.{name}")))
}

/// The key of segment `n` of a stream stored under `key` (`…/x.copy.zst.age`): segment 0 is
/// `key` itself, later ones `…/x.copy.s0001.zst.age`. The manifest lists them in order.
pub fn segment_key(key: &str, n: u32) -> String {
    if n == 0 {
        return key.to_string();
    }
    match key.strip_suffix(".zst.age") {
        Some(stem) => format!("{stem}.s{n:04}.zst.age"),
        None => format!("{key}.s{n:04}"),
    }
}

fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect()
}

/// The id of a `backups/<id>/` prefix, if it is one.
pub fn backup_of_prefix(prefix: &str) -> Option<BackupId> {
    let id = prefix.strip_prefix(BACKUPS_DIR)?.strip_suffix('/')?;
    BackupId::is_valid(id).then(|| BackupId(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_parse_back() {
        let a = BackupId::new("2026-01-01T00:00:00Z".parse().unwrap());
        let b = BackupId::new("2026-01-02T00:00:00Z".parse().unwrap());
        assert!(a < b);
        // Within one second, by the millisecond, whatever the random suffixes.
        for _ in 0..50 {
            let early = BackupId::new("2026-01-01T00:00:00.001Z".parse().unwrap());
            let late = BackupId::new("2026-01-01T00:00:00.002Z".parse().unwrap());
            assert!(early < late, "{early} {late}");
        }
        assert_eq!(a.0.len(), "20260101T000000000Z-0000".len());
        assert!(BackupId::is_valid(&a.0));
        assert_eq!(backup_of_prefix(&backup_prefix(&a)), Some(a.clone()));
        assert_eq!(backup_of_prefix("backups/../"), None);
        assert_eq!(backup_of_prefix("backups/x/y/"), None);
    }

    #[test]
    fn database_dirs_are_safe() {
        assert_eq!(database_dir(0, "app"), "db000-app");
        assert_eq!(database_dir(3, "My DB/../x"), "db003-My_DB_.._x");
        assert_eq!(
            table_stem(7, "public", "Order Items"),
            "00007-public.Order_Items"
        );
    }

    #[test]
    fn segments_keep_the_extension() {
        assert_eq!(
            segment_key("db/data/1-t.copy.zst.age", 0),
            "db/data/1-t.copy.zst.age"
        );
        assert_eq!(
            segment_key("db/data/1-t.copy.zst.age", 12),
            "db/data/1-t.copy.s0012.zst.age"
        );
    }
}
