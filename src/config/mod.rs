//! Configuration: a TOML file (`--config`, `LIFEBOAT_CONFIG`) under flags and environment
//! variables, resolved per section so that a command only asks for what it uses (`list`
//! needs no PostgreSQL, `backup` needs no private key).

mod file;
mod redact;
mod targets;
mod time;

pub use file::{parse_size, AssertionConfig, ConfigFile, TargetsSection};
pub use redact::redact_url;
pub use targets::{parse_target, resolve_timezone, TargetPolicy, Targets};
pub use time::{human_duration, parse_point_in_time};

use std::path::PathBuf;

use std::sync::Arc;

use crate::crypto::{self, Identity, Recipient};
use crate::error::{Error, Result};
use crate::postgres::ConnSpec;
use crate::repository::{Keys, Trust};
use crate::storage::{StorageLocation, StorageSettings};

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
        })
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
