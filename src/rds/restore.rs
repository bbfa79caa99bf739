//! `lifeboat rds restore`: a new DB instance (or an Aurora cluster and its first instance)
//! from a point in time of the source, or from a snapshot — also a DR-region copy, which is
//! how a region failover restores. The source is only ever described, never modified.
//!
//! Steps: resolve what to restore from (checking a point in time against the restorable
//! window, or that the snapshot exists and is available), build the API calls
//! ([`ApiCall`]: what `--dry-run` prints, with their parameters and no secrets), make them,
//! wait until the new instance is available, and report its endpoint and the time taken.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::api::{smithy_time, Api, Snapshot, Source};
use super::client::{wait_until, Poll};
use super::config::{Kind, RdsTarget};
use super::list::tagged;
use super::Rds;
use crate::error::{RdsFailure, Result};
use crate::progress::Progress;

/// What to restore from.
#[derive(Debug, Clone, PartialEq)]
pub enum RestoreFrom {
    /// Point-in-time recovery of the source to this time.
    PointInTime(DateTime<Utc>),
    /// Point-in-time recovery to the latest restorable time.
    Latest,
    /// A snapshot in `region` (default: the source region); `newest` = lifeboat's newest
    /// available snapshot of the target there.
    Snapshot { id: String, region: Option<String> },
}

/// A restore as asked.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub from: RestoreFrom,
    /// The new instance (for Aurora: the new cluster; its first instance is `<name>-1`).
    pub name: String,
    pub instance_class: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_group: Option<String>,
    pub publicly_accessible: bool,
    pub dry_run: bool,
}

/// One API call, as `--dry-run` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiCall {
    pub region: String,
    pub operation: String,
    pub parameters: Vec<(String, String)>,
}

impl std::fmt::Display for ApiCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.region, self.operation)?;
        for (k, v) in &self.parameters {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// The restorable window of point-in-time recovery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    pub target: String,
    pub region: String,
    pub dry_run: bool,
    pub calls: Vec<ApiCall>,
    /// The new instance (and for Aurora the new cluster).
    pub instance: String,
    pub cluster: Option<String>,
    /// The point restored to: the time asked, the latest restorable time, or the snapshot's.
    pub restored_to: Option<DateTime<Utc>>,
    pub snapshot: Option<String>,
    pub window: Option<Window>,
    /// `host:port` once available.
    pub endpoint: Option<String>,
    /// From the first call to available (the measured RTO of the restore).
    pub seconds: Option<f64>,
}

/// Plans and (unless a dry run) makes the restore.
pub async fn restore(
    rds: &Rds,
    target: &RdsTarget,
    req: &RestoreRequest,
    progress: &Progress,
) -> Result<RestoreOutcome> {
    let source_api = rds.api(target, &target.region);
    if req.name.eq_ignore_ascii_case(&target.identifier) {
        return Err(source_api.at.refused(format!(
            "--target-instance {} is the source itself: a restore always makes a new {} and \
             never modifies the source; choose a new name",
            req.name,
            target.kind.label()
        )));
    }
    let resolved = resolve(rds, target, req).await?;
    let calls = calls(target, req, &resolved);
    let mut outcome = RestoreOutcome {
        target: target.name.clone(),
        region: resolved.region.clone(),
        dry_run: req.dry_run,
        calls: calls.clone(),
        instance: instance_name(target.kind, &req.name),
        cluster: (target.kind == Kind::Cluster).then(|| req.name.clone()),
        restored_to: resolved.point,
        snapshot: resolved.snapshot.as_ref().map(|s| s.id.clone()),
        window: resolved.window,
        endpoint: None,
        seconds: None,
    };
    if req.dry_run {
        return Ok(outcome);
    }
    let api = rds.api(target, &resolved.region);
    let started = Instant::now();
    execute(&api, target, req, &resolved).await?;
    let endpoint = wait_instance(rds, &api, target, &outcome.instance, progress).await?;
    progress.finish();
    outcome.endpoint = endpoint;
    outcome.seconds = Some(started.elapsed().as_secs_f64());
    Ok(outcome)
}

/// The new instance's name: the name asked, or for Aurora its first instance `<name>-1`.
pub fn instance_name(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Instance => name.to_string(),
        Kind::Cluster => format!("{name}-1"),
    }
}

/// What the request resolves to against the service.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub region: String,
    pub point: Option<DateTime<Utc>>,
    pub latest: bool,
    pub window: Option<Window>,
    pub snapshot: Option<Snapshot>,
    /// Engine and instance class, needed by Aurora's CreateDBInstance.
    pub engine: Option<String>,
    pub instance_class: Option<String>,
}

async fn resolve(rds: &Rds, target: &RdsTarget, req: &RestoreRequest) -> Result<Resolved> {
    match &req.from {
        RestoreFrom::PointInTime(_) | RestoreFrom::Latest => {
            let api = rds.api(target, &target.region);
            let source = api.source(&target.identifier).await?;
            let window = restorable_window(&api, &source).await?;
            let point = match &req.from {
                RestoreFrom::PointInTime(at) => {
                    check_in_window(&api, *at, window)?;
                    Some(*at)
                }
                _ => Some(window.latest),
            };
            let class = match target.kind {
                Kind::Cluster => cluster_instance_class(&api, req, &source).await?,
                Kind::Instance => req.instance_class.clone(),
            };
            Ok(Resolved {
                region: target.region.clone(),
                point,
                latest: req.from == RestoreFrom::Latest,
                window: Some(window),
                snapshot: None,
                engine: source.engine.clone(),
                instance_class: class,
            })
        }
        RestoreFrom::Snapshot { id, region } => {
            let region = region.clone().unwrap_or_else(|| target.region.clone());
            let api = rds.api(target, &region);
            let snapshot = find_snapshot(rds, &api, target, id, &region).await?;
            let class = match target.kind {
                Kind::Cluster => match &req.instance_class {
                    Some(c) => Some(c.clone()),
                    None => {
                        return Err(api.at.refused(
                            "restoring an Aurora cluster from a snapshot needs \
                             --instance-class for its first instance (e.g. db.r6g.large)",
                        ))
                    }
                },
                Kind::Instance => req.instance_class.clone(),
            };
            Ok(Resolved {
                region,
                point: snapshot.point(),
                latest: false,
                window: None,
                engine: snapshot.engine.clone(),
                snapshot: Some(snapshot),
                instance_class: class,
            })
        }
    }
}

/// The snapshot `id` (or `newest`: lifeboat's newest available one of the target) in the
/// region, which must be available.
async fn find_snapshot(
    rds: &Rds,
    api: &Api,
    target: &RdsTarget,
    id: &str,
    region: &str,
) -> Result<Snapshot> {
    let found = if id == "newest" {
        tagged(rds, target, region)
            .await?
            .into_iter()
            .rfind(|s| s.available())
            .ok_or_else(|| {
                api.at.refused(format!(
                    "no available lifeboat snapshot of {} in {region}; see `lifeboat rds list`",
                    target.name
                ))
            })?
    } else {
        api.get(id).await?.ok_or_else(|| {
            api.at.error(RdsFailure::NotFound {
                what: format!("{} {id}", target.kind.snapshot_noun()),
                code: "not found".into(),
            })
        })?
    };
    if !found.available() {
        return Err(api.at.error(RdsFailure::WrongState {
            what: format!("snapshot {}", found.id),
            code: "status".into(),
            message: found.status.clone(),
        }));
    }
    Ok(found)
}

/// Point-in-time recovery's window: from the earliest restorable time (a cluster reports it;
/// for an instance, its automated backups' restore window, else the later of its creation
/// and now minus the backup retention) to the latest restorable time.
pub async fn restorable_window(api: &Api, source: &Source) -> Result<Window> {
    let what = format!("{} {}", source.kind.label(), source.identifier);
    if source.backup_retention_days <= 0 {
        return Err(api.at.refused(format!(
            "{what} has automated backups off (backup retention 0 days), so it has no \
             point-in-time recovery; restore a snapshot with --from-snapshot"
        )));
    }
    let latest = source.latest_restorable.ok_or_else(|| {
        api.at.refused(format!(
            "{what} reports no latest restorable time yet (a new instance's first backup \
             may still run); restore a snapshot with --from-snapshot"
        ))
    })?;
    let by_retention = Utc::now() - Duration::days(i64::from(source.backup_retention_days));
    let earliest = match source.kind {
        Kind::Cluster => source.earliest_restorable,
        Kind::Instance => api
            .automated_backup_window(&source.identifier)
            .await
            .ok()
            .flatten()
            .and_then(|(e, _)| e),
    };
    let earliest = earliest.unwrap_or_else(|| {
        source
            .created_at
            .map_or(by_retention, |c| c.max(by_retention))
    });
    Ok(Window {
        earliest: earliest.min(latest),
        latest,
    })
}

fn check_in_window(api: &Api, at: DateTime<Utc>, w: Window) -> Result<()> {
    if at < w.earliest || at > w.latest {
        return Err(api.at.error(RdsFailure::OutsideWindow {
            at: at.to_rfc3339(),
            earliest: w.earliest.to_rfc3339(),
            latest: w.latest.to_rfc3339(),
        }));
    }
    Ok(())
}

async fn cluster_instance_class(
    api: &Api,
    req: &RestoreRequest,
    source: &Source,
) -> Result<Option<String>> {
    if let Some(c) = &req.instance_class {
        return Ok(Some(c.clone()));
    }
    if let Some(c) = &source.instance_class {
        return Ok(Some(c.clone()));
    }
    let Some(member) = source.members.first() else {
        return Err(api.at.refused(
            "the source cluster has no instance to copy the class of: give --instance-class",
        ));
    };
    let inst = Api::new(
        api.client.clone(),
        api.at.clone(),
        api.attempts,
        Kind::Instance,
    )
    .source(member)
    .await?;
    Ok(inst.instance_class)
}

/// The calls a restore makes, in order, with their parameters (pure).
pub fn calls(target: &RdsTarget, req: &RestoreRequest, r: &Resolved) -> Vec<ApiCall> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| p.push((k.to_string(), v.to_string()));
    let time = |p: &mut Vec<(String, String)>, key: &str| {
        if r.latest {
            p.push(("UseLatestRestorableTime".into(), "true".into()));
        } else if let Some(t) = r.point {
            p.push((key.into(), t.to_rfc3339()));
        }
    };
    let operation = match (target.kind, &r.snapshot) {
        (Kind::Instance, None) => {
            push("SourceDBInstanceIdentifier", &target.identifier);
            push("TargetDBInstanceIdentifier", &req.name);
            time(&mut p, "RestoreTime");
            "RestoreDBInstanceToPointInTime"
        }
        (Kind::Instance, Some(s)) => {
            push("DBSnapshotIdentifier", &s.id);
            push("DBInstanceIdentifier", &req.name);
            "RestoreDBInstanceFromDBSnapshot"
        }
        (Kind::Cluster, None) => {
            push("SourceDBClusterIdentifier", &target.identifier);
            push("DBClusterIdentifier", &req.name);
            time(&mut p, "RestoreToTime");
            "RestoreDBClusterToPointInTime"
        }
        (Kind::Cluster, Some(s)) => {
            push("SnapshotIdentifier", &s.id);
            push("DBClusterIdentifier", &req.name);
            if let Some(e) = &r.engine {
                push("Engine", e);
            }
            "RestoreDBClusterFromSnapshot"
        }
    };
    let mut push = |k: &str, v: &str| p.push((k.to_string(), v.to_string()));
    if target.kind == Kind::Instance {
        if let Some(c) = &r.instance_class {
            push("DBInstanceClass", c);
        }
        push("PubliclyAccessible", &req.publicly_accessible.to_string());
    }
    if let Some(g) = &req.subnet_group {
        push("DBSubnetGroupName", g);
    }
    for sg in &req.security_groups {
        push("VpcSecurityGroupIds.member", sg);
    }
    if let Some(g) = &req.parameter_group {
        match target.kind {
            Kind::Instance => push("DBParameterGroupName", g),
            Kind::Cluster => push("DBClusterParameterGroupName", g),
        }
    }
    push("Tags", &format!("lifeboat:restored-from={}", target.name));
    let mut out = vec![ApiCall {
        region: r.region.clone(),
        operation: operation.into(),
        parameters: p,
    }];
    if target.kind == Kind::Cluster {
        let mut q = vec![
            (
                "DBInstanceIdentifier".to_string(),
                instance_name(Kind::Cluster, &req.name),
            ),
            ("DBClusterIdentifier".to_string(), req.name.clone()),
        ];
        if let Some(e) = &r.engine {
            q.push(("Engine".into(), e.clone()));
        }
        if let Some(c) = &r.instance_class {
            q.push(("DBInstanceClass".into(), c.clone()));
        }
        q.push((
            "PubliclyAccessible".into(),
            req.publicly_accessible.to_string(),
        ));
        out.push(ApiCall {
            region: r.region.clone(),
            operation: "CreateDBInstance".into(),
            parameters: q,
        });
    }
    out
}

fn restored_tags(target: &RdsTarget) -> Vec<aws_sdk_rds::types::Tag> {
    vec![aws_sdk_rds::types::Tag::builder()
        .key("lifeboat:restored-from")
        .value(&target.name)
        .build()]
}

/// Makes the calls [`calls`] lists.
async fn execute(api: &Api, target: &RdsTarget, req: &RestoreRequest, r: &Resolved) -> Result<()> {
    let sgs = (!req.security_groups.is_empty()).then(|| req.security_groups.clone());
    let what = format!("restoring {} as {}", target.describe(), req.name);
    let err = |e| api.at.sdk(&what, e, api.attempts, None);
    match (target.kind, &r.snapshot) {
        (Kind::Instance, None) => {
            let mut c = api
                .client
                .restore_db_instance_to_point_in_time()
                .source_db_instance_identifier(&target.identifier)
                .target_db_instance_identifier(&req.name)
                .set_db_instance_class(r.instance_class.clone())
                .set_db_subnet_group_name(req.subnet_group.clone())
                .set_vpc_security_group_ids(sgs)
                .set_db_parameter_group_name(req.parameter_group.clone())
                .publicly_accessible(req.publicly_accessible)
                .set_tags(Some(restored_tags(target)));
            c = match (r.latest, r.point) {
                (true, _) => c.use_latest_restorable_time(true),
                (false, Some(t)) => c.restore_time(smithy_time(t)),
                (false, None) => c,
            };
            c.send()
                .await
                .map(|_| ())
                .map_err(|e| api.at.sdk(&what, e, api.attempts, None))
        }
        (Kind::Instance, Some(s)) => api
            .client
            .restore_db_instance_from_db_snapshot()
            .db_snapshot_identifier(&s.id)
            .db_instance_identifier(&req.name)
            .set_db_instance_class(r.instance_class.clone())
            .set_db_subnet_group_name(req.subnet_group.clone())
            .set_vpc_security_group_ids(sgs)
            .set_db_parameter_group_name(req.parameter_group.clone())
            .publicly_accessible(req.publicly_accessible)
            .set_tags(Some(restored_tags(target)))
            .send()
            .await
            .map(|_| ())
            .map_err(err),
        (Kind::Cluster, snapshot) => {
            match snapshot {
                None => {
                    let mut c = api
                        .client
                        .restore_db_cluster_to_point_in_time()
                        .source_db_cluster_identifier(&target.identifier)
                        .db_cluster_identifier(&req.name)
                        .set_db_subnet_group_name(req.subnet_group.clone())
                        .set_vpc_security_group_ids(sgs)
                        .set_db_cluster_parameter_group_name(req.parameter_group.clone())
                        .set_tags(Some(restored_tags(target)));
                    c = match (r.latest, r.point) {
                        (true, _) => c.use_latest_restorable_time(true),
                        (false, Some(t)) => c.restore_to_time(smithy_time(t)),
                        (false, None) => c,
                    };
                    c.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| api.at.sdk(&what, e, api.attempts, None))?
                }
                Some(s) => api
                    .client
                    .restore_db_cluster_from_snapshot()
                    .snapshot_identifier(&s.id)
                    .db_cluster_identifier(&req.name)
                    .set_engine(r.engine.clone())
                    .set_db_subnet_group_name(req.subnet_group.clone())
                    .set_vpc_security_group_ids(sgs)
                    .set_db_cluster_parameter_group_name(req.parameter_group.clone())
                    .set_tags(Some(restored_tags(target)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| api.at.sdk(&what, e, api.attempts, None))?,
            }
            api.client
                .create_db_instance()
                .db_instance_identifier(instance_name(Kind::Cluster, &req.name))
                .db_cluster_identifier(&req.name)
                .set_engine(r.engine.clone())
                .set_db_instance_class(r.instance_class.clone())
                .publicly_accessible(req.publicly_accessible)
                .set_tags(Some(restored_tags(target)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api.at.sdk(&what, e, api.attempts, None))
        }
    }
}

/// Waits until the new instance is available; its endpoint.
async fn wait_instance(
    rds: &Rds,
    api: &Api,
    target: &RdsTarget,
    name: &str,
    progress: &Progress,
) -> Result<Option<String>> {
    let inst = Api::new(
        api.client.clone(),
        api.at.clone(),
        api.attempts,
        Kind::Instance,
    );
    let what = format!("restored instance {name}");
    wait_until(
        &target.name,
        api.region(),
        &what,
        rds.settings.wait_timeout,
        rds.settings.poll_interval,
        progress,
        || async {
            let s = inst.source(name).await?;
            Ok(match s.status.as_str() {
                "available" => Poll::Done(s.endpoint),
                "failed" | "incompatible-restore" | "incompatible-parameters" => {
                    return Err(api.at.refused(format!(
                        "{what} ended in status {}; see its RDS events",
                        s.status
                    )))
                }
                other => Poll::Waiting(other.to_string()),
            })
        },
    )
    .await
}

/// Deletes what a drill restored (its scratch instance; for Aurora the instance, then the
/// cluster), with no final snapshot. Never the source; a scratch resource already gone is
/// not an error.
pub async fn delete_restored(api: &Api, target: &RdsTarget, name: &str) -> Result<String> {
    if name.eq_ignore_ascii_case(&target.identifier) {
        return Err(api
            .at
            .refused(format!("refusing to delete the source {name}")));
    }
    let gone = |r: Result<()>| match r {
        Err(crate::Error::Rds { failure, .. })
            if matches!(*failure, RdsFailure::NotFound { .. }) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    };
    let instance = instance_name(target.kind, name);
    let what = format!("deleting scratch instance {instance}");
    let deleted_instance = gone(
        api.client
            .delete_db_instance()
            .db_instance_identifier(&instance)
            .skip_final_snapshot(true)
            .delete_automated_backups(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api.at.sdk(&what, e, api.attempts, None)),
    )?;
    let mut done = vec![format!(
        "instance {instance} {}",
        if deleted_instance {
            "deleted"
        } else {
            "already gone"
        }
    )];
    if target.kind == Kind::Cluster {
        let what = format!("deleting scratch cluster {name}");
        let deleted = gone(
            api.client
                .delete_db_cluster()
                .db_cluster_identifier(name)
                .skip_final_snapshot(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api.at.sdk(&what, e, api.attempts, None)),
        )?;
        done.push(format!(
            "cluster {name} {}",
            if deleted { "deleted" } else { "already gone" }
        ));
    }
    Ok(format!(
        "{} in {} (no final snapshot)",
        done.join(", "),
        api.region()
    ))
}
