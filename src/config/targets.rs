//! Compliance targets (`[targets]`, `[targets.database.<name>]`) and the report's time zone
//! (`[report] timezone`), resolved and validated: a duration that does not parse is a
//! configuration error naming its key.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::{Targets as TargetsText, TargetsSection};
use crate::error::{Error, Result};

/// One database's targets. Any may be unset: its control is then "not configured".
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// Recovery point objective: the newest restorable backup is at most this old.
    pub rpo: Option<Duration>,
    /// Recovery time objective: the last measured restore took at most this long.
    pub rto: Option<Duration>,
    /// The newest backup that passed verification is at most this old.
    pub verify_within: Option<Duration>,
    /// Restorable backups reach back at least this far.
    pub min_retention: Option<Duration>,
}

impl Targets {
    pub fn any(&self) -> bool {
        self.rpo.is_some()
            || self.rto.is_some()
            || self.verify_within.is_some()
            || self.min_retention.is_some()
    }

    /// `self`, with the fields it leaves unset taken from `defaults`.
    pub fn or(self, defaults: Targets) -> Targets {
        Targets {
            rpo: self.rpo.or(defaults.rpo),
            rto: self.rto.or(defaults.rto),
            verify_within: self.verify_within.or(defaults.verify_within),
            min_retention: self.min_retention.or(defaults.min_retention),
        }
    }
}

/// Targets for every database, with per-database overrides field by field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetPolicy {
    pub defaults: Targets,
    pub databases: BTreeMap<String, Targets>,
}

impl TargetPolicy {
    /// The targets that apply to `database`: its own where set, the defaults otherwise.
    pub fn for_database(&self, database: &str) -> Targets {
        match self.databases.get(database) {
            Some(own) => own.or(self.defaults),
            None => self.defaults,
        }
    }

    /// Whether any target is configured at all.
    pub fn any(&self) -> bool {
        self.defaults.any() || self.databases.values().any(Targets::any)
    }

    /// Databases named in `[targets.database.<name>]`.
    pub fn named_databases(&self) -> impl Iterator<Item = &str> {
        self.databases.keys().map(String::as_str)
    }

    pub fn resolve(section: &TargetsSection) -> Result<Self> {
        let defaults = resolve_targets(&section.defaults, "[targets]")?;
        let mut databases = BTreeMap::new();
        for (name, text) in &section.database {
            let table = format!("[targets.database.{name}]");
            databases.insert(name.clone(), resolve_targets(text, &table)?);
        }
        Ok(TargetPolicy {
            defaults,
            databases,
        })
    }
}

fn resolve_targets(text: &TargetsText, table: &str) -> Result<Targets> {
    let one = |key: &str, value: &Option<String>| -> Result<Option<Duration>> {
        value
            .as_deref()
            .map(|v| parse_target(v).map_err(|e| Error::config(format!("{table} {key}: {e}"))))
            .transpose()
    };
    Ok(Targets {
        rpo: one("rpo", &text.rpo)?,
        rto: one("rto", &text.rto)?,
        verify_within: one("verify_within", &text.verify_within)?,
        min_retention: one("min_retention", &text.min_retention)?,
    })
}

/// A target duration in humantime form (`26h`, `7d`, `30min`), more than zero.
pub fn parse_target(text: &str) -> std::result::Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write it like 26h, 7d or 30min"))?;
    if d.is_zero() {
        return Err(format!(
            "`{text}` is zero; a target must be more than zero (or leave it out)"
        ));
    }
    Ok(d)
}

/// The IANA time zone named by `[report] timezone` (UTC when unset).
pub fn resolve_timezone(name: Option<&str>) -> Result<chrono_tz::Tz> {
    match name.map(str::trim) {
        None | Some("") => Ok(chrono_tz::UTC),
        Some(name) => name.parse::<chrono_tz::Tz>().map_err(|_| {
            Error::config(format!(
                "[report] timezone: `{name}` is not an IANA time zone; write it like \
                 Europe/Berlin, America/New_York or UTC"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn per_database_targets_override_field_by_field() {
        let file = ConfigFile::parse(
            "[targets]\nrpo = \"26h\"\nrto = \"1h\"\n[targets.database.billing]\nrpo = \"2h\"\n",
        )
        .unwrap();
        let policy = TargetPolicy::resolve(&file.targets).unwrap();
        let billing = policy.for_database("billing");
        assert_eq!(billing.rpo, Some(Duration::from_secs(2 * 3600)));
        assert_eq!(billing.rto, Some(Duration::from_secs(3600)));
        let app = policy.for_database("app");
        assert_eq!(app.rpo, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(app.verify_within, None);
        assert!(policy.any());
        assert!(!TargetPolicy::default().any());
    }

    #[test]
    fn bad_durations_name_their_key() {
        let file =
            ConfigFile::parse("[targets.database.app]\nverify_within = \"weekly\"\n").unwrap();
        let err = TargetPolicy::resolve(&file.targets)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[targets.database.app] verify_within") && err.contains("weekly"),
            "{err}"
        );
        let file = ConfigFile::parse("[targets]\nrpo = \"0s\"\n").unwrap();
        let err = TargetPolicy::resolve(&file.targets)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[targets] rpo") && err.contains("zero"),
            "{err}"
        );
    }

    #[test]
    fn time_zones() {
        assert_eq!(resolve_timezone(None).unwrap(), chrono_tz::UTC);
        assert_eq!(
            resolve_timezone(Some("Europe/Berlin")).unwrap(),
            chrono_tz::Europe::Berlin
        );
        let err = resolve_timezone(Some("Mars/Olympus")).unwrap_err();
        assert!(err.to_string().contains("[report] timezone"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
}
