//! `lifeboat restore`: a database (or some of its tables) from a backup into a target.
//!
//! Order: pre-data schema (one transaction, through psql), rows (parallel COPY, each
//! object verified before its COPY commits), sequence values, large objects, then
//! post-data (indexes and constraints in parallel, foreign keys after the indexes).
//! Keys are checked and the target inspected before anything is written to it.

mod data;
mod ddl;
mod evidence;
mod inheritance;
mod post_data;
mod properties;
pub(crate) mod script;
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
pub use evidence::Evidence;
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
    /// With --clean: keep the replaced database (renamed) instead of dropping it.
    pub keep_old: bool,
    /// Read without taking a lock (read-only credentials): nothing stops a concurrent prune
    /// from deleting the backup meanwhile.
    pub no_lock: bool,
    /// Collects what `verify` compares: each table's row digest as loaded.
    pub evidence: Option<Arc<Evidence>>,
    /// Into an existing database: apply the backup's database properties (owner,
    /// privileges, settings…) too. A database the restore creates always gets them.
    pub database_properties: bool,
    /// A locale the target lacks: create the database with the server's default locale
    /// (with a warning) instead of failing.
    pub locale_fallback: bool,
    /// For `verify`'s scratch server: a locale, tablespace or role it lacks, or a property
    /// it cannot set, is a warning (its checks then report the difference), not a failure.
    pub best_effort_properties: bool,
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
            keep_old: false,
            no_lock: false,
            evidence: None,
            database_properties: false,
            locale_fallback: false,
            best_effort_properties: false,
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
    /// With --clean: what became of the database it replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
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
    let manifest = repo.resolve(&opts.backup).await?;
    restore_manifest(repo, &manifest, target, identities, opts).await
}

/// Restores a database of a backup already resolved and authenticated (and locked).
pub(crate) async fn restore_manifest(
    repo: &Arc<Repository>,
    manifest: &Manifest,
    target: &ConnSpec,
    identities: Vec<Identity>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let db = pick_database(manifest, opts.database.as_deref())?.clone();
    let source = Source::of_backup(repo, manifest, identities)?;
    let tables = if opts.tables.is_empty() {
        None
    } else {
        Some(select::resolve(&db, &opts.tables)?)
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
    let whole = tables.is_none() && !opts.data_only;

    // Where it goes, the database's properties checked on the target (locale before
    // anything is created, roles once the backup's are applied), then create it.
    let plan = target::decide(&maint, target, opts, whole).await?;
    let mut props = properties::PropertiesPlan::new(&db, plan.creates(), opts);
    let spec = props.create_spec(&maint, target, target_version).await?;
    if let (true, Some(globals)) = (opts.globals, manifest.globals.as_ref()) {
        script::apply_globals(&psql, target, &source, globals).await?;
    }
    props.check_roles(&maint, target).await?;
    let placement = plan.execute(&maint, target, &spec, opts.keep_old).await?;
    drop(maint);
    let into = placement.conn(target);
    let outcome = async {
        let done = run_steps(&source, &psql, &into, &db, tables.as_deref(), opts).await?;
        props
            .apply(target, &placement.database(target), target_version)
            .await?;
        Ok::<_, Error>(done)
    }
    .await;
    opts.progress.finish();
    let (restored_tables, rows, bytes, steps) = match outcome {
        Ok(done) => done,
        Err(e) => return Err(e.with_note(&placement.undo(target).await)),
    };
    // Complete: swap a staged database into place. If that fails, the complete restore
    // stays where it is and the error says how to finish.
    let replaced = placement.commit(target).await?;
    if let Some(what) = &replaced {
        tracing::info!("{what}");
    }
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
        replaced,
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
                if db.inheritance.is_empty() {
                    script::run_with_psql(psql, target, source, &db.pre_data, true).await?;
                } else {
                    let mut pre = toc::split(&source.read_text(&db.pre_data).await?);
                    inheritance_children(target, db, &mut pre).await?;
                    let name = db.pre_data.name();
                    script::run_text_with_psql(psql, target, &pre.script(), name, true).await?;
                }
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
                rows =
                    data::load_tables(source, target, &db.encoding, db.tables.clone(), opts, early)
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
            let (n, r, b) =
                restore_tables(source, target, db, names, opts, &mut lap, &mut steps).await?;
            restored_tables = n;
            rows = r;
            bytes = b;
        }
    }
    Ok((restored_tables, rows, bytes, steps))
}

/// `--table`, in phases: read and verify every object it needs, check the target, create
/// the tables (dropping existing ones with --clean) in one transaction, load rows, set
/// sequences, build indexes and constraints. Nothing is written before every object has
/// been verified, so a corrupt or missing object leaves the target as it was; a failure
/// after that drops the tables this restore created.
async fn restore_tables(
    source: &Source,
    target: &ConnSpec,
    db: &DatabaseBackup,
    names: &[QualifiedName],
    opts: &RestoreOptions,
    lap: &mut impl FnMut(&str, &mut Vec<(String, f64)>),
    steps: &mut Vec<(String, f64)>,
) -> Result<(usize, u64, u64)> {
    let jobs = opts.jobs.max(1);
    let selected = select::data_of(db, names);

    // 1. Read and verify everything first.
    let mut pre = toc::split(&source.read_text(&db.pre_data).await?);
    inheritance_children(target, db, &mut pre).await?;
    let post = toc::split(&source.read_text(&db.post_data).await?);
    let seq = source.read_text(&db.sequences).await?;
    if !opts.schema_only {
        for t in &selected {
            source.verify(&t.object).await?;
        }
    }
    lap("verify", steps);

    // 2. Check the target, writing nothing.
    let client = target.connect().await?;
    let mut missing_schemas = Vec::new();
    for n in names {
        if !target::schema_exists(&client, target, &n.schema).await?
            && !missing_schemas.contains(&n.schema)
        {
            missing_schemas.push(n.schema.clone());
        }
    }
    let mut to_drop = Vec::new();
    for n in names {
        if target::table_exists(&client, target, &n.quoted()).await? && !opts.data_only {
            if !opts.clean {
                return Err(Error::Restore(format!(
                    "table {}.{} already exists in {}; restore into another database, or \
                     pass --clean to drop it first",
                    n.schema,
                    n.name,
                    target.display()
                )));
            }
            to_drop.push(n.quoted());
        }
    }
    drop(client);
    let (pre_entries, sequences) = select::pre_data(&pre, names, &missing_schemas);

    // 3. Definitions (and the drops of --clean) in one transaction.
    if !opts.data_only {
        let mut sql = format!("{}\nBEGIN;\n", pre.preamble);
        for t in &to_drop {
            sql.push_str(&format!("DROP TABLE {t};\n"));
        }
        for e in &pre_entries {
            sql.push_str(&e.script());
        }
        sql.push_str("COMMIT;\n");
        run_sql(target, &sql, "table definitions").await?;
        lap("pre-data", steps);
    } else {
        refuse_loaded_tables(target, &selected, opts.clean).await?;
    }

    // 4. Rows, sequences, indexes and constraints; on failure, the created tables go.
    let loaded = async {
        let mut rows = 0;
        if !opts.schema_only {
            rows = data::load_tables(
                source,
                target,
                &db.encoding,
                selected.clone(),
                opts,
                ddl::EarlyDdl::default(),
            )
            .await?;
            run_sql(
                target,
                &select::sequence_values(&seq, &sequences),
                "sequence values",
            )
            .await?;
        }
        if !opts.data_only {
            let only = toc::SplitDump {
                preamble: post.preamble.clone(),
                entries: select::post_data(&post, names),
                needs_psql: false,
            };
            post_data::run(only, target, jobs).await?;
        }
        Ok::<_, Error>(rows)
    }
    .await;
    let rows = match loaded {
        Ok(rows) => rows,
        Err(e) if !opts.data_only => {
            let drops: String = names
                .iter()
                .map(|n| format!("DROP TABLE IF EXISTS {};\n", n.quoted()))
                .collect();
            let note = match run_sql(target, &drops, "dropping the partly restored tables").await {
                Ok(()) => "the tables this restore created were dropped".to_string(),
                Err(d) => format!("could not drop the partly restored tables: {d}"),
            };
            return Err(e.with_note(&note));
        }
        Err(e) => return Err(e),
    };
    lap("data and post-data", steps);
    let bytes = selected.iter().map(|t| t.object.plain_size).sum();
    Ok((names.len(), rows, bytes))
}

/// Gives the inheritance children the backup recorded their own column order (see
/// [`inheritance`]); marking what they only inherited needs a superuser.
async fn inheritance_children(
    target: &ConnSpec,
    db: &DatabaseBackup,
    pre: &mut toc::SplitDump,
) -> Result<()> {
    if db.inheritance.is_empty() {
        return Ok(());
    }
    let client = target.connect().await?;
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| target.error("cannot read the restoring role", &e))?
        .get(0);
    drop(client);
    let n = inheritance::rewrite(pre, &db.inheritance, superuser);
    if n > 0 && !superuser {
        tracing::warn!(
            tables = n,
            "inheritance children keep their column order, but without superuser their \
             inherited columns and constraints are recorded as their own: a later ALTER \
             TABLE parent DROP COLUMN keeps such a column in the child"
        );
    }
    Ok(())
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

impl Source {
    /// The objects of a backup, read with `identities` (checked to open it first) and its
    /// plaintext hashes.
    pub fn of_backup(
        repo: &Repository,
        manifest: &Manifest,
        identities: Vec<Identity>,
    ) -> Result<Source> {
        check_identities(manifest, &identities)?;
        Ok(Source {
            read: ReadSource {
                store: repo.store().clone(),
                prefix: backup_prefix(&BackupId(manifest.id.clone())),
                hasher: plain_hasher(manifest, &identities)?,
                identities: Arc::new(identities),
            },
        })
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
