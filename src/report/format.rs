//! How durations and times read in reasons and rendered reports.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A duration in whole seconds, to its two largest units: `45s`, `12m 5s`, `3h 12m`, `1d 4h`.
pub fn duration(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", duration(secs.saturating_neg()));
    }
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let two = |big: i64, bu: &str, small: i64, su: &str| {
        if small > 0 {
            format!("{big}{bu} {small}{su}")
        } else {
            format!("{big}{bu}")
        }
    };
    if d > 0 {
        two(d, "d", h, "h")
    } else if h > 0 {
        two(h, "h", m, "m")
    } else if m > 0 {
        two(m, "m", s, "s")
    } else {
        format!("{s}s")
    }
}

/// A measured time in (fractional) seconds: `42.5s` under a minute, else as [`duration`].
pub fn seconds(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        duration(secs.round() as i64)
    }
}

/// A target in seconds.
pub fn target(secs: u64) -> String {
    duration(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A moment in the report's time zone, to the minute, with the zone's abbreviation.
pub fn time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// Where a worst-RPO gap runs: `window start` or its first moment, `→`, `now` or its last.
pub fn gap_span(gap: &crate::report::model::Gap, tz: Tz) -> String {
    let from = if gap.from_window_start {
        "window start".to_string()
    } else {
        time(gap.from, tz)
    };
    let to = if gap.to_now {
        "now".to_string()
    } else {
        time(gap.to, tz)
    };
    format!("{from} → {to}")
}

/// A moment to the second (for lists of evidence).
pub fn time_exact(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(725), "12m 5s");
        assert_eq!(duration(3 * 3600 + 12 * 60 + 9), "3h 12m");
        assert_eq!(duration(26 * 3600), "1d 2h");
        assert_eq!(duration(90 * 86_400), "90d");
        assert_eq!(duration(-60), "-1m");
        assert_eq!(seconds(42.5), "42.5s");
        assert_eq!(seconds(125.4), "2m 5s");
    }
}
