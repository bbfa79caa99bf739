//! The report as a pure function of the facts, the targets and the moment: no I/O, no clock.
//! Every rule of the report is here, so `drill`, metrics and notifications reuse it as is.
//!
//! Rules (docs/report-schema.md says the same for readers of the JSON):
//! - A backup is *restorable* when it is complete (it has a manifest: the only kind the
//!   facts hold) and its manifest is signed by a trusted key. A consistent point later than
//!   now (clock skew) still counts, with an achieved RPO of 0, and is flagged.
//! - A verification counts as evidence only when its record is signed by a trusted key.
//!   For each backup and database, the latest trusted verification decides: the backup is
//!   a *verified recovery point* when it passed.
//! - A control whose target is unset is NOT_CONFIGURED. The status is BREACH when a control
//!   fails, AT_RISK when a control passes with its figure above 80% of the target (RPO, RTO,
//!   verification age; retention has no margin, since pruning keeps it at its minimum by
//!   design), OK otherwise. Status is about now: a gap over the RPO earlier in the window is
//!   a finding, not a breach, so an alert clears once the cause is fixed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::facts::{BackupFact, DatabaseFact, Facts, VerificationFact};
use super::format::{duration, seconds, target, time};
use super::model::*;
use crate::config::{TargetPolicy, Targets};

/// What the report covers besides the facts: the moment, the window and which databases.
#[derive(Debug, Clone)]
pub struct ReportParams {
    /// The report's "now".
    pub now: DateTime<Utc>,
    /// The window's length, ending at `now`.
    pub since: std::time::Duration,
    /// The zone whose days the calendar groups by.
    pub timezone: Tz,
    /// Only these databases (each gets a row even without backups); empty = all.
    pub only: Vec<String>,
    /// Databases that should have backups (`[source] databases`): each gets a row.
    pub expected: Vec<String>,
}

/// The longest window: ten years of calendar days (longer ones are cut to it).
pub const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(3653 * 86_400);

/// A fraction of a target above which a passing figure is AT_RISK.
const RISK_NUMERATOR: i64 = 4;
const RISK_DENOMINATOR: i64 = 5;

pub fn compute(facts: &Facts, targets: &TargetPolicy, params: &ReportParams) -> Report {
    let now = params.now;
    let window_len = Duration::from_std(params.since.min(MAX_WINDOW)).unwrap_or(Duration::zero());
    let start = now.checked_sub_signed(window_len).unwrap_or(now);
    let ctx = Ctx {
        facts,
        now,
        start,
        tz: params.timezone,
    };
    let rds_names: BTreeSet<String> = facts.rds.iter().map(|r| r.name()).collect();
    let names: Vec<String> = database_names(facts, targets, params)
        .into_iter()
        .filter(|n| !rds_names.contains(n))
        .collect();
    let mut databases: Vec<DatabaseReport> = names
        .iter()
        .map(|name| ctx.database(name, targets.for_database(name)))
        .collect();
    databases.extend(
        facts
            .rds
            .iter()
            .filter(|r| params.only.is_empty() || params.only.contains(&r.name()))
            .map(|r| super::rds::row(facts, r, targets.for_database(&r.name()), params)),
    );
    let targets_configured = targets.any();
    let mut notes = Vec::new();
    if !targets_configured {
        notes.push(
            "No targets are configured ([targets] rpo, rto, verify_within, min_retention): only \
             encryption and signatures are judged; the figures are shown for information."
                .to_string(),
        );
    }
    let mut status = databases
        .iter()
        .map(|d| d.status)
        .max()
        .unwrap_or(Status::Ok);
    if databases.is_empty() {
        if targets.defaults.any() {
            status = Status::Breach;
            notes.push(
                "The repository holds no backup, so no target can be met: run `lifeboat \
                 backup` (or name the databases expected in [source] databases)."
                    .to_string(),
            );
        } else {
            notes.push("The repository holds no backup yet.".to_string());
        }
    }
    Report {
        schema_version: SCHEMA_VERSION,
        generated_at: now,
        lifeboat_version: env!("CARGO_PKG_VERSION").to_string(),
        repository: facts.repository.clone(),
        window: Window {
            start,
            end: now,
            seconds: (now - start).num_seconds(),
            timezone: params.timezone.name().to_string(),
        },
        status,
        targets_configured,
        notes,
        databases,
        ignored: ignored(facts),
    }
}

/// Every database backed up, named in the targets or expected; or exactly `only`.
fn database_names(facts: &Facts, targets: &TargetPolicy, params: &ReportParams) -> Vec<String> {
    if !params.only.is_empty() {
        let mut seen = BTreeSet::new();
        return params
            .only
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .cloned()
            .collect();
    }
    let mut names: BTreeSet<String> = facts
        .backups
        .iter()
        .flat_map(|b| b.databases.iter().map(|d| d.name.clone()))
        .collect();
    names.extend(targets.named_databases().map(str::to_string));
    names.extend(params.expected.iter().cloned());
    names.into_iter().collect()
}

fn ignored(facts: &Facts) -> Vec<Ignored> {
    let backups = facts
        .backups
        .iter()
        .filter(|b| !b.trusted)
        .map(|b| Ignored {
            kind: "backup".into(),
            id: b.id.clone(),
            reason: format!(
                "its manifest's signature is not trusted ({}): it is not counted as restorable",
                b.signature
            ),
        });
    let records = facts
        .verifications
        .iter()
        .filter(|v| !v.trusted)
        .map(|v| Ignored {
            kind: "verification".into(),
            id: v.key.clone(),
            reason: format!(
                "the record's signature is not trusted ({}): it is not evidence",
                v.signature
            ),
        });
    backups.chain(records).collect()
}

pub(super) struct Ctx<'a> {
    facts: &'a Facts,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
    tz: Tz,
}

/// One backup of the database being reported.
#[derive(Clone, Copy)]
struct Point<'a> {
    backup: &'a BackupFact,
    db: &'a DatabaseFact,
}

impl Point<'_> {
    fn at(&self) -> DateTime<Utc> {
        self.db.consistent_at
    }

    fn as_backup_point(&self) -> BackupPoint {
        BackupPoint {
            backup: self.backup.id.clone(),
            consistent_at: self.db.consistent_at,
            finished_at: self.backup.finished_at,
        }
    }
}

/// One trusted verification's verdict on the database being reported.
struct Outcome<'a> {
    fact: &'a VerificationFact,
    at: DateTime<Utc>,
    consistent_at: Option<DateTime<Utc>>,
    passed: bool,
    restore_seconds: Option<f64>,
    total_seconds: Option<f64>,
    error: Option<String>,
    failed_checks: Vec<FailedCheck>,
}

impl Outcome<'_> {
    fn backup(&self) -> &str {
        &self.fact.record.backup
    }

    fn restore_point(&self) -> RestorePoint {
        RestorePoint {
            at: self.at,
            record: self.fact.record.id.clone(),
            backup: self.backup().to_string(),
            restore_seconds: self.restore_seconds,
            total_seconds: self.total_seconds,
            passed: self.passed,
        }
    }
}

/// What the controls and figures are computed from, for one database.
struct Evidence<'a> {
    /// Every complete backup of the database, by consistent point.
    all: Vec<Point<'a>>,
    /// The restorable ones, by consistent point.
    restorable: Vec<Point<'a>>,
    /// Trusted verifications, by finish time.
    outcomes: Vec<Outcome<'a>>,
    /// Verified recovery points, by consistent point (one per backup).
    verified: Vec<VerifiedPoint>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(facts: &'a Facts, now: DateTime<Utc>, start: DateTime<Utc>, tz: Tz) -> Self {
        Ctx {
            facts,
            now,
            start,
            tz,
        }
    }

    pub(super) fn database(&self, name: &str, targets: Targets) -> DatabaseReport {
        let ev = self.evidence(name);
        let figures = self.figures(&ev);
        let controls = vec![
            self.last_recovery_point(name, &ev, &figures, targets),
            self.recovery_point_verified(name, &ev, &figures, targets),
            self.restore_time(name, &figures, targets),
            self.encrypted(name, &ev),
            self.minimum_retention(name, &ev, &figures, targets),
        ];
        let status = if controls.iter().any(|c| c.status == ControlStatus::Fail) {
            Status::Breach
        } else if controls.iter().any(|c| c.at_risk) {
            Status::AtRisk
        } else {
            Status::Ok
        };
        let future_dated = self.future_dated(&ev);
        let findings = self.findings(name, &ev, &figures, targets, &future_dated);
        DatabaseReport {
            name: name.to_string(),
            kind: "database".into(),
            status,
            targets: TargetSeconds {
                rpo: targets.rpo.map(|d| d.as_secs()),
                rto: targets.rto.map(|d| d.as_secs()),
                verify_within: targets.verify_within.map(|d| d.as_secs()),
                min_retention: targets.min_retention.map(|d| d.as_secs()),
            },
            controls,
            restores: ev
                .outcomes
                .iter()
                .filter(|o| self.in_window(o.at))
                .map(Outcome::restore_point)
                .collect(),
            failures: ev
                .outcomes
                .iter()
                .filter(|o| !o.passed && self.in_window(o.at))
                .map(|o| Failure {
                    at: o.at,
                    record: o.fact.record.id.clone(),
                    backup: o.backup().to_string(),
                    error: o.error.clone(),
                    failed_checks: o.failed_checks.clone(),
                })
                .collect(),
            backup_age: self.backup_age(&ev),
            calendar: self.calendar(&ev),
            future_dated,
            findings,
            figures,
            rds: None,
        }
    }

    fn in_window(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.now
    }

    // --- evidence ---------------------------------------------------------------------

    fn evidence(&self, name: &'a str) -> Evidence<'a> {
        let mut all: Vec<Point<'a>> = self
            .facts
            .backups
            .iter()
            .filter_map(|b| b.database(name).map(|db| Point { backup: b, db }))
            .collect();
        all.sort_by(|a, b| (a.at(), &a.backup.id).cmp(&(b.at(), &b.backup.id)));
        let restorable: Vec<Point<'a>> = all.iter().copied().filter(|p| p.backup.trusted).collect();
        let mut outcomes: Vec<Outcome<'a>> = self
            .facts
            .verifications
            .iter()
            .filter(|v| v.trusted)
            .filter_map(|v| self.outcome(v, name))
            .collect();
        outcomes.sort_by(|a, b| (a.at, &a.fact.record.id).cmp(&(b.at, &b.fact.record.id)));
        let verified = verified_points(&outcomes);
        Evidence {
            all,
            restorable,
            outcomes,
            verified,
        }
    }

    /// A record's verdict on `name`: its own entry for the database, or, when the run
    /// stopped before reaching any database, a failure of every database of that backup.
    fn outcome(&self, v: &'a VerificationFact, name: &str) -> Option<Outcome<'a>> {
        let r = &v.record;
        if let Some(d) = r.databases.iter().find(|d| d.name == name) {
            let restored = d.error.is_none();
            return Some(Outcome {
                fact: v,
                at: r.finished_at,
                consistent_at: Some(d.consistent_at),
                passed: d.passed && restored,
                restore_seconds: restored.then_some(d.restore_seconds),
                total_seconds: restored.then_some(d.total_seconds),
                error: d.error.clone(),
                failed_checks: d
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| FailedCheck {
                        kind: c.kind.clone(),
                        name: c.name.clone(),
                        evidence: c.evidence.clone(),
                    })
                    .collect(),
            });
        }
        if r.passed || !r.databases.is_empty() {
            return None;
        }
        let backup = self.facts.backups.iter().find(|b| b.id == r.backup);
        let in_backup = backup.and_then(|b| b.database(name));
        in_backup.map(|db| Outcome {
            fact: v,
            at: r.finished_at,
            consistent_at: Some(db.consistent_at),
            passed: false,
            restore_seconds: None,
            total_seconds: None,
            error: Some(r.error.clone().unwrap_or_else(|| {
                format!(
                    "the verification of backup {} stopped before this database",
                    r.backup
                )
            })),
            failed_checks: Vec::new(),
        })
    }

    // --- figures ----------------------------------------------------------------------

    fn figures(&self, ev: &Evidence) -> Figures {
        let newest = ev.restorable.last();
        let oldest = ev.restorable.first();
        let in_window: Vec<&Outcome> = ev
            .outcomes
            .iter()
            .filter(|o| self.in_window(o.at))
            .collect();
        let passed = in_window.iter().filter(|o| o.passed).count() as u32;
        let total = in_window.len() as u32;
        let max_age = self.backup_age(ev).iter().map(|p| p.seconds).max();
        Figures {
            backups_in_window: ev
                .restorable
                .iter()
                .filter(|p| p.at() >= self.start && p.at() <= self.now)
                .count() as u32,
            newest_backup: newest.map(Point::as_backup_point),
            oldest_backup: oldest.map(Point::as_backup_point),
            current_rpo_seconds: newest.map(|p| self.age(p.at())),
            max_backup_age_seconds: max_age,
            worst_rpo: self.worst_rpo(&ev.verified),
            verified_points_in_window: ev
                .verified
                .iter()
                .filter(|v| v.consistent_at >= self.start && v.consistent_at <= self.now)
                .count() as u32,
            newest_verified: self.newest_restorable_verified(ev).cloned(),
            last_restore: ev
                .outcomes
                .iter()
                .rev()
                .find(|o| o.restore_seconds.is_some())
                .map(Outcome::restore_point),
            verifications: total,
            verifications_passed: passed,
            verifications_failed: total - passed,
            pass_rate: (total > 0).then(|| f64::from(passed) / f64::from(total)),
            retention_seconds: oldest.map(|p| self.age(p.at())),
            newest_stored_bytes: newest.map(|p| p.db.stored_bytes),
            newest_plain_bytes: newest.map(|p| p.db.plain_bytes),
        }
    }

    /// Seconds from `t` to now; 0 for a time in the future.
    fn age(&self, t: DateTime<Utc>) -> i64 {
        (self.now - t).num_seconds().max(0)
    }

    /// The newest verified point whose backup is still restorable.
    fn newest_restorable_verified<'e>(&self, ev: &'e Evidence) -> Option<&'e VerifiedPoint> {
        ev.verified
            .iter()
            .rev()
            .find(|v| ev.restorable.iter().any(|p| p.backup.id == v.backup))
    }

    /// The largest gap between consecutive verified points: from the last one before the
    /// window (or the window's start), through those in it, to now.
    fn worst_rpo(&self, verified: &[VerifiedPoint]) -> Gap {
        let times: BTreeSet<DateTime<Utc>> = verified
            .iter()
            .map(|v| v.consistent_at.min(self.now))
            .collect();
        let before = times.range(..self.start).next_back().copied();
        let (mut from, mut from_start) = match before {
            Some(t) => (t, false),
            None => (self.start, true),
        };
        let mut worst: Option<Gap> = None;
        let mut consider = |from: DateTime<Utc>, from_start: bool, to: DateTime<Utc>, to_now| {
            let seconds = (to - from).num_seconds();
            if worst.as_ref().is_none_or(|w| seconds > w.seconds) {
                worst = Some(Gap {
                    seconds,
                    from,
                    to,
                    from_window_start: from_start,
                    to_now,
                });
            }
        };
        for &t in times.range(self.start..=self.now) {
            consider(from, from_start, t, false);
            (from, from_start) = (t, false);
        }
        consider(from, from_start, self.now, true);
        worst.unwrap_or(Gap {
            seconds: 0,
            from: self.now,
            to: self.now,
            from_window_start: false,
            to_now: true,
        })
    }

    /// The newest restorable backup's age over the window, as the vertices of a sawtooth:
    /// a backup becomes available when it finishes, and its age counts from its consistent
    /// point. Starts at the window's start if a backup existed then, else at the first one.
    fn backup_age(&self, ev: &Evidence) -> Vec<AgePoint> {
        let mut by_availability: Vec<(DateTime<Utc>, DateTime<Utc>)> = ev
            .restorable
            .iter()
            .map(|p| (p.backup.finished_at.min(self.now), p.at()))
            .collect();
        by_availability.sort();
        let mut out = Vec::new();
        let mut newest: Option<DateTime<Utc>> = by_availability
            .iter()
            .filter(|(avail, _)| *avail <= self.start)
            .map(|(_, cp)| *cp)
            .max();
        let point = |at: DateTime<Utc>, cp: DateTime<Utc>| AgePoint {
            at,
            seconds: (at - cp).num_seconds().max(0),
        };
        if let Some(cp) = newest {
            out.push(point(self.start, cp));
        }
        for &(avail, cp) in by_availability.iter().filter(|(a, _)| *a > self.start) {
            if let Some(prev) = newest {
                out.push(point(avail, prev));
            }
            let now_newest = newest.map_or(cp, |n| n.max(cp));
            newest = Some(now_newest);
            out.push(point(avail, now_newest));
        }
        if let Some(cp) = newest {
            out.push(point(self.now, cp));
        }
        out.dedup();
        out
    }

    fn calendar(&self, ev: &Evidence) -> Vec<CalendarDay> {
        let day = |t: DateTime<Utc>| t.with_timezone(&self.tz).date_naive();
        let (first, last) = (day(self.start), day(self.now));
        let mut days: BTreeMap<NaiveDate, CalendarDay> = BTreeMap::new();
        let mut d = first;
        while d <= last {
            days.insert(
                d,
                CalendarDay {
                    date: d,
                    backups: 0,
                    verifications_passed: 0,
                    verifications_failed: 0,
                },
            );
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
        }
        for p in ev.restorable.iter().filter(|p| self.in_window(p.at())) {
            if let Some(c) = days.get_mut(&day(p.at())) {
                c.backups += 1;
            }
        }
        for o in ev.outcomes.iter().filter(|o| self.in_window(o.at)) {
            if let Some(c) = days.get_mut(&day(o.at)) {
                if o.passed {
                    c.verifications_passed += 1;
                } else {
                    c.verifications_failed += 1;
                }
            }
        }
        days.into_values().collect()
    }

    fn future_dated(&self, ev: &Evidence) -> Vec<FutureDated> {
        ev.restorable
            .iter()
            .filter(|p| p.at() > self.now)
            .map(|p| FutureDated {
                backup: p.backup.id.clone(),
                consistent_at: p.at(),
                ahead_seconds: (p.at() - self.now).num_seconds(),
            })
            .collect()
    }

    // --- controls ---------------------------------------------------------------------

    fn last_recovery_point(
        &self,
        name: &str,
        ev: &Evidence,
        f: &Figures,
        targets: Targets,
    ) -> Control {
        let id = ControlId::LastRecoveryPointCreated;
        let rpo = targets.rpo.map(|d| d.as_secs());
        let (Some(newest), Some(age)) = (&f.newest_backup, f.current_rpo_seconds) else {
            let why = no_restorable(name, ev);
            return match rpo {
                Some(t) => fail(id, t, None, format!("{why}; the RPO is {}", target(t))),
                None => not_configured(id, format!("no RPO target; {why}")),
            };
        };
        let what = format!(
            "the newest restorable backup {} (consistent at {}) is {} old",
            newest.backup,
            time(newest.consistent_at, self.tz),
            duration(age)
        );
        judge_age(id, rpo, age, what, "the RPO", "no RPO target")
    }

    fn recovery_point_verified(
        &self,
        name: &str,
        ev: &Evidence,
        f: &Figures,
        targets: Targets,
    ) -> Control {
        let id = ControlId::RecoveryPointVerified;
        let within = targets.verify_within.map(|d| d.as_secs());
        let Some(v) = &f.newest_verified else {
            let why = if ev.verified.is_empty() {
                format!("no backup of {name} has passed a trusted verification")
            } else {
                format!(
                    "no backup of {name} that passed a verification is still restorable \
                     ({} verified backup(s) were deleted or are untrusted)",
                    ev.verified.len()
                )
            };
            return match within {
                Some(t) => fail(
                    id,
                    t,
                    None,
                    format!("{why}; one is required within {}", target(t)),
                ),
                None => not_configured(id, format!("no verification interval; {why}")),
            };
        };
        let age = self.age(v.consistent_at);
        let what = format!(
            "the newest verified backup {} (consistent at {}, verified at {}) is {} old",
            v.backup,
            time(v.consistent_at, self.tz),
            time(v.verified_at, self.tz),
            duration(age)
        );
        judge_age(
            id,
            within,
            age,
            what,
            "the verification interval",
            "no verification interval",
        )
    }

    fn restore_time(&self, name: &str, f: &Figures, targets: Targets) -> Control {
        let id = ControlId::RestoreTimeMeetsTarget;
        let rto = targets.rto.map(|d| d.as_secs());
        let measured = f
            .last_restore
            .as_ref()
            .and_then(|r| r.restore_seconds.map(|s| (r, s)));
        let Some((r, secs)) = measured else {
            let why =
                format!("no restore of {name} was ever measured (`lifeboat verify` measures one)");
            return match rto {
                Some(t) => fail(id, t, None, format!("{why}; the RTO is {}", target(t))),
                None => not_configured(id, format!("no RTO target; {why}")),
            };
        };
        let what = format!(
            "the last measured restore (backup {}, verified at {}) took {}",
            r.backup,
            time(r.at, self.tz),
            seconds(secs)
        );
        let Some(t) = rto else {
            let mut c = not_configured(id, format!("no RTO target; {what}"));
            c.achieved_seconds = Some(secs);
            return c;
        };
        let mut c = Control {
            id,
            status: ControlStatus::Pass,
            at_risk: false,
            reason: String::new(),
            target_seconds: Some(t),
            achieved_seconds: Some(secs),
        };
        let t_f = t as f64;
        if secs <= t_f {
            c.at_risk = secs * RISK_DENOMINATOR as f64 > t_f * RISK_NUMERATOR as f64;
            c.reason = format!(
                "{what}, within the RTO of {}{}",
                target(t),
                if c.at_risk { " (above 80% of it)" } else { "" }
            );
        } else {
            c.status = ControlStatus::Fail;
            c.reason = format!(
                "{what}, over the RTO of {} by {}",
                target(t),
                seconds(secs - t_f)
            );
        }
        c
    }

    fn encrypted(&self, name: &str, ev: &Evidence) -> Control {
        let id = ControlId::RecoveryPointEncrypted;
        let Some(newest) = ev.all.last() else {
            return judged(
                id,
                ControlStatus::Fail,
                format!("no backup of {name} exists"),
            );
        };
        let b = newest.backup;
        let mut missing = Vec::new();
        if !b.encrypted {
            missing.push("not encrypted to any recipient".to_string());
        }
        if !b.trusted {
            missing.push(format!("not signed by a trusted key ({})", b.signature));
        }
        let (status, reason) = if missing.is_empty() {
            (
                ControlStatus::Pass,
                format!(
                    "the newest backup {} is encrypted (age) and signed by trusted key {}",
                    b.id,
                    b.signature.strip_prefix("signed ").unwrap_or(&b.signature)
                ),
            )
        } else {
            (
                ControlStatus::Fail,
                format!("the newest backup {} is {}", b.id, missing.join(" and ")),
            )
        };
        judged(id, status, reason)
    }

    /// Passes when the oldest restorable backup reaches back far enough, or when the
    /// repository itself (by its signed creation time) is younger than the minimum and no
    /// verified backup of the database has been deleted: history cannot reach back further
    /// than it exists. Without a trusted creation time, the young-history exception does
    /// not apply.
    fn minimum_retention(
        &self,
        name: &str,
        ev: &Evidence,
        f: &Figures,
        targets: Targets,
    ) -> Control {
        let id = ControlId::MinimumRetention;
        let min = targets.min_retention.map(|d| d.as_secs());
        let (Some(oldest), Some(reach)) = (&f.oldest_backup, f.retention_seconds) else {
            let why = no_restorable(name, ev);
            return match min {
                Some(t) => fail(
                    id,
                    t,
                    None,
                    format!("{why}; the minimum retention is {}", target(t)),
                ),
                None => not_configured(id, format!("no minimum retention; {why}")),
            };
        };
        let what = format!(
            "the oldest restorable backup {} (consistent at {}) reaches back {}",
            oldest.backup,
            time(oldest.consistent_at, self.tz),
            duration(reach)
        );
        let Some(t) = min else {
            let mut c = not_configured(id, format!("no minimum retention; {what}"));
            c.achieved_seconds = Some(reach as f64);
            return c;
        };
        let achieved = Some(reach as f64);
        if i128::from(reach) >= i128::from(t) {
            return pass(
                id,
                t,
                achieved,
                format!("{what}, at least the minimum retention of {}", target(t)),
            );
        }
        let deleted: BTreeSet<&str> = ev
            .outcomes
            .iter()
            .map(Outcome::backup)
            .filter(|b| !ev.all.iter().any(|p| p.backup.id == *b))
            .collect();
        let young = self.facts.repository_created_at.map(|c| self.age(c));
        match young {
            Some(age) if i128::from(age) < i128::from(t) && deleted.is_empty() => pass(
                id,
                t,
                achieved,
                format!(
                    "{what}, less than the minimum retention of {}, but the repository was \
                     created only {} ago and no backup of {name} is known to be deleted",
                    target(t),
                    duration(age)
                ),
            ),
            _ => {
                let extra = if deleted.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} verified backup(s) of {name} were deleted (e.g. {})",
                        deleted.len(),
                        deleted.iter().next().copied().unwrap_or_default()
                    )
                };
                fail(
                    id,
                    t,
                    achieved,
                    format!(
                        "{what}, less than the minimum retention of {} by {}{extra}",
                        target(t),
                        duration(i64::try_from(t).unwrap_or(i64::MAX) - reach)
                    ),
                )
            }
        }
    }

    // --- findings ---------------------------------------------------------------------

    fn findings(
        &self,
        name: &str,
        ev: &Evidence,
        f: &Figures,
        targets: Targets,
        future: &[FutureDated],
    ) -> Vec<String> {
        let mut out = Vec::new();
        for fd in future {
            out.push(format!(
                "backup {} has a consistent point {} in the future ({}): check the clocks \
                 of the backup host and of this one; it is counted as restorable with an \
                 achieved RPO of 0",
                fd.backup,
                duration(fd.ahead_seconds),
                time(fd.consistent_at, self.tz)
            ));
        }
        if let (Some(rpo), Some(peak)) = (targets.rpo, f.max_backup_age_seconds) {
            let rpo = rpo.as_secs();
            if i128::from(peak) > i128::from(rpo) {
                out.push(format!(
                    "in the window, the newest restorable backup of {name} reached {} old, \
                     over the RPO of {}",
                    duration(peak),
                    target(rpo)
                ));
            }
        }
        let untrusted = ev.all.iter().filter(|p| !p.backup.trusted).count();
        if untrusted > 0 {
            out.push(format!(
                "{untrusted} backup(s) of {name} are not signed by a trusted key and are not \
                 counted (see the ignored list)"
            ));
        }
        out
    }
}

/// For each backup, the latest verdict decides; the passing ones, by consistent point.
fn verified_points(outcomes: &[Outcome]) -> Vec<VerifiedPoint> {
    let mut latest: BTreeMap<&str, &Outcome> = BTreeMap::new();
    for o in outcomes {
        // Sorted by finish time: later ones replace earlier ones.
        latest.insert(o.backup(), o);
    }
    let mut out: Vec<VerifiedPoint> = latest
        .values()
        .filter(|o| o.passed)
        .filter_map(|o| {
            o.consistent_at.map(|cp| VerifiedPoint {
                backup: o.backup().to_string(),
                consistent_at: cp,
                verified_at: o.at,
                record: o.fact.record.id.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.consistent_at, &a.backup).cmp(&(b.consistent_at, &b.backup)));
    out
}

fn no_restorable(name: &str, ev: &Evidence) -> String {
    match ev.all.len() {
        0 => format!("no backup of {name} exists"),
        n => format!(
            "no restorable backup of {name} exists ({n} backup(s) not signed by a trusted key)"
        ),
    }
}

/// Judges an age against an optional target: pass (at risk above 80%) or fail.
pub(super) fn judge_age(
    id: ControlId,
    t: Option<u64>,
    age: i64,
    what: String,
    target_name: &str,
    unset: &str,
) -> Control {
    let Some(t) = t else {
        let mut c = not_configured(id, format!("{unset}; {what}"));
        c.achieved_seconds = Some(age as f64);
        return c;
    };
    let (age_i, t_i) = (i128::from(age), i128::from(t));
    if age_i <= t_i {
        let at_risk = age_i * i128::from(RISK_DENOMINATOR) > t_i * i128::from(RISK_NUMERATOR);
        let mut c = pass(
            id,
            t,
            Some(age as f64),
            format!(
                "{what}, within {target_name} of {}{}",
                target(t),
                if at_risk { " (above 80% of it)" } else { "" }
            ),
        );
        c.at_risk = at_risk;
        c
    } else {
        fail(
            id,
            t,
            Some(age as f64),
            format!(
                "{what}, over {target_name} of {} by {}",
                target(t),
                duration((age_i - t_i).try_into().unwrap_or(i64::MAX))
            ),
        )
    }
}

pub(super) fn pass(id: ControlId, t: u64, achieved: Option<f64>, reason: String) -> Control {
    Control {
        id,
        status: ControlStatus::Pass,
        at_risk: false,
        reason,
        target_seconds: Some(t),
        achieved_seconds: achieved,
    }
}

pub(super) fn fail(id: ControlId, t: u64, achieved: Option<f64>, reason: String) -> Control {
    Control {
        id,
        status: ControlStatus::Fail,
        at_risk: false,
        reason,
        target_seconds: Some(t),
        achieved_seconds: achieved,
    }
}

pub(super) fn not_configured(id: ControlId, reason: String) -> Control {
    judged(id, ControlStatus::NotConfigured, reason)
}

/// A control judged without a target figure.
pub(super) fn judged(id: ControlId, status: ControlStatus, reason: String) -> Control {
    Control {
        id,
        status,
        at_risk: false,
        reason,
        target_seconds: None,
        achieved_seconds: None,
    }
}
