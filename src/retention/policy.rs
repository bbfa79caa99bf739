//! The retention policy and its evaluation over one group of backups, with restic's
//! `forget` semantics:
//!
//! - backups are taken newest first; `last` keeps the N newest; `hourly`, `daily`,
//!   `weekly`, `monthly` and `yearly` keep the newest backup of each of the N most recent
//!   calendar periods **that contain a backup** (empty periods are not counted);
//! - calendar periods are those of the configured time zone: days from local midnight to
//!   midnight (23 or 25 hours long across a DST change), ISO weeks Monday to Sunday,
//!   months, years. An hour is a real hour: the hour a DST change repeats (02:00–03:00 on
//!   the last Sunday of October in Europe) is two hourly periods, told apart by their UTC
//!   offset, so hourly backups across it are never merged;
//! - while a rule still has periods left when the oldest backup is reached, the oldest is
//!   kept too ("oldest daily …"), which keeps the longest history the counts allow;
//! - `within D` keeps every backup newer than the newest backup minus D (measured from the
//!   newest backup, not from now, so a backup that stopped running keeps its history);
//! - `unlimited` (or -1) keeps the newest backup of every period;
//! - the rules are ORed: a backup is kept when any rule keeps it;
//! - an empty policy is refused ([`Policy::validate`]).
//!
//! One deliberate difference: a backup dated in the future (a clock that ran ahead) is
//! always kept and takes no place in any rule, so it can neither be deleted nor push a
//! genuine backup out of its period. restic keeps such snapshots only under `--keep-within`.
//!
//! Pure: no I/O, no clock (`now` is an argument).

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use std::time::Duration;

use crate::error::{Error, Result};

/// How many periods a rule keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// The N most recent periods; 0 means the rule is off.
    #[default]
    Off,
    Count(u32),
    /// Every period.
    All,
}

impl Keep {
    /// `7`, `unlimited` (or `all`, or `-1` as restic writes it); `0` turns the rule off.
    pub fn parse(text: &str) -> std::result::Result<Keep, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("all") || t == "-1" {
            return Ok(Keep::All);
        }
        match t.parse::<u32>() {
            Ok(0) => Ok(Keep::Off),
            Ok(n) => Ok(Keep::Count(n)),
            Err(_) => Err(format!(
                "`{text}` is not a count: give a number of periods (e.g. 7), or `unlimited`"
            )),
        }
    }

    /// From a number as a configuration file holds it: -1 is unlimited.
    pub fn from_number(n: i64) -> std::result::Result<Keep, String> {
        match n {
            -1 => Ok(Keep::All),
            0 => Ok(Keep::Off),
            n if n > 0 && n <= i64::from(u32::MAX) => Ok(Keep::Count(n as u32)),
            n => Err(format!(
                "{n} is not a count: give a number of periods (e.g. 7), or -1 / \"unlimited\""
            )),
        }
    }

    pub fn is_on(self) -> bool {
        !matches!(self, Keep::Off | Keep::Count(0))
    }

    fn describe(self, what: &str) -> Option<String> {
        match (self, what) {
            (Keep::Off | Keep::Count(0), _) => None,
            (Keep::Count(n), "last") => Some(format!("the last {n}")),
            (Keep::All, "last") => Some("all".into()),
            (Keep::Count(n), _) => Some(format!("{n} {what}")),
            (Keep::All, _) => Some(format!("all {what}")),
        }
    }
}

/// Which backups to keep. Built from `--keep-*` flags or `[retention]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Keep,
    pub hourly: Keep,
    pub daily: Keep,
    pub weekly: Keep,
    pub monthly: Keep,
    pub yearly: Keep,
    /// Keep everything newer than the newest backup minus this. Zero is off.
    pub within: Option<Duration>,
}

impl Policy {
    /// No rule is on: such a policy would keep nothing (restic refuses it too).
    pub fn is_empty(&self) -> bool {
        self.rules().iter().all(|(k, _)| !k.is_on()) && self.within().is_none()
    }

    /// Refuses an empty policy, which would delete every backup.
    pub fn validate(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::config(
                "the retention policy is empty, so every backup would be deleted; refusing. \
                 Give at least one rule: --keep-last, --keep-hourly, --keep-daily, \
                 --keep-weekly, --keep-monthly, --keep-yearly (a count above 0, or \
                 `unlimited`) or --keep-within DURATION, or keep_* in [retention]",
            ));
        }
        Ok(())
    }

    fn within(&self) -> Option<Duration> {
        self.within.filter(|d| !d.is_zero())
    }

    fn rules(&self) -> [(Keep, Period); 6] {
        [
            (self.last, Period::Last),
            (self.hourly, Period::Hour),
            (self.daily, Period::Day),
            (self.weekly, Period::Week),
            (self.monthly, Period::Month),
            (self.yearly, Period::Year),
        ]
    }

    /// `keep 7 daily, 4 weekly, all monthly, everything within 2d of the newest`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .rules()
            .iter()
            .filter_map(|(k, p)| k.describe(p.plural()))
            .collect();
        if let Some(d) = self.within() {
            parts.push(format!("everything within {} of the newest", short(d)));
        }
        if parts.is_empty() {
            return "empty (refused)".into();
        }
        format!("keep {}", parts.join(", "))
    }
}

/// A backup as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub time: DateTime<Utc>,
}

/// What the policy decided for one backup, and every rule that keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub time: DateTime<Utc>,
    pub keep: bool,
    pub reasons: Vec<String>,
}

/// The reason given to a backup dated after `now`.
pub const FUTURE_REASON: &str = "future-dated (kept, not counted)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Last,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    fn plural(self) -> &'static str {
        match self {
            Period::Last => "last",
            Period::Hour => "hourly",
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
            Period::Year => "yearly",
        }
    }

    /// The period holding `time` in `tz`, as shown to people; equal labels are the same
    /// period. `Last` gives every backup its own (its position).
    fn label(self, time: DateTime<Utc>, tz: Tz, position: usize) -> String {
        let local = time.with_timezone(&tz);
        match self {
            Period::Last => position.to_string(),
            // The offset tells apart the two hours a DST change repeats.
            Period::Hour => local.format("%Y-%m-%d %H:00%:z").to_string(),
            Period::Day => local.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = local.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => local.format("%Y-%m").to_string(),
            Period::Year => local.format("%Y").to_string(),
        }
    }

    fn reason(self, label: &str) -> String {
        match self {
            Period::Last => "last".into(),
            other => format!("{} {label}", other.plural()),
        }
    }
}

/// One rule's state while the backups are walked newest first.
struct Rule {
    keep: Keep,
    period: Period,
    previous: Option<String>,
}

impl Rule {
    fn has_room(&self) -> bool {
        matches!(self.keep, Keep::All | Keep::Count(1..))
    }

    fn take(&mut self, label: String) {
        self.previous = Some(label);
        if let Keep::Count(n) = self.keep {
            self.keep = if n > 1 { Keep::Count(n - 1) } else { Keep::Off };
        }
    }
}

/// Decides, for one group of backups, which the policy keeps. Returns one decision per
/// backup, newest first (ties in time: the greater id first).
pub fn apply(policy: &Policy, backups: &[Candidate], tz: Tz, now: DateTime<Utc>) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = backups.iter().collect();
    sorted.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
    let (future, past): (Vec<&Candidate>, Vec<&Candidate>) =
        sorted.into_iter().partition(|c| c.time > now);

    let mut out: Vec<Decision> = future
        .iter()
        .map(|c| decision(c, vec![FUTURE_REASON.to_string()]))
        .collect();

    let within_since = within_since(policy, past.first().map(|c| c.time));
    let mut rules: Vec<Rule> = policy
        .rules()
        .iter()
        .filter(|(k, _)| k.is_on())
        .map(|&(keep, period)| Rule {
            keep,
            period,
            previous: None,
        })
        .collect();

    for (position, cur) in past.iter().enumerate() {
        let oldest = position + 1 == past.len();
        let mut reasons = Vec::new();
        if let Some((since, text)) = &within_since {
            if since.is_none_or(|s| cur.time > s) {
                reasons.push(format!("within {text}"));
            }
        }
        for rule in rules.iter_mut().filter(|r| r.has_room()) {
            let label = rule.period.label(cur.time, tz, position);
            let same_period = rule.previous.as_deref() == Some(label.as_str());
            if !same_period || oldest {
                let reason = rule.period.reason(&label);
                reasons.push(if same_period {
                    format!("oldest {reason}")
                } else {
                    reason
                });
                rule.take(label);
            }
        }
        out.push(decision(cur, reasons));
    }
    out
}

/// The instant after which `within` keeps everything (None inside: no lower bound, for a
/// duration beyond the calendar), with the duration as shown.
fn within_since(
    policy: &Policy,
    newest: Option<DateTime<Utc>>,
) -> Option<(Option<DateTime<Utc>>, String)> {
    let d = policy.within()?;
    let newest = newest?;
    let since = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| newest.checked_sub_signed(d));
    Some((since, short(d)))
}

fn decision(c: &Candidate, reasons: Vec<String>) -> Decision {
    Decision {
        id: c.id.clone(),
        time: c.time,
        keep: !reasons.is_empty(),
        reasons,
    }
}

/// `7d`, `1d12h`, `90s`: a duration in its units, largest first.
pub fn short(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    if out.is_empty() {
        format!("{}ms", d.as_millis())
    } else {
        out
    }
}

/// `--keep-within`'s duration, in humantime's words (`2d`, `36h`, `2weeks`, `6months`).
/// A bare `m` is refused: restic reads it as months, humantime as minutes, and guessing
/// wrong would delete months of backups.
pub fn parse_within(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let bytes = t.as_bytes();
    let bare_m = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'm'
            && i > 0
            && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b' ')
            && bytes
                .get(i + 1)
                .is_none_or(|n| n.is_ascii_digit() || *n == b' ')
    });
    if bare_m {
        return Err(format!(
            "`{text}` is ambiguous: `m` means months to restic and minutes here; write `min` \
             or `months` (e.g. 90min, 6months)"
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. 2d, 36h, 2weeks, 6months")
    })
}

/// A time zone by its IANA name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        Error::config(format!(
            "time zone `{name}` is unknown: give an IANA name such as UTC, Europe/Berlin or \
             America/New_York"
        ))
    })
}
