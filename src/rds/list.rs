//! `lifeboat rds list`: lifeboat's snapshots (by the `lifeboat:target` tag) of each target in
//! every configured region, with whether a signed record names them, and each source
//! snapshot's copies. A region that cannot be reached is shown with its error and the others
//! are still listed (in a regional outage the DR region is what matters).

use std::collections::BTreeSet;

use serde::Serialize;

use super::api::Snapshot;
use super::config::RdsTarget;
use super::Rds;
use crate::error::{Error, Result};
use crate::repository::records::{RdsSnapshotSet, Stored};
use crate::repository::Repository;

#[derive(Debug, Clone, Serialize)]
pub struct TargetListing {
    pub target: String,
    pub kind: super::Kind,
    pub identifier: String,
    pub regions: Vec<RegionListing>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionListing {
    pub region: String,
    /// `source` or `copy`.
    pub role: &'static str,
    /// Oldest first.
    pub snapshots: Vec<Listed>,
    /// Why this region could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// A trusted snapshot-set record names it.
    pub recorded: bool,
    /// For a source snapshot: each DR region and the status of the copy there (`missing`).
    pub copies: Vec<CopyStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyStatus {
    pub region: String,
    pub status: String,
}

/// Lists every target (never fails: a region's error is in its listing, unreadable records
/// are a warning). Region errors are in the listing
/// ([`first_error`] turns them into the command's error after printing).
pub async fn list(
    rds: &Rds,
    repo: Option<&Repository>,
    targets: &[&RdsTarget],
) -> Result<Vec<TargetListing>> {
    let mut out = Vec::new();
    for target in targets {
        // In a regional outage the repository may be unreachable too: the listing (what a
        // failover needs) goes on, every snapshot shown as not recorded.
        let sets = match repo {
            Some(r) => match r.rds_snapshot_sets(Some(&target.name)).await {
                Ok(sets) => sets,
                Err(e) => {
                    tracing::warn!(target = %target.name, "cannot read the snapshot-set records ({e}); every snapshot is shown as not recorded");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        out.push(list_target(rds, target, &sets).await);
    }
    Ok(out)
}

/// The snapshots of `target` in `region` that carry its tag, oldest first.
pub async fn tagged(rds: &Rds, target: &RdsTarget, region: &str) -> Result<Vec<Snapshot>> {
    let mut all: Vec<Snapshot> = rds
        .api(target, region)
        .list_manual()
        .await?
        .into_iter()
        .filter(|s| s.tagged_for(&target.name))
        .collect();
    all.sort_by_key(|s| (s.point(), s.id.clone()));
    Ok(all)
}

async fn list_target(
    rds: &Rds,
    target: &RdsTarget,
    sets: &[Stored<RdsSnapshotSet>],
) -> TargetListing {
    let mut regions = Vec::new();
    for (i, region) in target.regions().iter().enumerate() {
        let role = if i == 0 { "source" } else { "copy" };
        match tagged(rds, target, region).await {
            Ok(snaps) => regions.push(RegionListing {
                region: region.clone(),
                role,
                snapshots: snaps
                    .into_iter()
                    .map(|s| Listed {
                        recorded: sets
                            .iter()
                            .any(|set| set.trusted() && set.record.names(region, &s.id)),
                        snapshot: s,
                        copies: vec![],
                    })
                    .collect(),
                error: None,
            }),
            Err(e) => regions.push(RegionListing {
                region: region.clone(),
                role,
                snapshots: vec![],
                error: Some(e.to_string()),
            }),
        }
    }
    link_copies(&mut regions);
    TargetListing {
        target: target.name.clone(),
        kind: target.kind,
        identifier: target.identifier.clone(),
        regions,
    }
}

/// Each source snapshot's copy status in every DR region (a copy has the same identifier).
fn link_copies(regions: &mut [RegionListing]) {
    let Some((source, copies)) = regions.split_first_mut() else {
        return;
    };
    for listed in &mut source.snapshots {
        for region in copies.iter() {
            let status = if region.error.is_some() {
                "unknown (region not reachable)".to_string()
            } else {
                region
                    .snapshots
                    .iter()
                    .find(|c| c.snapshot.id.eq_ignore_ascii_case(&listed.snapshot.id))
                    .map(|c| c.snapshot.status.clone())
                    .unwrap_or_else(|| "missing".into())
            };
            listed.copies.push(CopyStatus {
                region: region.region.clone(),
                status,
            });
        }
    }
}

/// The regions that could not be listed, as one error (exit 9), if any.
pub fn first_error(listings: &[TargetListing]) -> Option<Error> {
    let failed: BTreeSet<String> = listings
        .iter()
        .flat_map(|t| {
            t.regions
                .iter()
                .filter_map(move |r| r.error.as_ref().map(|e| format!("{}: {e}", t.target)))
        })
        .collect();
    let first = listings
        .iter()
        .find_map(|t| t.regions.iter().find(|r| r.error.is_some()).map(|r| (t, r)))?;
    Some(Error::Rds {
        target: first.0.target.clone(),
        region: first.1.region.clone(),
        failure: Box::new(crate::error::RdsFailure::Refused(format!(
            "{} region(s) could not be listed: {}",
            failed.len(),
            failed.into_iter().collect::<Vec<_>>().join("; ")
        ))),
    })
}
