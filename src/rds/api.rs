//! The RDS calls lifeboat makes, over instances and Aurora clusters alike, with their answers
//! normalized into [`Snapshot`] and [`Source`]. Every error goes through [`At::sdk`].

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::Kind;
use super::errors::At;
use crate::error::Result;

/// Tag on every snapshot and copy lifeboat creates: the target's name.
pub const TAG_TARGET: &str = "lifeboat:target";
/// Tag naming the snapshot set (its record's id).
pub const TAG_SET: &str = "lifeboat:set";
/// Tag saying who created it (`lifeboat`).
pub const TAG_CREATED_BY: &str = "lifeboat:created-by";

/// A manual DB snapshot or DB cluster snapshot, in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub arn: String,
    pub region: String,
    pub kind: Kind,
    /// The DB instance or cluster it was taken of.
    pub source_identifier: String,
    pub created_at: Option<DateTime<Utc>>,
    /// A copy's original snapshot time (the recovery point it holds), when RDS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_created_at: Option<DateTime<Utc>>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_progress: Option<i32>,
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Allocated storage in GiB (what RDS reports as the snapshot's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_gib: Option<i32>,
    /// A copy's source snapshot (ARN), as RDS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Snapshot {
    /// The recovery point it holds: the original snapshot's time for a copy.
    pub fn point(&self) -> Option<DateTime<Utc>> {
        self.original_created_at.or(self.created_at)
    }

    pub fn available(&self) -> bool {
        self.status == "available"
    }

    /// Created by lifeboat for `target` (by its tags).
    pub fn tagged_for(&self, target: &str) -> bool {
        self.tags.get(TAG_TARGET).map(String::as_str) == Some(target)
    }

    pub fn set(&self) -> Option<&str> {
        self.tags.get(TAG_SET).map(String::as_str)
    }
}

/// The DB instance or cluster being protected, as RDS describes it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub kind: Kind,
    pub identifier: String,
    pub arn: String,
    pub status: String,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    /// Point-in-time recovery reaches up to here (typically 5 minutes ago).
    pub latest_restorable: Option<DateTime<Utc>>,
    /// Clusters report the start of their window themselves.
    pub earliest_restorable: Option<DateTime<Utc>>,
    /// Days of automated backups; 0 = point-in-time recovery is off.
    pub backup_retention_days: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub instance_class: Option<String>,
    /// A cluster's instances.
    pub members: Vec<String>,
    pub endpoint: Option<String>,
}

pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

pub fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

fn tags_of(list: Option<&[Tag]>) -> BTreeMap<String, String> {
    list.unwrap_or_default()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

pub fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn from_instance_snapshot(s: &aws_sdk_rds::types::DbSnapshot, region: &str) -> Snapshot {
    Snapshot {
        id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
        arn: s.db_snapshot_arn().unwrap_or_default().to_string(),
        region: region.to_string(),
        kind: Kind::Instance,
        source_identifier: s.db_instance_identifier().unwrap_or_default().to_string(),
        created_at: time(s.snapshot_create_time()),
        original_created_at: time(s.original_snapshot_create_time()),
        status: s.status().unwrap_or("unknown").to_string(),
        percent_progress: s.percent_progress(),
        encrypted: s.encrypted().unwrap_or(false),
        kms_key_id: s.kms_key_id().map(str::to_string),
        engine: s.engine().map(str::to_string),
        engine_version: s.engine_version().map(str::to_string),
        allocated_gib: s.allocated_storage(),
        copied_from: s.source_db_snapshot_identifier().map(str::to_string),
        tags: tags_of(Some(s.tag_list())),
    }
}

fn from_cluster_snapshot(s: &aws_sdk_rds::types::DbClusterSnapshot, region: &str) -> Snapshot {
    Snapshot {
        id: s
            .db_cluster_snapshot_identifier()
            .unwrap_or_default()
            .to_string(),
        arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
        region: region.to_string(),
        kind: Kind::Cluster,
        source_identifier: s.db_cluster_identifier().unwrap_or_default().to_string(),
        created_at: time(s.snapshot_create_time()),
        original_created_at: None,
        status: s.status().unwrap_or("unknown").to_string(),
        percent_progress: s.percent_progress(),
        encrypted: s.storage_encrypted().unwrap_or(false),
        kms_key_id: s.kms_key_id().map(str::to_string),
        engine: s.engine().map(str::to_string),
        engine_version: s.engine_version().map(str::to_string),
        allocated_gib: s.allocated_storage(),
        copied_from: s.source_db_cluster_snapshot_arn().map(str::to_string),
        tags: tags_of(Some(s.tag_list())),
    }
}

/// The RDS API of one region, for one target.
pub struct Api {
    pub client: Client,
    pub at: At,
    pub attempts: u32,
    pub kind: Kind,
}

impl Api {
    pub fn new(client: Client, at: At, attempts: u32, kind: Kind) -> Self {
        Api {
            client,
            at,
            attempts,
            kind,
        }
    }

    pub fn region(&self) -> &str {
        &self.at.region
    }

    /// DescribeDBInstances / DescribeDBClusters of the source.
    pub async fn source(&self, identifier: &str) -> Result<Source> {
        match self.kind {
            Kind::Instance => {
                let what = format!("DB instance {identifier}");
                let out = self
                    .client
                    .describe_db_instances()
                    .db_instance_identifier(identifier)
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                let i = out
                    .db_instances()
                    .first()
                    .ok_or_else(|| self.at.refused(format!("{what} was not described")))?;
                Ok(Source {
                    kind: Kind::Instance,
                    identifier: identifier.to_string(),
                    arn: i.db_instance_arn().unwrap_or_default().to_string(),
                    status: i.db_instance_status().unwrap_or("unknown").to_string(),
                    engine: i.engine().map(str::to_string),
                    engine_version: i.engine_version().map(str::to_string),
                    encrypted: i.storage_encrypted().unwrap_or(false),
                    kms_key_id: i.kms_key_id().map(str::to_string),
                    latest_restorable: time(i.latest_restorable_time()),
                    earliest_restorable: None,
                    backup_retention_days: i.backup_retention_period().unwrap_or(0),
                    created_at: time(i.instance_create_time()),
                    instance_class: i.db_instance_class().map(str::to_string),
                    members: vec![],
                    endpoint: i.endpoint().and_then(|e| {
                        e.address()
                            .map(|a| format!("{a}:{}", e.port().unwrap_or(5432)))
                    }),
                })
            }
            Kind::Cluster => {
                let what = format!("DB cluster {identifier}");
                let out = self
                    .client
                    .describe_db_clusters()
                    .db_cluster_identifier(identifier)
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                let c = out
                    .db_clusters()
                    .first()
                    .ok_or_else(|| self.at.refused(format!("{what} was not described")))?;
                Ok(Source {
                    kind: Kind::Cluster,
                    identifier: identifier.to_string(),
                    arn: c.db_cluster_arn().unwrap_or_default().to_string(),
                    status: c.status().unwrap_or("unknown").to_string(),
                    engine: c.engine().map(str::to_string),
                    engine_version: c.engine_version().map(str::to_string),
                    encrypted: c.storage_encrypted().unwrap_or(false),
                    kms_key_id: c.kms_key_id().map(str::to_string),
                    latest_restorable: time(c.latest_restorable_time()),
                    earliest_restorable: time(c.earliest_restorable_time()),
                    backup_retention_days: c.backup_retention_period().unwrap_or(0),
                    created_at: time(c.cluster_create_time()),
                    instance_class: c.db_cluster_instance_class().map(str::to_string),
                    members: c
                        .db_cluster_members()
                        .iter()
                        .filter_map(|m| m.db_instance_identifier().map(str::to_string))
                        .collect(),
                    endpoint: c
                        .endpoint()
                        .map(|a| format!("{a}:{}", c.port().unwrap_or(5432))),
                })
            }
        }
    }

    /// The earliest time of the instance's automated backups' restore window, when RDS
    /// reports one (DescribeDBInstanceAutomatedBackups).
    pub async fn automated_backup_window(
        &self,
        identifier: &str,
    ) -> Result<Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>> {
        let what = format!("automated backups of DB instance {identifier}");
        let out = self
            .client
            .describe_db_instance_automated_backups()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
        Ok(out
            .db_instance_automated_backups()
            .iter()
            .filter_map(|b| b.restore_window())
            .map(|w| (time(w.earliest_time()), time(w.latest_time())))
            .find(|(e, _)| e.is_some()))
    }

    /// CreateDBSnapshot / CreateDBClusterSnapshot.
    pub async fn create(
        &self,
        source: &str,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<Snapshot> {
        let what = format!("snapshot {id} of {} {source}", self.kind.label());
        let region = self.region().to_string();
        match self.kind {
            Kind::Instance => {
                let out = self
                    .client
                    .create_db_snapshot()
                    .db_instance_identifier(source)
                    .db_snapshot_identifier(id)
                    .set_tags(Some(tag_list(tags)))
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                out.db_snapshot()
                    .map(|s| from_instance_snapshot(s, &region))
                    .ok_or_else(|| {
                        self.at
                            .refused(format!("{what}: no snapshot in the answer"))
                    })
            }
            Kind::Cluster => {
                let out = self
                    .client
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(source)
                    .db_cluster_snapshot_identifier(id)
                    .set_tags(Some(tag_list(tags)))
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                out.db_cluster_snapshot()
                    .map(|s| from_cluster_snapshot(s, &region))
                    .ok_or_else(|| {
                        self.at
                            .refused(format!("{what}: no snapshot in the answer"))
                    })
            }
        }
    }

    /// One snapshot by id; `None` when it does not exist.
    pub async fn get(&self, id: &str) -> Result<Option<Snapshot>> {
        let what = format!("snapshot {id}");
        let region = self.region().to_string();
        let found = match self.kind {
            Kind::Instance => self
                .client
                .describe_db_snapshots()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map(|o| {
                    o.db_snapshots()
                        .iter()
                        .map(|s| from_instance_snapshot(s, &region))
                        .find(|s| s.id.eq_ignore_ascii_case(id))
                })
                .map_err(|e| self.at.sdk(&what, e, self.attempts, None)),
            Kind::Cluster => self
                .client
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map(|o| {
                    o.db_cluster_snapshots()
                        .iter()
                        .map(|s| from_cluster_snapshot(s, &region))
                        .find(|s| s.id.eq_ignore_ascii_case(id))
                })
                .map_err(|e| self.at.sdk(&what, e, self.attempts, None)),
        };
        match found {
            Ok(s) => Ok(s),
            Err(crate::Error::Rds { failure, .. })
                if matches!(*failure, crate::error::RdsFailure::NotFound { .. }) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every manual snapshot of the region (all pages), of this kind.
    pub async fn list_manual(&self) -> Result<Vec<Snapshot>> {
        let what = format!("manual {} snapshots", self.kind.label());
        let region = self.region().to_string();
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = match self.kind {
                Kind::Instance => {
                    let o = self
                        .client
                        .describe_db_snapshots()
                        .snapshot_type("manual")
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                    let page: Vec<Snapshot> = o
                        .db_snapshots()
                        .iter()
                        .map(|s| from_instance_snapshot(s, &region))
                        .collect();
                    (page, o.marker().map(str::to_string))
                }
                Kind::Cluster => {
                    let o = self
                        .client
                        .describe_db_cluster_snapshots()
                        .snapshot_type("manual")
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| self.at.sdk(&what, e, self.attempts, None))?;
                    let page: Vec<Snapshot> = o
                        .db_cluster_snapshots()
                        .iter()
                        .map(|s| from_cluster_snapshot(s, &region))
                        .collect();
                    (page, o.marker().map(str::to_string))
                }
            };
            out.extend(page);
            match next.filter(|m| !m.is_empty()) {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => break,
            }
        }
        Ok(out)
    }

    /// CopyDBSnapshot / CopyDBClusterSnapshot, called in this (the destination) region.
    pub async fn copy(
        &self,
        source_arn: &str,
        id: &str,
        kms_key_id: Option<&str>,
        tags: &BTreeMap<String, String>,
        presigned_url: Option<String>,
    ) -> Result<Snapshot> {
        let what = format!("copy {id} of {source_arn}");
        let region = self.region().to_string();
        match self.kind {
            Kind::Instance => {
                let out = self
                    .client
                    .copy_db_snapshot()
                    .source_db_snapshot_identifier(source_arn)
                    .target_db_snapshot_identifier(id)
                    .set_kms_key_id(kms_key_id.map(str::to_string))
                    .set_tags(Some(tag_list(tags)))
                    .set_pre_signed_url(presigned_url)
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, kms_key_id))?;
                out.db_snapshot()
                    .map(|s| from_instance_snapshot(s, &region))
                    .ok_or_else(|| {
                        self.at
                            .refused(format!("{what}: no snapshot in the answer"))
                    })
            }
            Kind::Cluster => {
                let out = self
                    .client
                    .copy_db_cluster_snapshot()
                    .source_db_cluster_snapshot_identifier(source_arn)
                    .target_db_cluster_snapshot_identifier(id)
                    .set_kms_key_id(kms_key_id.map(str::to_string))
                    .set_tags(Some(tag_list(tags)))
                    .set_pre_signed_url(presigned_url)
                    .send()
                    .await
                    .map_err(|e| self.at.sdk(&what, e, self.attempts, kms_key_id))?;
                out.db_cluster_snapshot()
                    .map(|s| from_cluster_snapshot(s, &region))
                    .ok_or_else(|| {
                        self.at
                            .refused(format!("{what}: no snapshot in the answer"))
                    })
            }
        }
    }

    /// DeleteDBSnapshot / DeleteDBClusterSnapshot.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let what = format!("deleting snapshot {id}");
        match self.kind {
            Kind::Instance => self
                .client
                .delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.at.sdk(&what, e, self.attempts, None)),
            Kind::Cluster => self
                .client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.at.sdk(&what, e, self.attempts, None)),
        }
    }
}
