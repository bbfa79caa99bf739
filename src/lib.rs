//! lifeboat: backup and disaster recovery for PostgreSQL.
//!
//! The tree follows the domain:
//! - [`config`]: configuration file, flags and environment, resolved per command
//! - [`crypto`]: age keys and fingerprints
//! - [`pipeline`]: the streaming zstd + age pipeline with checksums
//! - [`repository`]: local directory and S3 storage, object layout
//! - [`manifest`] and [`catalog`]: what a backup is and which backups exist
//! - [`dump`]: taking a backup; [`restore`]: putting one back
//! - [`postgres`]: connections, PostgreSQL's client tools, pg_dump output as typed entries
//!   ([`postgres::toc`]) and throwaway servers ([`postgres::ScratchCluster`])
//! - [`pool`]: the worker pool every parallel step runs on
//! - [`demo`]: the self-contained first run

pub mod catalog;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod dump;
pub mod error;
pub mod manifest;
pub mod pipeline;
pub mod pool;
pub mod postgres;
pub mod progress;
pub mod repository;
pub mod restore;

pub use error::{Error, Result, ToolFailure};
