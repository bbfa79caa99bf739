//! Cron expressions in both dialects, and their instants in a time zone with daylight
//! saving time handled as people expect.
//!
//! - **Dialects**: 5 fields is classic crontab (`min hour dom month dow`, at second 0);
//!   6 fields has seconds first (`sec min hour dom month dow`, as the `cron` crate, Quartz
//!   and robfig/cron with seconds); 7 fields adds a year. `@hourly`, `@daily`, `@weekly`,
//!   `@monthly`, `@yearly` are accepted too. Which dialect was read is reported.
//! - **Day of week** numbers are crontab's in every dialect: 0 or 7 Sunday, 1 Monday …
//!   6 Saturday; names (`MON`, `Mon-Fri`) work too. (The `cron` crate itself counts 1 =
//!   Sunday; numbers are translated so that `1` means Monday as in every crontab.)
//! - **DST**: the expression is matched against the wall clock of the zone. A wall-clock
//!   time that does not exist (the hour skipped when clocks go forward) runs once, at the
//!   first instant after the gap; a wall-clock time that happens twice (the hour repeated
//!   when clocks go back) runs once, at its first occurrence. Several times inside one
//!   skipped hour also run once.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// Which form an expression was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// 5 fields, classic crontab: minute precision, at second 0.
    Crontab,
    /// 6 fields, seconds first.
    Seconds,
    /// 7 fields, seconds first and a year last.
    SecondsYear,
    /// `@daily` and the like.
    Shorthand,
}

impl Dialect {
    pub fn describe(self) -> &'static str {
        match self {
            Dialect::Crontab => "5-field crontab (minute hour day-of-month month day-of-week)",
            Dialect::Seconds => {
                "6-field, seconds first (second minute hour day-of-month month day-of-week)"
            }
            Dialect::SecondsYear => "7-field, seconds first, with year",
            Dialect::Shorthand => "shorthand",
        }
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    source: String,
    dialect: Dialect,
    schedule: cron::Schedule,
}

/// Bound on the schedule instants examined for one next run (each skipped for DST or for
/// lying before `after`): far more than any real transition produces.
const MAX_CANDIDATES: usize = 10_000;

impl CronExpr {
    /// Parses `text`; the error says what is wrong in a sentence.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (dialect, translated) = match fields.len() {
            1 if text.starts_with('@') => (Dialect::Shorthand, shorthand(text)?),
            5 => (
                Dialect::Crontab,
                format!(
                    "0 {} {} {} {} {}",
                    fields[0],
                    fields[1],
                    fields[2],
                    fields[3],
                    day_of_week(fields[4])?
                ),
            ),
            6 | 7 => {
                let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
                f[5] = day_of_week(fields[5])?;
                let dialect = if fields.len() == 6 {
                    Dialect::Seconds
                } else {
                    Dialect::SecondsYear
                };
                (dialect, f.join(" "))
            }
            n => {
                return Err(format!(
                    "`{text}` has {n} fields; write 5 (crontab: `30 2 * * *`) or 6 with seconds \
                     first (`0 30 2 * * *`)"
                ))
            }
        };
        let schedule = cron::Schedule::from_str(&translated)
            .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(format!("`{text}` never runs again"));
        }
        Ok(CronExpr {
            source: text.to_string(),
            dialect,
            schedule,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The first run strictly after `after`, in zone `tz` (DST as documented above).
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Match on the wall clock: iterate the schedule over naive local times (UTC has no
        // DST, so it serves as a plain calendar), then map each to an instant of the zone.
        let local_after = after.with_timezone(&tz).naive_local();
        let start = Utc.from_utc_datetime(&local_after) - Duration::seconds(1);
        for candidate in self.schedule.after(&start).take(MAX_CANDIDATES) {
            let instant = wall_clock_instant(tz, candidate.naive_utc())?;
            if instant > after {
                return Some(instant);
            }
        }
        None
    }

    /// The next `n` runs after `after`.
    pub fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(tz, t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The typical gap between runs: the shortest of the next few intervals (for the
    /// default overdue threshold).
    pub fn interval(&self, tz: Tz, from: DateTime<Utc>) -> Option<Duration> {
        let runs = self.upcoming(tz, from, 4);
        runs.windows(2).map(|w| w[1] - w[0]).min()
    }
}

/// The instant a wall-clock time of `tz` stands for: itself; the first of two (clocks went
/// back); or, inside a gap (clocks went forward), the first instant after the gap.
fn wall_clock_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps start and end on whole minutes: step minute by minute to the end.
            let minute = local.with_second(0)?.with_nanosecond(0)?;
            (1..=24 * 60).find_map(|k| {
                match tz.from_local_datetime(&(minute + Duration::minutes(k))) {
                    LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                    LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
                    LocalResult::None => None,
                }
            })
        }
    }
}

fn shorthand(text: &str) -> Result<String, String> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 1",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        _ => {
            return Err(format!(
                "`{text}` is not a known shorthand; use @hourly, @daily, @weekly, @monthly or \
                 @yearly, or a cron expression"
            ))
        }
    }
    .to_string())
}

/// Translates a day-of-week field from crontab numbers (0/7 Sunday … 6 Saturday) to the
/// `cron` crate's (1 Sunday … 7 Saturday). Names and `*`/`?` pass through.
fn day_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut parts = Vec::new();
    for element in field.split(',') {
        if element.chars().any(|c| c.is_ascii_alphabetic()) {
            parts.push(element.to_string());
            continue;
        }
        let days = crontab_days(element).ok_or_else(|| {
            format!(
                "day of week `{element}`: write 0–7 (0 and 7 are Sunday), a range such as 1-5, \
                 a step such as */2, or names such as MON-FRI"
            )
        })?;
        parts.extend(days.into_iter().map(|d| (d + 1).to_string()));
    }
    parts.dedup();
    Ok(parts.join(","))
}

/// The crontab days (0 = Sunday … 6) of one list element: `n`, `a-b`, `*/s`, `a-b/s`, `a/s`.
fn crontab_days(element: &str) -> Option<Vec<u32>> {
    let (range, step) = match element.split_once('/') {
        Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
        None => (element, 1),
    };
    let (lo, hi) = match range {
        "*" => (0, 6),
        r => match r.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None if element.contains('/') => (r.parse::<u32>().ok()?, 6),
            None => {
                let n = r.parse::<u32>().ok()?;
                (n, n)
            }
        },
    };
    if lo > 7 || hi > 7 || lo > hi {
        return None;
    }
    let mut days: Vec<u32> = (lo..=hi).step_by(step as usize).map(|d| d % 7).collect();
    days.sort_unstable();
    days.dedup();
    Some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn runs(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let tz: Tz = tz.parse().unwrap();
        CronExpr::parse(expr)
            .unwrap()
            .upcoming(tz, at(after), n)
            .into_iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect()
    }

    /// (expression, zone, after, expected runs in the zone's offset)
    #[test]
    fn dst_and_zone_table() {
        let table: &[(&str, &str, &str, &[&str])] = &[
            // Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not
            // exist and runs once, at 03:00 CEST.
            (
                "0 30 2 * * *",
                "Europe/Berlin",
                "2026-03-27T12:00:00Z",
                &[
                    "2026-03-28T02:30:00+01:00",
                    "2026-03-29T03:00:00+02:00",
                    "2026-03-30T02:30:00+02:00",
                ],
            ),
            // Several times inside the skipped hour run once.
            (
                "0 */20 2 * * *",
                "Europe/Berlin",
                "2026-03-29T00:30:00Z",
                &["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"],
            ),
            // Hourly across the gap: 01:30, (02:30 skipped ->) 03:00, 03:30.
            (
                "30 * * * *",
                "Europe/Berlin",
                "2026-03-29T00:00:00Z",
                &[
                    "2026-03-29T01:30:00+01:00",
                    "2026-03-29T03:00:00+02:00",
                    "2026-03-29T03:30:00+02:00",
                ],
            ),
            // Berlin, fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice
            // and runs once, at its first occurrence (CEST).
            (
                "0 30 2 * * *",
                "Europe/Berlin",
                "2026-10-24T12:00:00Z",
                &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
            ),
            // Hourly across the repeated hour: the second 02:30 (CET) does not run.
            (
                "30 * * * *",
                "Europe/Berlin",
                "2026-10-24T23:00:00Z",
                &[
                    "2026-10-25T01:30:00+02:00",
                    "2026-10-25T02:30:00+02:00",
                    "2026-10-25T03:30:00+01:00",
                ],
            ),
            // New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
            (
                "0 15 2 * * *",
                "America/New_York",
                "2026-03-07T12:00:00Z",
                &["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"],
            ),
            // New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:15 runs once.
            (
                "15 1 * * *",
                "America/New_York",
                "2026-10-31T12:00:00Z",
                &["2026-11-01T01:15:00-04:00", "2026-11-02T01:15:00-05:00"],
            ),
            // UTC has no transitions.
            (
                "0 30 2 * * *",
                "UTC",
                "2026-03-28T12:00:00Z",
                &["2026-03-29T02:30:00+00:00", "2026-03-30T02:30:00+00:00"],
            ),
        ];
        for (expr, tz, after, expected) in table {
            assert_eq!(
                runs(expr, tz, after, expected.len()),
                *expected,
                "{expr} in {tz} after {after}"
            );
        }
    }

    #[test]
    fn started_inside_the_repeated_hour_the_next_run_is_not_in_the_past() {
        // 02:10 CET, the second pass of the repeated hour: 02:30 already ran (CEST).
        let next = runs("*/15 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1);
        assert_eq!(next, ["2026-10-25T03:00:00+01:00"]);
    }

    #[test]
    fn both_dialects_and_which_was_read() {
        let five = CronExpr::parse("30 2 * * *").unwrap();
        let six = CronExpr::parse("0 30 2 * * *").unwrap();
        assert_eq!(five.dialect(), Dialect::Crontab);
        assert_eq!(six.dialect(), Dialect::Seconds);
        let after = at("2026-06-01T00:00:00Z");
        assert_eq!(
            five.upcoming(chrono_tz::UTC, after, 3),
            six.upcoming(chrono_tz::UTC, after, 3)
        );
        let every2 = CronExpr::parse("*/2 * * * * *").unwrap();
        assert_eq!(
            every2.upcoming(chrono_tz::UTC, after, 2),
            [at("2026-06-01T00:00:02Z"), at("2026-06-01T00:00:04Z")]
        );
        assert_eq!(
            CronExpr::parse("0 0 3 1 1 * 2027").unwrap().dialect(),
            Dialect::SecondsYear
        );
        assert_eq!(
            CronExpr::parse("@daily").unwrap().dialect(),
            Dialect::Shorthand
        );
    }

    #[test]
    fn day_of_week_numbers_are_crontabs_in_every_dialect() {
        // 2026-06-01 is a Monday.
        let after = at("2026-05-31T12:00:00Z");
        let monday = at("2026-06-01T02:00:00Z");
        let sunday = at("2026-06-07T02:00:00Z");
        let saturday = at("2026-06-06T02:00:00Z");
        for (expr, first) in [
            ("0 2 * * 1", monday),
            ("0 0 2 * * 1", monday),
            ("0 2 * * MON", monday),
            ("0 2 * * 0", sunday),
            ("0 2 * * 7", sunday),
            ("0 2 * * 6", saturday),
            ("0 2 * * 6-7", saturday),
            ("0 2 * * 1-5", monday),
        ] {
            let e = CronExpr::parse(expr).unwrap();
            assert_eq!(e.next_after(chrono_tz::UTC, after), Some(first), "{expr}");
        }
        let weekdays = CronExpr::parse("0 2 * * 1-5").unwrap();
        let week = weekdays.upcoming(chrono_tz::UTC, after, 6);
        assert_eq!(week[5], at("2026-06-08T02:00:00Z"), "no weekend runs");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expr, says) in [
            ("* * *", "has 3 fields"),
            ("0 61 * * * *", "not a valid cron expression"),
            ("0 2 * * 9", "day of week `9`"),
            ("@often", "not a known shorthand"),
            ("0 0 0 1 1 * 2001", "never runs again"),
        ] {
            let err = CronExpr::parse(expr).unwrap_err();
            assert!(err.contains(says), "{expr}: {err}");
        }
    }

    #[test]
    fn interval_is_the_gap_between_runs() {
        let e = CronExpr::parse("0 30 2 * * *").unwrap();
        assert_eq!(
            e.interval(chrono_tz::UTC, at("2026-06-01T00:00:00Z")),
            Some(Duration::hours(24))
        );
    }
}
