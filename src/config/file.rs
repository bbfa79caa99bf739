//! The TOML configuration file, as users write it. Every field is optional: flags and
//! environment variables take precedence, and `resolve` fills the rest with defaults.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub repository: RepositorySection,
    #[serde(default)]
    pub source: SourceSection,
    #[serde(default)]
    pub encryption: EncryptionSection,
    #[serde(default)]
    pub signing: SigningSection,
    #[serde(default)]
    pub verify: VerifySection,
    #[serde(default)]
    pub targets: TargetsSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub notify: NotifySection,
    #[serde(default)]
    pub report: ReportSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub scheduler: SchedulerSection,
    /// `[[job]]`: the daemon's jobs (`lifeboat run`, `lifeboat schedule check`).
    #[serde(default)]
    pub job: Vec<JobSection>,
    /// `[rds]` and `[[rds.target]]`: Amazon RDS / Aurora snapshot targets.
    #[serde(default)]
    pub rds: RdsSection,
}

/// `[rds]`: settings of every RDS target, and the targets. Resolved and validated by
/// [`crate::rds::RdsSettings::resolve`].
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RdsSection {
    /// RDS API endpoint for every region (tests, VPC endpoints). `LIFEBOAT_RDS_ENDPOINT`.
    pub endpoint: Option<String>,
    /// How long to wait for a snapshot, copy or restored instance to be available. Default 2h.
    pub wait_timeout: Option<String>,
    /// How often to ask while waiting. Default 15s.
    pub poll_interval: Option<String>,
    /// Attempts per API call (throttling and transient errors are retried with backoff).
    /// Default 8.
    pub max_attempts: Option<u32>,
    /// Also send a pre-signed URL with cross-region copies (`auto`: only from GovCloud
    /// regions, where the API still requires it; `always`; `never`). Default `auto`.
    pub presigned_url: Option<String>,
    #[serde(default)]
    pub target: Vec<RdsTargetSection>,
}

/// One `[[rds.target]]`: a DB instance or an Aurora cluster.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RdsTargetSection {
    /// lifeboat's name for it: snapshot names, records, the report (`rds:<name>`).
    pub name: Option<String>,
    /// DB instance identifier (or `cluster`, not both).
    pub instance: Option<String>,
    /// Aurora DB cluster identifier.
    pub cluster: Option<String>,
    /// The source region.
    pub region: Option<String>,
    /// Extra tags put on every snapshot and copy lifeboat creates.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Retention of lifeboat's snapshots in the source region (the `[retention]` language).
    pub retention: Option<RetentionSection>,
    /// Disaster-recovery regions the snapshots are copied to.
    #[serde(default)]
    pub copy: Vec<RdsCopySection>,
}

/// One `[[rds.target.copy]]`: a DR region and the KMS key of encrypted copies there.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RdsCopySection {
    pub region: Option<String>,
    /// A KMS key of the destination region (ARN, id or alias). Required for encrypted snapshots.
    pub kms_key_id: Option<String>,
    /// Retention of the copies in this region; default: the target's.
    pub retention: Option<RetentionSection>,
}

/// `lifeboat run`: the scheduler daemon. Resolved and validated by
/// [`crate::schedule::SchedulerSpec::resolve`].
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSection {
    /// Address of /healthz, /readyz, /metrics, /status. Default `127.0.0.1:9187`.
    pub listen: Option<String>,
    /// Jobs running at once, all jobs together. Default 1.
    pub max_concurrent: Option<usize>,
    /// After SIGTERM, how long running jobs may finish before they are cancelled. Default 10m.
    pub grace_period: Option<String>,
    /// Default time zone of the jobs' schedules (IANA name). Default UTC.
    pub timezone: Option<String>,
    /// Where the daemon keeps each job's last runs (JSON). Default: `lifeboat-scheduler.json`
    /// beside the metrics textfile, else in the working directory.
    pub state_file: Option<PathBuf>,
}

/// One `[[job]]`: a lifeboat command line on a cron schedule.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    pub name: Option<String>,
    /// The lifeboat command line after `lifeboat`, e.g. `["backup", "--globals"]`.
    pub command: Option<Vec<String>>,
    /// Cron expression: 5 fields (crontab) or 6/7 fields (seconds first, optional year).
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    /// Random delay up to this long after each scheduled instant, e.g. `5m`.
    pub jitter: Option<String>,
    /// `skip` (default) or `queue`: what a trigger does while the job still runs.
    pub overlap: Option<String>,
    /// `run-once` (default) or `skip`: runs missed while the daemon was down.
    pub missed: Option<String>,
    /// Stop the job (SIGTERM, then SIGKILL) after this long, e.g. `2h`.
    pub timeout: Option<String>,
    /// Raise the overdue alert when the last success is older than this. Default: twice
    /// the schedule's interval.
    pub overdue_after: Option<String>,
}

/// `lifeboat report`: how the compliance report groups time.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// IANA time zone (`Europe/Berlin`) whose calendar days the report groups by, and in
    /// which it shows times. Default: UTC.
    pub timezone: Option<String>,
}

/// `lifeboat prune`'s policy (restic's `--keep-*`), used when no `--keep-*` flag is given.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    pub keep_last: Option<CountSetting>,
    pub keep_hourly: Option<CountSetting>,
    pub keep_daily: Option<CountSetting>,
    pub keep_weekly: Option<CountSetting>,
    pub keep_monthly: Option<CountSetting>,
    pub keep_yearly: Option<CountSetting>,
    /// Humantime duration, e.g. `2d`: keep everything that much newer than the newest.
    pub keep_within: Option<String>,
    /// IANA name of the zone whose calendar the periods follow (default UTC).
    pub timezone: Option<String>,
    /// Keep the newest verified backup of each database (default true).
    pub keep_verified: Option<bool>,
}

/// A count as a file writes it: `7`, `-1` or `"unlimited"`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum CountSetting {
    Number(i64),
    Text(String),
}

/// `lifeboat verify`: where to restore, and the user's own checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySection {
    /// A server to restore into (a URL of any database on it, usually `postgres`). Default:
    /// a throwaway local server started for the run. Never the source database.
    pub scratch_url: Option<String>,
    /// The user's SQL assertions, run on the restored database.
    #[serde(default)]
    pub assertion: Vec<AssertionConfig>,
}

/// One SQL assertion: a query returning one value, and what it must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionConfig {
    /// The database of the backup it applies to.
    pub database: String,
    pub name: String,
    /// One row, one column. `{consistent_at}` is replaced by the backup's consistent point
    /// as a `timestamptz` literal.
    pub sql: String,
    /// `> 0`, `>= 10`, `= 42`, `!= 0`, `< 5`, `<= 5`, or a plain value compared as text.
    pub expect: String,
}

/// Compliance targets, for every database unless overridden under `[targets.database.<name>]`.
/// Durations in humantime form: `26h`, `7d`, `30min`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TargetsSection {
    #[serde(flatten)]
    pub defaults: Targets,
    #[serde(default)]
    pub database: std::collections::BTreeMap<String, Targets>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Recovery point objective: the newest restorable backup is at most this old.
    pub rpo: Option<String>,
    /// Recovery time objective: the last measured restore took at most this long.
    pub rto: Option<String>,
    /// A backup passes verification at least this often.
    pub verify_within: Option<String>,
    /// Backups reach back at least this far.
    pub min_retention: Option<String>,
}

/// Prometheus metrics as a node-exporter textfile, written atomically by one-shot runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    pub textfile: Option<PathBuf>,
}

/// Notifications on failure, breach and overdue backups.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// The webhook's URL. It is a secret (chat webhooks carry their token in it): prefer
    /// `webhook_url_file` or `LIFEBOAT_WEBHOOK_URL`.
    pub webhook_url: Option<String>,
    pub webhook_url_file: Option<PathBuf>,
    /// `json` (lifeboat's documented body) or `slack` (Slack-compatible `text` body).
    pub format: Option<String>,
}

/// The URL is a secret: debug output shows only whether it is set.
impl std::fmt::Debug for NotifySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySection")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("webhook_url_file", &self.webhook_url_file)
            .field("format", &self.format)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySection {
    /// A path, `file://…` or `s3://bucket/prefix`.
    pub url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_path_style: Option<bool>,
    /// Multipart part size, e.g. "16MiB". Grown automatically if a large object needs it.
    pub part_size: Option<String>,
    /// Parts uploaded at once per object.
    pub upload_concurrency: Option<usize>,
    /// Stored size after which a stream continues in a new object, e.g. "16GiB".
    pub segment_size: Option<String>,
    /// S3 Object Lock for backups and records: `governance` or `compliance`.
    pub object_lock_mode: Option<String>,
    /// How long each locked object is retained after it is written, e.g. "30d". Unset:
    /// `[retention] keep_within`, else `[targets] min_retention`.
    pub object_lock_retain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// A postgres URL or libpq keyword string. Prefer PGPASSWORD / ~/.pgpass for the password.
    pub url: Option<String>,
    pub databases: Option<Vec<String>>,
    pub jobs: Option<usize>,
    pub globals: Option<bool>,
    /// Directory holding pg_dump / psql of the right major version.
    pub pg_bin_dir: Option<PathBuf>,
    /// Seconds to wait for a table lock before failing the backup with the table's name.
    pub lock_timeout_secs: Option<u64>,
}

/// Signing: the secret key that signs what this side writes, and the public keys whose
/// signatures a restore accepts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    pub key_file: Option<PathBuf>,
    pub trusted_keys: Option<Vec<String>>,
    pub trusted_keys_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSection {
    pub recipients: Option<Vec<String>>,
    pub recipients_file: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| Error::config(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        Self::parse_as(text)
    }

    /// Parses any TOML document of ours, errors with their line.
    pub fn parse_as<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
        toml::from_str(text).map_err(|e| e.message().to_string() + &location(text, e.span()))
    }
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

/// Parses sizes such as `16MiB`, `64 MB`, `5242880`. Binary and decimal units both accepted.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 16MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` is not a size unit in `{text}` (try MiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("5 MB").unwrap(), 5_000_000);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn unknown_keys_are_rejected_with_line() {
        let err = ConfigFile::parse("[repository]\nurll = \"x\"\n").unwrap_err();
        assert!(err.contains("urll"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_webhook_url() {
        let cfg = ConfigFile::parse(
            "[notify]\nwebhook_url = \"https://hooks.example.com/T0/sEcReT\"\nformat = \"slack\"\n",
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sEcReT"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn full_file_parses() {
        let cfg = ConfigFile::parse(
            r#"
[repository]
url = "s3://bucket/prefix"
s3_endpoint = "http://127.0.0.1:9000"
s3_path_style = true
part_size = "8MiB"

[source]
url = "postgres://app@db/app"
databases = ["app", "billing"]
jobs = 4

[encryption]
recipients = ["age1xyz"]
identity_file = "/keys/id.txt"

[signing]
key_file = "/keys/signing.key"
trusted_keys = ["RWQ"]

[targets]
rpo = "26h"
rto = "1h"

[targets.database.billing]
rpo = "2h"

[report]
timezone = "Europe/Berlin"
"#,
        )
        .unwrap();
        assert_eq!(cfg.source.jobs, Some(4));
        assert_eq!(cfg.repository.s3_path_style, Some(true));
        assert_eq!(cfg.targets.defaults.rpo.as_deref(), Some("26h"));
        assert_eq!(cfg.targets.database["billing"].rpo.as_deref(), Some("2h"));
        assert_eq!(cfg.report.timezone.as_deref(), Some("Europe/Berlin"));
    }

    #[test]
    fn retention_section_parses() {
        let cfg = ConfigFile::parse(
            r#"
[retention]
keep_daily = 7
keep_yearly = "unlimited"
keep_monthly = -1
keep_within = "2d"
timezone = "Europe/Berlin"
keep_verified = false
"#,
        )
        .unwrap();
        let r = cfg.retention;
        assert_eq!(r.keep_daily, Some(CountSetting::Number(7)));
        assert_eq!(r.keep_yearly, Some(CountSetting::Text("unlimited".into())));
        assert_eq!(r.keep_verified, Some(false));
        let err = ConfigFile::parse("[retention]\nkeep_dayly = 7\n").unwrap_err();
        assert!(err.contains("keep_dayly"), "{err}");
    }
}
