//! `lifeboat rds snapshot`: one snapshot set of one target, as a sequence of steps:
//!
//! 1. check the repository can be written (a set is recorded, signed) and describe the
//!    source (an encrypted source needs a KMS key for each DR region: refused before
//!    anything is created);
//! 2. create the manual snapshot, tagged as lifeboat's, and wait until it is available;
//! 3. copy it to each DR region — the call is made by a client of the destination region,
//!    with the source snapshot's ARN and the region's KMS key (and a pre-signed URL where
//!    [`super::presign`] says the API needs one) — then wait for every copy;
//! 4. record the set in the repository.
//!
//! A failure after the snapshot exists leaves it (and any copy) in place, tagged: the next
//! run makes a new set, and `rds list` shows it. Without a record, `rds prune` never
//! deletes it; delete it by hand if it is not wanted.

use std::collections::BTreeMap;

use chrono::Utc;

use super::api::{Api, Snapshot, Source, TAG_CREATED_BY, TAG_SET, TAG_TARGET};
use super::client::{wait_until, Poll};
use super::config::{Kind, RdsTarget};
use super::presign;
use super::Rds;
use crate::error::Result;
use crate::progress::Progress;
use crate::repository::layout::BackupId;
use crate::repository::records::{RdsSnapshotSet, RDS_SNAPSHOT_SET_FORMAT, RECORD_FORMAT_VERSION};
use crate::repository::Repository;

/// A finished set and where its record is.
#[derive(Debug, Clone)]
pub struct SnapshotOutcome {
    pub set: RdsSnapshotSet,
    pub record_key: String,
}

/// The snapshot identifier of a set: `lifeboat-<target>-<set id, lowercase>`.
pub fn snapshot_id(target: &str, set_id: &str) -> String {
    format!("lifeboat-{target}-{}", set_id.to_ascii_lowercase())
}

/// Takes one snapshot set of `target`.
pub async fn snapshot(
    rds: &Rds,
    repo: &Repository,
    target: &RdsTarget,
    progress: &Progress,
) -> Result<SnapshotOutcome> {
    repo.descriptor_for_write().await?;
    let started_at = Utc::now();
    let set_id = BackupId::new(started_at).0;
    let id = snapshot_id(&target.name, &set_id);
    let tags = tags(target, &set_id);
    let source_api = rds.api(target, &target.region);

    let source = check_source(&source_api, target).await?;
    tracing::info!(target = %target.name, snapshot = %id, "creating the snapshot of {}", target.describe());
    source_api.create(&target.identifier, &id, &tags).await?;
    let snapshot = wait_available(rds, &source_api, target, &id, progress).await?;

    let copies = copy_all(rds, target, &snapshot, &tags, progress).await?;
    let set = RdsSnapshotSet {
        format: RDS_SNAPSHOT_SET_FORMAT.into(),
        format_version: RECORD_FORMAT_VERSION,
        id: set_id,
        target: target.name.clone(),
        kind: target.kind,
        source: target.identifier.clone(),
        source_region: target.region.clone(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        host: crate::repository::liveness::hostname(),
        started_at,
        finished_at: Utc::now(),
        snapshot,
        copies,
        latest_restorable: source.latest_restorable,
    };
    let record_key = repo.put_rds_snapshot_set(&set).await?;
    progress.finish();
    Ok(SnapshotOutcome { set, record_key })
}

fn tags(target: &RdsTarget, set_id: &str) -> BTreeMap<String, String> {
    let mut tags = target.tags.clone();
    tags.insert(TAG_TARGET.into(), target.name.clone());
    tags.insert(TAG_SET.into(), set_id.to_string());
    tags.insert(TAG_CREATED_BY.into(), "lifeboat".into());
    tags
}

/// The source exists, and an encrypted one has a KMS key for every DR region.
async fn check_source(api: &Api, target: &RdsTarget) -> Result<Source> {
    let source = api.source(&target.identifier).await?;
    if source.encrypted {
        let missing: Vec<&str> = target
            .copies
            .iter()
            .filter(|c| c.kms_key_id.is_none())
            .map(|c| c.region.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(api.at.refused(format!(
                "{} is encrypted, so its copies need a KMS key of their region: set kms_key_id \
                 in [[rds.target.copy]] for {} (nothing was created)",
                target.describe(),
                missing.join(", ")
            )));
        }
    }
    Ok(source)
}

/// Waits until snapshot `id` in `api`'s region is available; a snapshot that fails or
/// disappears is an error naming it.
pub async fn wait_available(
    rds: &Rds,
    api: &Api,
    target: &RdsTarget,
    id: &str,
    progress: &Progress,
) -> Result<Snapshot> {
    let what = format!("snapshot {id}");
    wait_until(
        &target.name,
        api.region(),
        &what,
        rds.settings.wait_timeout,
        rds.settings.poll_interval,
        progress,
        || async {
            match api.get(id).await? {
                Some(s) if s.available() => Ok(Poll::Done(s)),
                Some(s) if s.status == "failed" || s.status == "error" => {
                    Err(api.at.refused(format!(
                        "{what} failed (status {}); see the RDS events of the region",
                        s.status
                    )))
                }
                Some(s) => Ok(Poll::Waiting(match s.percent_progress {
                    Some(p) => format!("{} {p}%", s.status),
                    None => s.status,
                })),
                None => Err(api.at.refused(format!(
                    "{what} disappeared while lifeboat waited for it (deleted by someone else?)"
                ))),
            }
        },
    )
    .await
}

/// Starts every copy (each in its destination region), then waits for all of them.
async fn copy_all(
    rds: &Rds,
    target: &RdsTarget,
    snapshot: &Snapshot,
    tags: &BTreeMap<String, String>,
    progress: &Progress,
) -> Result<Vec<Snapshot>> {
    let mut started = Vec::new();
    for copy in &target.copies {
        let api = rds.api(target, &copy.region);
        let url = presigned_url(
            rds,
            target,
            snapshot,
            &copy.region,
            copy.kms_key_id.as_deref(),
        )
        .await?;
        tracing::info!(target = %target.name, region = %copy.region, snapshot = %snapshot.id, "copying to the DR region");
        api.copy(
            &snapshot.arn,
            &snapshot.id,
            copy.kms_key_id.as_deref(),
            tags,
            url,
        )
        .await?;
        started.push(api);
    }
    let mut copies = Vec::new();
    for api in &started {
        copies.push(wait_available(rds, api, target, &snapshot.id, progress).await?);
    }
    Ok(copies)
}

async fn presigned_url(
    rds: &Rds,
    target: &RdsTarget,
    snapshot: &Snapshot,
    destination: &str,
    kms_key_id: Option<&str>,
) -> Result<Option<String>> {
    if !rds.settings.presign.applies(&target.region) {
        return Ok(None);
    }
    let at = super::errors::At::new(&target.name, &target.region);
    let credentials = rds.clients.credentials().await.ok_or_else(|| {
        at.refused("no AWS credentials to sign the copy's pre-signed URL with (the standard chain found none)")
    })?;
    let req = presign::CopyRequest {
        kind: target.kind,
        source_arn: &snapshot.arn,
        target_id: &snapshot.id,
        kms_key_id,
        source_region: &target.region,
        destination_region: destination,
    };
    presign::copy_url(&req, credentials, std::time::SystemTime::now())
        .map(Some)
        .map_err(|e| at.refused(format!("cannot sign the copy's pre-signed URL: {e}")))
}

impl Kind {
    /// The API's name of a snapshot of this kind.
    pub fn snapshot_noun(self) -> &'static str {
        match self {
            Kind::Instance => "DB snapshot",
            Kind::Cluster => "DB cluster snapshot",
        }
    }
}
