//! `lifeboat backup`: a consistent logical backup of each selected database.
//!
//! Per database: one exported snapshot; schema as pg_dump's pre-data and post-data SQL;
//! rows through parallel `COPY … TO STDOUT` workers sharing the snapshot, big tables split
//! in block ranges; sequence values and large objects; each stream compressed and encrypted
//! on its way to the repository. The manifest is written last.

mod catalog;
mod copy_out;
mod inheritance;
mod options;
mod pgdump;
mod plan;
mod properties;
mod session;

pub use copy_out::column_list;
pub use inheritance::dump_order;
pub use options::{BackupOptions, Tuning};
pub use plan::DEFAULT_SPLIT_BYTES;
pub use properties::database_properties;
pub use session::reader_settings;

use crate::postgres::wire::WireSession;
use chrono::Utc;
use std::sync::Arc;
use tokio_postgres::Client;

use crate::config::SourceSettings;
use crate::crypto::{self, PlainHasher};
use crate::error::{Error, Result, ToolFailure};
use crate::pipeline::{ObjectStats, ObjectWriter, WriteTarget};
use crate::pool;
use crate::postgres::{self, ConnSpec, PgTool, PgTools};
use crate::progress::Progress;
use crate::repository::layout::{database_dir, table_stem, MANIFEST_NAME};
use crate::repository::lock::LockKind;
use crate::repository::manifest::{
    Compression, DatabaseBackup, Encryption, Manifest, PlainHashScheme, SourceInfo, TableData,
    KEYED_BLAKE3,
};
use crate::repository::{backup_prefix, BackupId, Repository};
use plan::{Section, WorkItem};

/// Everything a database's workers share.
struct DbContext {
    target: WriteTarget,
    dir: String,
    conn: ConnSpec,
    version_num: u32,
    snapshot: String,
    encoding: String,
    pg_dump: PgTool,
    lock_timeout_secs: u64,
    progress: Progress,
}

impl DbContext {
    fn writer(&self, key: String) -> ObjectWriter {
        ObjectWriter::start(&self.target, key)
    }
}

enum Outcome {
    Schema(Section, ObjectStats),
    LargeObjects(ObjectStats),
    Table(usize, Option<usize>, TableData),
}

/// What the source server is and what will be dumped from it.
struct SourcePlan {
    started_at: chrono::DateTime<Utc>,
    version_num: u32,
    server_version: String,
    databases: Vec<String>,
    pg_dump: PgTool,
    pg_dumpall: Option<PgTool>,
}

/// `lifeboat backup`, in phases: inspect the source, check the repository can be written,
/// take the shared lock, then clean up, dump and commit.
pub async fn backup(repo: Arc<Repository>, opts: BackupOptions) -> Result<Manifest> {
    opts.validate()?;
    let plan = inspect_source(&opts.source).await?;
    repo.descriptor_for_write().await?;
    let lock = repo.lock(LockKind::Shared, "backup", opts.lock).await?;
    let result = run_backup(&repo, &opts, &plan).await;
    lock.release().await;
    result
}

async fn inspect_source(source: &SourceSettings) -> Result<SourcePlan> {
    let started_at = Utc::now();
    let admin = source.conn.connect().await?;
    let version_num = postgres::server_version_num(&admin, &source.conn).await?;
    postgres::check_supported(version_num, &source.conn, false)?;
    let major = postgres::major_of(version_num);
    let server_version: String = admin
        .query_one("SHOW server_version", &[])
        .await
        .map_err(|e| source.conn.error("cannot read server version", &e))?
        .get(0);
    let databases = select_databases(&admin, source).await?;
    drop(admin);

    let tools = PgTools::new(source.pg_bin_dir.clone());
    let pg_dump = tools.at_least("pg_dump", major)?;
    let pg_dumpall = if source.globals {
        Some(tools.at_least("pg_dumpall", major)?)
    } else {
        None
    };
    Ok(SourcePlan {
        started_at,
        version_num,
        server_version,
        databases,
        pg_dump,
        pg_dumpall,
    })
}

/// The backup proper, under the shared lock: clean up, begin, dump, commit.
async fn run_backup(
    repo: &Arc<Repository>,
    opts: &BackupOptions,
    plan: &SourcePlan,
) -> Result<Manifest> {
    let source = &opts.source;
    let removed = repo.cleanup_incomplete().await?;
    if !removed.is_empty() {
        tracing::info!(count = removed.len(), "cleaned up interrupted backups");
    }

    opts.cancel.check()?;
    let id = BackupId::new(plan.started_at);
    let tx = repo.begin(backup_prefix(&id), &id.0).await?;
    tracing::info!(backup = %id, repository = %repo.name(), databases = plan.databases.len(), "backup started");
    let hasher = PlainHasher::generate();
    let target = WriteTarget {
        store: repo.store().clone(),
        prefix: tx.prefix().to_string(),
        recipients: Arc::new(opts.recipients.clone()),
        hasher: hasher.clone(),
        opts: opts.encode.clone(),
        cancel: opts.cancel.clone(),
    };

    let work = async {
        let globals = match &plan.pg_dumpall {
            Some(tool) => Some(dump_globals(&target, opts, tool).await?),
            None => None,
        };
        let mut dbs = Vec::new();
        for (i, name) in plan.databases.iter().enumerate() {
            let ctx = DbContext {
                target: target.clone(),
                dir: database_dir(i, name),
                conn: source.conn.with_database(name),
                version_num: plan.version_num,
                snapshot: String::new(),
                encoding: String::new(),
                pg_dump: plan.pg_dump.clone(),
                lock_timeout_secs: source.lock_timeout_secs,
                progress: opts.progress.clone(),
            };
            opts.progress.set_message(&format!("backing up {name}"));
            dbs.push(dump_database(ctx, name, source.jobs, opts.split_bytes).await?);
        }
        Ok(Manifest {
            format: "lifeboat-backup".into(),
            format_version: crate::repository::FORMAT_VERSION,
            id: id.0.clone(),
            lifeboat_version: env!("CARGO_PKG_VERSION").into(),
            started_at: plan.started_at,
            finished_at: Utc::now(),
            source: SourceInfo {
                server: source.conn.display(),
                server_version: plan.server_version.clone(),
                server_version_num: plan.version_num,
            },
            compression: Compression {
                algorithm: "zstd".into(),
                level: opts.encode.zstd_level,
            },
            encryption: Encryption {
                algorithm: "age-x25519".into(),
                recipient_fingerprints: opts.recipients.iter().map(crypto::fingerprint).collect(),
            },
            plain_hash: PlainHashScheme {
                algorithm: KEYED_BLAKE3.into(),
                key: hasher.seal(&opts.recipients)?,
            },
            globals,
            databases: dbs,
        })
    };
    let result = until_cancelled(&opts.cancel, work).await;

    opts.progress.finish();
    // The manifest is the commit point: written last (signed), once every object is
    // complete and seen in the repository, and only while our marker is fresh.
    let manifest = match result {
        Ok(manifest) => {
            tx.commit(MANIFEST_NAME, manifest.to_json(), manifest.objects())
                .await?;
            manifest
        }
        Err(e) => {
            tx.abort().await;
            return Err(e);
        }
    };
    tracing::info!(
        backup = %id,
        stored_bytes = manifest.stored_size(),
        seconds = (manifest.finished_at - manifest.started_at).num_milliseconds() as f64 / 1000.0,
        "backup complete"
    );
    Ok(manifest)
}

/// How long the backup's writers get to notice a cancellation themselves (at their next
/// write, abandoning their uploads) before the whole dump is dropped: a phase that writes
/// nothing (waiting for a table lock) must not hold the stop up.
const CANCEL_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the dump; once cancelled, any failure it ends with is reported as the
/// cancellation (its writers fail with "upload aborted" and the like).
async fn until_cancelled(
    cancel: &crate::cancel::Cancel,
    work: impl std::future::Future<Output = Result<Manifest>>,
) -> Result<Manifest> {
    let result = tokio::select! {
        result = work => result,
        _ = cancel.cancelled_for(CANCEL_BACKSTOP) => Err(cancel.error()),
    };
    match result {
        Err(_) if cancel.is_cancelled() => Err(cancel.error()),
        other => other,
    }
}

async fn select_databases(admin: &Client, source: &SourceSettings) -> Result<Vec<String>> {
    let existing = postgres::list_databases(admin, &source.conn).await?;
    if source.databases.is_empty() {
        return Ok(existing);
    }
    for d in &source.databases {
        if !existing.contains(d) {
            return Err(Error::Postgres {
                target: source.conn.display(),
                reason: format!(
                    "database `{d}` does not exist (or does not accept connections); it has: {}",
                    existing.join(", ")
                ),
            });
        }
    }
    Ok(source.databases.clone())
}

async fn dump_globals(
    target: &WriteTarget,
    opts: &BackupOptions,
    tool: &PgTool,
) -> Result<ObjectStats> {
    let key = "globals.sql.zst.age".to_string();
    let conn = &opts.source.conn;
    let mut args = vec![
        format!("--dbname={}", conn.libpq_conninfo()),
        "--globals-only".into(),
        "--no-password".into(),
    ];
    let writer = |args: &[String]| {
        let w = ObjectWriter::start(target, key.clone());
        let args = args.to_vec();
        async move { pgdump::stream_tool(tool, conn, &args, w).await }
    };
    match writer(&args).await {
        Ok(stats) => Ok(stats),
        // Managed services (RDS) hide pg_authid: dump roles without their passwords.
        Err(Error::Tool {
            failure: ToolFailure::RolePasswordsHidden { .. },
            ..
        }) => {
            tracing::warn!(
                "role passwords are not readable here; backing up roles without passwords"
            );
            args.push("--no-role-passwords".into());
            writer(&args).await
        }
        Err(e) => Err(e),
    }
}

async fn dump_database(
    mut ctx: DbContext,
    name: &str,
    jobs: usize,
    split_bytes: u64,
) -> Result<DatabaseBackup> {
    let exporter =
        session::Exporter::start(&ctx.conn, ctx.version_num, ctx.lock_timeout_secs).await?;
    let client = exporter.client();
    let encoding = catalog::database_encoding(client, &ctx.conn).await?;
    let mut tables = catalog::tables(client, &ctx.conn).await?;
    exporter.lock_tables(&tables, ctx.lock_timeout_secs).await?;
    catalog::fill_sizes(client, &ctx.conn, &mut tables).await?;
    let sequences_sql = catalog::sequences_sql(client, &ctx.conn).await?;
    let inheritance = inheritance::divergent_children(client, &ctx.conn, ctx.version_num).await?;
    let properties =
        properties::database_properties(client, &ctx.conn, ctx.version_num, name).await?;
    ctx.snapshot = exporter.snapshot.clone();
    let consistent_at = exporter.consistent_at;
    ctx.encoding = encoding.clone();
    let ctx = Arc::new(ctx);

    let mut seq_writer = ctx.writer(format!("{}/sequences.sql.zst.age", ctx.dir));
    seq_writer.write(sequences_sql.as_bytes()).await?;
    let sequences = seq_writer.finish().await?;

    let total_bytes: u64 = tables.iter().map(|t| t.bytes).sum();
    tracing::info!(
        database = name,
        tables = tables.len(),
        bytes = total_bytes,
        jobs,
        "dumping"
    );
    let items = plan::plan(tables, split_bytes, true);
    let outcomes = run_workers(ctx.clone(), items, jobs).await;
    exporter.finish().await;
    let outcomes = outcomes?;

    let (mut pre, mut post, mut lobs) = (None, None, None);
    let mut tables: Vec<(usize, Option<usize>, TableData)> = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Schema(Section::PreData, s) => pre = Some(s),
            Outcome::Schema(Section::PostData, s) => post = Some(s),
            Outcome::LargeObjects(s) => lobs = Some(s),
            Outcome::Table(seq, part, t) => tables.push((seq, part, t)),
        }
    }
    tables.sort_by_key(|(seq, part, _)| (*seq, *part));
    let missing = || Error::Backup(format!("database {name}: a schema section was not dumped"));
    Ok(DatabaseBackup {
        name: name.to_string(),
        dir: ctx.dir.clone(),
        encoding,
        consistent_at,
        pg_dump_version: ctx.pg_dump.major,
        pre_data: pre.ok_or_else(missing)?,
        post_data: post.ok_or_else(missing)?,
        sequences,
        large_objects: lobs.ok_or_else(missing)?,
        tables: tables.into_iter().map(|(_, _, t)| t).collect(),
        properties: Some(properties),
        inheritance,
    })
}

/// Runs the items on `jobs` workers. Each worker keeps one connection in the snapshot; the
/// first failure stops the others from taking new work and is what the caller sees.
async fn run_workers(
    ctx: Arc<DbContext>,
    items: Vec<WorkItem>,
    jobs: usize,
) -> Result<Vec<Outcome>> {
    let workers = (0..jobs)
        .map(|_| DumpWorker {
            ctx: ctx.clone(),
            client: None,
        })
        .collect();
    pool::run("dump", workers, items).await
}

/// A dump worker: its connection in the snapshot is opened on its first table.
struct DumpWorker {
    ctx: Arc<DbContext>,
    client: Option<WireSession>,
}

impl pool::Worker for DumpWorker {
    type Item = WorkItem;
    type Output = Outcome;

    async fn run(&mut self, item: WorkItem, _queue: &pool::Queue<WorkItem>) -> Result<Outcome> {
        run_item(&self.ctx, &mut self.client, item).await
    }
}

async fn run_item(
    ctx: &DbContext,
    client: &mut Option<WireSession>,
    item: WorkItem,
) -> Result<Outcome> {
    match item {
        WorkItem::Schema(section) => {
            let (arg, file) = match section {
                Section::PreData => ("pre-data", "pre-data.sql.zst.age"),
                Section::PostData => ("post-data", "post-data.sql.zst.age"),
            };
            let args = pgdump::pg_dump_args(&ctx.conn, &ctx.snapshot, arg, ctx.lock_timeout_secs);
            let w = ctx.writer(format!("{}/{file}", ctx.dir));
            let stats = pgdump::stream_tool(&ctx.pg_dump, &ctx.conn, &args, w).await?;
            Ok(Outcome::Schema(section, stats))
        }
        WorkItem::LargeObjects => {
            let args =
                pgdump::pg_dump_args(&ctx.conn, &ctx.snapshot, "data", ctx.lock_timeout_secs);
            let w = ctx.writer(format!("{}/large-objects.sql.zst.age", ctx.dir));
            let stats = pgdump::stream_tool(&ctx.pg_dump, &ctx.conn, &args, w).await?;
            Ok(Outcome::LargeObjects(stats))
        }
        WorkItem::Table {
            table,
            blocks,
            seq,
            part,
        } => {
            if client.is_none() {
                *client = Some(
                    session::import(&ctx.conn, ctx.version_num, &ctx.snapshot, &ctx.encoding)
                        .await?,
                );
            }
            let c = client
                .as_mut()
                .ok_or_else(|| Error::Backup("no worker connection".into()))?;
            let safe = table_stem(seq, &table.schema, &table.name);
            let key = match part {
                Some(p) => format!("{}/data/{safe}.part{p:04}.copy.zst.age", ctx.dir),
                None => format!("{}/data/{safe}.copy.zst.age", ctx.dir),
            };
            let w = ctx.writer(key);
            let (rows, object) = copy_out::copy_table(c, &table, blocks, w, &ctx.progress).await?;
            tracing::debug!(table = %table.name, rows, bytes = object.plain_size, "table dumped");
            Ok(Outcome::Table(
                seq,
                part,
                TableData {
                    schema: table.schema.clone(),
                    name: table.name.clone(),
                    columns: table.columns.clone(),
                    blocks,
                    rows,
                    object,
                },
            ))
        }
    }
}
