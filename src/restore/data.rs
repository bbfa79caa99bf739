//! Table rows into the target with parallel `COPY … FROM STDIN`, one connection per job,
//! biggest objects first. A COPY commits only after its object verified end to end.
//!
//! A table's own indexes and primary/unique/check constraints are built by the same workers
//! as soon as its last object is loaded, while other tables still load (as pg_restore -j
//! does), so one big table's index build does not wait for every other table's rows.

use futures::SinkExt;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

use super::script::Source;
use super::toc::TocEntry;
use crate::error::{Error, Result};
use crate::manifest::TableData;
use crate::postgres::{quote_literal, ConnSpec};

/// Session settings for loading: no statement timeout, and asynchronous commit, which is
/// safe here (a crashed restore is simply run again) and saves a flush per table.
fn loader_settings(encoding: &str) -> String {
    format!(
        "SET statement_timeout = 0; SET lock_timeout = 0; SET synchronous_commit = off; \
         SET DateStyle = ISO; SET IntervalStyle = postgres; SET client_encoding = {};",
        quote_literal(encoding)
    )
}

enum Work {
    Copy(TableData),
    Ddl(TocEntry),
}

/// Per table (quoted `"s"."t"`): post-data entries to run once its rows are all in, and
/// the session preamble they need.
#[derive(Default)]
pub struct EarlyDdl {
    pub preamble: String,
    pub by_table: HashMap<String, Vec<TocEntry>>,
}

struct Shared {
    queue: Mutex<VecDeque<Work>>,
    /// Objects still to load per table, and the entries waiting on them.
    pending: Mutex<HashMap<String, (usize, Vec<TocEntry>)>>,
    failed: AtomicBool,
    rows: AtomicU64,
}

pub async fn load_tables(
    source: &Source,
    target: &ConnSpec,
    encoding: &str,
    tables: Vec<TableData>,
    jobs: usize,
    progress: &crate::progress::Progress,
    early: EarlyDdl,
) -> Result<u64> {
    let mut tables = tables;
    tables.sort_by_key(|t| std::cmp::Reverse(t.object.plain_size));
    let mut pending: HashMap<String, (usize, Vec<TocEntry>)> = HashMap::new();
    for t in &tables {
        pending.entry(t.qualified()).or_default().0 += 1;
    }
    let EarlyDdl {
        preamble,
        mut by_table,
    } = early;
    for (table, (_, entries)) in pending.iter_mut() {
        *entries = by_table.remove(table).unwrap_or_default();
    }
    let shared = Arc::new(Shared {
        queue: Mutex::new(tables.into_iter().map(Work::Copy).collect()),
        pending: Mutex::new(pending),
        failed: AtomicBool::new(false),
        rows: AtomicU64::new(0),
    });
    let settings = format!("{} {preamble}", loader_settings(encoding));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..jobs.max(1) {
        let (source, target, shared, settings, progress) = (
            source.clone(),
            target.clone(),
            shared.clone(),
            settings.clone(),
            progress.clone(),
        );
        set.spawn(async move {
            let result = worker(&source, &target, &shared, &settings, &progress).await;
            if result.is_err() {
                shared.failed.store(true, Ordering::SeqCst);
            }
            result
        });
    }
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        let r = joined.unwrap_or_else(|e| Err(Error::Restore(format!("loader failed: {e}"))));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(shared.rows.load(Ordering::Relaxed)),
    }
}

async fn worker(
    source: &Source,
    target: &ConnSpec,
    shared: &Shared,
    settings: &str,
    progress: &crate::progress::Progress,
) -> Result<()> {
    let mut client: Option<Client> = None;
    loop {
        if shared.failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let next = shared.queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some(work) = next else { return Ok(()) };
        if client.is_none() {
            let c = target.connect().await?;
            c.batch_execute(settings)
                .await
                .map_err(|e| target.error("cannot set up a loading session", &e))?;
            client = Some(c);
        }
        let c = client
            .as_ref()
            .ok_or_else(|| Error::Restore("no connection".into()))?;
        match work {
            Work::Copy(table) => {
                let n = copy_in(c, target, source, &table, progress).await?;
                shared.rows.fetch_add(n, Ordering::Relaxed);
                release_ddl(shared, &table.qualified());
            }
            Work::Ddl(entry) => super::post_data::execute(c, target, &entry).await?,
        }
    }
}

/// When a table's last object is in, its index and constraint builds go to the front of
/// the queue.
fn release_ddl(shared: &Shared, table: &str) {
    let ready = shared.pending.lock().ok().and_then(|mut p| {
        let (left, _) = p.get_mut(table)?;
        *left -= 1;
        if *left == 0 {
            p.remove(table).map(|(_, entries)| entries)
        } else {
            None
        }
    });
    if let (Some(entries), Ok(mut q)) = (ready, shared.queue.lock()) {
        for e in entries.into_iter().rev() {
            q.push_front(Work::Ddl(e));
        }
    }
}

pub fn copy_in_sql(table: &TableData) -> String {
    if table.columns.is_empty() {
        format!("COPY {} FROM STDIN", table.qualified())
    } else {
        format!(
            "COPY {} ({}) FROM STDIN",
            table.qualified(),
            crate::dump::column_list(&table.columns)
        )
    }
}

async fn copy_in(
    client: &Client,
    target: &ConnSpec,
    source: &Source,
    table: &TableData,
    progress: &crate::progress::Progress,
) -> Result<u64> {
    let what = format!("loading {}", table.display_name());
    let sink = client
        .copy_in::<_, bytes::Bytes>(copy_in_sql(table).as_str())
        .await
        .map_err(|e| target.error(&what, &e))?;
    futures::pin_mut!(sink);
    let mut reader = source.open(&table.object);
    // Dropping the sink before `finish` sends CopyFail: nothing of a bad object is kept.
    while let Some(chunk) = reader.next().await? {
        progress.inc(chunk.len() as u64);
        sink.send(chunk)
            .await
            .map_err(|e| target.error(&what, &e))?;
    }
    let rows = sink.finish().await.map_err(|e| target.error(&what, &e))?;
    if rows != table.rows {
        return Err(Error::Restore(format!(
            "{}: loaded {rows} rows, the manifest says {}",
            table.display_name(),
            table.rows
        )));
    }
    Ok(rows)
}
