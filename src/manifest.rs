//! The backup manifest: a versioned JSON document, written last, that names every object of
//! a backup with its size and checksums. A backup without a manifest does not exist.
//! Documented field by field in docs/repository-format.md.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pipeline::ObjectStats;
use crate::repository::FORMAT_VERSION;

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
    pub fn parse(id: &str, bytes: &[u8]) -> Result<Self> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            object: format!("manifest of backup {id}"),
            reason: format!("not a valid manifest: {e}"),
        })?;
        if m.format_version > FORMAT_VERSION {
            return Err(Error::Backup(format!(
                "{id} was written in repository format {} by a newer lifeboat ({}); upgrade \
                 lifeboat to read it",
                m.format_version, m.lifeboat_version
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
        self.objects().map(|o| o.size).sum()
    }

    pub fn plain_size(&self) -> u64 {
        self.objects().map(|o| o.plain_size).sum()
    }

    /// Every object the backup consists of, with the directory each key is relative to.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectStats> {
        self.globals
            .iter()
            .chain(self.databases.iter().flat_map(|d| d.objects()))
    }
}

impl DatabaseBackup {
    pub fn objects(&self) -> impl Iterator<Item = &ObjectStats> {
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
