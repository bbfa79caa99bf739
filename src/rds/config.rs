//! `[rds]` and `[[rds.target]]`, resolved and validated: every mistake is one configuration
//! error naming the target and the key.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{policy_from_file, RdsSection, RetentionSection};
use crate::error::{Error, Result};
use crate::retention::{self, Policy};

/// Attempts per API call when `[rds] max_attempts` is unset: the first try and 7 retries,
/// with the SDK's exponential backoff (1 s initial, 20 s at most, jittered).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// A DB instance or an Aurora cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Instance,
    Cluster,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Instance => "instance",
            Kind::Cluster => "cluster",
        }
    }
}

/// When cross-region copies carry a pre-signed URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presign {
    /// Only when the source region is an AWS GovCloud region, where the API still needs it.
    Auto,
    Always,
    Never,
}

impl Presign {
    /// Whether a copy from `source_region` gets one.
    pub fn applies(self, source_region: &str) -> bool {
        match self {
            Presign::Auto => source_region.starts_with("us-gov-"),
            Presign::Always => true,
            Presign::Never => false,
        }
    }
}

/// Retention of lifeboat's snapshots in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRetention {
    pub policy: Policy,
    pub timezone: chrono_tz::Tz,
}

/// A DR region of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyTarget {
    pub region: String,
    pub kms_key_id: Option<String>,
    /// Its own policy, or the target's.
    pub retention: Option<RegionRetention>,
}

/// One configured target.
#[derive(Debug, Clone, PartialEq)]
pub struct RdsTarget {
    pub name: String,
    pub kind: Kind,
    /// The DB instance or cluster identifier.
    pub identifier: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    pub retention: Option<RegionRetention>,
    pub copies: Vec<CopyTarget>,
}

impl RdsTarget {
    /// `instance orders-prod in eu-west-1`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} in {}",
            self.kind.label(),
            self.identifier,
            self.region
        )
    }

    /// The report's name for it.
    pub fn report_name(&self) -> String {
        format!("rds:{}", self.name)
    }

    /// The policy of `region` (a copy's own, else the target's).
    pub fn retention_in(&self, region: &str) -> Option<&RegionRetention> {
        if region == self.region {
            return self.retention.as_ref();
        }
        self.copies
            .iter()
            .find(|c| c.region == region)
            .and_then(|c| c.retention.as_ref())
            .or(self.retention.as_ref())
    }

    /// The source region and then every DR region.
    pub fn regions(&self) -> Vec<String> {
        std::iter::once(self.region.clone())
            .chain(self.copies.iter().map(|c| c.region.clone()))
            .collect()
    }
}

/// Everything `[rds]` says.
#[derive(Debug, Clone)]
pub struct RdsSettings {
    pub endpoint: Option<String>,
    pub wait_timeout: Duration,
    pub poll_interval: Duration,
    pub max_attempts: u32,
    pub presign: Presign,
    pub targets: Vec<RdsTarget>,
}

impl Default for RdsSettings {
    fn default() -> Self {
        RdsSettings {
            endpoint: None,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            presign: Presign::Auto,
            targets: Vec::new(),
        }
    }
}

impl RdsSettings {
    /// Resolves `[rds]`; `endpoint` (from `LIFEBOAT_RDS_ENDPOINT`) wins over the file's.
    pub fn resolve(section: &RdsSection, endpoint: Option<String>) -> Result<Self> {
        let duration = |key: &str, text: &Option<String>, default: Duration| -> Result<Duration> {
            match text {
                None => Ok(default),
                Some(t) => humantime::parse_duration(t)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        Error::config(format!(
                            "[rds] {key}: `{t}` is not a duration (e.g. 2h, 30min, 500ms)"
                        ))
                    }),
            }
        };
        let max_attempts = section.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=20).contains(&max_attempts) {
            return Err(Error::config(format!(
                "[rds] max_attempts: {max_attempts} is outside 1 to 20"
            )));
        }
        let presign = match section.presigned_url.as_deref() {
            None | Some("auto") => Presign::Auto,
            Some("always") => Presign::Always,
            Some("never") => Presign::Never,
            Some(other) => {
                return Err(Error::config(format!(
                    "[rds] presigned_url: `{other}` is not auto, always or never"
                )))
            }
        };
        let mut targets: Vec<RdsTarget> = Vec::new();
        for (i, t) in section.target.iter().enumerate() {
            let target = resolve_target(i, t)?;
            if targets.iter().any(|o| o.name == target.name) {
                return Err(Error::config(format!(
                    "[[rds.target]] `{}` is named twice; names must be unique",
                    target.name
                )));
            }
            targets.push(target);
        }
        Ok(RdsSettings {
            endpoint: endpoint
                .or_else(|| section.endpoint.clone())
                .filter(|e| !e.trim().is_empty()),
            wait_timeout: duration("wait_timeout", &section.wait_timeout, DEFAULT_WAIT_TIMEOUT)?,
            poll_interval: duration(
                "poll_interval",
                &section.poll_interval,
                DEFAULT_POLL_INTERVAL,
            )?,
            max_attempts,
            presign,
            targets,
        })
    }

    /// The targets a command names: by `--target NAME`, `--instance ID` or `--cluster ID`
    /// (each must be configured); all of them when none is given.
    pub fn select(
        &self,
        name: Option<&str>,
        instance: Option<&str>,
        cluster: Option<&str>,
    ) -> Result<Vec<&RdsTarget>> {
        if self.targets.is_empty() {
            return Err(Error::config(
                "no RDS target is configured: add a [[rds.target]] with name, instance (or \
                 cluster) and region to the configuration file",
            ));
        }
        let found: Vec<&RdsTarget> = self
            .targets
            .iter()
            .filter(|t| name.is_none_or(|n| t.name == n))
            .filter(|t| instance.is_none_or(|i| t.kind == Kind::Instance && t.identifier == i))
            .filter(|t| cluster.is_none_or(|c| t.kind == Kind::Cluster && t.identifier == c))
            .collect();
        if found.is_empty() {
            let asked = [
                name.map(|n| format!("target `{n}`")),
                instance.map(|i| format!("instance `{i}`")),
                cluster.map(|c| format!("cluster `{c}`")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            let known: Vec<String> = self
                .targets
                .iter()
                .map(|t| format!("{} ({})", t.name, t.describe()))
                .collect();
            return Err(Error::config(format!(
                "no [[rds.target]] matches {asked}; configured: {}",
                known.join(", ")
            )));
        }
        Ok(found)
    }

    /// Exactly one target (for restore), as [`Self::select`] finds it.
    pub fn one(
        &self,
        name: Option<&str>,
        instance: Option<&str>,
        cluster: Option<&str>,
    ) -> Result<&RdsTarget> {
        let found = self.select(name, instance, cluster)?;
        match found.as_slice() {
            [one] => Ok(one),
            many => Err(Error::config(format!(
                "{} RDS targets are configured ({}); name one with --target, --instance or \
                 --cluster",
                many.len(),
                many.iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A name fit for snapshot identifiers: lowercase letters, digits and single hyphens,
/// starting with a letter, at most 40 characters.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.contains("--")
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable name: use lowercase letters, digits and single hyphens, \
             starting with a letter, at most 40 characters (it becomes part of snapshot names)"
        ))
    }
}

fn resolve_target(index: usize, t: &crate::config::RdsTargetSection) -> Result<RdsTarget> {
    let name = t.name.clone().ok_or_else(|| {
        Error::config(format!(
            "[[rds.target]] number {} has no name; give it one (e.g. name = \"orders\")",
            index + 1
        ))
    })?;
    let at = |msg: String| Error::config(format!("[[rds.target]] `{name}`: {msg}"));
    check_name(&name).map_err(|e| at(format!("name: {e}")))?;
    let (kind, identifier) = match (&t.instance, &t.cluster) {
        (Some(i), None) => (Kind::Instance, i.clone()),
        (None, Some(c)) => (Kind::Cluster, c.clone()),
        (Some(_), Some(_)) => {
            return Err(at(
                "set `instance` or `cluster`, not both (a cluster's instances are \
                 snapshotted with the cluster)"
                    .into(),
            ))
        }
        (None, None) => {
            return Err(at(
                "set `instance` (a DB instance identifier) or `cluster` (an Aurora cluster)".into(),
            ))
        }
    };
    if identifier.trim().is_empty() {
        return Err(at(format!("{} is empty", kind.label())));
    }
    let region = t
        .region
        .clone()
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| at("set `region`, the source region (e.g. eu-west-1)".into()))?;
    for key in t.tags.keys() {
        if key.starts_with("lifeboat:") || key.starts_with("aws:") {
            return Err(at(format!(
                "tags: `{key}` is reserved (lifeboat: and aws: prefixes)"
            )));
        }
    }
    let retention = t
        .retention
        .as_ref()
        .map(|r| region_retention(r, &format!("[[rds.target]] `{name}` retention")))
        .transpose()?;
    let mut copies: Vec<CopyTarget> = Vec::new();
    for c in &t.copy {
        let region_c = c
            .region
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| at("a [[rds.target.copy]] has no `region`".into()))?;
        if region_c == region {
            return Err(at(format!(
                "copy region {region_c} is the source region; a DR copy must be in another region"
            )));
        }
        if copies.iter().any(|o| o.region == region_c) {
            return Err(at(format!("copy region {region_c} is listed twice")));
        }
        let retention = c
            .retention
            .as_ref()
            .map(|r| {
                region_retention(
                    r,
                    &format!("[[rds.target]] `{name}` copy {region_c} retention"),
                )
            })
            .transpose()?;
        copies.push(CopyTarget {
            region: region_c,
            kms_key_id: c.kms_key_id.clone().filter(|k| !k.trim().is_empty()),
            retention,
        });
    }
    Ok(RdsTarget {
        name,
        kind,
        identifier,
        region,
        tags: t.tags.clone(),
        retention,
        copies,
    })
}

fn region_retention(r: &RetentionSection, key: &str) -> Result<RegionRetention> {
    if r.keep_verified.is_some() {
        return Err(Error::config(format!(
            "{key}: keep_verified does not apply to RDS snapshots (the newest copy in each DR \
             region is always kept)"
        )));
    }
    let policy = policy_from_file(r).map_err(|e| e.with_note(key))?;
    policy.validate().map_err(|e| e.with_note(key))?;
    let timezone = match &r.timezone {
        Some(name) => retention::parse_timezone(name).map_err(|e| e.with_note(key))?,
        None => chrono_tz::UTC,
    };
    Ok(RegionRetention { policy, timezone })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use crate::retention::Keep;

    fn resolve(text: &str) -> Result<RdsSettings> {
        let file = ConfigFile::parse(text).unwrap();
        RdsSettings::resolve(&file.rds, None)
    }

    #[test]
    fn a_full_target_resolves() {
        let s = resolve(
            r#"
[rds]
wait_timeout = "30min"
poll_interval = "1s"

[[rds.target]]
name = "orders"
instance = "orders-prod"
region = "eu-west-1"
tags = { team = "payments" }
retention = { keep_daily = 7 }

[[rds.target.copy]]
region = "eu-central-1"
kms_key_id = "alias/dr"
retention = { keep_daily = 14, timezone = "Europe/Berlin" }

[[rds.target]]
name = "ledger"
cluster = "ledger-aurora"
region = "us-east-1"
"#,
        )
        .unwrap();
        assert_eq!(s.wait_timeout, Duration::from_secs(1800));
        let t = &s.targets[0];
        assert_eq!(t.kind, Kind::Instance);
        assert_eq!(
            t.retention_in("eu-west-1").unwrap().policy.daily,
            Keep::Count(7)
        );
        let dr = t.retention_in("eu-central-1").unwrap();
        assert_eq!(dr.policy.daily, Keep::Count(14));
        assert_eq!(dr.timezone.name(), "Europe/Berlin");
        assert_eq!(t.regions(), vec!["eu-west-1", "eu-central-1"]);
        assert_eq!(s.targets[1].kind, Kind::Cluster);
        assert_eq!(
            s.select(None, None, Some("ledger-aurora")).unwrap().len(),
            1
        );
        assert!(
            s.one(None, None, None).is_err(),
            "two targets: one must be named"
        );
        let e = s.select(Some("nope"), None, None).unwrap_err().to_string();
        assert!(
            e.contains("orders (instance orders-prod in eu-west-1)"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_name_the_target_and_key() {
        for (text, needle) in [
            ("[[rds.target]]\ninstance = \"a\"\nregion = \"r\"\n", "has no name"),
            (
                "[[rds.target]]\nname = \"a\"\ninstance = \"a\"\ncluster = \"b\"\nregion = \"r\"\n",
                "not both",
            ),
            ("[[rds.target]]\nname = \"a\"\nregion = \"r\"\n", "set `instance`"),
            ("[[rds.target]]\nname = \"a\"\ninstance = \"a\"\n", "set `region`"),
            (
                "[[rds.target]]\nname = \"Bad_Name\"\ninstance = \"a\"\nregion = \"r\"\n",
                "not a usable name",
            ),
            (
                "[[rds.target]]\nname = \"a\"\ninstance = \"a\"\nregion = \"r\"\n[[rds.target.copy]]\nregion = \"r\"\n",
                "is the source region",
            ),
            (
                "[[rds.target]]\nname = \"a\"\ninstance = \"a\"\nregion = \"r\"\nretention = { keep_daily = -4 }\n",
                "`a` retention",
            ),
            (
                "[[rds.target]]\nname = \"a\"\ninstance = \"a\"\nregion = \"r\"\ntags = { \"lifeboat:x\" = \"y\" }\n",
                "reserved",
            ),
            ("[rds]\nwait_timeout = \"soon\"\n", "[rds] wait_timeout"),
            ("[rds]\npresigned_url = \"maybe\"\n", "presigned_url"),
        ] {
            let e = resolve(text).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{text}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn presign_only_from_govcloud_by_default() {
        assert!(Presign::Auto.applies("us-gov-west-1"));
        assert!(!Presign::Auto.applies("eu-west-1"));
        assert!(Presign::Always.applies("eu-west-1"));
        assert!(!Presign::Never.applies("us-gov-west-1"));
    }
}
