//! Post-data (indexes, constraints, triggers…) in parallel where it is safe: indexes and
//! unique/primary/check constraints first, all jobs at once; then partition index attaches;
//! then foreign keys (they need the unique indexes), in parallel; then the rest in dump order.

use std::collections::HashSet;
use std::sync::Arc;
use tokio_postgres::Client;

use super::ddl::{execute, EarlyDdl};
use crate::error::Result;
use crate::pool;
use crate::postgres::toc::{EntryKind, QualifiedName, SplitDump, TocEntry};
use crate::postgres::ConnSpec;

/// Which phase an entry runs in, and whether entries of that phase may run concurrently.
fn phase(kind: &EntryKind) -> (u8, bool) {
    match kind {
        EntryKind::Index | EntryKind::Constraint => (0, true),
        EntryKind::IndexAttach => (1, false),
        EntryKind::FkConstraint => (2, true),
        _ => (3, false),
    }
}

/// Takes out of `dump` the indexes and non-foreign-key constraints of ordinary tables, keyed
/// by the table they are built on, to run as soon as that table is loaded. Entries on
/// partitioned parents (`ON ONLY`), materialized views and anything else stay in `dump`.
pub fn take_early(dump: &mut SplitDump, tables: &HashSet<QualifiedName>) -> EarlyDdl {
    let mut early = EarlyDdl {
        preamble: dump.preamble.clone(),
        ..Default::default()
    };
    let entries = std::mem::take(&mut dump.entries);
    for e in entries {
        match built_early_on(&e).filter(|t| tables.contains(*t)).cloned() {
            Some(table) => early.by_table.entry(table).or_default().push(e),
            None => dump.entries.push(e),
        }
    }
    early
}

/// The table an entry builds on, if it may run as soon as that table's rows are in: an
/// index on the table itself (not `ON ONLY` a partitioned parent, attached to later), or a
/// primary key, unique or exclusion constraint added with `ALTER TABLE ONLY` (without
/// ONLY a constraint recurses into child tables, which may still be loading).
fn built_early_on(e: &TocEntry) -> Option<&QualifiedName> {
    match e.kind {
        EntryKind::Index if !e.only => e.table.as_ref(),
        EntryKind::Constraint if e.only => e.table.as_ref(),
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

#[cfg(test)]
mod tests {
    use super::{built_early_on, phase};
    use crate::postgres::toc::{split, EntryKind, QualifiedName, TocEntry};

    fn entry(kind: &str, sql: &str) -> TocEntry {
        let dump = split(&format!(
            "--\n-- Name: x; Type: {kind}; Schema: s; Owner: o\n--\n\n{sql}\n"
        ));
        dump.entries[0].clone()
    }

    #[test]
    fn finds_the_table_an_entry_builds_on() {
        let idx = entry(
            "INDEX",
            "\nCREATE INDEX \"i\" ON \"s\".\"My T\" USING btree (\"a\");\n",
        );
        assert_eq!(built_early_on(&idx), Some(&QualifiedName::new("s", "My T")));
        let parent = entry(
            "INDEX",
            "CREATE INDEX \"i\" ON ONLY \"s\".\"p\" USING btree (\"a\");",
        );
        assert_eq!(built_early_on(&parent), None);
        let pk = entry(
            "CONSTRAINT",
            "ALTER TABLE ONLY \"s\".\"t\"\n    ADD CONSTRAINT \"pk\" PRIMARY KEY (\"id\");",
        );
        assert_eq!(built_early_on(&pk), Some(&QualifiedName::new("s", "t")));
        assert_eq!(
            built_early_on(&entry("FK CONSTRAINT", "ALTER TABLE ONLY \"s\".\"t\"")),
            None
        );
    }

    #[test]
    fn foreign_keys_after_indexes() {
        let phase_of = |kind: &str| phase(&EntryKind::parse(kind));
        assert!(phase_of("INDEX").0 < phase_of("FK CONSTRAINT").0);
        assert!(phase_of("CONSTRAINT").0 < phase_of("INDEX ATTACH").0);
        assert!(phase_of("FK CONSTRAINT").0 < phase_of("TRIGGER").0);
        assert!(!phase_of("MATERIALIZED VIEW DATA").1);
    }
}
