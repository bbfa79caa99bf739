//! Retention: which backups a policy keeps, and why. Pure — no I/O, no clock — so `prune`,
//! the scheduler and tests all call the same functions.
//!
//! - [`policy`]: the `--keep-*` policy and its evaluation over one history, with restic's
//!   `forget` semantics, in a configured time zone;
//! - [`plan`]: the policy applied per source database, with the protections no policy
//!   overrides (pins, the newest verified backup, future-dated and untrusted backups).
//!
//! Reading the repository and deleting are [`crate::prune`]'s.

pub mod plan;
pub mod policy;

pub use plan::{plan, server_key, Entry, Plan, Protections, Row};
pub use policy::{apply, parse_timezone, parse_within, Candidate, Decision, Keep, Policy};

#[cfg(test)]
mod tests;
