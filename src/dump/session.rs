//! The snapshot every part of a database's backup is read in: one connection exports it and
//! holds it (and the tables' ACCESS SHARE locks) open; workers and pg_dump import it.

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::postgres::wire::WireSession;

use super::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::postgres::{quote_literal, ConnSpec};

/// Settings for every session that reads data: no timeouts that would cut a long COPY,
/// ISO dates and full float precision as pg_dump uses, and row security off so that a
/// policy can never silently filter what is backed up (it errors instead). Output that
/// depends on the session is pinned (UTC for `timestamptz`, hex for `bytea`) so that
/// `verify` can read a restored table back in exactly the text the backup holds.
pub fn reader_settings(version_num: u32) -> String {
    let mut s = String::from(
        "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
         SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; \
         SET row_security = off; SET TimeZone = 'UTC'; SET bytea_output = 'hex';",
    );
    if version_num >= 170000 {
        s.push_str(" SET transaction_timeout = 0;");
    }
    s
}

pub struct Exporter {
    client: Client,
    conn: ConnSpec,
    pub snapshot: String,
    pub consistent_at: DateTime<Utc>,
}

impl Exporter {
    pub async fn start(conn: &ConnSpec, version_num: u32, lock_timeout_secs: u64) -> Result<Self> {
        let client = conn.connect().await?;
        let setup = format!(
            "{} SET lock_timeout = '{}s'; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
            reader_settings(version_num),
            lock_timeout_secs
        );
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| conn.error("cannot start the backup transaction", &e))?;
        let row = client
            .query_one("SELECT pg_export_snapshot(), clock_timestamp()", &[])
            .await
            .map_err(|e| conn.error("cannot export a snapshot", &e))?;
        let snapshot: String = row.get(0);
        if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(conn_err(
                conn,
                format!("unexpected snapshot id `{snapshot}`"),
            ));
        }
        Ok(Exporter {
            client,
            conn: conn.clone(),
            snapshot,
            consistent_at: row.get(1),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Takes ACCESS SHARE locks, table by table, so a table under an exclusive lock is named
    /// in the error instead of hanging the backup. These locks block only DDL, never writers.
    pub async fn lock_tables(&self, tables: &[TableInfo], lock_timeout_secs: u64) -> Result<()> {
        for t in tables {
            let sql = format!("LOCK TABLE ONLY {} IN ACCESS SHARE MODE", t.qualified());
            if let Err(e) = self.client.batch_execute(&sql).await {
                if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    return Err(Error::Backup(format!(
                        "table {}.{} in database {} is locked exclusively by another session \
                         (waited {lock_timeout_secs}s). Find the holder in pg_locks / \
                         pg_stat_activity, or raise --lock-timeout (0 waits indefinitely)",
                        t.schema,
                        t.name,
                        self.conn.dbname()
                    )));
                }
                return Err(self
                    .conn
                    .error(&format!("cannot lock {}.{}", t.schema, t.name), &e));
            }
        }
        Ok(())
    }

    pub async fn finish(self) {
        // Read-only: ending it either way releases the snapshot and the locks.
        let _ = self.client.batch_execute("COMMIT").await;
    }
}

/// A worker connection reading in the exporter's snapshot. It speaks the protocol itself
/// (`postgres::wire`): all it does after this is COPY rows out in bulk.
pub async fn import(
    conn: &ConnSpec,
    version_num: u32,
    snapshot: &str,
    encoding: &str,
) -> Result<WireSession> {
    let mut client = WireSession::connect(conn).await?;
    let setup = format!(
        "{} SET client_encoding = {}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
         SET TRANSACTION SNAPSHOT {};",
        reader_settings(version_num),
        quote_literal(encoding),
        quote_literal(snapshot)
    );
    client
        .execute(&setup, "cannot import the backup snapshot")
        .await?;
    Ok(client)
}

fn conn_err(conn: &ConnSpec, reason: String) -> Error {
    Error::Postgres {
        target: conn.display(),
        reason,
    }
}
