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
}

impl ReadData {
    /// Parses `--read-data-subset`: `n/t`, `x%` (sizes are not accepted: a deterministic
    /// choice by size needs every stream's size first; use a percentage).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::config(format!(
                "--read-data-subset `{text}`: {why} (examples: 1/7, 10%)"
            ))
        };
        let t = text.trim();
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

    pub fn selects(&self, stream: &ObjectStats) -> bool {
        let position = || {
            let hex = stream.parts.first().map_or("", |p| p.sha256.as_str());
            u64::from_str_radix(hex.get(..16).unwrap_or("0"), 16).unwrap_or(0)
        };
        match *self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Group { n, t } => position() % t == n - 1,
            ReadData::Fraction(f) if f >= 1.0 => true,
            ReadData::Fraction(f) => (position() as f64) < f * (u64::MAX as f64),
        }
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
        for bad in ["0/7", "8/7", "x/y", "0%", "101%", "lots", "1/0"] {
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
}
