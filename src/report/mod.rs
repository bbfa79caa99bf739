//! `lifeboat report`: RPO/RTO compliance per source database, from the repository's signed
//! backups and verification records.
//!
//! Three steps, kept apart so `drill`, metrics and notifications reuse the middle one:
//! [`Facts::gather`] reads the repository (no lock: it reads only signed documents);
//! [`compute`] turns facts, targets and a moment into a [`Report`] (pure); [`render`] writes
//! it as a terminal table, Markdown, JSON (docs/report-schema.md) or one HTML file.

pub mod compute;
pub mod facts;
pub mod format;
pub mod model;
pub mod render;

pub use compute::{compute, ReportParams};
pub use facts::{BackupFact, DatabaseFact, Facts, VerificationFact};
pub use model::*;
pub use render::{render, write_atomically, Format};

#[cfg(test)]
mod tests;
