//! `lifeboat restore`: a database (or some of its tables) from a backup into a target.
//!
//! Order: pre-data schema (one transaction, through psql), rows (parallel COPY, each
//! object verified before its COPY commits), sequence values, large objects, then
//! post-data (indexes and constraints in parallel, foreign keys after the indexes).
//! Keys are checked and the target inspected before anything is written to it.

mod data;
mod ddl;
mod post_data;
mod script;
mod select;
mod target;

use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::{self, Identity, PlainHasher};
use crate::error::{Error, Result};
use crate::pipeline::ReadSource;
use crate::postgres::toc::{self, QualifiedName};
use crate::postgres::{self, ConnSpec, PgTools};
use crate::repository::lock::{LockKind, LockOptions};
use crate::repository::manifest::{DatabaseBackup, Manifest, KEYED_BLAKE3};
use crate::repository::{backup_prefix, BackupId, Repository};
pub use script::Source;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// A backup id, a unique prefix of one, or `latest`.
    pub backup: String,
    /// Database of the backup to restore; may be omitted when the backup holds one.
    pub database: Option<String>,
    pub create: bool,
    pub clean: bool,
    pub tables: Vec<String>,
    pub schema_only: bool,
    pub data_only: bool,
    /// Parallel connections, at least 1; default one per core, at least 2.
    pub jobs: usize,
    pub allow_older_target: bool,
    /// Apply the backup's roles and tablespaces to the target cluster first.
    pub globals: bool,
    pub pg_bin_dir: Option<std::path::PathBuf>,
    pub progress: crate::progress::Progress,
    /// How long to wait for an exclusive lock (a prune) to go away.
    pub lock: LockOptions,
    /// Read without taking a lock (read-only credentials): nothing stops a concurrent prune
    /// from deleting the backup meanwhile.
    pub no_lock: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            backup: String::new(),
            database: None,
            create: false,
            clean: false,
            tables: Vec::new(),
            schema_only: false,
            data_only: false,
            jobs: crate::config::default_jobs(),
            allow_older_target: false,
            globals: false,
            pg_bin_dir: None,
            progress: crate::progress::Progress::default(),
            lock: LockOptions::default(),
            no_lock: false,
        }
    }
}

impl RestoreOptions {
    /// Checks the options before anything is read or touched.
    pub fn validate(&self) -> Result<()> {
        crate::config::check_jobs(self.jobs)?;
        if self.schema_only && self.data_only {
            return Err(Error::config(
                "--schema-only and --data-only exclude each other",
            ));
        }
        Ok(())
    }
}

/// What a restore did and how long each step took: the RTO evidence.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup: String,
    pub database: String,
    pub target: String,
    pub consistent_at: chrono::DateTime<chrono::Utc>,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub steps: Vec<(String, f64)>,
    pub seconds: f64,
}

pub async fn restore(
    repo: Arc<Repository>,
    target: &ConnSpec,
    identities: Vec<Identity>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    opts.validate()?;
    repo.require_trust()?;
    repo.descriptor().await?;
    let lock = if opts.no_lock {
        None
    } else {
        Some(repo.lock(LockKind::Shared, "restore", opts.lock).await?)
    };
    let result = restore_locked(&repo, target, identities, opts).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

/// The restore proper: resolve and authenticate the backup, check keys and target, then
/// load. Nothing is written to the target before the backup's signature and the keys are
/// checked.
async fn restore_locked(
    repo: &Arc<Repository>,
    target: &ConnSpec,
    identities: Vec<Identity>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let manifest = repo.resolve(&opts.backup).await?;
    let db = pick_database(&manifest, opts.database.as_deref())?.clone();
    check_identities(&manifest, &identities)?;
    let hasher = plain_hasher(&manifest, &identities)?;
    let tables = if opts.tables.is_empty() {
        None
    } else {
        Some(select::resolve(&db, &opts.tables)?)
    };
    let source = Source {
        read: ReadSource {
            store: repo.store().clone(),
            prefix: backup_prefix(&BackupId(manifest.id.clone())),
            identities: Arc::new(identities),
            hasher,
        },
    };
    let psql = PgTools::new(opts.pg_bin_dir.clone()).newest("psql")?;

    // Inspect and prepare the target before any object is read into it.
    let maint = target::maintenance(target).await?;
    let target_version = postgres::server_version_num(&maint, target).await?;
    target::check_versions(
        manifest.source.server_version_num,
        target_version,
        target,
        opts.allow_older_target,
    )?;
    if opts.globals && manifest.globals.is_none() {
        return Err(Error::Restore(format!(
            "backup {} holds no roles or tablespaces (back up with --globals)",
            manifest.id
        )));
    }
    let name = target.dbname().to_string();
    let whole = tables.is_none() && !opts.data_only;
    let mut created = false;
    if opts.create {
        target::create_database(&maint, target, &name, &db.encoding, opts.clean).await?;
        created = true;
    } else if !target::database_exists(&maint, target, &name).await? {
        return Err(Error::Restore(format!(
            "database `{name}` does not exist on {}; add --create to create it",
            target.display()
        )));
    } else if whole {
        let client = target.connect().await?;
        let n = target::user_object_count(&client, target).await?;
        drop(client);
        if n > 0 {
            if !opts.clean {
                return Err(Error::Restore(format!(
                    "target database {} is not empty ({n} objects); restore into a new database \
                     with --create, or pass --clean to drop and recreate it",
                    target.display()
                )));
            }
            target::create_database(&maint, target, &name, &db.encoding, true).await?;
            created = true;
        }
    }

    drop(maint);
    let outcome = async {
        if let (true, Some(globals)) = (opts.globals, manifest.globals.as_ref()) {
            script::apply_globals(&psql, target, &source, globals).await?;
        }
        run_steps(&source, &psql, target, &db, tables.as_deref(), opts).await
    }
    .await;
    opts.progress.finish();
    let (restored_tables, rows, bytes, steps) = match outcome {
        Ok(done) => done,
        Err(e) if created => {
            // Nothing half-written: a database this restore created goes away with it. A
            // new maintenance connection: the restore may have run for hours.
            let dropped = match target::maintenance(target).await {
                Ok(maint) => target::drop_database(&maint, target, &name).await,
                Err(e) => Err(e),
            };
            let note = match dropped {
                Ok(()) => format!("the partially restored database `{name}` was dropped"),
                Err(d) => format!("could not drop the partially restored database `{name}`: {d}"),
            };
            return Err(e.with_note(&note));
        }
        Err(e) => {
            // Tables load in their own transactions: what loaded before the failure stays.
            return Err(e.with_note(&format!(
                "`{name}` existed before this restore and was not dropped: it may hold part of \
                 the restore; rerun with --clean to replace it"
            )));
        }
    };
    Ok(RestoreReport {
        backup: manifest.id.clone(),
        database: db.name.clone(),
        target: target.display(),
        consistent_at: db.consistent_at,
        tables: restored_tables,
        rows,
        bytes,
        steps,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type StepsDone = (usize, u64, u64, Vec<(String, f64)>);

async fn run_steps(
    source: &Source,
    psql: &crate::postgres::PgTool,
    target: &ConnSpec,
    db: &DatabaseBackup,
    tables: Option<&[QualifiedName]>,
    opts: &RestoreOptions,
) -> Result<StepsDone> {
    let jobs = opts.jobs;
    let mut steps = Vec::new();
    let mut step_start = Instant::now();
    let mut lap = |label: &str, steps: &mut Vec<(String, f64)>| {
        steps.push((label.to_string(), step_start.elapsed().as_secs_f64()));
        step_start = Instant::now();
    };
    let rows;
    let restored_tables;
    let bytes;
    match tables {
        None => {
            if !opts.data_only {
                script::run_with_psql(psql, target, source, &db.pre_data, true).await?;
                lap("pre-data", &mut steps);
            }
            if opts.data_only {
                refuse_loaded_tables(target, &db.tables, opts.clean).await?;
            }
            // Post-data is read first so each table's indexes can follow its rows at once.
            let mut post = if opts.data_only {
                None
            } else {
                Some(toc::split(&source.read_text(&db.post_data).await?))
            };
            if !opts.schema_only {
                let early = match post.as_mut() {
                    Some(p) if !p.needs_psql => {
                        let names = db
                            .tables
                            .iter()
                            .map(|t| QualifiedName::new(&t.schema, &t.name))
                            .collect();
                        post_data::take_early(p, &names)
                    }
                    _ => ddl::EarlyDdl::default(),
                };
                rows = data::load_tables(
                    source,
                    target,
                    &db.encoding,
                    db.tables.clone(),
                    jobs,
                    &opts.progress,
                    early,
                )
                .await?;
                lap("data and table indexes", &mut steps);
                let seq = source.read_text(&db.sequences).await?;
                run_sql(target, &seq, "sequence values").await?;
                script::run_with_psql(psql, target, source, &db.large_objects, true).await?;
                lap("sequences and large objects", &mut steps);
            } else {
                rows = 0;
            }
            if let Some(post) = post {
                if post.needs_psql {
                    script::run_with_psql(psql, target, source, &db.post_data, true).await?;
                } else {
                    post_data::run(post, target, jobs).await?;
                }
                lap("post-data", &mut steps);
            }
            restored_tables = db
                .tables
                .iter()
                .map(|t| t.display_name())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            bytes = db.tables.iter().map(|t| t.object.plain_size).sum();
        }
        Some(names) => {
            let pre = toc::split(&source.read_text(&db.pre_data).await?);
            let client = target.connect().await?;
            let mut missing_schemas = Vec::new();
            for n in names {
                if !target::schema_exists(&client, target, &n.schema).await?
                    && !missing_schemas.contains(&n.schema)
                {
                    missing_schemas.push(n.schema.clone());
                }
            }
            let (pre_entries, sequences) = select::pre_data(&pre, names, &missing_schemas);
            for n in names {
                if target::table_exists(&client, target, &n.quoted()).await? && !opts.data_only {
                    if !opts.clean {
                        return Err(Error::Restore(format!(
                            "table {}.{} already exists in {}; restore into another database, \
                             or pass --clean to drop it first",
                            n.schema,
                            n.name,
                            target.display()
                        )));
                    }
                    run_sql(
                        target,
                        &format!("DROP TABLE {}", n.quoted()),
                        "dropping the table",
                    )
                    .await?;
                }
            }
            drop(client);
            let selected = select::data_of(db, names);
            if !opts.data_only {
                let mut sql = format!("{}\nBEGIN;\n", pre.preamble);
                for e in &pre_entries {
                    sql.push_str(&e.script());
                }
                sql.push_str("COMMIT;\n");
                run_sql(target, &sql, "table definitions").await?;
                lap("pre-data", &mut steps);
            } else {
                refuse_loaded_tables(target, &selected, opts.clean).await?;
            }
            if !opts.schema_only {
                rows = data::load_tables(
                    source,
                    target,
                    &db.encoding,
                    selected.clone(),
                    jobs,
                    &opts.progress,
                    ddl::EarlyDdl::default(),
                )
                .await?;
                let seq = source.read_text(&db.sequences).await?;
                run_sql(
                    target,
                    &select::sequence_values(&seq, &sequences),
                    "sequence values",
                )
                .await?;
                lap("data", &mut steps);
            } else {
                rows = 0;
            }
            if !opts.data_only {
                let post = toc::split(&source.read_text(&db.post_data).await?);
                let entries = select::post_data(&post, names);
                let only = toc::SplitDump {
                    preamble: post.preamble.clone(),
                    entries,
                    needs_psql: false,
                };
                post_data::run(only, target, jobs).await?;
                lap("post-data", &mut steps);
            }
            restored_tables = names.len();
            bytes = selected.iter().map(|t| t.object.plain_size).sum();
        }
    }
    Ok((restored_tables, rows, bytes, steps))
}

fn pick_database<'a>(manifest: &'a Manifest, wanted: Option<&str>) -> Result<&'a DatabaseBackup> {
    match wanted {
        Some(name) => manifest.database(name),
        None if manifest.databases.len() == 1 => Ok(&manifest.databases[0]),
        None => {
            let names: Vec<&str> = manifest.databases.iter().map(|d| d.name.as_str()).collect();
            Err(Error::config(format!(
                "backup {} holds several databases ({}); choose one with --database",
                manifest.id,
                names.join(", ")
            )))
        }
    }
}

/// How this backup's plaintext hashes are checked: format 2 keys them with a key only the
/// recipients can open.
pub fn plain_hasher(manifest: &Manifest, identities: &[Identity]) -> Result<PlainHasher> {
    match (&manifest.plain_hash.algorithm[..], &manifest.plain_hash.key) {
        ("blake3", None) => Ok(PlainHasher::Blake3),
        (KEYED_BLAKE3, Some(sealed)) => PlainHasher::open(sealed, identities, &manifest.id),
        (other, _) => Err(Error::Corrupt {
            object: format!("manifest of backup {}", manifest.id),
            reason: format!("unknown plaintext hash `{other}`"),
        }),
    }
}

/// Fails before the target is touched if no identity can open this backup.
pub fn check_identities(manifest: &Manifest, identities: &[Identity]) -> Result<()> {
    let have = crypto::identity_fingerprints(identities);
    let wanted = &manifest.encryption.recipient_fingerprints;
    if have.iter().any(|f| wanted.contains(f)) {
        return Ok(());
    }
    Err(Error::Key(format!(
        "the identity given ({}) is not a recipient of backup {} (its recipients: {}); use the \
         private key matching one of them",
        have.join(", "),
        manifest.id,
        wanted.join(", ")
    )))
}

async fn run_sql(target: &ConnSpec, sql: &str, what: &str) -> Result<()> {
    if sql.trim().is_empty() {
        return Ok(());
    }
    let client = target.connect().await?;
    client
        .batch_execute(sql)
        .await
        .map_err(|e| Error::Restore(format!("{what}: {}", target.error("failed", &e))))
}

/// A data-only restore adds rows: refuse tables that already hold some, unless --clean
/// (which empties them first).
async fn refuse_loaded_tables(
    target: &ConnSpec,
    tables: &[crate::manifest::TableData],
    clean: bool,
) -> Result<()> {
    let client = target.connect().await?;
    let mut seen = std::collections::BTreeSet::new();
    for t in tables {
        if !seen.insert(t.qualified()) {
            continue;
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM ONLY {})", t.qualified());
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| target.error(&format!("cannot read {}", t.display_name()), &e))?;
        if row.get::<_, bool>(0) {
            if !clean {
                return Err(Error::Restore(format!(
                    "table {} in {} already holds rows; pass --clean to empty it first",
                    t.display_name(),
                    target.display()
                )));
            }
            client
                .batch_execute(&format!("TRUNCATE ONLY {}", t.qualified()))
                .await
                .map_err(|e| target.error(&format!("cannot empty {}", t.display_name()), &e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RestoreOptions;

    #[test]
    fn options_are_checked_before_anything_is_touched() {
        assert!(RestoreOptions::default().jobs >= 1);
        assert!(RestoreOptions::default().validate().is_ok());
        let zero = RestoreOptions {
            jobs: 0,
            ..Default::default()
        };
        let err = zero.validate().unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (2, "configuration: jobs must be at least 1".to_string())
        );
        let both = RestoreOptions {
            schema_only: true,
            data_only: true,
            ..Default::default()
        };
        assert_eq!(both.validate().unwrap_err().exit_code(), 2);
    }
}
