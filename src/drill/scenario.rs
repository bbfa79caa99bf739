//! The drill scenario file (TOML). Examples in schedules/.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::config::AssertionConfig;
use crate::error::{Error, Result};
use crate::postgres::ConnSpec;
use crate::verify::ScratchChoice;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown as the drill's title.
    pub name: String,
    /// A backup id or `latest` (the default); excludes `at`.
    #[serde(default)]
    pub backup: Option<String>,
    /// Restore the newest backup consistent at or before this time.
    #[serde(default)]
    pub at: Option<String>,
    /// Databases to restore (default: all of the backup's).
    #[serde(default)]
    pub databases: Vec<String>,
    /// A scratch server; default a throwaway local one.
    #[serde(default)]
    pub scratch_url: Option<String>,
    /// SQL assertions, as `[[verify.assertion]]` in the configuration.
    #[serde(default)]
    pub assertion: Vec<AssertionConfig>,
    #[serde(default)]
    pub targets: DrillTargets,
    /// Where the report files go (relative paths from the working directory).
    #[serde(default)]
    pub report_dir: Option<PathBuf>,
    /// An RDS drill: restore the target's newest DR-region copy into a scratch instance
    /// (instead of a logical backup).
    #[serde(default)]
    pub rds: Option<super::rds::RdsScenario>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillTargets {
    /// Most data the business accepts losing: the chosen backup's age at the drill's start.
    pub rpo: Option<String>,
    /// Longest acceptable restore: fetch to a complete database.
    pub rto: Option<String>,
}

fn seconds(key: &str, text: &Option<String>) -> Result<Option<f64>> {
    text.as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map(|d| d.as_secs_f64())
                .map_err(|e| Error::config(format!("scenario targets.{key} `{t}`: {e}")))
        })
        .transpose()
}

impl DrillTargets {
    pub fn rpo_seconds(&self) -> Result<Option<f64>> {
        seconds("rpo", &self.rpo)
    }

    pub fn rto_seconds(&self) -> Result<Option<f64>> {
        seconds("rto", &self.rto)
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let s: Scenario = crate::config::ConfigFile::parse_as(&text)
            .map_err(|e| Error::config(format!("scenario {}: {e}", path.display())))?;
        s.validate()
            .map_err(|e| Error::config(format!("scenario {}: {e}", path.display())))?;
        Ok(s)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.backup.is_some() && self.at.is_some() {
            return Err("give `backup` or `at`, not both".into());
        }
        if self.rds.is_some() && (self.backup.is_some() || self.at.is_some()) {
            return Err(
                "an [rds] drill restores the newest DR-region copy: drop `backup` and `at`".into(),
            );
        }
        self.at().map_err(|e| e.to_string())?;
        self.targets.rpo_seconds().map_err(|e| e.to_string())?;
        self.targets.rto_seconds().map_err(|e| e.to_string())?;
        for a in &self.assertion {
            crate::verify::checks::Expect::parse(&a.expect)
                .map_err(|e| format!("assertion `{}`: {e}", a.name))?;
        }
        if let Some(u) = &self.scratch_url {
            ConnSpec::from_url_and_env(Some(u)).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn at(&self) -> Result<Option<DateTime<Utc>>> {
        self.at
            .as_deref()
            .map(crate::config::parse_point_in_time)
            .transpose()
    }

    pub fn scratch(&self, bin_dir: Option<PathBuf>) -> Result<ScratchChoice> {
        Ok(match &self.scratch_url {
            Some(u) => ScratchChoice::Server(Box::new(ConnSpec::from_url_and_env(Some(u))?)),
            None => ScratchChoice::Throwaway { bin_dir },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rds_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/drill-rds.toml");
        let s = Scenario::load(&path).unwrap();
        let rds = s.rds.unwrap();
        assert_eq!(rds.target, "orders");
        assert_eq!(rds.security_groups.len(), 1);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/drill-quarterly.toml");
        let s = Scenario::load(&path).unwrap();
        assert_eq!(s.databases, ["app"]);
        assert_eq!(s.targets.rto_seconds().unwrap(), Some(3600.0));
        assert_eq!(s.assertion.len(), 1);
    }

    #[test]
    fn bad_scenarios_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let both = write(
            "a.toml",
            "name = \"x\"\nbackup = \"latest\"\nat = \"2026-01-01 00:00\"\n",
        );
        let err = Scenario::load(&both).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        let bad_target = write("b.toml", "name = \"x\"\n[targets]\nrto = \"soon\"\n");
        let err = Scenario::load(&bad_target).unwrap_err().to_string();
        assert!(err.contains("targets.rto"), "{err}");
        let unknown = write("c.toml", "name = \"x\"\nbakcup = \"latest\"\n");
        let err = Scenario::load(&unknown).unwrap_err().to_string();
        assert!(err.contains("bakcup") && err.contains("line 2"), "{err}");
    }
}
