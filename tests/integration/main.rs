//! End-to-end tests against real PostgreSQL servers and a real S3 protocol server (moto),
//! started by tests/servers.sh. One binary, so the crate links once.

mod common;

mod authenticity;
mod bad_input;
mod check;
mod cluster;
mod compat;
mod consistency;
mod container;
mod crash;
mod daemon;
mod database_properties;
mod docs;
mod drill;
mod fidelity;
mod locks;
mod network;
mod prune;
mod rds;
mod replace;
mod report;
mod roundtrip;
mod segments;
mod signals;
mod storage;
mod verify;
