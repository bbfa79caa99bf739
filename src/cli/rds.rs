//! `lifeboat rds …`: parse, resolve, call `lifeboat::rds`, print.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::args::{RdsCommand, RdsWhich};
use super::{open_repo, show_progress, Cli};
use lifeboat::config::Settings;
use lifeboat::progress::Progress;
use lifeboat::rds::list::TargetListing;
use lifeboat::rds::prune::RdsPruneReport;
use lifeboat::rds::restore::{RestoreFrom, RestoreOutcome, RestoreRequest};
use lifeboat::rds::{Rds, RdsTarget};
use lifeboat::report::format::duration;
use lifeboat::signals::{rds_series, BackupRun, Signals};
use lifeboat::Error;

fn targets<'a>(rds: &'a Rds, w: &RdsWhich) -> Result<Vec<&'a RdsTarget>, Error> {
    rds.settings.select(
        w.target.as_deref(),
        w.instance.as_deref(),
        w.cluster.as_deref(),
    )
}

pub async fn dispatch(cli: &Cli, settings: &Settings, cmd: &RdsCommand) -> Result<()> {
    let rds = Rds::new(settings.rds()?).await;
    match cmd {
        RdsCommand::Snapshot { which, json } => {
            let chosen = targets(&rds, which)?;
            let signals = Signals::from_settings(settings)?;
            let repo = open_repo(settings).await?;
            let repo_name = repo.name();
            // One target's failure does not keep the others from their snapshots; the
            // first failure is the exit status, the others are logged.
            let mut sets = Vec::new();
            let mut failed: Vec<Error> = Vec::new();
            for target in chosen {
                let started_at = Utc::now();
                let progress =
                    Progress::spinner(&format!("rds snapshot {}", target.name), show_progress(cli));
                match lifeboat::rds::snapshot::snapshot(&rds, &repo, target, &progress).await {
                    Ok(done) => {
                        if !json {
                            snapshot_summary(&done);
                        }
                        signals
                            .backup_finished(&BackupRun::rds_snapshot(&repo_name, &done.set))
                            .await;
                        sets.push(done.set);
                    }
                    Err(e) => {
                        progress.finish();
                        signals
                            .backup_finished(&BackupRun::failed(
                                &repo_name,
                                started_at,
                                vec![rds_series(&target.name)],
                                &e,
                            ))
                            .await;
                        // The first is the command's error (printed on exit); later ones here.
                        if !failed.is_empty() {
                            tracing::error!(target = %target.name, "{e}");
                        }
                        failed.push(e);
                    }
                }
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&sets)?);
            }
            if let Some(first) = failed.into_iter().next() {
                return Err(first.into());
            }
        }
        RdsCommand::List { which, json } => {
            let chosen = targets(&rds, which)?;
            // The repository is optional: without one, the `recorded` column is unknown.
            let repo = match settings.repository() {
                Ok(_) => match open_repo(settings).await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!("cannot open the repository ({e}); every snapshot is shown as not recorded");
                        None
                    }
                },
                Err(_) => None,
            };
            let listings = lifeboat::rds::list::list(&rds, repo.as_deref(), &chosen).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&listings)?);
            } else {
                list_table(&listings, Utc::now());
            }
            if let Some(e) = lifeboat::rds::list::first_error(&listings) {
                return Err(e.into());
            }
        }
        RdsCommand::Prune {
            which,
            dry_run,
            json,
        } => {
            let chosen = targets(&rds, which)?;
            let repo = open_repo(settings).await?;
            let json = *json;
            let report = lifeboat::rds::prune::prune(&rds, &repo, &chosen, *dry_run, |plan| {
                if !json {
                    println!("{}", prune_plan_text(plan));
                }
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                prune_done(&report);
            }
        }
        RdsCommand::Restore {
            which,
            at,
            latest,
            from_snapshot,
            region,
            target_instance,
            instance_class,
            subnet_group,
            security_groups,
            parameter_group,
            publicly_accessible,
            dry_run,
            json,
        } => {
            let target = rds.settings.one(
                which.target.as_deref(),
                which.instance.as_deref(),
                which.cluster.as_deref(),
            )?;
            let from = match (at, latest, from_snapshot) {
                (Some(t), _, _) => {
                    RestoreFrom::PointInTime(lifeboat::config::parse_point_in_time(t)?)
                }
                (None, true, _) => RestoreFrom::Latest,
                (None, false, Some(id)) => RestoreFrom::Snapshot {
                    id: id.clone(),
                    region: region.clone(),
                },
                (None, false, None) => {
                    return Err(
                        Error::config("give --at TIME, --latest or --from-snapshot ID").into(),
                    )
                }
            };
            let req = RestoreRequest {
                from,
                name: target_instance.clone(),
                instance_class: instance_class.clone(),
                subnet_group: subnet_group.clone(),
                security_groups: security_groups
                    .iter()
                    .filter(|s| !s.trim().is_empty())
                    .cloned()
                    .collect(),
                parameter_group: parameter_group.clone(),
                publicly_accessible: *publicly_accessible,
                dry_run: *dry_run,
            };
            let progress = Progress::spinner(
                &format!("rds restore {}", target_instance),
                show_progress(cli),
            );
            let outcome = lifeboat::rds::restore::restore(&rds, target, &req, &progress).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                restore_summary(&outcome);
            }
        }
    }
    Ok(())
}

fn snapshot_summary(done: &lifeboat::rds::snapshot::SnapshotOutcome) {
    let s = &done.set;
    println!(
        "snapshot {} of {} {} in {} available ({}, {})",
        s.snapshot.id,
        s.kind.label(),
        s.source,
        s.source_region,
        if s.snapshot.encrypted {
            "encrypted"
        } else {
            "NOT encrypted"
        },
        s.snapshot
            .allocated_gib
            .map(|g| format!("{g} GiB"))
            .unwrap_or_else(|| "size unknown".into())
    );
    for c in &s.copies {
        println!(
            "copy in {} available ({}{})",
            c.region,
            if c.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            c.kms_key_id
                .as_ref()
                .map(|k| format!(", KMS key {k}"))
                .unwrap_or_default()
        );
    }
    println!(
        "recorded as {} ({:.0}s)",
        done.record_key,
        (s.finished_at - s.started_at).num_milliseconds() as f64 / 1000.0
    );
}

fn age(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map(|t| duration((now - t).num_seconds().max(0)))
        .unwrap_or_else(|| "-".into())
}

fn list_table(listings: &[TargetListing], now: DateTime<Utc>) {
    for t in listings {
        println!("{} ({} {})", t.target, t.kind.label(), t.identifier);
        for r in &t.regions {
            if let Some(e) = &r.error {
                println!("  {} ({}): CANNOT LIST: {e}", r.region, r.role);
                continue;
            }
            println!(
                "  {} ({}): {} snapshot(s)",
                r.region,
                r.role,
                r.snapshots.len()
            );
            if r.snapshots.is_empty() {
                continue;
            }
            let idw = r
                .snapshots
                .iter()
                .map(|s| s.snapshot.id.len())
                .max()
                .unwrap_or(2)
                .max(2);
            println!(
                "    {:<idw$} {:>8} {:>7} {:<10} {:<9} {:<12} {:<8} COPIES",
                "ID", "AGE", "SIZE", "ENGINE", "ENCRYPTED", "STATUS", "RECORDED"
            );
            for l in &r.snapshots {
                let s = &l.snapshot;
                let status = match s.percent_progress {
                    Some(p) if !s.available() => format!("{} {p}%", s.status),
                    _ => s.status.clone(),
                };
                let copies = if r.role == "copy" {
                    "(a copy)".to_string()
                } else if l.copies.is_empty() {
                    "-".to_string()
                } else {
                    l.copies
                        .iter()
                        .map(|c| format!("{}: {}", c.region, c.status))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                println!(
                    "    {:<idw$} {:>8} {:>7} {:<10} {:<9} {:<12} {:<8} {copies}",
                    s.id,
                    age(s.point(), now),
                    s.allocated_gib
                        .map(|g| format!("{g}GiB"))
                        .unwrap_or_else(|| "-".into()),
                    s.engine_version.clone().unwrap_or_else(|| "-".into()),
                    if s.encrypted { "yes" } else { "NO" },
                    status,
                    if l.recorded { "yes" } else { "no" },
                );
            }
        }
    }
}

/// The plan: every tagged snapshot per region with keep / delete / leave and why.
pub fn prune_plan_text(r: &RdsPruneReport) -> String {
    let mut out = Vec::new();
    if r.dry_run {
        out.push("dry run: nothing is deleted".to_string());
    }
    for t in &r.targets {
        for region in &t.regions {
            out.push(format!(
                "rds prune {} in {} ({}): {}; periods in {}",
                t.target, region.region, region.role, region.policy, region.timezone
            ));
            if region.rows.is_empty() {
                out.push("  no lifeboat snapshots".into());
                continue;
            }
            let tz: chrono_tz::Tz = region.timezone.parse().unwrap_or(chrono_tz::UTC);
            let idw = region
                .rows
                .iter()
                .map(|x| x.id.len())
                .max()
                .unwrap_or(2)
                .max(2);
            let taken = format!("TAKEN ({})", region.timezone);
            let tw = taken.len().max(19);
            out.push(format!("  {:<idw$} {taken:<tw$} {:<6} WHY", "ID", "ACTION"));
            for row in &region.rows {
                let line = format!(
                    "  {:<idw$} {:<tw$} {:<6} {}",
                    row.id,
                    row.taken_at
                        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "-".into()),
                    row.action,
                    row.reasons.join(", ")
                );
                out.push(line.trim_end().to_string());
            }
        }
    }
    out.join("\n")
}

fn prune_done(r: &RdsPruneReport) {
    let deleting = r.to_delete().count();
    if r.dry_run {
        println!("would delete {deleting} of {} snapshot(s)", r.total());
    } else {
        let deleted = r.to_delete().filter(|x| x.deleted).count();
        println!("deleted {deleted} of {} snapshot(s)", r.total());
    }
}

fn restore_summary(o: &RestoreOutcome) {
    if let Some(w) = &o.window {
        println!(
            "restorable window: {} to {}",
            w.earliest.to_rfc3339(),
            w.latest.to_rfc3339()
        );
    }
    if o.dry_run {
        println!("dry run: these calls would be made (nothing was changed):");
        for c in &o.calls {
            println!("  {c}");
        }
        return;
    }
    let from = match (&o.snapshot, o.restored_to) {
        (Some(s), _) => format!("snapshot {s}"),
        (None, Some(t)) => format!("point in time {}", t.to_rfc3339()),
        (None, None) => "the source".into(),
    };
    println!(
        "restored {} from {from} in {} as {}{}: available after {}",
        o.target,
        o.region,
        o.instance,
        o.cluster
            .as_ref()
            .map(|c| format!(" (cluster {c})"))
            .unwrap_or_default(),
        o.seconds
            .map(|s| duration(s.round() as i64))
            .unwrap_or_else(|| "-".into())
    );
    println!(
        "endpoint: {}",
        o.endpoint
            .clone()
            .unwrap_or_else(|| "(none reported)".into())
    );
}

/// `config check`: each RDS target's source reached and described, each DR region reached.
pub async fn config_check(settings: &Settings) -> Vec<(String, Result<String, Error>)> {
    let resolved = match settings.rds() {
        Ok(r) => r,
        Err(e) => return vec![("rds".into(), Err(e))],
    };
    if resolved.targets.is_empty() {
        return vec![];
    }
    let rds = Rds::new(resolved).await;
    let mut out = Vec::new();
    for target in &rds.settings.targets {
        let api = rds.api(target, &target.region);
        let line = match api.source(&target.identifier).await {
            Ok(s) => {
                let mut notes = vec![format!(
                    "{} {}, {}, {}",
                    s.engine.clone().unwrap_or_default(),
                    s.engine_version.clone().unwrap_or_default(),
                    s.status,
                    if s.encrypted {
                        "encrypted"
                    } else {
                        "NOT encrypted"
                    }
                )];
                if s.backup_retention_days <= 0 {
                    notes.push("automated backups OFF: no point-in-time restore".into());
                } else {
                    notes.push(format!(
                        "point-in-time restore {} days",
                        s.backup_retention_days
                    ));
                }
                let missing: Vec<&str> = target
                    .copies
                    .iter()
                    .filter(|c| s.encrypted && c.kms_key_id.is_none())
                    .map(|c| c.region.as_str())
                    .collect();
                if missing.is_empty() {
                    Ok(format!("{}: {}", target.describe(), notes.join("; ")))
                } else {
                    Err(api.at.refused(format!(
                        "{} is encrypted: set kms_key_id of [[rds.target.copy]] for {}",
                        target.describe(),
                        missing.join(", ")
                    )))
                }
            }
            Err(e) => Err(e),
        };
        out.push((format!("rds {}", target.name), line));
        for c in &target.copies {
            let reached = rds.api(target, &c.region).list_manual().await.map(|all| {
                let ours = all.iter().filter(|s| s.tagged_for(&target.name)).count();
                format!(
                    "DR region {} reached: {ours} lifeboat snapshot(s); KMS key {}",
                    c.region,
                    c.kms_key_id
                        .as_deref()
                        .unwrap_or("none (unencrypted copies)")
                )
            });
            out.push((format!("rds {}", target.name), reached));
        }
    }
    out
}
