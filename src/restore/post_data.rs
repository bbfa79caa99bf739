//! Post-data (indexes, constraints, triggers…) in parallel where it is safe: indexes and
//! unique/primary/check constraints first, all jobs at once; then partition index attaches;
//! then foreign keys (they need the unique indexes), in parallel; then the rest in dump order.

use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::toc::{SplitDump, TocEntry};
use crate::error::{Error, Result};
use crate::pool;
use crate::postgres::ConnSpec;

/// Which phase an entry runs in, and whether entries of that phase may run concurrently.
fn phase(kind: &str) -> (u8, bool) {
    match kind {
        "INDEX" | "CONSTRAINT" => (0, true),
        "INDEX ATTACH" => (1, false),
        "FK CONSTRAINT" => (2, true),
        _ => (3, false),
    }
}

/// Takes out of `dump` the indexes and non-foreign-key constraints of ordinary tables, keyed
/// by the table they are built on, to run as soon as that table is loaded. Entries on
/// partitioned parents (`ON ONLY`), materialized views and anything else stay in `dump`.
pub fn take_early(
    dump: &mut SplitDump,
    tables: &std::collections::HashSet<String>,
) -> super::data::EarlyDdl {
    let mut early = super::data::EarlyDdl {
        preamble: dump.preamble.clone(),
        ..Default::default()
    };
    let entries = std::mem::take(&mut dump.entries);
    for e in entries {
        match built_on(&e).filter(|t| tables.contains(t)) {
            Some(table) => early.by_table.entry(table).or_default().push(e),
            None => dump.entries.push(e),
        }
    }
    early
}

/// The table an INDEX or CONSTRAINT entry builds on, as pg_dump wrote it (`"s"."t"`).
fn built_on(e: &TocEntry) -> Option<String> {
    let first = e
        .sql
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("--"))?;
    match e.kind.as_str() {
        "INDEX" => {
            let (_, rest) = first.split_once(" ON ")?;
            if rest.starts_with("ONLY ") {
                return None;
            }
            rest.split_once(" USING ")
                .map(|(t, _)| t.trim().to_string())
        }
        "CONSTRAINT" => first
            .strip_prefix("ALTER TABLE ONLY ")
            .map(|t| t.trim().to_string()),
        _ => None,
    }
}

pub async fn run(dump: SplitDump, target: &ConnSpec, jobs: usize) -> Result<usize> {
    let SplitDump {
        preamble, entries, ..
    } = dump;
    let entries: Vec<TocEntry> = entries.into_iter().filter(|e| !e.is_empty()).collect();
    let count = entries.len();
    let mut clients = Vec::new();
    for _ in 0..jobs.max(1) {
        let c = target.connect().await?;
        c.batch_execute(&format!(
            "SET statement_timeout = 0; SET lock_timeout = 0; {preamble}"
        ))
        .await
        .map_err(|e| target.error("cannot set up a post-data session", &e))?;
        clients.push(Arc::new(c));
    }
    for p in 0..4u8 {
        let batch: Vec<TocEntry> = entries
            .iter()
            .filter(|e| phase(&e.kind).0 == p)
            .cloned()
            .collect();
        if batch.is_empty() {
            continue;
        }
        let parallel = phase(&batch[0].kind).1;
        if parallel {
            run_parallel(batch, &clients, target).await?;
        } else {
            for e in &batch {
                execute(&clients[0], target, e).await?;
            }
        }
    }
    Ok(count)
}

async fn run_parallel(
    batch: Vec<TocEntry>,
    clients: &[Arc<Client>],
    target: &ConnSpec,
) -> Result<()> {
    let workers = clients
        .iter()
        .map(|c| Builder {
            client: c.clone(),
            target: target.clone(),
        })
        .collect();
    pool::run("post-data", workers, batch).await?;
    Ok(())
}

/// A post-data worker on one of the step's connections.
struct Builder {
    client: Arc<Client>,
    target: ConnSpec,
}

impl pool::Worker for Builder {
    type Item = TocEntry;
    type Output = ();

    async fn run(&mut self, entry: TocEntry, _queue: &pool::Queue<TocEntry>) -> Result<()> {
        execute(&self.client, &self.target, &entry).await
    }
}

/// Runs one entry; retries a deadlock, which concurrent DDL on related tables can cause.
pub(super) async fn execute(client: &Client, target: &ConnSpec, entry: &TocEntry) -> Result<()> {
    let script = entry.script();
    let mut attempt = 0;
    loop {
        match client.batch_execute(&script).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) && attempt < 5 => {
                attempt += 1;
                tracing::debug!(entry = %entry.name, attempt, "deadlock, retrying");
            }
            Err(e) => {
                return Err(Error::Restore(format!(
                    "post-data {} {}{}: {}",
                    entry.kind,
                    if entry.schema == "-" {
                        String::new()
                    } else {
                        format!("{}.", entry.schema)
                    },
                    entry.name,
                    target.error("failed", &e)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{built_on, phase};
    use crate::restore::toc::TocEntry;

    fn entry(kind: &str, sql: &str) -> TocEntry {
        TocEntry {
            name: "x".into(),
            kind: kind.into(),
            schema: "s".into(),
            session: vec![],
            sql: sql.into(),
        }
    }

    #[test]
    fn finds_the_table_an_entry_builds_on() {
        let idx = entry(
            "INDEX",
            "\nCREATE INDEX \"i\" ON \"s\".\"My T\" USING btree (\"a\");\n",
        );
        assert_eq!(built_on(&idx).as_deref(), Some("\"s\".\"My T\""));
        let parent = entry(
            "INDEX",
            "CREATE INDEX \"i\" ON ONLY \"s\".\"p\" USING btree (\"a\");",
        );
        assert_eq!(built_on(&parent), None);
        let pk = entry(
            "CONSTRAINT",
            "ALTER TABLE ONLY \"s\".\"t\"\n    ADD CONSTRAINT \"pk\" PRIMARY KEY (\"id\");",
        );
        assert_eq!(built_on(&pk).as_deref(), Some("\"s\".\"t\""));
        assert_eq!(
            built_on(&entry("FK CONSTRAINT", "ALTER TABLE ONLY \"s\".\"t\"")),
            None
        );
    }

    #[test]
    fn foreign_keys_after_indexes() {
        assert!(phase("INDEX").0 < phase("FK CONSTRAINT").0);
        assert!(phase("CONSTRAINT").0 < phase("INDEX ATTACH").0);
        assert!(phase("FK CONSTRAINT").0 < phase("TRIGGER").0);
        assert!(!phase("MATERIALIZED VIEW DATA").1);
    }
}
