//! Points in time as users type them during an incident (`--at`).

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// Parses `--at`: RFC 3339 (`2026-11-24T03:00:00Z`, `2026-11-24 03:00:00+01:00`), or a date
/// and time without an offset (`2026-11-24 03:00`, seconds optional), taken as UTC, or `now`.
pub fn parse_point_in_time(text: &str) -> Result<DateTime<Utc>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M%#z",
    ] {
        if let Ok(at) = DateTime::parse_from_str(t, f) {
            return Ok(at.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(at.and_utc());
        }
    }
    Err(Error::config(format!(
        "--at `{text}` is not a time; write e.g. 2026-11-24T03:00:00Z, \
         \"2026-11-24 03:00:00+01:00\" or \"2026-11-24 03:00\" (UTC)"
    )))
}

/// A duration for people: `3h 12m 5s`, `2d 4h`, `45s`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < 0 {
        return format!("-{}", human_duration(-seconds));
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.into_iter().take(2).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_typed() {
        let utc = |s: &str| parse_point_in_time(s).unwrap().to_rfc3339();
        assert_eq!(utc("2026-11-24T03:00:00Z"), "2026-11-24T03:00:00+00:00");
        assert_eq!(
            utc("2026-11-24T03:00:00+01:00"),
            "2026-11-24T02:00:00+00:00"
        );
        assert_eq!(
            utc("2026-11-24 03:00:00+01:00"),
            "2026-11-24T02:00:00+00:00"
        );
        assert_eq!(utc("2026-11-24 03:00:00+01"), "2026-11-24T02:00:00+00:00");
        assert_eq!(utc("2026-11-24 03:00"), "2026-11-24T03:00:00+00:00");
        assert_eq!(utc("2026-11-24T03:00:07"), "2026-11-24T03:00:07+00:00");
        let err = parse_point_in_time("yesterday-ish").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("yesterday-ish"), "{err}");
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(3 * 3600 + 12 * 60 + 5), "3h 12m");
        assert_eq!(human_duration(2 * 86_400 + 4 * 3600), "2d 4h");
    }
}
