//! What a restore saw on its way in, for `verify` to compare with what the database holds
//! afterwards: each table's row digest over the verified plaintext it loaded, and how long
//! the loaders waited on fetching and decrypting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::postgres::toc::QualifiedName;
use crate::verify::digest::RowDigest;

#[derive(Debug, Default)]
pub struct Evidence {
    tables: Mutex<HashMap<QualifiedName, RowDigest>>,
    wait_nanos: AtomicU64,
}

impl Evidence {
    /// Adds one loaded object's digest to its table's.
    pub fn record(&self, table: QualifiedName, digest: RowDigest) {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.entry(table).or_default().merge(&digest);
    }

    pub fn add_wait(&self, waited: Duration) {
        self.wait_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Digests of every table loaded, by table.
    pub fn tables(&self) -> HashMap<QualifiedName, RowDigest> {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Time the loaders spent waiting for the next verified chunk, summed over loaders.
    pub fn fetch_wait(&self) -> Duration {
        Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
    }
}
