//! Which streams `check --read-data-subset` reads, restic's syntax: `n/t` (group n of t),
//! `x%`, or a size (`500MiB`). The choice is deterministic — by each stream's first stored
//! SHA-256 — so `1/7` … `7/7` on seven nights read everything exactly once.

use crate::error::{Error, Result};
use crate::repository::manifest::ObjectStats;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadData {
    None,
    All,
    /// Group `n` (1-based) of `t`.
    Group {
        n: u64,
        t: u64,
    },
    /// This fraction of the streams, 0 to 1.
    Fraction(f64),
    /// Streams in a fixed order (by their first SHA-256) until this many stored bytes.
    Size(u64),
}

impl ReadData {
    /// Parses `--read-data-subset`: `n/t`, `x%`, or a size with its unit (`500MiB`).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::config(format!(
                "--read-data-subset `{text}`: {why} (examples: 1/7, 10%, 500MiB)"
            ))
        };
        let t = text.trim();
        if t.ends_with(|c: char| c.is_ascii_alphabetic()) {
            let n = crate::config::parse_size(t).map_err(|e| bad(&e))?;
            if n == 0 {
                return Err(bad("a size above 0"));
            }
            return Ok(ReadData::Size(n));
        }
        if let Some(pct) = t.strip_suffix('%') {
            let x: f64 = pct.trim().parse().map_err(|_| bad("not a percentage"))?;
            if !(0.0..=100.0).contains(&x) || x == 0.0 {
                return Err(bad("a percentage above 0 and at most 100"));
            }
            return Ok(ReadData::Fraction(x / 100.0));
        }
        if let Some((n, total)) = t.split_once('/') {
            let n: u64 = n.trim().parse().map_err(|_| bad("not n/t"))?;
            let total: u64 = total.trim().parse().map_err(|_| bad("not n/t"))?;
            if total == 0 || n == 0 || n > total {
                return Err(bad("n must be between 1 and t"));
            }
            return Ok(ReadData::Group { n, t: total });
        }
        Err(bad("not a subset"))
    }

    /// Whether `stream` is read. For a size, see [`ReadData::choose_by_size`].
    pub fn selects(&self, stream: &ObjectStats) -> bool {
        let position = || position(stream);
        match *self {
            ReadData::Size(_) => false,
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Group { n, t } => position() % t == n - 1,
            ReadData::Fraction(f) if f >= 1.0 => true,
            ReadData::Fraction(f) => (position() as f64) < f * (u64::MAX as f64),
        }
    }
}

/// A stream's place in the fixed reading order: the start of its first stored SHA-256.
fn position(stream: &ObjectStats) -> u64 {
    let hex = stream.parts.first().map_or("", |p| p.sha256.as_str());
    u64::from_str_radix(hex.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

impl ReadData {
    /// For `Size(n)`: indexes of the streams read, taken in the fixed order until their
    /// stored bytes reach `n` (at least one stream when there is any).
    pub fn choose_by_size(&self, streams: &[&ObjectStats]) -> Vec<usize> {
        let ReadData::Size(limit) = *self else {
            return (0..streams.len())
                .filter(|&i| self.selects(streams[i]))
                .collect();
        };
        let mut order: Vec<usize> = (0..streams.len()).collect();
        order.sort_by_key(|&i| (position(streams[i]), streams[i].name().to_string()));
        let mut total = 0u64;
        let mut chosen = Vec::new();
        for i in order {
            if total >= limit {
                break;
            }
            total += streams[i].stored_size();
            chosen.push(i);
        }
        chosen.sort_unstable();
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::manifest::StoredObject;

    fn stream(sha: &str) -> ObjectStats {
        ObjectStats {
            parts: vec![StoredObject {
                key: "k".into(),
                size: 1,
                sha256: sha.into(),
            }],
            plain_size: 1,
            plain_hash: String::new(),
        }
    }

    #[test]
    fn parses_restic_syntax() {
        assert_eq!(
            ReadData::parse("2/7").unwrap(),
            ReadData::Group { n: 2, t: 7 }
        );
        assert_eq!(ReadData::parse("10%").unwrap(), ReadData::Fraction(0.1));
        assert_eq!(
            ReadData::parse("500MiB").unwrap(),
            ReadData::Size(500 << 20)
        );
        for bad in [
            "0/7",
            "8/7",
            "x/y",
            "0%",
            "101%",
            "lots",
            "1/0",
            "0MiB",
            "5 parsecs",
        ] {
            assert!(ReadData::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_partition_the_streams() {
        let streams: Vec<ObjectStats> = (0u64..200)
            .map(|i| {
                stream(&format!(
                    "{:016x}{}",
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    "00"
                ))
            })
            .collect();
        let mut seen = vec![0; streams.len()];
        for n in 1..=7 {
            let group = ReadData::Group { n, t: 7 };
            for (i, s) in streams.iter().enumerate() {
                if group.selects(s) {
                    seen[i] += 1;
                }
            }
        }
        assert!(
            seen.iter().all(|&c| c == 1),
            "each stream in exactly one group"
        );
        let tenth = streams
            .iter()
            .filter(|s| ReadData::Fraction(0.1).selects(s))
            .count();
        assert!((5..=40).contains(&tenth), "{tenth} of 200 for 10%");
        assert!(streams.iter().all(|s| ReadData::Fraction(1.0).selects(s)));
    }

    #[test]
    fn a_size_reads_streams_in_a_fixed_order_until_it_is_reached() {
        let streams: Vec<ObjectStats> = (0u64..10)
            .map(|i| stream(&format!("{:016x}", (10 - i) * 1000)))
            .collect();
        let refs: Vec<&ObjectStats> = streams.iter().collect();
        // Each stream stores 1 byte: 3 bytes = the 3 lowest positions (the last three).
        assert_eq!(ReadData::Size(3).choose_by_size(&refs), vec![7, 8, 9]);
        assert_eq!(ReadData::Size(3).choose_by_size(&refs), vec![7, 8, 9]);
        assert_eq!(ReadData::Size(1 << 30).choose_by_size(&refs).len(), 10);
        assert_eq!(ReadData::All.choose_by_size(&refs).len(), 10);
        assert!(ReadData::None.choose_by_size(&refs).is_empty());
    }
}
