//! An RDS target's row in the report, beside the logical databases (pure).
//!
//! The target's snapshot sets (signed records) that still exist — by the API's listing when
//! a region answered, as recorded otherwise — are its "backups": the common figures,
//! calendar, age chart and `MINIMUM_RETENTION` come from them through the same code as a
//! logical database's. Its own controls:
//! - `LAST_RECOVERY_POINT_CREATED`: the recovery point is the later of the latest
//!   restorable time (point-in-time recovery, from the API now) and the newest snapshot of a
//!   trusted set still present (a DR copy holds the same point as its source snapshot);
//! - `RECOVERY_POINT_ENCRYPTED`: the newest such snapshot is encrypted and its record signed
//!   by a trusted key;
//! - `RESOURCES_PROTECTED_BY_CROSS_REGION`: every configured DR region holds a copy of a
//!   trusted set, encrypted;
//! - `RESTORE_TIME_MEETS_TARGET`: the newest restore a drill measured (its scratch instance,
//!   restore call to available; trusted drill records) within the RTO.
//!
//! `RECOVERY_POINT_VERIFIED` does not apply (no content check of an RDS snapshot is
//! recorded) and is left out of the row.

use chrono::{DateTime, Duration, Utc};

use super::compute::{fail, judge_age, not_configured, Ctx, ReportParams, MAX_WINDOW};
use super::facts::{BackupFact, DatabaseFact, Facts, RdsFact, RdsSetFact};
use super::format::{duration, time};
use super::model::*;
use crate::config::Targets;

pub fn row(facts: &Facts, r: &RdsFact, targets: Targets, params: &ReportParams) -> DatabaseReport {
    let name = r.name();
    let now = params.now;
    let window = Duration::from_std(params.since.min(MAX_WINDOW)).unwrap_or(Duration::zero());
    let start = now.checked_sub_signed(window).unwrap_or(now);
    let synthetic = Facts {
        repository: facts.repository.clone(),
        repository_created_at: facts.repository_created_at,
        backups: r
            .sets
            .iter()
            .filter(|s| still_present(r, s))
            .map(|s| as_backup(&name, s))
            .collect(),
        verifications: Vec::new(),
        rds: Vec::new(),
    };
    let mut row = Ctx::new(&synthetic, now, start, params.timezone).database(&name, targets);
    let detail = detail(r);
    let rpo = last_recovery_point(&name, &detail, targets, now, params.timezone);
    let restore = restore_time(r, targets, params.timezone);
    let retention = row
        .controls
        .iter()
        .find(|c| c.id == ControlId::MinimumRetention)
        .cloned();
    row.controls = [
        Some(rpo),
        Some(restore),
        Some(encrypted(r)),
        retention,
        Some(cross_region(r, &detail)),
    ]
    .into_iter()
    .flatten()
    .collect();
    row.status = if row.controls.iter().any(|c| c.status == ControlStatus::Fail) {
        Status::Breach
    } else if row.controls.iter().any(|c| c.at_risk) {
        Status::AtRisk
    } else {
        Status::Ok
    };
    row.restores = r
        .restores
        .iter()
        .filter(|x| start <= x.at && x.at <= now)
        .map(|x| RestorePoint {
            at: x.at,
            record: x.record.clone(),
            backup: x.snapshot.clone(),
            restore_seconds: Some(x.seconds),
            total_seconds: None,
            passed: true,
        })
        .collect();
    row.figures.last_restore = r.restores.last().map(|x| RestorePoint {
        at: x.at,
        record: x.record.clone(),
        backup: x.snapshot.clone(),
        restore_seconds: Some(x.seconds),
        total_seconds: None,
        passed: true,
    });
    row.figures.current_rpo_seconds = detail
        .recovery_point
        .map(|p| (now - p).num_seconds().max(0));
    row.findings.extend(r.errors.iter().map(|e| {
        format!("The RDS API did not answer ({e}); figures rest on the signed records there.")
    }));
    if matches!(detail.backup_retention_days, Some(d) if d <= 0) {
        row.findings.push(format!(
            "{} has automated backups off: no point-in-time recovery, only snapshots.",
            r.target.describe()
        ));
    }
    row.kind = "rds".into();
    row.rds = Some(detail);
    row
}

/// A set counts while its source snapshot or one of its copies still exists.
fn still_present(r: &RdsFact, s: &RdsSetFact) -> bool {
    std::iter::once(&s.record.snapshot)
        .chain(&s.record.copies)
        .any(|snap| r.present(&snap.region, &snap.id))
}

fn point_of(s: &RdsSetFact) -> DateTime<Utc> {
    s.record.snapshot.point().unwrap_or(s.record.started_at)
}

fn as_backup(name: &str, s: &RdsSetFact) -> BackupFact {
    BackupFact {
        id: s.record.snapshot.id.clone(),
        started_at: s.record.started_at,
        finished_at: s.record.finished_at,
        encrypted: s.record.snapshot.encrypted,
        trusted: s.trusted,
        signature: s.signature.clone(),
        databases: vec![DatabaseFact {
            name: name.to_string(),
            consistent_at: point_of(s),
            stored_bytes: s
                .record
                .snapshot
                .allocated_gib
                .map(|g| u64::try_from(g).unwrap_or(0) << 30)
                .unwrap_or(0),
            plain_bytes: 0,
        }],
    }
}

/// The newest present copy of a trusted set in `region` (or the source snapshot there).
fn newest_in(r: &RdsFact, region: &str) -> Option<RdsPoint> {
    r.sets
        .iter()
        .filter(|s| s.trusted)
        .flat_map(|s| std::iter::once(&s.record.snapshot).chain(&s.record.copies))
        .filter(|snap| snap.region == region && r.present(region, &snap.id))
        .filter_map(|snap| {
            Some(RdsPoint {
                snapshot: snap.id.clone(),
                region: region.to_string(),
                taken_at: snap.point()?,
                encrypted: snap.encrypted,
            })
        })
        .max_by_key(|p| (p.taken_at, p.snapshot.clone()))
}

fn detail(r: &RdsFact) -> RdsDetail {
    let t = &r.target;
    let newest_snapshot = t
        .regions()
        .iter()
        .filter_map(|region| newest_in(r, region))
        .max_by_key(|p| (p.taken_at, p.snapshot.clone()));
    let copies: Vec<RdsCopy> = t
        .copies
        .iter()
        .map(|c| RdsCopy {
            region: c.region.clone(),
            newest: newest_in(r, &c.region),
            kms_key_id: c.kms_key_id.clone(),
        })
        .collect();
    let latest = r.source.as_ref().and_then(|s| {
        (s.backup_retention_days > 0)
            .then_some(s.latest_restorable)
            .flatten()
    });
    let newest_copy = copies
        .iter()
        .filter_map(|c| c.newest.as_ref().map(|p| p.taken_at))
        .max();
    let candidates = [
        (latest, "point-in-time"),
        (newest_copy, "dr-copy"),
        (newest_snapshot.as_ref().map(|p| p.taken_at), "snapshot"),
    ];
    let best = candidates
        .iter()
        .filter_map(|(t, src)| t.map(|t| (t, *src)))
        .max_by_key(|(t, _)| *t);
    RdsDetail {
        target: t.name.clone(),
        kind: t.kind.label().to_string(),
        identifier: t.identifier.clone(),
        region: t.region.clone(),
        live: r.source.is_some(),
        errors: r.errors.clone(),
        latest_restorable_time: r.source.as_ref().and_then(|s| s.latest_restorable),
        backup_retention_days: r.source.as_ref().map(|s| s.backup_retention_days),
        newest_snapshot,
        copies,
        recovery_point: best.map(|(t, _)| t),
        recovery_point_source: best.map(|(_, s)| s.to_string()),
    }
}

fn last_recovery_point(
    name: &str,
    d: &RdsDetail,
    targets: Targets,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Control {
    let id = ControlId::LastRecoveryPointCreated;
    let rpo = targets.rpo.map(|d| d.as_secs());
    let Some(point) = d.recovery_point else {
        let why = format!(
            "{name} has no recovery point: no point-in-time recovery reported and no snapshot \
             of a trusted set present (run `lifeboat rds snapshot`)"
        );
        return match rpo {
            Some(t) => fail(id, t, None, why),
            None => not_configured(id, format!("no RPO target; {why}")),
        };
    };
    let age = (now - point).num_seconds().max(0);
    let from = match d.recovery_point_source.as_deref() {
        Some("point-in-time") => "the latest restorable time (point-in-time recovery)".into(),
        Some("dr-copy") => "the newest DR-region copy".to_string(),
        _ => "the newest snapshot".to_string(),
    };
    let what = format!(
        "the recovery point, {from}, is {} ({} old)",
        time(point, tz),
        duration(age)
    );
    judge_age(id, rpo, age, what, "the RPO", "no RPO target")
}

/// The newest restore of the target a drill measured (`lifeboat drill` with an `[rds]`
/// scenario: restore call to available), against the RTO.
fn restore_time(r: &RdsFact, targets: Targets, tz: chrono_tz::Tz) -> Control {
    let id = ControlId::RestoreTimeMeetsTarget;
    let rto = targets.rto.map(|d| d.as_secs());
    let Some(last) = r.restores.last() else {
        let why = "no restore of this RDS target was measured yet (a `lifeboat drill` with an \
                   [rds] scenario measures one)";
        return match rto {
            Some(t) => fail(
                id,
                t,
                None,
                format!("{why}; the RTO is {}", super::format::target(t)),
            ),
            None => not_configured(id, format!("no RTO target; {why}")),
        };
    };
    let what = format!(
        "the last measured restore (snapshot {}, drill finished {}) took {}",
        last.snapshot,
        time(last.at, tz),
        super::format::seconds(last.seconds)
    );
    let Some(t) = rto else {
        let mut c = not_configured(id, format!("no RTO target; {what}"));
        c.achieved_seconds = Some(last.seconds);
        return c;
    };
    let secs = last.seconds;
    let t_f = t as f64;
    let mut c = if secs <= t_f {
        let mut c = super::compute::pass(
            id,
            t,
            Some(secs),
            format!("{what}, within the RTO of {}", super::format::target(t)),
        );
        c.at_risk = secs * 5.0 > t_f * 4.0;
        c
    } else {
        fail(
            id,
            t,
            Some(secs),
            format!("{what}, over the RTO of {}", super::format::target(t)),
        )
    };
    if c.at_risk {
        c.reason.push_str(" (above 80% of it)");
    }
    c
}

fn encrypted(r: &RdsFact) -> Control {
    let id = ControlId::RecoveryPointEncrypted;
    let newest = r
        .sets
        .iter()
        .filter(|s| still_present(r, s))
        .max_by_key(|s| (point_of(s), s.record.id.clone()));
    let (status, reason) = match newest {
        None => (
            ControlStatus::Fail,
            format!("no snapshot of {} exists", r.target.name),
        ),
        Some(s) => {
            let mut missing = Vec::new();
            if !s.record.snapshot.encrypted {
                missing.push(
                    "not encrypted (the DB is unencrypted: its snapshots are too)".to_string(),
                );
            }
            if !s.trusted {
                missing.push(format!(
                    "recorded without a trusted signature ({})",
                    s.signature
                ));
            }
            if missing.is_empty() {
                (
                    ControlStatus::Pass,
                    format!(
                        "the newest snapshot {} is encrypted{} and its record is signed ({})",
                        s.record.snapshot.id,
                        s.record
                            .snapshot
                            .kms_key_id
                            .as_ref()
                            .map(|k| format!(" with KMS key {k}"))
                            .unwrap_or_default(),
                        s.signature
                    ),
                )
            } else {
                (
                    ControlStatus::Fail,
                    format!(
                        "the newest snapshot {} is {}",
                        s.record.snapshot.id,
                        missing.join(" and ")
                    ),
                )
            }
        }
    };
    Control {
        id,
        status,
        at_risk: false,
        reason,
        target_seconds: None,
        achieved_seconds: None,
    }
}

fn cross_region(r: &RdsFact, d: &RdsDetail) -> Control {
    let id = ControlId::CrossRegion;
    let judged = |status, reason| Control {
        id,
        status,
        at_risk: false,
        reason,
        target_seconds: None,
        achieved_seconds: None,
    };
    if d.copies.is_empty() {
        return judged(
            ControlStatus::Fail,
            format!(
                "{} has no DR region: add a [[rds.target.copy]] with a region and its KMS key",
                r.target.name
            ),
        );
    }
    let mut problems = Vec::new();
    let mut held = Vec::new();
    for c in &d.copies {
        match &c.newest {
            None => problems.push(format!("no copy in {}", c.region)),
            Some(p) if !p.encrypted => problems.push(format!(
                "the copy {} in {} is not encrypted",
                p.snapshot, c.region
            )),
            Some(p) => held.push(format!("{} ({})", c.region, p.snapshot)),
        }
    }
    if problems.is_empty() {
        judged(
            ControlStatus::Pass,
            format!("an encrypted copy is present in {}", held.join(", ")),
        )
    } else {
        judged(ControlStatus::Fail, problems.join("; "))
    }
}
