//! The policy as tables, modelled on restic's policy tests: many policies over one fixed
//! list of backups spanning years, each with the exact set it keeps; then time zones and
//! DST, future-dated backups, ties, and the per-database plan with its protections.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::plan::{plan, server_key, Entry, Protections, UNCOUNTED_REASON, VERIFIED_REASON};
use super::policy::{apply, parse_timezone, parse_within, Candidate, Keep, Policy, FUTURE_REASON};

fn t(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .and_utc()
}

/// 30 backups over three years (UTC): year, month and ISO-week boundaries (2024-12-30 is
/// in 2025-W01), several per day and per hour, and a tie (b22 and b23).
const HISTORY: &[(&str, &str)] = &[
    ("b01", "2023-03-15 10:00:00"),
    ("b02", "2023-12-31 23:00:00"), // Sunday, 2023-W52
    ("b03", "2024-01-01 01:00:00"), // Monday, 2024-W01
    ("b04", "2024-06-30 12:00:00"), // Sunday, 2024-W26
    ("b05", "2024-07-01 12:00:00"), // Monday, 2024-W27
    ("b06", "2024-12-30 08:00:00"), // Monday, 2025-W01, but December 2024
    ("b07", "2025-01-15 09:00:00"),
    ("b08", "2025-02-28 18:00:00"), // Friday, 2025-W09
    ("b09", "2025-03-01 06:00:00"),
    ("b10", "2025-03-02 06:00:00"), // Sunday, 2025-W09
    ("b11", "2025-03-03 06:00:00"), // Monday, 2025-W10
    ("b12", "2025-03-03 18:00:00"),
    ("b13", "2025-03-04 00:00:00"), // b13, b14, b15: one hour
    ("b14", "2025-03-04 00:30:00"),
    ("b15", "2025-03-04 00:59:59"),
    ("b16", "2025-03-04 01:00:00"),
    ("b17", "2025-03-05 12:00:00"),
    ("b18", "2025-03-06 12:00:00"),
    ("b19", "2025-03-07 12:00:00"),
    ("b20", "2025-03-08 12:00:00"),
    ("b21", "2025-03-09 12:00:00"), // Sunday, 2025-W10
    ("b22", "2025-03-10 12:00:00"), // Monday, 2025-W11; same instant as b23
    ("b23", "2025-03-10 12:00:00"),
    ("b24", "2025-03-11 03:00:00"),
    ("b25", "2025-03-11 21:00:00"),
    ("b26", "2025-03-12 12:00:00"),
    ("b27", "2025-03-13 12:00:00"),
    ("b28", "2025-03-14 12:00:00"),
    ("b29", "2025-03-15 12:00:00"),
    ("b30", "2025-03-16 12:00:00"), // Sunday, 2025-W11: the newest
];

fn history() -> Vec<Candidate> {
    HISTORY
        .iter()
        .map(|(id, at)| Candidate {
            id: id.to_string(),
            time: t(at),
        })
        .collect()
}

fn kept(policy: &Policy, list: &[Candidate], tz: Tz, now: DateTime<Utc>) -> Vec<String> {
    let mut ids: Vec<String> = apply(policy, list, tz, now)
        .into_iter()
        .filter(|d| d.keep)
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

/// `b01..b05` style ranges and single ids, as the tables write them.
fn ids(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in spec.split_whitespace() {
        match part.split_once("..") {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a[1..].parse().unwrap(), b[1..].parse().unwrap());
                out.extend((a..=b).map(|n| format!("b{n:02}")));
            }
            None => out.push(part.to_string()),
        }
    }
    out.sort();
    out
}

fn days(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n * 86_400))
}

fn p(f: impl FnOnce(&mut Policy)) -> Policy {
    let mut policy = Policy::default();
    f(&mut policy);
    policy
}

#[test]
fn policy_table_over_three_years_of_backups() {
    use Keep::{All, Count};
    let now = t("2025-06-01 00:00:00");
    let table: Vec<(Policy, &str)> = vec![
        (p(|p| p.last = Count(1)), "b30"),
        (p(|p| p.last = Count(5)), "b26..b30"),
        // The tie: b23 sorts before b22 (greater id first), so it is the 8th newest.
        (p(|p| p.last = Count(8)), "b23..b30"),
        (p(|p| p.last = Count(40)), "b01..b30"),
        (p(|p| p.last = All), "b01..b30"),
        (p(|p| p.hourly = Count(5)), "b26..b30"),
        // One per hour: b22 shares b23's hour, b13 and b14 share b15's.
        (p(|p| p.hourly = Count(20)), "b08..b12 b15..b21 b23..b30"),
        (p(|p| p.daily = Count(3)), "b28..b30"),
        (p(|p| p.daily = Count(10)), "b19 b20 b21 b23 b25 b26..b30"),
        // More days than exist: the newest of every day that has a backup.
        (
            p(|p| p.daily = Count(30)),
            "b01..b10 b12 b16..b21 b23 b25..b30",
        ),
        (p(|p| p.weekly = Count(2)), "b21 b30"),
        (p(|p| p.weekly = Count(4)), "b07 b10 b21 b30"),
        (p(|p| p.monthly = Count(3)), "b07 b08 b30"),
        (p(|p| p.monthly = Count(6)), "b04..b08 b30"),
        (p(|p| p.monthly = All), "b01..b08 b30"),
        // Two years with backups and counts left at the oldest: b01 is kept as the oldest
        // of 2023 although b02 already stands for 2023.
        (p(|p| p.yearly = Count(10)), "b01 b02 b06 b30"),
        (p(|p| p.yearly = Count(2)), "b06 b30"),
        // Rules are ORed.
        (
            p(|p| {
                p.last = Count(2);
                p.daily = Count(5)
            }),
            "b26..b30",
        ),
        (
            p(|p| {
                p.daily = Count(3);
                p.weekly = Count(2);
                p.monthly = Count(3);
                p.yearly = All
            }),
            "b01 b02 b06 b07 b08 b21 b28 b29 b30",
        ),
        (
            p(|p| {
                p.daily = Count(7);
                p.weekly = Count(4);
                p.monthly = Count(12);
                p.yearly = Count(5)
            }),
            "b01..b08 b10 b21 b23 b25..b30",
        ),
        // Within: strictly newer than the newest minus the duration (b28 is exactly 2
        // days older than b30, b21 exactly 7).
        (p(|p| p.within = days(2)), "b29 b30"),
        (p(|p| p.within = days(7)), "b22..b30"),
        (p(|p| p.within = days(400)), "b04..b30"),
        (
            p(|p| {
                p.within = days(2);
                p.monthly = Count(2)
            }),
            "b08 b29 b30",
        ),
    ];
    let list = history();
    for (policy, want) in &table {
        policy.validate().unwrap();
        let got = kept(policy, &list, chrono_tz::UTC, now);
        assert_eq!(got, ids(want), "{}", policy.describe());
        // Any policy keeps the newest backup.
        assert!(got.contains(&"b30".to_string()), "{}", policy.describe());
    }
}

#[test]
fn reasons_name_every_rule_and_the_period() {
    let policy = Policy {
        last: Keep::Count(1),
        daily: Keep::Count(2),
        weekly: Keep::Count(2),
        yearly: Keep::Count(5),
        within: days(1),
        ..Default::default()
    };
    let decisions = apply(
        &policy,
        &history(),
        chrono_tz::UTC,
        t("2025-06-01 00:00:00"),
    );
    let why: BTreeMap<String, Vec<String>> = decisions
        .into_iter()
        .filter(|d| d.keep)
        .map(|d| (d.id, d.reasons))
        .collect();
    let want: BTreeMap<String, Vec<String>> = [
        (
            "b30",
            vec![
                "within 1d",
                "last",
                "daily 2025-03-16",
                "weekly 2025-W11",
                "yearly 2025",
            ],
        ),
        ("b29", vec!["daily 2025-03-15"]),
        ("b21", vec!["weekly 2025-W10"]),
        ("b06", vec!["yearly 2024"]),
        ("b02", vec!["yearly 2023"]),
        ("b01", vec!["oldest yearly 2023"]),
    ]
    .into_iter()
    .map(|(id, r)| (id.to_string(), r.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(why, want);
}

#[test]
fn the_oldest_is_kept_while_a_rule_has_room() {
    let list: Vec<Candidate> = [
        ("a", "2025-03-01 08:00:00"),
        ("b", "2025-03-01 20:00:00"),
        ("c", "2025-03-02 08:00:00"),
    ]
    .iter()
    .map(|(id, at)| Candidate {
        id: id.to_string(),
        time: t(at),
    })
    .collect();
    let now = t("2025-04-01 00:00:00");
    let daily = |n| Policy {
        daily: Keep::Count(n),
        ..Default::default()
    };
    // Two days, room for three: the oldest (same day as b) is kept as well.
    assert_eq!(kept(&daily(3), &list, chrono_tz::UTC, now), ["a", "b", "c"]);
    let d = apply(&daily(3), &list, chrono_tz::UTC, now);
    assert_eq!(d[2].reasons, ["oldest daily 2025-03-01"]);
    // Room for exactly the two days: no more.
    assert_eq!(kept(&daily(2), &list, chrono_tz::UTC, now), ["b", "c"]);
    assert_eq!(kept(&daily(1), &list, chrono_tz::UTC, now), ["c"]);
}

#[test]
fn future_dated_backups_are_kept_and_take_no_period() {
    // "Now" is 2025-03-12 00:00: b26..b30 are in the future (a clock that ran ahead).
    let now = t("2025-03-12 00:00:00");
    let list = history();
    let daily1 = Policy {
        daily: Keep::Count(1),
        ..Default::default()
    };
    assert_eq!(kept(&daily1, &list, chrono_tz::UTC, now), ids("b25..b30"));
    let d = apply(&daily1, &list, chrono_tz::UTC, now);
    assert_eq!(d[0].id, "b30");
    assert_eq!(d[0].reasons, [FUTURE_REASON]);
    // Within is measured from the newest backup that is not in the future.
    let within = Policy {
        within: days(1),
        ..Default::default()
    };
    assert_eq!(kept(&within, &list, chrono_tz::UTC, now), ids("b24..b30"));
    // Only future backups: all kept, none counted.
    let all_future = &list[25..];
    assert_eq!(
        kept(
            &daily1,
            all_future,
            chrono_tz::UTC,
            t("2020-01-01 00:00:00")
        ),
        ids("b26..b30")
    );
}

#[test]
fn ties_break_by_id_deterministically() {
    let list: Vec<Candidate> = ["x2", "x1", "x3"]
        .iter()
        .map(|id| Candidate {
            id: id.to_string(),
            time: t("2025-03-01 08:00:00"),
        })
        .collect();
    let now = t("2025-04-01 00:00:00");
    let last1 = Policy {
        last: Keep::Count(1),
        ..Default::default()
    };
    assert_eq!(kept(&last1, &list, chrono_tz::UTC, now), ["x3"]);
    let daily1 = Policy {
        daily: Keep::Count(1),
        ..Default::default()
    };
    assert_eq!(kept(&daily1, &list, chrono_tz::UTC, now), ["x3"]);
}

fn berlin() -> Tz {
    parse_timezone("Europe/Berlin").unwrap()
}

fn candidates(list: &[(&str, &str)]) -> Vec<Candidate> {
    list.iter()
        .map(|(id, at)| Candidate {
            id: id.to_string(),
            time: t(at),
        })
        .collect()
}

#[test]
fn days_follow_the_time_zone_across_dst() {
    let now = t("2026-01-01 00:00:00");
    let daily1 = Policy {
        daily: Keep::Count(1),
        ..Default::default()
    };
    let daily2 = Policy {
        daily: Keep::Count(2),
        ..Default::default()
    };
    // 2025-10-26 in Berlin is 25 hours long: from 2025-10-25 22:00 UTC (00:00 CEST) to
    // 2025-10-26 23:00 UTC (00:00 CET on the 27th).
    let autumn = candidates(&[
        ("a", "2025-10-25 21:30:00"), // 23:30 CEST on the 25th
        ("b", "2025-10-25 22:30:00"), // 00:30 CEST on the 26th
        ("c", "2025-10-26 22:30:00"), // 23:30 CET on the 26th
        ("d", "2025-10-26 23:30:00"), // 00:30 CET on the 27th
    ]);
    assert_eq!(kept(&daily2, &autumn, berlin(), now), ["c", "d"]);
    let reasons: Vec<Vec<String>> = apply(&daily2, &autumn, berlin(), now)
        .into_iter()
        .map(|d| d.reasons)
        .collect();
    assert_eq!(
        reasons,
        [
            vec!["daily 2025-10-27".to_string()],
            vec!["daily 2025-10-26".to_string()],
            vec![],
            vec![],
        ]
    );
    // In UTC the same backups fall on two other days.
    assert_eq!(kept(&daily2, &autumn, chrono_tz::UTC, now), ["b", "d"]);

    // 2025-03-30 in Berlin is 23 hours long: 2025-03-29 23:00 UTC to 2025-03-30 22:00 UTC.
    let spring = candidates(&[
        ("a", "2025-03-29 22:30:00"), // 23:30 CET on the 29th
        ("b", "2025-03-29 23:30:00"), // 00:30 CET on the 30th
        ("c", "2025-03-30 21:30:00"), // 23:30 CEST on the 30th
        ("d", "2025-03-30 22:30:00"), // 00:30 CEST on the 31st
    ]);
    assert_eq!(kept(&daily2, &spring, berlin(), now), ["c", "d"]);
    assert_eq!(kept(&daily1, &spring[..3], berlin(), now), ["c"]);
}

#[test]
fn the_hour_dst_repeats_is_two_hours() {
    let now = t("2026-01-01 00:00:00");
    let hourly = |n| Policy {
        hourly: Keep::Count(n),
        ..Default::default()
    };
    // 02:30 CEST and 02:30 CET on 2025-10-26: the same wall-clock hour, two real hours.
    let autumn = candidates(&[
        ("a", "2025-10-26 00:10:00"), // 02:10 CEST
        ("b", "2025-10-26 00:30:00"), // 02:30 CEST
        ("c", "2025-10-26 01:30:00"), // 02:30 CET
    ]);
    assert_eq!(kept(&hourly(2), &autumn, berlin(), now), ["b", "c"]);
    let reasons: Vec<Vec<String>> = apply(&hourly(2), &autumn, berlin(), now)
        .into_iter()
        .map(|d| d.reasons)
        .collect();
    assert_eq!(
        reasons,
        [
            vec!["hourly 2025-10-26 02:00+01:00".to_string()],
            vec!["hourly 2025-10-26 02:00+02:00".to_string()],
            vec![],
        ]
    );
    // The hour DST skips does not exist: 01:59 CET and 03:00 CEST are neighbouring hours.
    let spring = candidates(&[
        ("a", "2025-03-30 00:59:00"), // 01:59 CET
        ("b", "2025-03-30 01:00:00"), // 03:00 CEST
        ("c", "2025-03-30 01:59:00"), // 03:59 CEST
    ]);
    assert_eq!(kept(&hourly(2), &spring, berlin(), now), ["a", "c"]);
}

#[test]
fn weeks_months_and_years_are_local() {
    let now = t("2026-06-01 00:00:00");
    let ny = parse_timezone("America/New_York").unwrap();
    // 2025-04-01 03:00 UTC is still March 31 in New York.
    let list = candidates(&[
        ("a", "2025-03-20 12:00:00"),
        ("b", "2025-04-01 03:00:00"),
        ("c", "2025-04-15 12:00:00"),
    ]);
    let monthly = Policy {
        monthly: Keep::Count(2),
        ..Default::default()
    };
    assert_eq!(kept(&monthly, &list, ny, now), ["b", "c"]);
    assert_eq!(kept(&monthly, &list, chrono_tz::UTC, now), ["a", "c"]);
    // Sunday 2025-03-16 23:30 UTC is Monday 00:30 in Berlin: the next ISO week.
    let weeks = candidates(&[
        ("a", "2025-03-15 12:00:00"),
        ("b", "2025-03-16 23:30:00"),
        ("c", "2025-03-17 12:00:00"),
    ]);
    let weekly = Policy {
        weekly: Keep::Count(2),
        ..Default::default()
    };
    assert_eq!(kept(&weekly, &weeks, berlin(), now), ["a", "c"]);
    assert_eq!(kept(&weekly, &weeks, chrono_tz::UTC, now), ["b", "c"]);
    // New Year's Eve 23:30 UTC is already next year in Berlin.
    let years = candidates(&[
        ("a", "2024-06-01 12:00:00"),
        ("b", "2024-12-31 23:30:00"),
        ("c", "2025-06-01 12:00:00"),
    ]);
    let yearly = Policy {
        yearly: Keep::Count(2),
        ..Default::default()
    };
    assert_eq!(kept(&yearly, &years, berlin(), now), ["a", "c"]);
    assert_eq!(kept(&yearly, &years, chrono_tz::UTC, now), ["b", "c"]);
}

#[test]
fn an_empty_policy_is_refused_and_counts_parse() {
    assert!(Policy::default().is_empty());
    let err = Policy::default().validate().unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("empty"), "{err}");
    assert!(err.to_string().contains("--keep-daily"), "{err}");
    // restic's `--keep-last 0` and a zero duration are empty too.
    let zero = Policy {
        last: Keep::Count(0),
        within: Some(Duration::ZERO),
        ..Default::default()
    };
    assert!(zero.validate().is_err());
    assert!(Policy {
        within: days(1),
        ..Default::default()
    }
    .validate()
    .is_ok());

    assert_eq!(Keep::parse("7"), Ok(Keep::Count(7)));
    assert_eq!(Keep::parse("unlimited"), Ok(Keep::All));
    assert_eq!(Keep::parse("-1"), Ok(Keep::All));
    assert_eq!(Keep::parse("0"), Ok(Keep::Off));
    assert!(Keep::parse("-2").unwrap_err().contains("`-2`"));
    assert!(Keep::parse("seven").unwrap_err().contains("unlimited"));
    assert_eq!(Keep::from_number(-1), Ok(Keep::All));
    assert_eq!(Keep::from_number(3), Ok(Keep::Count(3)));
    assert!(Keep::from_number(-5).is_err());

    assert_eq!(parse_within("2d"), Ok(Duration::from_secs(2 * 86_400)));
    assert_eq!(parse_within("90min"), Ok(Duration::from_secs(90 * 60)));
    assert_eq!(parse_within("1d 12h"), Ok(Duration::from_secs(36 * 3600)));
    assert!(parse_within("6months").is_ok());
    for ambiguous in ["2m", "1d2m", "3 m", "1y2m3d"] {
        let err = parse_within(ambiguous).unwrap_err();
        assert!(err.contains("ambiguous"), "{ambiguous}: {err}");
    }
    assert!(parse_within("soon").unwrap_err().contains("not a duration"));

    assert!(parse_timezone("Mars/Olympus").is_err());
    assert_eq!(parse_timezone("UTC").unwrap(), chrono_tz::UTC);
    let described = Policy {
        daily: Keep::Count(7),
        monthly: Keep::All,
        within: Some(Duration::from_secs(36 * 3600)),
        ..Default::default()
    }
    .describe();
    assert_eq!(
        described,
        "keep 7 daily, all monthly, everything within 1d12h of the newest"
    );
    let last = Policy {
        last: Keep::Count(3),
        weekly: Keep::Count(4),
        ..Default::default()
    };
    assert_eq!(last.describe(), "keep the last 3, 4 weekly");
}

// ---- the plan: per-database histories and protections ----

fn entry(id: &str, at: &str, server: &str, dbs: &[&str]) -> Entry {
    Entry {
        id: id.into(),
        time: t(at),
        server: server.into(),
        databases: dbs.iter().map(|d| d.to_string()).collect(),
        counted: true,
    }
}

const PROD: &str = "backup@db.internal:5432/postgres";

/// Nightly backups of every database and afternoon backups of `app` alone.
fn mixed() -> Vec<Entry> {
    vec![
        entry("n1", "2025-03-01 02:00:00", PROD, &["app", "billing"]),
        entry(
            "h1",
            "2025-03-01 14:00:00",
            "admin@db.internal:5432/app",
            &["app"],
        ),
        entry("n2", "2025-03-02 02:00:00", PROD, &["app", "billing"]),
        entry("h2", "2025-03-02 14:00:00", PROD, &["app"]),
    ]
}

fn rows(plan: &super::Plan) -> Vec<(String, bool, Vec<String>)> {
    plan.rows
        .iter()
        .map(|r| (r.id.clone(), r.keep, r.reasons.clone()))
        .collect()
}

fn row(id: &str, keep: bool, reasons: &[&str]) -> (String, bool, Vec<String>) {
    (
        id.into(),
        keep,
        reasons.iter().map(|r| r.to_string()).collect(),
    )
}

#[test]
fn each_database_has_its_own_history() {
    let now = t("2025-04-01 00:00:00");
    let daily = |n| Policy {
        daily: Keep::Count(n),
        ..Default::default()
    };
    let got = plan(
        &daily(1),
        &mixed(),
        &Protections::default(),
        chrono_tz::UTC,
        now,
    );
    assert_eq!(
        rows(&got),
        [
            row("n1", false, &[]),
            row("h1", false, &[]),
            row("n2", true, &["daily 2025-03-02 (billing)"]),
            row("h2", true, &["daily 2025-03-02"]),
        ]
    );
    let got = plan(
        &daily(2),
        &mixed(),
        &Protections::default(),
        chrono_tz::UTC,
        now,
    );
    assert_eq!(
        rows(&got),
        [
            row("n1", true, &["daily 2025-03-01 (billing)"]),
            row("h1", true, &["daily 2025-03-01"]),
            row("n2", true, &["daily 2025-03-02 (billing)"]),
            row("h2", true, &["daily 2025-03-02"]),
        ]
    );
    let last1 = Policy {
        last: Keep::Count(1),
        ..Default::default()
    };
    let got = plan(
        &last1,
        &mixed(),
        &Protections::default(),
        chrono_tz::UTC,
        now,
    );
    assert_eq!(
        rows(&got),
        [
            row("n1", false, &[]),
            row("h1", false, &[]),
            row("n2", true, &["last (billing)"]),
            row("h2", true, &["last"]),
        ]
    );
    assert_eq!(got.to_delete().count(), 2);
    assert_eq!(got.kept().count(), 2);
}

#[test]
fn another_server_is_another_history() {
    let now = t("2025-04-01 00:00:00");
    let entries = vec![
        entry("a1", "2025-03-01 02:00:00", PROD, &["app"]),
        entry(
            "s1",
            "2025-03-01 03:00:00",
            "backup@staging:5432/app",
            &["app"],
        ),
        entry("a2", "2025-03-02 02:00:00", PROD, &["app"]),
    ];
    let last1 = Policy {
        last: Keep::Count(1),
        ..Default::default()
    };
    let got = plan(
        &last1,
        &entries,
        &Protections::default(),
        chrono_tz::UTC,
        now,
    );
    let keep: Vec<&str> = got.kept().map(|r| r.id.as_str()).collect();
    assert_eq!(keep, ["s1", "a2"]);

    assert_eq!(
        server_key("backup@db.internal:5432/postgres"),
        "db.internal:5432"
    );
    assert_eq!(server_key("me@corp@db:6432/a/b"), "db:6432");
    assert_eq!(
        server_key("u@/var/run/postgresql:5432/app"),
        "/var/run/postgresql:5432"
    );
    assert_eq!(server_key("u@::1:5432/app"), "::1:5432");
    assert_eq!(server_key("odd"), "odd");
}

#[test]
fn pins_verified_and_untrusted_backups_are_protected() {
    let now = t("2025-04-01 00:00:00");
    let last1 = Policy {
        last: Keep::Count(1),
        ..Default::default()
    };
    let mut entries = mixed();
    // A newer backup whose signature did not verify: left alone, and not counted (so h2
    // is still the newest of `app`).
    let mut forged = entry("zz", "2025-03-03 14:00:00", PROD, &["app"]);
    forged.counted = false;
    entries.push(forged);

    let protections = Protections {
        pins: BTreeMap::from([("n1".to_string(), "audit 2025".to_string())]),
        verified: BTreeMap::from([
            (
                "n1".to_string(),
                BTreeSet::from(["app".to_string(), "billing".to_string()]),
            ),
            ("h1".to_string(), BTreeSet::from(["app".to_string()])),
            // Passed for `app` only: says nothing about `billing`.
            ("n2".to_string(), BTreeSet::from(["app".to_string()])),
        ]),
        keep_verified: true,
        ..Default::default()
    };
    let got = plan(&last1, &entries, &protections, chrono_tz::UTC, now);
    assert_eq!(
        rows(&got),
        [
            row(
                "n1",
                true,
                &["pinned: audit 2025", "newest verified (billing)"]
            ),
            row("h1", false, &[]),
            row("n2", true, &["last (billing)", "newest verified (app)"]),
            row("h2", true, &["last"]),
            row("zz", true, &[UNCOUNTED_REASON]),
        ]
    );
    // Without keep-verified, only the pin protects n1.
    let off = Protections {
        keep_verified: false,
        ..protections.clone()
    };
    let got = plan(&last1, &entries, &off, chrono_tz::UTC, now);
    assert_eq!(rows(&got)[0], row("n1", true, &["pinned: audit 2025"]));
    assert!(!got.rows[2]
        .reasons
        .iter()
        .any(|r| r.contains(VERIFIED_REASON)));
    // A pin without a reason.
    let bare = Protections {
        pins: BTreeMap::from([("h1".to_string(), String::new())]),
        ..Default::default()
    };
    let got = plan(&last1, &entries, &bare, chrono_tz::UTC, now);
    assert_eq!(rows(&got)[1], row("h1", true, &["pinned"]));
    // Object Lock keeps what it still retains, and nothing once its date has passed.
    let locked = Protections {
        retained: BTreeMap::from([
            ("h1".to_string(), t("2025-04-02 00:00:00")),
            ("n2".to_string(), t("2025-03-31 00:00:00")),
        ]),
        ..Default::default()
    };
    let got = plan(&last1, &entries, &locked, chrono_tz::UTC, now);
    assert_eq!(
        rows(&got)[1],
        row("h1", true, &["object lock until 2025-04-02T00:00:00Z"])
    );
    assert_eq!(rows(&got)[2], row("n2", true, &["last (billing)"]));
}
