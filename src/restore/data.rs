//! Table rows into the target with parallel `COPY … FROM STDIN`, one connection per job,
//! biggest objects first. A COPY commits only after its object verified end to end.
//!
//! A table's own indexes and primary/unique/check constraints are built by the same workers
//! as soon as its last object is loaded, while other tables still load (as pg_restore -j
//! does), so one big table's index build does not wait for every other table's rows.

use futures::SinkExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::Client;

use super::ddl::{self, EarlyDdl};
use super::evidence::Evidence;
use super::script::Source;
use crate::error::{Error, Result};
use crate::manifest::TableData;
use crate::pool;
use crate::postgres::toc::{QualifiedName, TocEntry};
use crate::postgres::{quote_literal, ConnSpec};
use crate::verify::digest::LineDigester;
use std::time::Instant;

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

/// What the loaders share: objects still to load per table, and the entries waiting on them.
struct Pending {
    by_table: tokio::sync::Mutex<HashMap<QualifiedName, (usize, Vec<TocEntry>)>>,
}

pub async fn load_tables(
    source: &Source,
    target: &ConnSpec,
    encoding: &str,
    tables: Vec<TableData>,
    opts: &super::RestoreOptions,
    early: EarlyDdl,
) -> Result<u64> {
    let (jobs, progress, evidence) = (opts.jobs.max(1), &opts.progress, &opts.evidence);
    let mut tables = tables;
    tables.sort_by_key(|t| std::cmp::Reverse(t.object.plain_size));
    let EarlyDdl { preamble, by_table } = early;
    let pending = Arc::new(Pending {
        by_table: tokio::sync::Mutex::new(waiting_ddl(tables.iter().map(table_name), by_table)),
    });
    let settings = format!("{} {preamble}", loader_settings(encoding));
    let workers = (0..jobs)
        .map(|_| Loader {
            source: source.clone(),
            target: target.clone(),
            settings: settings.clone(),
            progress: progress.clone(),
            pending: pending.clone(),
            evidence: evidence.clone(),
            client: None,
        })
        .collect();
    let items = tables.into_iter().map(Work::Copy).collect();
    let rows = pool::run("loader", workers, items).await?;
    Ok(rows.iter().sum())
}

/// Per table: how many of its objects (one name per object) are to load, and the entries
/// to run once they are in.
fn waiting_ddl(
    objects: impl Iterator<Item = QualifiedName>,
    mut early: HashMap<QualifiedName, Vec<TocEntry>>,
) -> HashMap<QualifiedName, (usize, Vec<TocEntry>)> {
    let mut pending: HashMap<QualifiedName, (usize, Vec<TocEntry>)> = HashMap::new();
    for table in objects {
        pending.entry(table).or_default().0 += 1;
    }
    for (table, (_, entries)) in pending.iter_mut() {
        *entries = early.remove(table).unwrap_or_default();
    }
    pending
}

/// A loading worker, with its own connection opened (and set up) on its first item.
struct Loader {
    source: Source,
    target: ConnSpec,
    settings: String,
    progress: crate::progress::Progress,
    pending: Arc<Pending>,
    evidence: Option<Arc<Evidence>>,
    client: Option<Client>,
}

impl pool::Worker for Loader {
    type Item = Work;
    /// Rows loaded.
    type Output = u64;

    async fn run(&mut self, work: Work, queue: &pool::Queue<Work>) -> Result<u64> {
        self.connect().await?;
        let c = self
            .client
            .as_ref()
            .ok_or_else(|| Error::Restore("no connection".into()))?;
        match work {
            Work::Copy(table) => {
                let n = copy_in(
                    c,
                    &self.target,
                    &self.source,
                    &table,
                    &self.progress,
                    self.evidence.as_deref(),
                )
                .await?;
                let ready = self.pending.table_loaded(&table_name(&table)).await;
                queue
                    .push_front(ready.into_iter().map(Work::Ddl).collect())
                    .await;
                Ok(n)
            }
            Work::Ddl(entry) => {
                ddl::execute(c, &self.target, &entry).await?;
                Ok(0)
            }
        }
    }
}

impl Loader {
    /// Opens and sets up the worker's connection, on its first item.
    async fn connect(&mut self) -> Result<()> {
        if self.client.is_none() {
            let c = self.target.connect().await?;
            c.batch_execute(&self.settings)
                .await
                .map_err(|e| self.target.error("cannot set up a loading session", &e))?;
            self.client = Some(c);
        }
        Ok(())
    }
}

impl Pending {
    /// Counts one of the table's objects as loaded; when it was the last, returns the
    /// index and constraint builds waiting on it (they go to the front of the queue).
    async fn table_loaded(&self, table: &QualifiedName) -> Vec<TocEntry> {
        let mut by_table = self.by_table.lock().await;
        let Some((left, _)) = by_table.get_mut(table) else {
            return Vec::new();
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Vec::new();
        }
        by_table
            .remove(table)
            .map(|(_, entries)| entries)
            .unwrap_or_default()
    }
}

fn table_name(t: &TableData) -> QualifiedName {
    QualifiedName::new(&t.schema, &t.name)
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
    evidence: Option<&Evidence>,
) -> Result<u64> {
    let what = format!("loading {}", table.display_name());
    let sink = client
        .copy_in::<_, bytes::Bytes>(copy_in_sql(table).as_str())
        .await
        .map_err(|e| target.error(&what, &e))?;
    futures::pin_mut!(sink);
    let mut reader = source.open(&table.object);
    let mut digester = evidence.map(|_| LineDigester::default());
    // Dropping the sink before `finish` sends CopyFail: nothing of a bad object is kept.
    loop {
        let waiting = Instant::now();
        let Some(chunk) = reader.next().await? else {
            break;
        };
        if let (Some(e), Some(d)) = (evidence, digester.as_mut()) {
            e.add_wait(waiting.elapsed());
            d.update(&chunk);
        }
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
    if let (Some(e), Some(d)) = (evidence, digester) {
        e.record(table_name(table), d.finish());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::toc::split;

    #[tokio::test]
    async fn a_tables_ddl_is_released_once_its_last_part_is_in() {
        let index = split(
            "--\n-- Name: i; Type: INDEX; Schema: s; Owner: o\n--\n\n\
             CREATE INDEX \"i\" ON \"s\".\"t\" USING btree (\"a\");\n",
        )
        .entries;
        let t = QualifiedName::new("s", "t");
        let mut early = HashMap::new();
        early.insert(t.clone(), index.clone());
        // Two parts of s.t, one of s.u.
        let objects = [t.clone(), QualifiedName::new("s", "u"), t.clone()];
        let pending = Pending {
            by_table: tokio::sync::Mutex::new(waiting_ddl(objects.into_iter(), early)),
        };
        assert!(pending.table_loaded(&t).await.is_empty());
        assert!(pending
            .table_loaded(&QualifiedName::new("s", "u"))
            .await
            .is_empty());
        assert_eq!(pending.table_loaded(&t).await, index);
        // Released once only.
        assert!(pending.table_loaded(&t).await.is_empty());
    }
}
