//! lifeboat: backup and disaster recovery for PostgreSQL.
//!
//! The tree follows the domain:
//! - [`config`]: configuration file, flags and environment, resolved per command
//! - [`crypto`]: age keys, fingerprints, signing keys, the keyed plaintext hash
//! - [`pipeline`]: the streaming zstd + age pipeline with checksums
//! - [`storage`]: where bytes live — one small trait; local directory, S3, in-memory
//! - [`repository`]: the repository format — layout, descriptor, manifests, signatures,
//!   write transactions, the delete path, locks, which backups exist
//! - [`dump`]: taking a backup; [`restore`]: putting one back
//! - [`postgres`]: connections, PostgreSQL's client tools, pg_dump output as typed entries
//!   ([`postgres::toc`]) and throwaway servers ([`postgres::ScratchCluster`])
//! - [`retention`]: which backups a policy keeps and why (pure); [`prune`]: applying it
//! - [`pool`]: the worker pool every parallel step runs on
//! - [`check`]: integrity without a restore; [`verify`]: proof by restore, with a signed
//!   record; [`drill`]: the DR drill and its auditor's report
//! - [`report`]: RPO/RTO compliance from the repository's evidence (facts → compute → render)
//! - [`signals`]: metrics textfile and webhook notifications after a run
//! - [`demo`]: the self-contained first run
//! - [`schedule`]: jobs on cron schedules (configuration, time zones, DST);
//!   [`daemon`]: `lifeboat run`, which runs them; [`cancel`]: clean stops on SIGTERM/SIGINT

pub mod cancel;
pub mod check;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod demo;
pub mod drill;
pub mod dump;
pub mod error;
pub mod pipeline;
pub mod pool;
pub mod postgres;
pub mod progress;
pub mod prune;
pub mod rds;
pub mod report;
pub mod repository;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod signals;
pub mod storage;
pub mod verify;

pub use repository::manifest;

pub use error::{Error, Result, ToolFailure};
