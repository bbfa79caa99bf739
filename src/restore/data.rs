//! Table rows into the target with parallel `COPY … FROM STDIN`, one connection per job,
//! biggest objects first. A COPY commits only after its object verified end to end.

use futures::SinkExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

use super::script::Source;
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

pub async fn load_tables(
    source: &Source,
    target: &ConnSpec,
    encoding: &str,
    tables: Vec<TableData>,
    jobs: usize,
    progress: &crate::progress::Progress,
) -> Result<u64> {
    let mut tables = tables;
    tables.sort_by_key(|t| std::cmp::Reverse(t.object.plain_size));
    let queue = Arc::new(Mutex::new(VecDeque::from(tables)));
    let failed = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..jobs.max(1) {
        let (source, target, queue, failed, rows) = (
            source.clone(),
            target.clone(),
            queue.clone(),
            failed.clone(),
            rows.clone(),
        );
        let settings = loader_settings(encoding);
        let progress = progress.clone();
        set.spawn(async move {
            let mut client: Option<Client> = None;
            loop {
                if failed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(table) = next else { return Ok(()) };
                if client.is_none() {
                    let c = target.connect().await?;
                    c.batch_execute(&settings)
                        .await
                        .map_err(|e| target.error("cannot set up a loading session", &e))?;
                    client = Some(c);
                }
                let c = client
                    .as_ref()
                    .ok_or_else(|| Error::Restore("no connection".into()))?;
                match copy_in(c, &target, &source, &table, &progress).await {
                    Ok(n) => {
                        rows.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
            }
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
        None => Ok(rows.load(Ordering::Relaxed)),
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
