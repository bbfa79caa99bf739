//! `compute` on synthesised histories: every figure exact to the second, every status right.
//! One table of cases (history, targets, moment → expected figures and control results),
//! plus tests of what a row of the table cannot say (calendar days across DST, the ignored
//! list, rendering).

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::config::{TargetPolicy, Targets};
use crate::repository::records::{
    CheckResult, DatabaseVerification, Stage, VerificationRecord, VerifyTarget,
    RECORD_FORMAT_VERSION, VERIFICATION_FORMAT,
};

const DB: &str = "app";
const H: i64 = 3600;
const D: i64 = 86_400;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// A target of `n` seconds; 0 = not configured.
fn secs(n: i64) -> Option<StdDuration> {
    (n > 0).then(|| StdDuration::from_secs(n as u64))
}

/// A history under construction.
#[derive(Default)]
struct History {
    facts: Facts,
    seq: u32,
}

impl History {
    fn new() -> Self {
        History {
            facts: Facts {
                repository: "/srv/repo".into(),
                ..Facts::default()
            },
            seq: 0,
        }
    }

    /// A complete, trusted, encrypted backup of `DB` consistent at `at`, finished 10 minutes
    /// later. Returns its id.
    fn backup(&mut self, at: DateTime<Utc>) -> String {
        self.backup_with(at, true, "signed K1")
    }

    fn backup_with(&mut self, at: DateTime<Utc>, trusted: bool, signature: &str) -> String {
        self.seq += 1;
        let id = format!("{}-{:04}", at.format("%Y%m%dT%H%M%S000Z"), self.seq);
        self.facts.backups.push(BackupFact {
            id: id.clone(),
            started_at: at - Duration::seconds(5),
            finished_at: at + Duration::minutes(10),
            encrypted: true,
            trusted,
            signature: signature.into(),
            databases: vec![DatabaseFact {
                name: DB.into(),
                consistent_at: at,
                stored_bytes: 1000,
                plain_bytes: 5000,
            }],
        });
        id
    }

    fn consistent_at(&self, backup: &str) -> DateTime<Utc> {
        self.facts
            .backups
            .iter()
            .find(|b| b.id == backup)
            .and_then(|b| b.database(DB))
            .map(|d| d.consistent_at)
            .expect("a backup of the history")
    }

    /// A trusted verification of `backup` finished at `at`; `restore` None = the restore
    /// itself failed; `passed` false with a restore = a failing check.
    fn verify(&mut self, backup: &str, at: DateTime<Utc>, passed: bool, restore: Option<f64>) {
        let cp = self.consistent_at(backup);
        self.verify_record(backup, cp, at, passed, restore, true);
    }

    fn verify_record(
        &mut self,
        backup: &str,
        cp: DateTime<Utc>,
        at: DateTime<Utc>,
        passed: bool,
        restore: Option<f64>,
        trusted: bool,
    ) {
        self.seq += 1;
        let id = format!("{}-v{:03}", at.format("%Y%m%dT%H%M%S000Z"), self.seq);
        let checks = vec![CheckResult {
            kind: "table".into(),
            name: "public.orders".into(),
            passed: passed || restore.is_none(),
            evidence: if passed {
                "rows 10 = 10".into()
            } else {
                "rows 9 != 10".into()
            },
        }];
        let record = VerificationRecord {
            format: VERIFICATION_FORMAT.into(),
            format_version: RECORD_FORMAT_VERSION,
            id: id.clone(),
            backup: backup.into(),
            lifeboat_version: "test".into(),
            host: "h".into(),
            started_at: at - Duration::minutes(15),
            finished_at: at,
            target: VerifyTarget {
                kind: "throwaway".into(),
                server: "lifeboat@127.0.0.1:5432".into(),
                server_version: "15.4".into(),
            },
            passed,
            databases: vec![DatabaseVerification {
                name: DB.into(),
                consistent_at: cp,
                restored_as: "lifeboat_verify_app".into(),
                passed,
                restore_seconds: restore.unwrap_or(0.0),
                total_seconds: restore.unwrap_or(0.0) + 5.0,
                stages: vec![Stage {
                    name: "data".into(),
                    seconds: restore.unwrap_or(0.0),
                }],
                bytes: 5000,
                rows: 10,
                checks: if restore.is_some() { checks } else { vec![] },
                error: restore
                    .is_none()
                    .then(|| "restore failed: object missing".to_string()),
            }],
            error: None,
        };
        self.facts.verifications.push(VerificationFact {
            key: format!("verifications/{backup}/{id}.json"),
            trusted,
            signature: if trusted {
                "signed K1".into()
            } else {
                "UNTRUSTED KEY K9".into()
            },
            record,
        });
    }
}

fn targets(rpo: i64, rto: i64, verify: i64, retention: i64) -> TargetPolicy {
    TargetPolicy {
        defaults: Targets {
            rpo: secs(rpo),
            rto: secs(rto),
            verify_within: secs(verify),
            min_retention: secs(retention),
        },
        databases: Default::default(),
    }
}

fn params(now: DateTime<Utc>, since_days: i64) -> ReportParams {
    ReportParams {
        now,
        since: StdDuration::from_secs((since_days * D) as u64),
        timezone: chrono_tz::UTC,
        only: vec![],
        expected: vec![DB.into()],
    }
}

use ControlStatus::{Fail as F, NotConfigured as N, Pass as P};

/// What a case must come out as, for the database `DB`.
struct Expect {
    status: Status,
    /// LAST_RECOVERY_POINT_CREATED, RECOVERY_POINT_VERIFIED, RESTORE_TIME_MEETS_TARGET,
    /// RECOVERY_POINT_ENCRYPTED, MINIMUM_RETENTION.
    controls: [ControlStatus; 5],
    at_risk: [bool; 5],
    current_rpo: Option<i64>,
    worst_rpo: i64,
    worst_from: Option<&'static str>,
    worst_to: Option<&'static str>,
    max_age: Option<i64>,
    backups_in_window: u32,
    verified_in_window: u32,
    verifications: (u32, u32),
    pass_rate: Option<f64>,
    failures: usize,
    last_restore: Option<f64>,
    future_dated: usize,
    findings: usize,
}

struct Case {
    name: &'static str,
    history: History,
    targets: TargetPolicy,
    params: ReportParams,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // No backups at all: every control with a target fails, the worst RPO is the window.
    {
        let now = t("2026-11-30T12:00:00Z");
        cases.push(Case {
            name: "no backups at all",
            history: History::new(),
            targets: targets(26 * H, H, 7 * D, 30 * D),
            params: params(now, 90),
            expect: Expect {
                status: Status::Breach,
                controls: [F, F, F, F, F],
                at_risk: [false; 5],
                current_rpo: None,
                worst_rpo: 90 * D,
                worst_from: None,
                worst_to: None,
                max_age: None,
                backups_in_window: 0,
                verified_in_window: 0,
                verifications: (0, 0),
                pass_rate: None,
                failures: 0,
                last_restore: None,
                future_dated: 0,
                findings: 0,
            },
        });
    }

    // Only failed verifications: backups are fresh, nothing is verified; the failed
    // checks' restores still measured the RTO.
    {
        let now = t("2026-11-30T12:00:00Z");
        let mut h = History::new();
        let mut ids = Vec::new();
        for day in 0..10 {
            ids.push(h.backup(t("2026-11-21T01:00:00Z") + Duration::days(day)));
        }
        h.verify(&ids[7], t("2026-11-28T03:00:00Z"), false, None);
        h.verify(&ids[8], t("2026-11-29T03:00:00Z"), false, Some(300.0));
        h.verify(&ids[9], t("2026-11-30T03:00:00Z"), false, Some(420.5));
        cases.push(Case {
            name: "only failed verifications",
            history: h,
            targets: targets(26 * H, H, 7 * D, 7 * D),
            params: params(now, 30),
            expect: Expect {
                status: Status::Breach,
                controls: [P, F, P, P, P],
                at_risk: [false; 5],
                current_rpo: Some(11 * H),
                worst_rpo: 30 * D,
                worst_from: None,
                worst_to: None,
                // Before the first backup there is no age; after it, the peak is a day
                // plus the 10 minutes until the next one finished.
                max_age: Some(D + 600),
                backups_in_window: 10,
                verified_in_window: 0,
                verifications: (3, 0),
                pass_rate: Some(0.0),
                failures: 3,
                last_restore: Some(420.5),
                future_dated: 0,
                findings: 0,
            },
        });
    }

    // A gap of five days in the middle of the window: a finding, not a breach, once
    // backups are back; the worst RPO is that gap, between verified points.
    {
        let now = t("2026-11-30T03:00:00Z");
        let mut h = History::new();
        for day in 1..=30 {
            if (15..=18).contains(&day) {
                continue;
            }
            let at = t(&format!("2026-11-{day:02}T01:00:00Z"));
            let id = h.backup(at);
            h.verify(&id, at + Duration::hours(1), true, Some(600.0));
        }
        cases.push(Case {
            name: "a gap larger than the RPO in the middle of the window",
            history: h,
            targets: targets(26 * H, H, 2 * D, 14 * D),
            params: params(now, 20),
            expect: Expect {
                status: Status::Ok,
                controls: [P, P, P, P, P],
                at_risk: [false; 5],
                current_rpo: Some(2 * H),
                worst_rpo: 5 * D,
                worst_from: Some("2026-11-14T01:00:00Z"),
                worst_to: Some("2026-11-19T01:00:00Z"),
                max_age: Some(5 * D + 600),
                backups_in_window: 16,
                verified_in_window: 16,
                verifications: (16, 16),
                pass_rate: Some(1.0),
                failures: 0,
                last_restore: Some(600.0),
                future_dated: 0,
                findings: 1,
            },
        });
    }

    // A verification that failed, then passed on a second run: the latest verdict counts.
    {
        let now = t("2026-11-30T12:00:00Z");
        let mut h = History::new();
        let old = h.backup(t("2026-11-10T00:00:00Z"));
        h.verify(&old, t("2026-11-10T06:00:00Z"), true, Some(100.0));
        let id = h.backup(t("2026-11-30T00:00:00Z"));
        h.verify(&id, t("2026-11-30T02:00:00Z"), false, Some(50.0));
        h.verify(&id, t("2026-11-30T04:00:00Z"), true, Some(55.0));
        cases.push(Case {
            name: "a verification that failed then passed",
            history: h,
            targets: targets(26 * H, 60, 7 * D, 0),
            params: params(now, 30),
            expect: Expect {
                status: Status::AtRisk,
                // 55 s of a 60 s RTO is above 80%: at risk.
                controls: [P, P, P, P, N],
                at_risk: [false, false, true, false, false],
                current_rpo: Some(12 * H),
                worst_rpo: 20 * D,
                worst_from: Some("2026-11-10T00:00:00Z"),
                worst_to: Some("2026-11-30T00:00:00Z"),
                max_age: Some(20 * D + 600),
                backups_in_window: 2,
                verified_in_window: 2,
                verifications: (3, 2),
                pass_rate: Some(2.0 / 3.0),
                failures: 1,
                last_restore: Some(55.0),
                future_dated: 0,
                findings: 1,
            },
        });
    }

    // Future-dated backup (clock skew): restorable, achieved RPO 0, flagged.
    {
        let now = t("2026-11-30T12:00:00Z");
        let mut h = History::new();
        let a = h.backup(t("2026-11-29T12:00:00Z"));
        h.verify(&a, t("2026-11-29T13:00:00Z"), true, Some(30.0));
        let b = h.backup(t("2026-11-30T13:00:00Z"));
        h.verify(&b, t("2026-11-30T11:00:00Z"), true, Some(30.0));
        cases.push(Case {
            name: "future-dated backups",
            history: h,
            targets: targets(26 * H, H, 7 * D, 0),
            params: params(now, 7),
            expect: Expect {
                status: Status::Ok,
                controls: [P, P, P, P, N],
                at_risk: [false; 5],
                current_rpo: Some(0),
                // From the window's start to the first verified point: 6 days.
                worst_rpo: 6 * D,
                worst_from: None,
                worst_to: Some("2026-11-29T12:00:00Z"),
                max_age: Some(D),
                backups_in_window: 1,
                verified_in_window: 1,
                verifications: (2, 2),
                pass_rate: Some(1.0),
                failures: 0,
                last_restore: Some(30.0),
                future_dated: 1,
                findings: 1,
            },
        });
    }

    // Untrusted documents are ignored: the newest backup (untrusted key) neither counts as
    // restorable nor passes the encryption control; an untrusted passing record proves
    // nothing.
    {
        let now = t("2026-11-30T12:00:00Z");
        let mut h = History::new();
        let good = h.backup(t("2026-11-29T00:00:00Z"));
        h.verify_record(
            &good,
            t("2026-11-29T00:00:00Z"),
            t("2026-11-29T02:00:00Z"),
            true,
            Some(10.0),
            false,
        );
        h.backup_with(t("2026-11-30T06:00:00Z"), false, "UNTRUSTED KEY K9");
        cases.push(Case {
            name: "untrusted records ignored",
            history: h,
            targets: targets(26 * H, H, 7 * D, 0),
            params: params(now, 7),
            expect: Expect {
                status: Status::Breach,
                // 36 h old > 26 h; nothing verified; nothing measured; newest untrusted.
                controls: [F, F, F, F, N],
                at_risk: [false; 5],
                current_rpo: Some(36 * H),
                worst_rpo: 7 * D,
                worst_from: None,
                worst_to: None,
                max_age: Some(36 * H),
                backups_in_window: 1,
                verified_in_window: 0,
                verifications: (0, 0),
                pass_rate: None,
                failures: 0,
                last_restore: None,
                future_dated: 0,
                // Over the RPO in the window; one untrusted backup.
                findings: 2,
            },
        });
    }

    // At risk: 22 h of a 26 h RPO (above 80%) passes but is flagged.
    {
        let now = t("2026-11-30T22:00:00Z");
        let mut h = History::new();
        let id = h.backup(t("2026-11-30T00:00:00Z"));
        h.verify(&id, t("2026-11-30T01:00:00Z"), true, Some(10.0));
        cases.push(Case {
            name: "within 20% of the RPO",
            history: h,
            targets: targets(26 * H, H, 7 * D, 0),
            params: params(now, 1),
            expect: Expect {
                status: Status::AtRisk,
                controls: [P, P, P, P, N],
                at_risk: [true, false, false, false, false],
                current_rpo: Some(22 * H),
                worst_rpo: 22 * H,
                worst_from: Some("2026-11-30T00:00:00Z"),
                worst_to: None,
                max_age: Some(22 * H),
                backups_in_window: 1,
                verified_in_window: 1,
                verifications: (1, 1),
                pass_rate: Some(1.0),
                failures: 0,
                last_restore: Some(10.0),
                future_dated: 0,
                findings: 0,
            },
        });
    }

    // No targets at all: every target control is NOT CONFIGURED; encryption is judged.
    {
        let now = t("2026-11-30T12:00:00Z");
        let mut h = History::new();
        h.backup(t("2026-11-30T00:00:00Z"));
        cases.push(Case {
            name: "no targets configured",
            history: h,
            targets: TargetPolicy::default(),
            params: params(now, 2),
            expect: Expect {
                status: Status::Ok,
                controls: [N, N, N, P, N],
                at_risk: [false; 5],
                current_rpo: Some(12 * H),
                worst_rpo: 2 * D,
                worst_from: None,
                worst_to: None,
                max_age: Some(12 * H),
                backups_in_window: 1,
                verified_in_window: 0,
                verifications: (0, 0),
                pass_rate: None,
                failures: 0,
                last_restore: None,
                future_dated: 0,
                findings: 0,
            },
        });
    }
    cases
}

const ORDER: [ControlId; 5] = [
    ControlId::LastRecoveryPointCreated,
    ControlId::RecoveryPointVerified,
    ControlId::RestoreTimeMeetsTarget,
    ControlId::RecoveryPointEncrypted,
    ControlId::MinimumRetention,
];

#[test]
fn figures_and_statuses_of_synthesised_histories() {
    for case in cases() {
        let report = compute(&case.history.facts, &case.targets, &case.params);
        let name = case.name;
        let d = report
            .database(DB)
            .unwrap_or_else(|| panic!("{name}: no row for {DB}"));
        let e = &case.expect;
        let f = &d.figures;
        let got: Vec<(ControlId, ControlStatus, bool)> = d
            .controls
            .iter()
            .map(|c| (c.id, c.status, c.at_risk))
            .collect();
        let want: Vec<(ControlId, ControlStatus, bool)> = ORDER
            .iter()
            .zip(e.controls.iter().zip(e.at_risk.iter()))
            .map(|(id, (s, r))| (*id, *s, *r))
            .collect();
        assert_eq!(got, want, "{name}: controls\n{:#?}", d.controls);
        assert_eq!(d.status, e.status, "{name}: status\n{:#?}", d.controls);
        assert_eq!(report.status, e.status, "{name}: overall status");
        assert_eq!(f.current_rpo_seconds, e.current_rpo, "{name}: current RPO");
        assert_eq!(
            f.worst_rpo.seconds, e.worst_rpo,
            "{name}: worst RPO {:?}",
            f.worst_rpo
        );
        match e.worst_from {
            Some(s) => assert_eq!(
                (f.worst_rpo.from, f.worst_rpo.from_window_start),
                (t(s), false),
                "{name}: worst from"
            ),
            None => assert_eq!(
                (f.worst_rpo.from, f.worst_rpo.from_window_start),
                (report.window.start, true),
                "{name}: worst from"
            ),
        }
        match e.worst_to {
            Some(s) => assert_eq!(
                (f.worst_rpo.to, f.worst_rpo.to_now),
                (t(s), false),
                "{name}: worst to"
            ),
            None => assert_eq!(
                (f.worst_rpo.to, f.worst_rpo.to_now),
                (report.generated_at, true),
                "{name}: worst to"
            ),
        }
        assert_eq!(
            f.max_backup_age_seconds, e.max_age,
            "{name}: max age {:?}",
            d.backup_age
        );
        assert_eq!(f.backups_in_window, e.backups_in_window, "{name}: backups");
        assert_eq!(
            f.verified_points_in_window, e.verified_in_window,
            "{name}: verified"
        );
        assert_eq!(
            (f.verifications, f.verifications_passed),
            e.verifications,
            "{name}: verifications"
        );
        assert_eq!(
            f.verifications_failed,
            e.verifications.0 - e.verifications.1
        );
        assert_eq!(f.pass_rate, e.pass_rate, "{name}: pass rate");
        assert_eq!(d.failures.len(), e.failures, "{name}: failures");
        assert_eq!(
            f.last_restore.as_ref().and_then(|r| r.restore_seconds),
            e.last_restore,
            "{name}: last restore"
        );
        assert_eq!(d.future_dated.len(), e.future_dated, "{name}: future-dated");
        assert_eq!(
            d.findings.len(),
            e.findings,
            "{name}: findings {:#?}",
            d.findings
        );
        assert_eq!(
            d.restores.len() as u32,
            f.verifications,
            "{name}: RTO trend"
        );
        // Every control gives a reason with its figures.
        for c in &d.controls {
            assert!(!c.reason.is_empty(), "{name}: {:?} has no reason", c.id);
        }
        // The breach summary names exactly the failing controls.
        match report.breach_summary() {
            Some(s) => {
                for c in d.controls.iter().filter(|c| c.status == F) {
                    assert!(s.contains(c.id.name()), "{name}: {s}");
                }
            }
            None => assert_ne!(e.status, Status::Breach, "{name}"),
        }
    }
}

#[test]
fn failures_name_the_failing_checks_and_errors() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "only failed verifications")
        .unwrap();
    let r = compute(&case.history.facts, &case.targets, &case.params);
    let d = r.database(DB).unwrap();
    assert_eq!(
        d.failures[0].error.as_deref(),
        Some("restore failed: object missing")
    );
    assert!(d.failures[0].failed_checks.is_empty());
    assert_eq!(d.failures[1].failed_checks.len(), 1);
    assert_eq!(d.failures[1].failed_checks[0].name, "public.orders");
    assert_eq!(d.failures[1].failed_checks[0].evidence, "rows 9 != 10");
    // The failed restore has no restore time in the trend.
    assert_eq!(d.restores[0].restore_seconds, None);
    assert_eq!(d.restores[1].restore_seconds, Some(300.0));
    let rto = d.control(ControlId::RestoreTimeMeetsTarget).unwrap();
    assert_eq!(rto.achieved_seconds, Some(420.5));
    assert!(
        rto.reason.contains("7m 0s") || rto.reason.contains("7m"),
        "{}",
        rto.reason
    );
}

#[test]
fn passed_then_failed_is_not_verified() {
    let now = t("2026-11-30T12:00:00Z");
    let mut h = History::new();
    let id = h.backup(t("2026-11-30T00:00:00Z"));
    h.verify(&id, t("2026-11-30T02:00:00Z"), true, Some(50.0));
    h.verify(&id, t("2026-11-30T04:00:00Z"), false, Some(50.0));
    let r = compute(&h.facts, &targets(26 * H, H, 7 * D, 0), &params(now, 7));
    let d = r.database(DB).unwrap();
    assert_eq!(
        d.control(ControlId::RecoveryPointVerified).unwrap().status,
        F
    );
    assert!(d.figures.newest_verified.is_none());
    assert_eq!(d.status, Status::Breach);
}

#[test]
fn dst_boundaries_group_days_in_the_configured_zone_and_gaps_stay_exact() {
    let berlin = chrono_tz::Europe::Berlin;
    // Daily at 01:30 Berlin time, across the last Sunday of March (2026-03-29: 23 h day)
    // and of October (2026-10-25: 25 h day).
    for (first, now, short_or_long, gap_from) in [
        (
            "2026-03-26",
            "2026-03-31T12:00:00Z",
            23 * H,
            "2026-03-29T00:30:00Z",
        ),
        (
            "2026-10-22",
            "2026-10-27T12:00:00Z",
            25 * H,
            "2026-10-24T23:30:00Z",
        ),
    ] {
        let mut h = History::new();
        let start_day = chrono::NaiveDate::parse_from_str(first, "%Y-%m-%d").unwrap();
        let mut points = Vec::new();
        for i in 0..6 {
            let local = (start_day + Duration::days(i))
                .and_hms_opt(1, 30, 0)
                .unwrap();
            let at = local
                .and_local_timezone(berlin)
                .single()
                .unwrap()
                .with_timezone(&Utc);
            let id = h.backup(at);
            h.verify(&id, at + Duration::hours(1), true, Some(20.0));
            points.push(at);
        }
        let gaps: Vec<i64> = points
            .windows(2)
            .map(|w| (w[1] - w[0]).num_seconds())
            .collect();
        assert!(gaps.contains(&short_or_long), "{gaps:?}");
        let mut p = params(t(now), 5);
        p.timezone = berlin;
        let r = compute(&h.facts, &targets(26 * H, H, 2 * D, 0), &p);
        assert_eq!(r.window.timezone, "Europe/Berlin");
        let d = r.database(DB).unwrap();
        // One cell per Berlin day, one backup on each day in the window (the first day's
        // backup is before the window's start).
        let days: Vec<(String, u32, u32)> = d
            .calendar
            .iter()
            .map(|c| (c.date.to_string(), c.backups, c.verifications_passed))
            .collect();
        let expected: Vec<(String, u32, u32)> = (0..6)
            .map(|i| {
                let date = (start_day + Duration::days(i)).to_string();
                let n = u32::from(i > 0);
                (date, n, n)
            })
            .collect();
        assert_eq!(days, expected, "{first}");
        // Grouped by UTC days instead, the short or long day would show 0 or 2 backups.
        let mut utc = p.clone();
        utc.timezone = chrono_tz::UTC;
        let r_utc = compute(&h.facts, &targets(26 * H, H, 2 * D, 0), &utc);
        let counts = |days: &[CalendarDay]| days.iter().map(|c| c.backups).collect::<Vec<_>>();
        let utc_days = &r_utc.database(DB).unwrap().calendar;
        assert_ne!(counts(utc_days), counts(&d.calendar), "{first}");
        // The worst RPO is exact to the second: a 25 h day makes a 25 h gap; with a 23 h
        // day the worst is an ordinary 24 h day.
        let worst = &d.figures.worst_rpo;
        if short_or_long == 25 * H {
            assert_eq!((worst.seconds, worst.from), (25 * H, t(gap_from)));
        } else {
            assert_eq!(worst.seconds, 24 * H);
            assert_eq!(
                d.backup_age
                    .windows(2)
                    .filter(|w| w[0].at == w[1].at)
                    .map(|w| w[0].seconds)
                    .collect::<Vec<_>>()
                    .iter()
                    .filter(|s| **s == 23 * H + 600)
                    .count(),
                1,
                "the short night's sawtooth peak: {:?}",
                d.backup_age
            );
            assert!(
                d.backup_age
                    .iter()
                    .any(|a| a.at == t(gap_from) + Duration::hours(23) + Duration::minutes(10)),
                "{:?}",
                d.backup_age
            );
        }
    }
}

#[test]
fn a_database_named_in_targets_or_expected_without_backups_is_in_breach() {
    let now = t("2026-11-30T12:00:00Z");
    let mut h = History::new();
    h.backup(t("2026-11-30T00:00:00Z"));
    let mut policy = targets(26 * H, H, 7 * D, 0);
    policy.databases.insert(
        "billing".into(),
        Targets {
            rpo: secs(2 * H),
            ..Targets::default()
        },
    );
    let mut p = params(now, 7);
    p.expected = vec!["crm".into()];
    let r = compute(&h.facts, &policy, &p);
    let names: Vec<&str> = r.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["app", "billing", "crm"]);
    let billing = r.database("billing").unwrap();
    assert_eq!(billing.targets.rpo, Some(2 * H as u64));
    assert_eq!(
        billing.targets.rto,
        Some(H as u64),
        "defaults fill the rest"
    );
    assert_eq!(billing.status, Status::Breach);
    assert!(billing.controls[0]
        .reason
        .contains("no backup of billing exists"));
    // --database restricts the rows to exactly those named.
    p.only = vec!["app".into(), "app".into()];
    let r = compute(&h.facts, &policy, &p);
    assert_eq!(r.databases.len(), 1);
    // An empty repository with targets is a breach even without database names.
    let mut p = params(now, 7);
    p.expected.clear();
    let policy = targets(26 * H, H, 7 * D, 0);
    let r = compute(&History::new().facts, &policy, &p);
    assert!(r.databases.is_empty());
    assert_eq!(r.status, Status::Breach);
    assert!(r.breach_summary().unwrap().contains("no backup"));
    let r = compute(&History::new().facts, &TargetPolicy::default(), &p);
    assert_eq!(r.status, Status::Ok);
    assert!(!r.targets_configured);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
}

#[test]
fn untrusted_documents_are_listed_as_ignored() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "untrusted records ignored")
        .unwrap();
    let r = compute(&case.history.facts, &case.targets, &case.params);
    let kinds: Vec<(&str, bool)> = r
        .ignored
        .iter()
        .map(|i| (i.kind.as_str(), i.reason.contains("UNTRUSTED KEY K9")))
        .collect();
    assert_eq!(kinds, [("backup", true), ("verification", true)]);
    let enc = r
        .database(DB)
        .unwrap()
        .control(ControlId::RecoveryPointEncrypted)
        .unwrap();
    assert!(
        enc.reason.contains("not signed by a trusted key"),
        "{}",
        enc.reason
    );
}

#[test]
fn minimum_retention_young_history_and_deleted_evidence() {
    let now = t("2026-11-30T12:00:00Z");
    let mut h = History::new();
    let id = h.backup(t("2026-11-25T12:00:00Z"));
    h.verify(&id, t("2026-11-25T13:00:00Z"), true, Some(5.0));
    let policy = targets(26 * 7 * H, H, 7 * D, 30 * D);
    let retention = |h: &History| {
        let r = compute(&h.facts, &policy, &params(now, 30));
        r.database(DB)
            .unwrap()
            .control(ControlId::MinimumRetention)
            .unwrap()
            .clone()
    };
    // Unknown repository age: 5 days of 30 fails.
    let c = retention(&h);
    assert_eq!((c.status, c.achieved_seconds), (F, Some((5 * D) as f64)));
    assert!(c.reason.contains("by 25d"), "{}", c.reason);
    // A repository created 6 days ago cannot reach back 30: passes.
    h.facts.repository_created_at = Some(t("2026-11-24T12:00:00Z"));
    let c = retention(&h);
    assert_eq!(c.status, P, "{}", c.reason);
    assert!(c.reason.contains("created only 6d ago"), "{}", c.reason);
    // ...unless a verified backup is known to have been deleted.
    h.verify_record(
        "20261120T000000000Z-gone",
        t("2026-11-20T00:00:00Z"),
        t("2026-11-20T01:00:00Z"),
        true,
        Some(5.0),
        true,
    );
    let c = retention(&h);
    assert_eq!(c.status, F, "{}", c.reason);
    assert!(
        c.reason.contains("20261120T000000000Z-gone"),
        "{}",
        c.reason
    );
}

#[test]
fn a_run_that_stopped_before_any_database_fails_each_database_of_its_backup() {
    let now = t("2026-11-30T12:00:00Z");
    let mut h = History::new();
    let id = h.backup(t("2026-11-30T00:00:00Z"));
    h.verify(&id, t("2026-11-30T01:00:00Z"), true, Some(5.0));
    let mut stopped = h.facts.verifications[0].clone();
    stopped.record.id = "20261130T020000000Z-stop".into();
    stopped.record.finished_at = t("2026-11-30T02:00:00Z");
    stopped.record.passed = false;
    stopped.record.databases.clear();
    stopped.record.error = Some("the scratch server did not start".into());
    h.facts.verifications.push(stopped);
    let r = compute(&h.facts, &targets(26 * H, H, 7 * D, 0), &params(now, 7));
    let d = r.database(DB).unwrap();
    assert_eq!(d.failures.len(), 1);
    assert_eq!(
        d.failures[0].error.as_deref(),
        Some("the scratch server did not start")
    );
    // The latest verdict on the backup is that failure: no longer a verified point.
    assert!(d.figures.newest_verified.is_none());
    // The earlier measurement is still the last restore time.
    assert_eq!(
        d.figures.last_restore.as_ref().unwrap().restore_seconds,
        Some(5.0)
    );
}

#[test]
fn every_format_renders_and_html_escapes_names() {
    let now = t("2026-11-30T12:00:00Z");
    let mut h = History::new();
    let id = h.backup(t("2026-11-29T12:00:00Z"));
    h.verify(&id, t("2026-11-29T13:00:00Z"), false, Some(30.0));
    h.facts.backups[0].databases[0].name = "<b>evil</b>|db".into();
    h.facts.verifications[0].record.databases[0].name = "<b>evil</b>|db".into();
    let mut p = params(now, 7);
    p.expected.clear();
    let r = compute(&h.facts, &targets(26 * H, H, 7 * D, 0), &p);
    let html = render(&r, Format::Html);
    assert!(!html.contains("<b>evil"), "unescaped name in HTML");
    assert!(html.contains("&lt;b&gt;evil&lt;/b&gt;|db"));
    for external in ["<script", "src=", "<link", "url(", "@import"] {
        assert!(
            !html.contains(external),
            "HTML must be self-contained: {external}"
        );
    }
    assert!(html.contains("@media print"));
    let md = render(&r, Format::Markdown);
    assert!(md.contains("&lt;b&gt;evil&lt;/b&gt;\\|db"), "{md}");
    let table = render(&r, Format::Table);
    assert!(table.starts_with("lifeboat compliance report"));
    assert!(table.contains("STATUS: BREACH"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["schema_version"], SCHEMA_VERSION);
    assert_eq!(json["status"], "BREACH");
    assert_eq!(
        json["databases"][0]["controls"][0]["id"],
        "LAST_RECOVERY_POINT_CREATED"
    );
    assert_eq!(
        json["databases"][0]["controls"][4]["status"],
        "NOT_CONFIGURED"
    );
}
