//! The backup manifest: a versioned JSON document, written last and signed, that names every
//! object of a backup with its size and checksums. A backup without a manifest does not
//! exist. Documented field by field in docs/repository-format.md.
//!
//! Format 2 is the one written. Format 1 manifests (lifeboat 0.1 before signing) are read
//! through [`v1`] and converted, so old backups still restore.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::database::{
    DatabaseGrant, DatabasePrivilege, DatabaseProperties, Generated, InheritedCheck,
    InheritedColumn, InheritedTable, LocaleProvider, QualifiedRef, RoleSetting, SecurityLabel,
    Setting,
};
use crate::error::{Error, Result};

/// The newest manifest and descriptor format this lifeboat reads and the one it writes.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub id: String,
    pub lifeboat_version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub source: SourceInfo,
    pub compression: Compression,
    pub encryption: Encryption,
    /// How plaintext hashes were made, and the key (sealed) when they are keyed.
    pub plain_hash: PlainHashScheme,
    /// Roles and tablespaces (`pg_dumpall --globals-only`), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<ObjectStats>,
    pub databases: Vec<DatabaseBackup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `user@host:port/db` of the connection used; never a password.
    pub server: String,
    pub server_version: String,
    pub server_version_num: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compression {
    pub algorithm: String,
    pub level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Encryption {
    pub algorithm: String,
    pub recipient_fingerprints: Vec<String>,
}

/// `blake3-keyed` (format 2: the key, 32 bytes, is an ASCII-armored age file encrypted to
/// the backup's recipients) or `blake3` (format 1, unkeyed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlainHashScheme {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

pub const KEYED_BLAKE3: &str = "blake3-keyed";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseBackup {
    pub name: String,
    /// Directory of this database's objects, relative to the backup.
    pub dir: String,
    pub encoding: String,
    /// The consistent point: every object of this database was read in one snapshot,
    /// exported at this time.
    pub consistent_at: DateTime<Utc>,
    pub pg_dump_version: u32,
    /// Schema before data (types, tables, functions…), as `pg_dump --section=pre-data` SQL.
    pub pre_data: ObjectStats,
    /// Schema after data (indexes, constraints, triggers…), `--section=post-data` SQL.
    pub post_data: ObjectStats,
    /// `SELECT setval(…)` for every sequence, as of the snapshot.
    pub sequences: ObjectStats,
    /// Large objects' contents as SQL (pg_dump data section restricted to large objects).
    pub large_objects: ObjectStats,
    pub tables: Vec<TableData>,
    /// The database's own properties (owner, locale, grants, settings…); absent in backups
    /// made before lifeboat recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<DatabaseProperties>,
    /// Inheritance children whose column order pg_dump's SQL would not reproduce.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inheritance: Vec<InheritedTable>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableData {
    pub schema: String,
    pub name: String,
    /// Columns in COPY order (generated columns excluded: the server recomputes them).
    pub columns: Vec<String>,
    /// Heap block range `[start, end)` when a large table was split; `end` absent = to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<BlockRange>,
    pub rows: u64,
    pub object: ObjectStats,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockRange {
    pub start: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
}

/// One stream of a backup (a table's rows, a schema section…): the stored objects it was
/// written as, in order, and its plaintext's size and hash. A stream is one object unless it
/// outgrew the segment size; each segment is a complete age file over complete zstd frames,
/// so decrypting the segments in order and concatenating gives one zstd stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectStats {
    pub parts: Vec<StoredObject>,
    pub plain_size: u64,
    /// Hex BLAKE3 of the plaintext, keyed as the manifest's `plain_hash` says.
    pub plain_hash: String,
}

/// One stored (encrypted) object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredObject {
    /// Key relative to the backup's directory.
    pub key: String,
    /// Size and SHA-256 of the stored bytes: `sha256sum` checks them by hand.
    pub size: u64,
    pub sha256: String,
}

impl ObjectStats {
    /// How messages name the stream: its first object's key.
    pub fn name(&self) -> &str {
        self.parts
            .first()
            .map_or("(empty stream)", |p| p.key.as_str())
    }

    pub fn stored_size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
}

impl TableData {
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            crate::postgres::quote_ident(&self.schema),
            crate::postgres::quote_ident(&self.name)
        )
    }

    /// `schema.name` as users type it on the command line.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

impl Manifest {
    /// Parses a manifest of any format this lifeboat reads, checking that it belongs to the
    /// backup directory it was read from.
    pub fn parse(id: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt {
            object: format!("manifest of backup {id}"),
            reason,
        };
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
            #[serde(default)]
            lifeboat_version: String,
        }
        let v: Version = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a valid manifest: {e}")))?;
        let m = match v.format_version {
            1 => v1::parse(bytes).map_err(|e| corrupt(format!("not a valid manifest: {e}")))?,
            FORMAT_VERSION => serde_json::from_slice::<Manifest>(bytes)
                .map_err(|e| corrupt(format!("not a valid manifest: {e}")))?,
            newer if newer > FORMAT_VERSION => {
                return Err(Error::Backup(format!(
                    "{id} was written in repository format {newer} by a newer lifeboat ({}); \
                     upgrade lifeboat to read it",
                    v.lifeboat_version
                )))
            }
            other => return Err(corrupt(format!("unknown format version {other}"))),
        };
        if m.id != id {
            return Err(corrupt(format!(
                "it names backup {}: a manifest moved from another backup is not accepted",
                m.id
            )));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data structures cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn database(&self, name: &str) -> Result<&DatabaseBackup> {
        self.databases
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.databases.iter().map(|d| d.name.as_str()).collect();
                Error::Restore(format!(
                    "backup {} has no database `{name}`; it holds: {}",
                    self.id,
                    names.join(", ")
                ))
            })
    }

    /// Stored bytes of every object in the backup.
    pub fn stored_size(&self) -> u64 {
        self.streams().map(|o| o.stored_size()).sum()
    }

    pub fn plain_size(&self) -> u64 {
        self.streams().map(|o| o.plain_size).sum()
    }

    /// Every stream the backup consists of.
    pub fn streams(&self) -> impl Iterator<Item = &ObjectStats> {
        self.globals
            .iter()
            .chain(self.databases.iter().flat_map(|d| d.streams()))
    }

    /// Every stored object, with keys relative to the backup's directory.
    pub fn objects(&self) -> impl Iterator<Item = &StoredObject> {
        self.streams().flat_map(|s| s.parts.iter())
    }

    /// The newest consistent point of its databases.
    pub fn consistent_at(&self) -> DateTime<Utc> {
        self.databases
            .iter()
            .map(|d| d.consistent_at)
            .max()
            .unwrap_or(self.started_at)
    }
}

impl DatabaseBackup {
    pub fn streams(&self) -> impl Iterator<Item = &ObjectStats> {
        [
            &self.pre_data,
            &self.post_data,
            &self.sequences,
            &self.large_objects,
        ]
        .into_iter()
        .chain(self.tables.iter().map(|t| &t.object))
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Format 1 (read only): one object per stream, unkeyed BLAKE3, no signature.
mod v1 {
    use super::*;

    #[derive(Deserialize)]
    struct ManifestV1 {
        format: String,
        format_version: u32,
        id: String,
        lifeboat_version: String,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        source: SourceInfo,
        compression: Compression,
        encryption: Encryption,
        #[serde(default)]
        globals: Option<ObjectV1>,
        databases: Vec<DatabaseV1>,
    }

    #[derive(Deserialize)]
    struct DatabaseV1 {
        name: String,
        dir: String,
        encoding: String,
        consistent_at: DateTime<Utc>,
        pg_dump_version: u32,
        pre_data: ObjectV1,
        post_data: ObjectV1,
        sequences: ObjectV1,
        large_objects: ObjectV1,
        tables: Vec<TableV1>,
    }

    #[derive(Deserialize)]
    struct TableV1 {
        schema: String,
        name: String,
        columns: Vec<String>,
        #[serde(default)]
        blocks: Option<BlockRange>,
        rows: u64,
        object: ObjectV1,
    }

    #[derive(Deserialize)]
    struct ObjectV1 {
        key: String,
        size: u64,
        sha256: String,
        plain_size: u64,
        plain_blake3: String,
    }

    impl From<ObjectV1> for ObjectStats {
        fn from(o: ObjectV1) -> Self {
            ObjectStats {
                parts: vec![StoredObject {
                    key: o.key,
                    size: o.size,
                    sha256: o.sha256,
                }],
                plain_size: o.plain_size,
                plain_hash: o.plain_blake3,
            }
        }
    }

    pub(super) fn parse(bytes: &[u8]) -> serde_json::Result<Manifest> {
        let m: ManifestV1 = serde_json::from_slice(bytes)?;
        Ok(Manifest {
            format: m.format,
            format_version: m.format_version,
            id: m.id,
            lifeboat_version: m.lifeboat_version,
            started_at: m.started_at,
            finished_at: m.finished_at,
            source: m.source,
            compression: m.compression,
            encryption: m.encryption,
            plain_hash: PlainHashScheme {
                algorithm: "blake3".into(),
                key: None,
            },
            globals: m.globals.map(Into::into),
            databases: m
                .databases
                .into_iter()
                .map(|d| DatabaseBackup {
                    name: d.name,
                    dir: d.dir,
                    encoding: d.encoding,
                    consistent_at: d.consistent_at,
                    pg_dump_version: d.pg_dump_version,
                    pre_data: d.pre_data.into(),
                    post_data: d.post_data.into(),
                    sequences: d.sequences.into(),
                    large_objects: d.large_objects.into(),
                    tables: d
                        .tables
                        .into_iter()
                        .map(|t| TableData {
                            schema: t.schema,
                            name: t.name,
                            columns: t.columns,
                            blocks: t.blocks,
                            rows: t.rows,
                            object: t.object.into(),
                        })
                        .collect(),
                    properties: None,
                    inheritance: Vec::new(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{
      "format": "lifeboat-backup", "format_version": 1, "id": "20260101T000000Z-abcd",
      "lifeboat_version": "0.1.0", "started_at": "2026-01-01T00:00:00Z",
      "finished_at": "2026-01-01T00:00:05Z",
      "source": {"server": "postgres@db:5432/postgres", "server_version": "15.1", "server_version_num": 150001},
      "compression": {"algorithm": "zstd", "level": 3},
      "encryption": {"algorithm": "age-x25519", "recipient_fingerprints": ["sha256:00"]},
      "databases": [{
        "name": "app", "dir": "db000-app", "encoding": "UTF8",
        "consistent_at": "2026-01-01T00:00:01Z", "pg_dump_version": 15,
        "pre_data": {"key": "db000-app/pre-data.sql.zst.age", "size": 10, "sha256": "aa", "plain_size": 5, "plain_blake3": "bb"},
        "post_data": {"key": "db000-app/post-data.sql.zst.age", "size": 10, "sha256": "aa", "plain_size": 5, "plain_blake3": "bb"},
        "sequences": {"key": "db000-app/sequences.sql.zst.age", "size": 10, "sha256": "aa", "plain_size": 5, "plain_blake3": "bb"},
        "large_objects": {"key": "db000-app/large-objects.sql.zst.age", "size": 10, "sha256": "aa", "plain_size": 5, "plain_blake3": "bb"},
        "tables": [{"schema": "public", "name": "t", "columns": ["a"], "rows": 3,
                    "object": {"key": "db000-app/data/00000-public.t.copy.zst.age", "size": 7, "sha256": "cc", "plain_size": 6, "plain_blake3": "dd"}}]
      }]
    }"#;

    #[test]
    fn format_1_is_read_and_converted() {
        let m = Manifest::parse("20260101T000000Z-abcd", V1.as_bytes()).unwrap();
        assert_eq!(m.format_version, 1);
        assert_eq!(m.plain_hash.algorithm, "blake3");
        let t = &m.databases[0].tables[0].object;
        assert_eq!(t.parts.len(), 1);
        assert_eq!(t.parts[0].key, "db000-app/data/00000-public.t.copy.zst.age");
        assert_eq!(t.plain_hash, "dd");
        assert_eq!(m.stored_size(), 47);
    }

    #[test]
    fn a_manifest_must_name_its_own_backup() {
        let err = Manifest::parse("20260202T000000Z-ffff", V1.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("moved from another backup"),
            "{err}"
        );
    }

    #[test]
    fn newer_formats_are_refused() {
        let newer = V1.replace("\"format_version\": 1", "\"format_version\": 9");
        let err = Manifest::parse("20260101T000000Z-abcd", newer.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("upgrade lifeboat"), "{err}");
    }
}
