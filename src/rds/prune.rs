//! `lifeboat rds prune`: the retention policy (the `prune` language, applied by
//! [`crate::retention::apply`]) per target and region, over lifeboat's own snapshots only.
//!
//! A snapshot is counted — and so may be deleted — only when it is available, carries the
//! target's `lifeboat:target` tag, **and** a trusted (signed) snapshot-set record names it:
//! a snapshot someone else made, or tagged by hand, or whose record was planted, is left
//! alone and says why. In a DR region the newest counted copy is always kept, whatever the
//! policy says. A region without a policy keeps everything. Records stay: evidence outlives
//! the snapshots.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::config::RdsTarget;
use super::list::tagged;
use super::Rds;
use crate::error::Result;
use crate::repository::records::{RdsSnapshotSet, Stored};
use crate::repository::Repository;
use crate::retention::{apply, Candidate};

pub const NEWEST_COPY_REASON: &str = "newest copy in a DR region";
pub const UNRECORDED_REASON: &str = "no trusted lifeboat record names it: left alone";
pub const NO_POLICY_REASON: &str = "no retention policy for this region";

#[derive(Debug, Clone, Serialize)]
pub struct RdsPruneReport {
    pub dry_run: bool,
    pub targets: Vec<TargetPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    pub target: String,
    pub regions: Vec<RegionPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionPlan {
    pub region: String,
    /// `source` or `copy`.
    pub role: &'static str,
    /// The policy in words.
    pub policy: String,
    pub timezone: String,
    /// Oldest first.
    pub rows: Vec<PlanRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub id: String,
    pub taken_at: Option<DateTime<Utc>>,
    pub status: String,
    pub allocated_gib: Option<i32>,
    /// `keep`, `delete` or `leave` (not lifeboat's to judge).
    pub action: &'static str,
    pub reasons: Vec<String>,
    /// A real run deleted it.
    pub deleted: bool,
}

impl RdsPruneReport {
    pub fn to_delete(&self) -> impl Iterator<Item = &PlanRow> {
        self.targets
            .iter()
            .flat_map(|t| t.regions.iter())
            .flat_map(|r| r.rows.iter())
            .filter(|r| r.action == "delete")
    }

    pub fn total(&self) -> usize {
        self.targets
            .iter()
            .flat_map(|t| t.regions.iter())
            .map(|r| r.rows.len())
            .sum()
    }
}

/// Plans every target, shows the plan (`show`), then, unless a dry run, deletes.
pub async fn prune(
    rds: &Rds,
    repo: &Repository,
    targets: &[&RdsTarget],
    dry_run: bool,
    show: impl FnOnce(&RdsPruneReport),
) -> Result<RdsPruneReport> {
    repo.descriptor().await?;
    repo.require_trust()?;
    let now = Utc::now();
    let mut report = RdsPruneReport {
        dry_run,
        targets: Vec::new(),
    };
    for target in targets {
        let sets = repo.rds_snapshot_sets(Some(&target.name)).await?;
        report
            .targets
            .push(plan_target(rds, target, &sets, now).await?);
    }
    show(&report);
    if !dry_run {
        for (plan, target) in report.targets.iter_mut().zip(targets) {
            delete_planned(rds, target, plan).await?;
        }
    }
    Ok(report)
}

async fn plan_target(
    rds: &Rds,
    target: &RdsTarget,
    sets: &[Stored<RdsSnapshotSet>],
    now: DateTime<Utc>,
) -> Result<TargetPlan> {
    let mut regions = Vec::new();
    for (i, region) in target.regions().iter().enumerate() {
        let snaps = tagged(rds, target, region).await?;
        let rows: Vec<Row> = snaps
            .into_iter()
            .map(|s| Row {
                recorded: sets
                    .iter()
                    .any(|set| set.trusted() && set.record.names(region, &s.id)),
                snapshot: s,
            })
            .collect();
        regions.push(plan_region(target, region, i > 0, rows, now));
    }
    Ok(TargetPlan {
        target: target.name.clone(),
        regions,
    })
}

/// A tagged snapshot and whether a trusted record names it.
pub struct Row {
    pub snapshot: super::Snapshot,
    pub recorded: bool,
}

/// The plan of one region (pure).
pub fn plan_region(
    target: &RdsTarget,
    region: &str,
    is_copy: bool,
    rows: Vec<Row>,
    now: DateTime<Utc>,
) -> RegionPlan {
    let retention = target.retention_in(region);
    let counted: Vec<Candidate> = rows
        .iter()
        .filter(|r| r.recorded && r.snapshot.available())
        .filter_map(|r| {
            Some(Candidate {
                id: r.snapshot.id.clone(),
                time: r.snapshot.point()?,
            })
        })
        .collect();
    let decisions = retention
        .map(|r| apply(&r.policy, &counted, r.timezone, now))
        .unwrap_or_default();
    let newest_copy = is_copy
        .then(|| counted.iter().max_by_key(|c| (c.time, c.id.clone())))
        .flatten()
        .map(|c| c.id.clone());
    let mut out: Vec<PlanRow> = rows
        .into_iter()
        .map(|r| {
            let s = &r.snapshot;
            let (action, mut reasons) = if !r.recorded {
                ("leave", vec![UNRECORDED_REASON.to_string()])
            } else if !s.available() {
                ("leave", vec![format!("status {}: left alone", s.status)])
            } else if retention.is_none() {
                ("keep", vec![NO_POLICY_REASON.to_string()])
            } else {
                match decisions.iter().find(|d| d.id == s.id) {
                    Some(d) if d.keep => ("keep", d.reasons.clone()),
                    Some(_) => ("delete", vec![]),
                    None => ("leave", vec!["no snapshot time: left alone".to_string()]),
                }
            };
            let mut action = action;
            if newest_copy.as_deref() == Some(s.id.as_str()) {
                reasons.push(NEWEST_COPY_REASON.to_string());
                if action == "delete" {
                    action = "keep";
                }
            }
            PlanRow {
                id: s.id.clone(),
                taken_at: s.point(),
                status: s.status.clone(),
                allocated_gib: s.allocated_gib,
                action,
                reasons,
                deleted: false,
            }
        })
        .collect();
    out.sort_by_key(|r| (r.taken_at, r.id.clone()));
    RegionPlan {
        region: region.to_string(),
        role: if is_copy { "copy" } else { "source" },
        policy: retention
            .map(|r| r.policy.describe())
            .unwrap_or_else(|| "none (everything kept)".into()),
        timezone: retention
            .map(|r| r.timezone.name().to_string())
            .unwrap_or_else(|| "UTC".into()),
        rows: out,
    }
}

/// Deletes what the plan deletes, oldest first, each after checking again that it still
/// carries the target's tag.
async fn delete_planned(rds: &Rds, target: &RdsTarget, plan: &mut TargetPlan) -> Result<()> {
    for region in &mut plan.regions {
        let api = rds.api(target, &region.region);
        for row in region.rows.iter_mut().filter(|r| r.action == "delete") {
            match api.get(&row.id).await? {
                Some(s) if s.tagged_for(&target.name) => {}
                _ => {
                    row.action = "leave";
                    row.reasons
                        .push("changed since the plan (gone or untagged): left alone".into());
                    continue;
                }
            }
            api.delete(&row.id).await?;
            tracing::info!(target = %target.name, region = %region.region, snapshot = %row.id, "deleted");
            row.deleted = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use crate::rds::{Kind, RdsSettings, Snapshot};

    fn target(text: &str) -> RdsTarget {
        let file = ConfigFile::parse(text).unwrap();
        RdsSettings::resolve(&file.rds, None).unwrap().targets[0].clone()
    }

    fn row(id: &str, hour: u32, recorded: bool, status: &str) -> Row {
        Row {
            snapshot: Snapshot {
                id: id.into(),
                arn: String::new(),
                region: "r".into(),
                kind: Kind::Instance,
                source_identifier: "db".into(),
                created_at: chrono::DateTime::from_timestamp(
                    1_800_000_000 + i64::from(hour) * 3600,
                    0,
                ),
                original_created_at: None,
                status: status.into(),
                percent_progress: None,
                encrypted: true,
                kms_key_id: None,
                engine: None,
                engine_version: None,
                allocated_gib: None,
                copied_from: None,
                tags: Default::default(),
            },
            recorded,
        }
    }

    fn actions(p: &RegionPlan) -> Vec<(&str, &str)> {
        p.rows.iter().map(|r| (r.id.as_str(), r.action)).collect()
    }

    #[test]
    fn only_recorded_available_snapshots_are_judged_and_the_newest_dr_copy_stays() {
        let t = target(
            "[[rds.target]]\nname = \"a\"\ninstance = \"db\"\nregion = \"src\"\nretention = { keep_last = 1 }\n\
             [[rds.target.copy]]\nregion = \"dr\"\n",
        );
        let now = chrono::DateTime::from_timestamp(1_800_000_000 + 10 * 3600, 0).unwrap();
        let rows = || {
            vec![
                row("s1", 1, true, "available"),
                row("s2", 2, false, "available"),
                row("s3", 3, true, "available"),
                row("s4", 4, true, "creating"),
            ]
        };
        let src = plan_region(&t, "src", false, rows(), now);
        assert_eq!(
            actions(&src),
            vec![
                ("s1", "delete"),
                ("s2", "leave"),
                ("s3", "keep"),
                ("s4", "leave")
            ]
        );
        assert!(src.rows[1].reasons[0].contains("no trusted lifeboat record"));
        assert!(src.rows[3].reasons[0].contains("status creating"));
        // The DR region uses the target's policy and marks its newest copy.
        let dr = plan_region(&t, "dr", true, rows(), now);
        assert_eq!(dr.role, "copy");
        assert!(dr.rows[2].reasons.iter().any(|r| r == NEWEST_COPY_REASON));
        // No policy: everything kept.
        let t = target("[[rds.target]]\nname = \"a\"\ninstance = \"db\"\nregion = \"src\"\n");
        let plan = plan_region(&t, "src", false, rows(), now);
        assert_eq!(plan.rows[0].action, "keep");
        assert_eq!(plan.rows[0].reasons, vec![NO_POLICY_REASON.to_string()]);
    }
}
