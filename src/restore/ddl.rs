//! Running pg_dump entries (index builds, constraints…) on our own connections, shared by
//! the table loaders and the post-data step.

use std::collections::HashMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::toc::{QualifiedName, TocEntry};
use crate::postgres::ConnSpec;

/// Per table: post-data entries to run once its rows are all in, and the session preamble
/// they need.
#[derive(Default)]
pub struct EarlyDdl {
    pub preamble: String,
    pub by_table: HashMap<QualifiedName, Vec<TocEntry>>,
}

/// Runs one entry; retries a deadlock, which concurrent DDL on related tables can cause.
pub async fn execute(client: &Client, target: &ConnSpec, entry: &TocEntry) -> Result<()> {
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
                    "post-data {} {}: {}",
                    entry.kind,
                    entry.display_name(),
                    target.error("failed", &e)
                )))
            }
        }
    }
}
