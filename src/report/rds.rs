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

use super::compute::{fail, judge_age, judged, not_configured, Ctx, ReportParams, MAX_WINDOW};
use super::facts::{BackupFact, DatabaseFact, Facts, RdsFact, RdsRestoreFact, RdsSetFact};
use super::format::{duration, time};
use super::model::*;
use crate::config::Targets;

/// A drill's restore of a snapshot (timed to available), as the report lists restores.
fn restore_point(x: &RdsRestoreFact) -> RestorePoint {
    RestorePoint {
        at: x.at,
        record: x.record.clone(),
        backup: x.snapshot.clone(),
        restore_seconds: Some(x.seconds),
        total_seconds: None,
        passed: true,
    }
}

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
        .map(restore_point)
        .collect();
    row.figures.last_restore = r.restores.last().map(restore_point);
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
    // On equal times the later entry wins (`max_by_key` keeps the last maximum): a DR copy
    // holds the same point as its source snapshot and is named as such.
    let candidates = [
        (newest_snapshot.as_ref().map(|p| p.taken_at), "snapshot"),
        (newest_copy, "dr-copy"),
        (latest, "point-in-time"),
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
    judged(id, status, reason)
}

fn cross_region(r: &RdsFact, d: &RdsDetail) -> Control {
    let id = ControlId::CrossRegion;
    let judged = |status, reason| judged(id, status, reason);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, TargetPolicy};
    use crate::rds::{Kind, RdsSettings, Snapshot, Source};
    use crate::repository::records::{RdsSnapshotSet, RDS_SNAPSHOT_SET_FORMAT};
    use std::collections::BTreeMap;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn target(copies: &str) -> crate::rds::RdsTarget {
        let text = format!(
            "[[rds.target]]\nname = \"orders\"\ninstance = \"orders-prod\"\nregion = \"eu-west-1\"\n{copies}"
        );
        let file = ConfigFile::parse(&text).unwrap();
        RdsSettings::resolve(&file.rds, None).unwrap().targets[0].clone()
    }

    fn snap(id: &str, region: &str, at: &str, encrypted: bool) -> Snapshot {
        Snapshot {
            id: id.into(),
            arn: format!("arn:aws:rds:{region}:1:snapshot:{id}"),
            region: region.into(),
            kind: Kind::Instance,
            source_identifier: "orders-prod".into(),
            created_at: Some(t(at)),
            original_created_at: None,
            status: "available".into(),
            percent_progress: None,
            encrypted,
            kms_key_id: None,
            engine: Some("postgres".into()),
            engine_version: Some("16.4".into()),
            allocated_gib: Some(20),
            copied_from: None,
            tags: BTreeMap::new(),
        }
    }

    fn set(id: &str, at: &str, copy: bool, trusted: bool) -> RdsSetFact {
        RdsSetFact {
            key: format!("rds/orders/{id}.json"),
            trusted,
            signature: if trusted {
                "signed K1".into()
            } else {
                "UNSIGNED".into()
            },
            record: RdsSnapshotSet {
                format: RDS_SNAPSHOT_SET_FORMAT.into(),
                format_version: 1,
                id: id.into(),
                target: "orders".into(),
                kind: Kind::Instance,
                source: "orders-prod".into(),
                source_region: "eu-west-1".into(),
                lifeboat_version: "test".into(),
                host: "h".into(),
                started_at: t(at),
                finished_at: t(at),
                snapshot: snap(&format!("s-{id}"), "eu-west-1", at, true),
                copies: if copy {
                    vec![snap(&format!("s-{id}"), "eu-central-1", at, true)]
                } else {
                    vec![]
                },
                latest_restorable: None,
            },
        }
    }

    fn source(latest: Option<&str>, days: i32) -> Source {
        Source {
            kind: Kind::Instance,
            identifier: "orders-prod".into(),
            arn: "arn".into(),
            status: "available".into(),
            engine: None,
            engine_version: None,
            encrypted: true,
            kms_key_id: None,
            latest_restorable: latest.map(t),
            earliest_restorable: None,
            backup_retention_days: days,
            created_at: None,
            instance_class: None,
            members: vec![],
            endpoint: None,
        }
    }

    fn params() -> ReportParams {
        ReportParams {
            now: t("2026-11-30T12:00:00Z"),
            since: std::time::Duration::from_secs(30 * 86_400),
            timezone: chrono_tz::UTC,
            only: vec![],
            expected: vec![],
        }
    }

    fn rpo(hours: u64) -> Targets {
        Targets {
            rpo: Some(std::time::Duration::from_secs(hours * 3600)),
            ..Default::default()
        }
    }

    fn control(row: &DatabaseReport, id: ControlId) -> &Control {
        row.control(id).unwrap()
    }

    const DR: &str = "\n[[rds.target.copy]]\nregion = \"eu-central-1\"\n";

    #[test]
    fn the_recovery_point_is_the_later_of_pitr_and_the_newest_copy() {
        let mut fact = RdsFact {
            target: target(DR),
            sets: vec![set("a", "2026-11-30T06:00:00Z", true, true)],
            source: Some(source(Some("2026-11-30T11:55:00Z"), 7)),
            present: BTreeMap::new(),
            errors: vec![],
            restores: vec![],
        };
        let row = super::row(&Facts::default(), &fact, rpo(1), &params());
        assert_eq!(row.kind, "rds");
        assert_eq!(row.name, "rds:orders");
        let d = row.rds.as_ref().unwrap();
        assert_eq!(d.recovery_point_source.as_deref(), Some("point-in-time"));
        assert_eq!(row.figures.current_rpo_seconds, Some(300));
        assert_eq!(
            control(&row, ControlId::LastRecoveryPointCreated).status,
            ControlStatus::Pass
        );
        assert_eq!(
            control(&row, ControlId::CrossRegion).status,
            ControlStatus::Pass
        );
        assert!(row.control(ControlId::RecoveryPointVerified).is_none());
        assert_eq!(row.status, Status::Ok);

        // Automated backups off: the newest DR copy is the recovery point, 6h old.
        fact.source = Some(source(Some("2026-11-30T11:55:00Z"), 0));
        let row = super::row(&Facts::default(), &fact, rpo(1), &params());
        assert_eq!(
            row.rds.as_ref().unwrap().recovery_point_source.as_deref(),
            Some("dr-copy")
        );
        assert_eq!(row.figures.current_rpo_seconds, Some(6 * 3600));
        assert_eq!(
            control(&row, ControlId::LastRecoveryPointCreated).status,
            ControlStatus::Fail
        );
        assert!(row
            .findings
            .iter()
            .any(|f| f.contains("automated backups off")));
        assert_eq!(row.status, Status::Breach);
    }

    #[test]
    fn a_copy_gone_from_the_dr_region_or_an_untrusted_set_does_not_protect() {
        let mut present = BTreeMap::new();
        present.insert(
            "eu-west-1".to_string(),
            vec![snap("s-a", "eu-west-1", "2026-11-30T06:00:00Z", true)],
        );
        // The DR region answered, and the copy is not there any more.
        present.insert("eu-central-1".to_string(), vec![]);
        let fact = RdsFact {
            target: target(DR),
            sets: vec![
                set("a", "2026-11-30T06:00:00Z", true, true),
                set("b", "2026-11-30T09:00:00Z", true, false),
            ],
            source: None,
            present,
            errors: vec!["RDS target `orders` in eu-west-1: timed out".into()],
            restores: vec![],
        };
        let row = super::row(&Facts::default(), &fact, rpo(12), &params());
        let cross = control(&row, ControlId::CrossRegion);
        assert_eq!(cross.status, ControlStatus::Fail);
        assert!(
            cross.reason.contains("no copy in eu-central-1"),
            "{}",
            cross.reason
        );
        // The untrusted set (b) is not the recovery point; the source snapshot of a is.
        let d = row.rds.as_ref().unwrap();
        assert_eq!(d.newest_snapshot.as_ref().unwrap().snapshot, "s-a");
        assert!(!d.live);
        assert!(row.findings.iter().any(|f| f.contains("did not answer")));
        // No DR region configured at all fails too.
        let alone = RdsFact {
            target: target(""),
            ..fact
        };
        let row = super::row(&Facts::default(), &alone, rpo(12), &params());
        assert!(control(&row, ControlId::CrossRegion)
            .reason
            .contains("no DR region"));
    }

    #[test]
    fn a_drill_restore_is_the_measured_rto() {
        let fact = RdsFact {
            target: target(DR),
            sets: vec![set("a", "2026-11-30T06:00:00Z", true, true)],
            source: Some(source(Some("2026-11-30T11:55:00Z"), 7)),
            present: BTreeMap::new(),
            errors: vec![],
            restores: vec![crate::report::facts::RdsRestoreFact {
                at: t("2026-11-29T10:00:00Z"),
                record: "drills/x.json".into(),
                snapshot: "s-a".into(),
                seconds: 3000.0,
            }],
        };
        let targets = Targets {
            rto: Some(std::time::Duration::from_secs(3600)),
            ..rpo(1)
        };
        let row = super::row(&Facts::default(), &fact, targets, &params());
        let c = control(&row, ControlId::RestoreTimeMeetsTarget);
        assert_eq!(c.status, ControlStatus::Pass);
        assert!(c.at_risk, "50 min of 60 is above 80%");
        assert_eq!(row.status, Status::AtRisk);
        assert_eq!(row.restores.len(), 1);
        let _ = TargetPolicy::default();
    }
}
