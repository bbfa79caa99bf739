//! Amazon RDS and Aurora: manual snapshots copied to disaster-recovery regions, pruned by
//! the retention policy language of `prune`, restored to a point in time or from a snapshot
//! (also a DR-region copy), and counted in the report beside the logical backups.
//!
//! - [`config`]: `[rds]` and `[[rds.target]]`, validated;
//! - [`client`]: one SDK client per region from the standard AWS chain, retries, waiting;
//! - [`errors`]: the service's error codes as [`crate::Error::Rds`] with what to do;
//! - [`api`]: the calls, over instances and clusters alike;
//! - [`snapshot`] (with [`presign`]): create, wait, copy to each DR region, wait, record;
//! - [`list`], [`prune`], [`restore`].
//!
//! What lifeboat creates carries the tags `lifeboat:target`, `lifeboat:set` and
//! `lifeboat:created-by`, and each set is recorded, signed, in the repository
//! (`rds/<target>/<set-id>.json`): `prune` deletes only what both say is lifeboat's.

pub mod api;
pub mod client;
pub mod config;
pub mod errors;
pub mod list;
pub mod presign;
pub mod prune;
pub mod restore;
pub mod snapshot;

pub use api::{Snapshot, Source};
pub use client::Clients;
pub use config::{CopyTarget, Kind, RdsSettings, RdsTarget, RegionRetention};

/// The settings and the clients every RDS command uses.
pub struct Rds {
    pub settings: RdsSettings,
    pub clients: Clients,
}

impl Rds {
    pub async fn new(settings: RdsSettings) -> Self {
        let clients = Clients::new(&settings).await;
        Rds { settings, clients }
    }

    /// The API of `region` for `target`.
    pub fn api(&self, target: &RdsTarget, region: &str) -> api::Api {
        api::Api::new(
            self.clients.region(region),
            errors::At::new(&target.name, region),
            self.clients.max_attempts(),
            target.kind,
        )
    }
}
