//! Configuration: a TOML file (`--config`, `LIFEBOAT_CONFIG`) under flags and environment
//! variables, resolved per section so that a command only asks for what it uses (`list`
//! needs no PostgreSQL, `backup` needs no private key).

mod file;
mod redact;
mod targets;
mod time;

pub use file::{
    parse_size, AssertionConfig, ConfigFile, CountSetting, JobSection, NotifySection,
    RdsCopySection, RdsSection, RdsTargetSection, RetentionSection, SchedulerSection,
    TargetsSection,
};
pub use redact::redact_url;
pub use targets::{parse_target, resolve_timezone, TargetPolicy, Targets};
pub use time::{human_duration, parse_point_in_time};

use std::path::PathBuf;

use std::sync::Arc;

use crate::crypto::{self, Identity, Recipient};
use crate::error::{Error, Result};
use crate::postgres::ConnSpec;
use crate::repository::{Keys, Trust};
use crate::retention::{self, Keep, Policy};
use crate::signals::notify::{self, NotifySettings, WebhookUrl};
use crate::storage::{LockMode, ObjectLock, StorageLocation, StorageSettings};

/// Values given on the command line or in the environment; each wins over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub repo: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_path_style: Option<bool>,
    pub part_size: Option<String>,
    pub source: Option<String>,
    pub databases: Vec<String>,
    pub jobs: Option<usize>,
    pub globals: Option<bool>,
    pub pg_bin_dir: Option<PathBuf>,
    pub lock_timeout_secs: Option<u64>,
    pub recipients: Vec<String>,
    pub recipients_file: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
    pub signing_key_file: Option<PathBuf>,
    pub trusted_keys: Vec<String>,
    pub trusted_keys_file: Option<PathBuf>,
    pub insecure_skip_signature: bool,
    pub segment_size: Option<String>,
    /// `--metrics-file` / `LIFEBOAT_METRICS_FILE`.
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Settings {
    pub file: ConfigFile,
    pub overrides: Overrides,
    pub file_path: Option<PathBuf>,
}

/// What `backup` needs from the source side.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub conn: ConnSpec,
    pub databases: Vec<String>,
    pub jobs: usize,
    pub globals: bool,
    pub pg_bin_dir: Option<PathBuf>,
    pub lock_timeout_secs: u64,
}

/// Where the Prometheus metrics textfile is written.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    pub textfile: PathBuf,
}

pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 60;

impl Settings {
    pub fn load(path: Option<PathBuf>, overrides: Overrides) -> Result<Self> {
        let file = match &path {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        Ok(Settings {
            file,
            overrides,
            file_path: path,
        })
    }

    pub fn repository(&self) -> Result<StorageSettings> {
        let (o, f) = (&self.overrides, &self.file.repository);
        let url = o.repo.clone().or_else(|| f.url.clone()).ok_or_else(|| {
            Error::config("no repository given: use --repo, LIFEBOAT_REPO or [repository] url")
        })?;
        let location = StorageLocation::parse(&url)?;
        let part_size = match o.part_size.as_ref().or(f.part_size.as_ref()) {
            Some(s) => parse_size(s).map_err(|e| Error::config(format!("part size: {e}")))?,
            None => DEFAULT_PART_SIZE,
        };
        if !(5 << 20..=1 << 30).contains(&part_size) {
            return Err(Error::config(format!(
                "part size {part_size} bytes is outside 5MiB to 1GiB (S3 parts are 5 MiB to \
                 5 GiB, and lifeboat grows parts of very large objects itself)"
            )));
        }
        let upload_concurrency = f.upload_concurrency.unwrap_or(4).max(1);
        let object_lock = self.object_lock(&location)?;
        Ok(StorageSettings {
            location,
            endpoint: o
                .s3_endpoint
                .clone()
                .or_else(|| f.s3_endpoint.clone())
                .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()),
            region: o.s3_region.clone().or_else(|| f.s3_region.clone()),
            path_style: o.s3_path_style.or(f.s3_path_style).unwrap_or(false),
            part_size,
            upload_concurrency,
            object_lock,
        })
    }

    /// `[repository] object_lock_mode` and how long: `object_lock_retain`, or derived from
    /// the retention policy (`keep_within`: every backup that young is kept) or the
    /// `min_retention` target. Only for S3 repositories.
    fn object_lock(&self, location: &StorageLocation) -> Result<Option<ObjectLock>> {
        let f = &self.file.repository;
        let Some(mode) = &f.object_lock_mode else {
            if f.object_lock_retain.is_some() {
                return Err(Error::config(
                    "[repository] object_lock_retain is set without object_lock_mode; add \
                     object_lock_mode = \"governance\" or \"compliance\"",
                ));
            }
            return Ok(None);
        };
        let mode =
            LockMode::parse(mode).map_err(|e| e.with_note("[repository] object_lock_mode"))?;
        if !matches!(location, StorageLocation::S3 { .. }) {
            return Err(Error::config(format!(
                "[repository] object_lock_mode needs an S3 repository; `{location}` is a \
                 directory (protect it with the filesystem or a WORM mount instead)"
            )));
        }
        let (key, text) = [
            ("[repository] object_lock_retain", &f.object_lock_retain),
            ("[retention] keep_within", &self.file.retention.keep_within),
            (
                "[targets] min_retention",
                &self.file.targets.defaults.min_retention,
            ),
        ]
        .into_iter()
        .find_map(|(k, v)| v.as_ref().map(|t| (k, t)))
        .ok_or_else(|| {
            Error::config(
                "[repository] object_lock_mode is set but nothing says how long to retain: set \
                 object_lock_retain (e.g. \"30d\"), or [retention] keep_within",
            )
        })?;
        let retain =
            targets::parse_target(text).map_err(|e| Error::config(format!("{key}: {e}")))?;
        Ok(Some(ObjectLock {
            mode,
            retain,
            exempt: crate::repository::layout::lock_exempt,
        }))
    }

    pub fn source(&self) -> Result<SourceSettings> {
        let (o, f) = (&self.overrides, &self.file.source);
        let url = o
            .source
            .clone()
            .or_else(|| f.url.clone())
            .or_else(|| std::env::var("DATABASE_URL").ok());
        let conn = ConnSpec::from_url_and_env(url.as_deref())?;
        let databases = if o.databases.is_empty() {
            f.databases.clone().unwrap_or_default()
        } else {
            o.databases.clone()
        };
        let jobs = o.jobs.or(f.jobs).unwrap_or_else(default_jobs);
        check_jobs(jobs)?;
        Ok(SourceSettings {
            conn,
            databases,
            jobs,
            globals: o.globals.or(f.globals).unwrap_or(false),
            pg_bin_dir: o.pg_bin_dir.clone().or_else(|| f.pg_bin_dir.clone()),
            lock_timeout_secs: o
                .lock_timeout_secs
                .or(f.lock_timeout_secs)
                .unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS),
        })
    }

    pub fn pg_bin_dir(&self) -> Option<PathBuf> {
        self.overrides
            .pg_bin_dir
            .clone()
            .or_else(|| self.file.source.pg_bin_dir.clone())
    }

    /// Public keys to encrypt to. Several are allowed so keys can be rotated and escrowed.
    pub fn recipients(&self) -> Result<Vec<Recipient>> {
        let (o, f) = (&self.overrides, &self.file.encryption);
        let mut lines: Vec<String> = if o.recipients.is_empty() {
            f.recipients.clone().unwrap_or_default()
        } else {
            o.recipients.clone()
        };
        if let Some(path) = o.recipients_file.as_ref().or(f.recipients_file.as_ref()) {
            lines.extend(crypto::read_recipients_file(path)?);
        }
        if lines.is_empty() {
            return Err(Error::Key(
                "no age recipient given: use --recipient, LIFEBOAT_AGE_RECIPIENTS, \
                 LIFEBOAT_AGE_RECIPIENTS_FILE or [encryption] recipients"
                    .into(),
            ));
        }
        lines.iter().map(|l| crypto::parse_recipient(l)).collect()
    }

    /// Stored bytes after which a stream continues in a new object.
    pub fn segment_bytes(&self) -> Result<u64> {
        let text = self.overrides.segment_size.as_ref().or(self
            .file
            .repository
            .segment_size
            .as_ref());
        let Some(text) = text else {
            return Ok(crate::pipeline::DEFAULT_SEGMENT_BYTES);
        };
        let n = parse_size(text).map_err(|e| Error::config(format!("segment size: {e}")))?;
        if !(1 << 20..=5 << 40).contains(&n) {
            return Err(Error::config(format!(
                "segment size {n} bytes is outside 1MiB to 5TiB"
            )));
        }
        Ok(n)
    }

    /// The signing key (from `--signing-key`, `LIFEBOAT_SIGNING_KEY_FILE`, the
    /// `LIFEBOAT_SIGNING_KEY` variable holding the key itself, or `[signing] key_file`) and
    /// the trusted public keys. The signing key's own public half is trusted too: whoever
    /// holds the secret key trusts what it signed.
    pub fn keys(&self) -> Result<Keys> {
        let (o, f) = (&self.overrides, &self.file.signing);
        let password = std::env::var("LIFEBOAT_SIGNING_KEY_PASSWORD").ok();
        let signer = match o.signing_key_file.as_ref().or(f.key_file.as_ref()) {
            Some(path) => Some(crypto::sign::read_signing_key_file(path, password)?),
            None => match std::env::var("LIFEBOAT_SIGNING_KEY") {
                Ok(text) if !text.trim().is_empty() => Some(crypto::sign::parse_signing_key(
                    &text,
                    password,
                    "LIFEBOAT_SIGNING_KEY",
                )?),
                _ => None,
            },
        };
        let mut trusted = Vec::new();
        let lines = if o.trusted_keys.is_empty() {
            f.trusted_keys.clone().unwrap_or_default()
        } else {
            o.trusted_keys.clone()
        };
        for line in lines.iter().filter(|l| !l.trim().is_empty()) {
            trusted.push(crypto::sign::parse_trusted_key(line)?);
        }
        if let Some(path) = o
            .trusted_keys_file
            .as_ref()
            .or(f.trusted_keys_file.as_ref())
        {
            trusted.extend(crypto::sign::read_trusted_keys_file(path)?);
        }
        if let Some(s) = &signer {
            if !trusted.iter().any(|t| t.id() == s.id()) {
                trusted.push(s.trusted());
            }
        }
        Ok(Keys {
            signer: signer.map(Arc::new),
            trust: Trust {
                keys: trusted,
                skip_check: o.insecure_skip_signature,
            },
        })
    }

    /// Where `verify` restores: `--scratch-url` / `LIFEBOAT_SCRATCH_URL`, `[verify]
    /// scratch_url`, or a throwaway local server.
    pub fn scratch(&self, flag: Option<&str>) -> Result<crate::verify::ScratchChoice> {
        let url = flag
            .map(str::to_string)
            .or_else(|| self.file.verify.scratch_url.clone());
        Ok(match url {
            Some(u) => crate::verify::ScratchChoice::Server(Box::new(ConnSpec::from_url_and_env(
                Some(&u),
            )?)),
            None => crate::verify::ScratchChoice::Throwaway {
                bin_dir: self.pg_bin_dir(),
            },
        })
    }

    /// The `[[verify.assertion]]` checks, each validated.
    pub fn assertions(&self) -> Result<Vec<AssertionConfig>> {
        let all = self.file.verify.assertion.clone();
        for a in &all {
            crate::verify::checks::Expect::parse(&a.expect)
                .map_err(|e| Error::config(format!("[[verify.assertion]] `{}`: {e}", a.name)))?;
            if a.sql.trim().is_empty() {
                return Err(Error::config(format!(
                    "[[verify.assertion]] `{}`: sql is empty",
                    a.name
                )));
            }
        }
        Ok(all)
    }

    /// Compliance targets, validated (`[targets]`, `[targets.database.<name>]`).
    pub fn targets(&self) -> Result<TargetPolicy> {
        TargetPolicy::resolve(&self.file.targets)
    }

    /// The time zone reports group days by and show times in (`[report] timezone`, UTC).
    pub fn report_timezone(&self) -> Result<chrono_tz::Tz> {
        resolve_timezone(self.file.report.timezone.as_deref())
    }

    /// The databases `[source] databases` names (for the report: databases expected to
    /// have backups even before the first one exists).
    pub fn configured_databases(&self) -> Vec<String> {
        if self.overrides.databases.is_empty() {
            self.file.source.databases.clone().unwrap_or_default()
        } else {
            self.overrides.databases.clone()
        }
    }

    /// The metrics textfile, from `--metrics-file` / `LIFEBOAT_METRICS_FILE` or `[metrics]
    /// textfile`; `None` when neither is set. Its directory must exist.
    pub fn metrics(&self) -> Result<Option<MetricsSettings>> {
        let (path, key) = match (&self.overrides.metrics_file, &self.file.metrics.textfile) {
            (Some(p), _) => (p, "--metrics-file / LIFEBOAT_METRICS_FILE"),
            (None, Some(p)) => (p, "[metrics] textfile"),
            (None, None) => return Ok(None),
        };
        check_textfile(path, key)?;
        Ok(Some(MetricsSettings {
            textfile: path.clone(),
        }))
    }

    /// The webhook, from `LIFEBOAT_WEBHOOK_URL` or `LIFEBOAT_WEBHOOK_URL_FILE`, else
    /// `[notify] webhook_url_file` or `webhook_url`; the body format from
    /// `LIFEBOAT_NOTIFY_FORMAT` or `[notify] format`. `None` when no URL is set.
    pub fn notify(&self) -> Result<Option<NotifySettings>> {
        resolve_notify(&self.file.notify, &|name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
    }

    /// `[rds]` and its targets; the endpoint from `LIFEBOAT_RDS_ENDPOINT` over `[rds] endpoint`.
    pub fn rds(&self) -> Result<crate::rds::RdsSettings> {
        let endpoint = std::env::var("LIFEBOAT_RDS_ENDPOINT")
            .ok()
            .filter(|v| !v.trim().is_empty());
        crate::rds::RdsSettings::resolve(&self.file.rds, endpoint)
    }

    /// Private keys, needed only to restore.
    pub fn identities(&self) -> Result<Vec<Identity>> {
        let path = self
            .overrides
            .identity_file
            .as_ref()
            .or(self.file.encryption.identity_file.as_ref())
            .ok_or_else(|| {
                Error::Key(
                    "no identity given: restoring needs the private key; use --identity or \
                     LIFEBOAT_AGE_IDENTITY_FILE"
                        .into(),
                )
            })?;
        crypto::read_identity_file(path)
    }
}

/// What `prune` is given on its command line: a policy (when any `--keep-*` flag is given,
/// it replaces `[retention]`'s rules wholly), and the zone and keep-verified, each over the
/// file.
#[derive(Debug, Default, Clone)]
pub struct RetentionOverrides {
    pub policy: Option<Policy>,
    pub timezone: Option<String>,
    pub keep_verified: Option<bool>,
}

/// The resolved retention settings.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    pub policy: Policy,
    pub timezone: chrono_tz::Tz,
    pub keep_verified: bool,
}

impl Settings {
    /// `prune`'s policy: the `--keep-*` flags if any is given, else `[retention]`; the time
    /// zone (`--timezone`, `[retention] timezone`, UTC) and keep-verified (default on). An
    /// empty policy is refused.
    pub fn retention(&self, flags: &RetentionOverrides) -> Result<RetentionSettings> {
        let f = &self.file.retention;
        let policy = match &flags.policy {
            Some(p) => p.clone(),
            None => policy_from_file(f)?,
        };
        policy.validate()?;
        let timezone = match (&flags.timezone, &f.timezone) {
            (Some(name), _) => retention::parse_timezone(name)
                .map_err(|e| e.with_note("--timezone / LIFEBOAT_TIMEZONE"))?,
            (None, Some(name)) => {
                retention::parse_timezone(name).map_err(|e| e.with_note("[retention] timezone"))?
            }
            (None, None) => chrono_tz::UTC,
        };
        Ok(RetentionSettings {
            policy,
            timezone,
            keep_verified: flags.keep_verified.or(f.keep_verified).unwrap_or(true),
        })
    }
}

/// The policy of a `[retention]`-shaped section (also `[[rds.target]] retention`).
pub fn policy_from_file(f: &RetentionSection) -> Result<Policy> {
    let count = |key: &str, v: &Option<CountSetting>| -> Result<Keep> {
        let parsed = match v {
            None => return Ok(Keep::Off),
            Some(CountSetting::Number(n)) => Keep::from_number(*n),
            Some(CountSetting::Text(t)) => Keep::parse(t),
        };
        parsed.map_err(|e| Error::config(format!("[retention] {key}: {e}")))
    };
    let within = match &f.keep_within {
        Some(text) => Some(
            retention::parse_within(text)
                .map_err(|e| Error::config(format!("[retention] keep_within: {e}")))?,
        ),
        None => None,
    };
    Ok(Policy {
        last: count("keep_last", &f.keep_last)?,
        hourly: count("keep_hourly", &f.keep_hourly)?,
        daily: count("keep_daily", &f.keep_daily)?,
        weekly: count("keep_weekly", &f.keep_weekly)?,
        monthly: count("keep_monthly", &f.keep_monthly)?,
        yearly: count("keep_yearly", &f.keep_yearly)?,
        within,
    })
}

/// Refuses zero parallel jobs, for backups and restores alike.
pub fn check_jobs(jobs: usize) -> Result<()> {
    if jobs == 0 {
        return Err(Error::config("jobs must be at least 1"));
    }
    Ok(())
}

/// One job per core, at least two: COPY on the server and compression here overlap.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// The textfile's directory must exist (lifeboat creates the file, not directories), and
/// the path must name a file.
fn check_textfile(path: &std::path::Path, key: &str) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::config(format!("{key} is empty")));
    }
    if path.is_dir() {
        return Err(Error::config(format!(
            "{key}: {} is a directory; name the file, e.g. {}",
            path.display(),
            path.join("lifeboat.prom").display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::config(format!(
            "{key}: directory {} does not exist; create it, or name a file in an existing \
             directory (node-exporter's --collector.textfile.directory)",
            dir.display()
        )));
    }
    Ok(())
}

/// `[notify]` under its environment variables; `env` looks a variable up (unit tests give
/// their own). Each layer (environment, then file) may give the URL or a file holding it,
/// not both.
pub fn resolve_notify(
    f: &NotifySection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<NotifySettings>> {
    let format = match (env("LIFEBOAT_NOTIFY_FORMAT"), &f.format) {
        (Some(text), _) => notify::Format::parse(&text)
            .map_err(|e| Error::config(format!("LIFEBOAT_NOTIFY_FORMAT: {e}")))?,
        (None, Some(text)) => notify::Format::parse(text)
            .map_err(|e| Error::config(format!("[notify] format: {e}")))?,
        (None, None) => notify::Format::default(),
    };
    let (url, source) = match (
        env("LIFEBOAT_WEBHOOK_URL"),
        env("LIFEBOAT_WEBHOOK_URL_FILE"),
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                "both LIFEBOAT_WEBHOOK_URL and LIFEBOAT_WEBHOOK_URL_FILE are set; set one",
            ))
        }
        (Some(url), None) => (url, "LIFEBOAT_WEBHOOK_URL".to_string()),
        (None, Some(path)) => {
            let key = format!("LIFEBOAT_WEBHOOK_URL_FILE ({path})");
            (read_url_file(std::path::Path::new(&path), &key)?, key)
        }
        (None, None) => match (&f.webhook_url, &f.webhook_url_file) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "[notify]: webhook_url and webhook_url_file are both set; keep one \
                     (webhook_url_file keeps the secret out of the configuration file)",
                ))
            }
            (Some(url), None) => (url.clone(), "[notify] webhook_url".to_string()),
            (None, Some(path)) => {
                let key = format!("[notify] webhook_url_file ({})", path.display());
                (read_url_file(path, &key)?, key)
            }
            (None, None) => return Ok(None),
        },
    };
    Ok(Some(NotifySettings {
        url: WebhookUrl::parse(&url, &source)?,
        format,
        source,
    }))
}

/// The first non-empty line of a file holding the webhook URL. Errors name the file,
/// never what it holds.
fn read_url_file(path: &std::path::Path, key: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("{key}: cannot read {}: {e}", path.display())))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::config(format!("{key}: {} is empty", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://hooks.example.com/services/T0/B0/sEcReT";

    fn section(text: &str) -> NotifySection {
        ConfigFile::parse(text).unwrap().notify
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn notify_is_off_without_a_url() {
        assert!(resolve_notify(&section(""), &no_env).unwrap().is_none());
        assert!(
            resolve_notify(&section("[notify]\nformat = \"slack\"\n"), &no_env)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn notify_from_the_file_and_from_the_environment() {
        let file = section(&format!(
            "[notify]\nwebhook_url = \"{URL}\"\nformat = \"slack\"\n"
        ));
        let n = resolve_notify(&file, &no_env).unwrap().unwrap();
        assert_eq!(n.format, notify::Format::Slack);
        assert_eq!(n.source, "[notify] webhook_url");

        let env = |name: &str| match name {
            "LIFEBOAT_WEBHOOK_URL" => Some("http://127.0.0.1:9/hook".to_string()),
            "LIFEBOAT_NOTIFY_FORMAT" => Some("json".to_string()),
            _ => None,
        };
        let n = resolve_notify(&file, &env).unwrap().unwrap();
        assert_eq!(n.source, "LIFEBOAT_WEBHOOK_URL");
        assert_eq!(n.format, notify::Format::Json);
    }

    #[test]
    fn notify_url_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook");
        std::fs::write(&path, format!("\n  {URL}  \n")).unwrap();
        let file = section(&format!(
            "[notify]\nwebhook_url_file = \"{}\"\n",
            path.display()
        ));
        let n = resolve_notify(&file, &no_env).unwrap().unwrap();
        assert!(n.source.contains("webhook_url_file"));
        assert!(!format!("{n:?}").contains("sEcReT"));
    }

    #[test]
    fn notify_errors_name_the_key_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let err = |text: &str| resolve_notify(&section(text), &no_env).unwrap_err();

        let e = err("[notify]\nformat = \"teams\"\n");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("[notify] format: `teams`"), "{e}");

        let missing = dir.path().join("nope");
        let e = err(&format!(
            "[notify]\nwebhook_url_file = \"{}\"\n",
            missing.display()
        ));
        assert!(e.to_string().contains("webhook_url_file"), "{e}");
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );

        let bad = dir.path().join("bad");
        std::fs::write(&bad, "not a url sEcReT\n").unwrap();
        let e = err(&format!(
            "[notify]\nwebhook_url_file = \"{}\"\n",
            bad.display()
        ));
        assert!(e.to_string().contains(&bad.display().to_string()), "{e}");
        assert!(!e.to_string().contains("sEcReT"), "{e}");

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n\n").unwrap();
        let e = err(&format!(
            "[notify]\nwebhook_url_file = \"{}\"\n",
            empty.display()
        ));
        assert!(e.to_string().contains("is empty"), "{e}");

        let e = err(&format!(
            "[notify]\nwebhook_url = \"{URL}\"\nwebhook_url_file = \"{}\"\n",
            bad.display()
        ));
        assert!(e.to_string().contains("both set"), "{e}");
        assert!(!e.to_string().contains("sEcReT"), "{e}");

        let e = err("[notify]\nwebhook_url = \"ftp://example.com/sEcReT\"\n");
        assert!(e.to_string().contains("[notify] webhook_url"), "{e}");
        assert!(!e.to_string().contains("sEcReT"), "{e}");
    }

    #[test]
    fn metrics_textfile_needs_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        assert!(settings.metrics().unwrap().is_none());

        settings.file.metrics.textfile = Some(dir.path().join("lifeboat.prom"));
        let m = settings.metrics().unwrap().unwrap();
        assert_eq!(m.textfile, dir.path().join("lifeboat.prom"));

        settings.overrides.metrics_file = Some(dir.path().join("missing/lifeboat.prom"));
        let e = settings.metrics().unwrap_err().to_string();
        assert!(e.contains("--metrics-file / LIFEBOAT_METRICS_FILE"), "{e}");
        assert!(e.contains("does not exist"), "{e}");

        settings.overrides.metrics_file = Some(dir.path().to_path_buf());
        let e = settings.metrics().unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        Settings {
            file: ConfigFile::parse(toml).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn retention_from_the_file_or_the_flags() {
        let s = settings(
            "[retention]\nkeep_daily = 7\nkeep_yearly = \"unlimited\"\nkeep_within = \"2d\"\ntimezone = \"Europe/Berlin\"\n",
        );
        let r = s.retention(&RetentionOverrides::default()).unwrap();
        assert_eq!(r.policy.daily, Keep::Count(7));
        assert_eq!(r.policy.yearly, Keep::All);
        assert_eq!(
            r.policy.within,
            Some(std::time::Duration::from_secs(2 * 86_400))
        );
        assert_eq!(r.timezone.name(), "Europe/Berlin");
        assert!(r.keep_verified);
        // Flags replace the file's rules wholly; zone and keep-verified one by one.
        let flags = RetentionOverrides {
            policy: Some(Policy {
                last: Keep::Count(3),
                ..Default::default()
            }),
            timezone: Some("UTC".into()),
            keep_verified: Some(false),
        };
        let r = s.retention(&flags).unwrap();
        assert_eq!(
            r.policy,
            Policy {
                last: Keep::Count(3),
                ..Default::default()
            }
        );
        assert_eq!(r.timezone, chrono_tz::UTC);
        assert!(!r.keep_verified);
    }

    #[test]
    fn bad_retention_settings_name_the_key() {
        let err = settings("")
            .retention(&RetentionOverrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        assert_eq!(err.exit_code(), 2);
        for (toml, needle) in [
            ("[retention]\nkeep_daily = -3\n", "[retention] keep_daily"),
            (
                "[retention]\nkeep_weekly = \"lots\"\n",
                "[retention] keep_weekly",
            ),
            (
                "[retention]\nkeep_within = \"a while\"\n",
                "[retention] keep_within",
            ),
            (
                "[retention]\nkeep_daily = 1\ntimezone = \"Europe/Atlantis\"\n",
                "[retention] timezone",
            ),
        ] {
            let err = settings(toml)
                .retention(&RetentionOverrides::default())
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{toml}: {err}");
            assert_eq!(err.exit_code(), 2);
        }
    }
}
