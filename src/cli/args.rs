//! Command-line arguments. Every essential setting is also an environment variable and a
//! config file key; flags win over the environment, which wins over the file.

use clap::{Args, Parser, Subcommand, ValueEnum};
use lifeboat::retention::{Keep, Policy};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lifeboat",
    version,
    about = "Backup and disaster recovery for PostgreSQL: streamed, compressed (zstd) and \
             encrypted (age) logical backups to S3 or a directory, proven by restore.",
    after_help = "Start with `lifeboat demo`. Configuration: a TOML file (--config), \
                  LIFEBOAT_* environment variables, or flags. Docs: README.md, docs/, runbooks/.\n\n\
                  Exit codes: 0 success; 1 failure; 2 configuration or key; 3 corrupt, \
                  unauthenticated or failed verification; 4 repository; 5 PostgreSQL or its \
                  tools; 6 repository locked; 7 compliance breach; 8 partial (part done, \
                  complete; run again); 9 Amazon RDS; 130/143 cancelled by SIGINT/SIGTERM, \
                  cleanly."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "LIFEBOAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, env = "LIFEBOAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// More log detail (-v: debug, -vv: trace).
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Args, Debug, Default)]
pub struct RepoArgs {
    /// Repository: a directory, file:///path, or s3://bucket/prefix.
    #[arg(long, env = "LIFEBOAT_REPO", global = true)]
    pub repo: Option<String>,

    /// S3 endpoint URL for S3-compatible stores (also AWS_ENDPOINT_URL).
    #[arg(long, env = "LIFEBOAT_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// S3 region (also AWS_REGION).
    #[arg(long, env = "LIFEBOAT_S3_REGION", global = true)]
    pub s3_region: Option<String>,

    /// Path-style S3 addressing (MinIO and most S3-compatible stores).
    #[arg(long, env = "LIFEBOAT_S3_PATH_STYLE", global = true, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub s3_path_style: Option<bool>,

    /// Multipart part size, e.g. 16MiB (at least 5MiB).
    #[arg(long, env = "LIFEBOAT_PART_SIZE", global = true)]
    pub part_size: Option<String>,

    /// age recipient (public key, age1…) to encrypt to; repeat or comma-separate to add
    /// escrow and rotation keys.
    #[arg(
        long = "recipient",
        env = "LIFEBOAT_AGE_RECIPIENTS",
        value_delimiter = ',',
        global = true
    )]
    pub recipients: Vec<String>,

    /// File of age recipients, one per line.
    #[arg(long, env = "LIFEBOAT_AGE_RECIPIENTS_FILE", global = true)]
    pub recipients_file: Option<PathBuf>,

    /// age identity file (private key), needed only to restore, never to back up.
    #[arg(
        long = "identity",
        short = 'i',
        env = "LIFEBOAT_AGE_IDENTITY_FILE",
        global = true
    )]
    pub identity_file: Option<PathBuf>,

    /// Directory of PostgreSQL client programs (pg_dump, psql) to use.
    #[arg(long, env = "LIFEBOAT_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,

    /// Signing key file (minisign format) that signs what this side writes: needed by init
    /// and backup. Or the key itself in LIFEBOAT_SIGNING_KEY.
    #[arg(long, env = "LIFEBOAT_SIGNING_KEY_FILE", global = true)]
    pub signing_key: Option<PathBuf>,

    /// Public key (RW…) whose signatures restore and show accept; repeat or comma-separate
    /// for rotation. The signing key's own public key is always trusted.
    #[arg(
        long = "trusted-key",
        env = "LIFEBOAT_TRUSTED_KEYS",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_keys: Vec<String>,

    /// File of trusted public keys: RW… lines or minisign .pub files.
    #[arg(long, env = "LIFEBOAT_TRUSTED_KEYS_FILE", global = true)]
    pub trusted_keys_file: Option<PathBuf>,

    /// Break-glass: use backups whose signature is missing or does not verify. Anyone who
    /// could write to the repository could have written them; restoring runs their SQL.
    #[arg(long, global = true)]
    pub insecure_skip_signature: bool,

    /// Prometheus metrics textfile to update after the run (for node-exporter's textfile
    /// collector), e.g. /var/lib/node_exporter/textfile/lifeboat.prom.
    #[arg(
        long,
        env = "LIFEBOAT_METRICS_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub metrics_file: Option<PathBuf>,

    /// If the repository is locked, keep trying this long (e.g. 30s, 10m) before failing.
    #[arg(long, env = "LIFEBOAT_RETRY_LOCK", global = true, value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub retry_lock: Option<std::time::Duration>,
}

#[derive(Args, Debug, Default)]
pub struct SourceArgs {
    /// Source server: a postgres:// URL or libpq keyword string (also DATABASE_URL and the
    /// PG* variables). Prefer PGPASSWORD for the password: command lines are visible to `ps`.
    #[arg(long, env = "LIFEBOAT_SOURCE")]
    pub source: Option<String>,

    /// Database to back up; repeat for several. Default: every non-template database.
    #[arg(
        long = "database",
        short = 'd',
        env = "LIFEBOAT_DATABASES",
        value_delimiter = ','
    )]
    pub databases: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a repository (writes lifeboat.json; refuses an existing repository).
    Init,

    /// Back up databases: schema with pg_dump, rows with parallel COPY, all in one snapshot.
    Backup {
        #[command(flatten)]
        source: SourceArgs,
        /// Parallel connections (default: one per core, at least 2).
        #[arg(long, short = 'j', env = "LIFEBOAT_JOBS")]
        jobs: Option<usize>,
        /// Also back up roles and tablespaces (pg_dumpall --globals-only).
        #[arg(long, env = "LIFEBOAT_GLOBALS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        globals: Option<bool>,
        /// Seconds to wait for a table lock before failing with the table's name; 0 waits.
        #[arg(long, env = "LIFEBOAT_LOCK_TIMEOUT")]
        lock_timeout: Option<u64>,
        /// Split tables larger than this into ranges dumped and restored in parallel.
        #[arg(long, default_value = "256MiB")]
        split_size: String,
        /// zstd level (1–19).
        #[arg(long, default_value_t = 3)]
        compression_level: i32,
        /// zstd worker threads per stream; 0 compresses on the stream's own thread.
        /// Default: cores / jobs when that is 2 or more, else 0.
        #[arg(long)]
        compression_threads: Option<u32>,
        /// A stream continues in a new object past this stored size (default 16GiB), so
        /// memory stays bounded whatever a table's size.
        #[arg(long, env = "LIFEBOAT_SEGMENT_SIZE")]
        segment_size: Option<String>,
        /// Print the manifest as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// List complete backups.
    List {
        #[arg(long)]
        json: bool,
    },

    /// Show a backup: databases, tables, rows, sizes (--json adds every object and checksum).
    Show {
        /// Backup id, a unique prefix of one (e.g. its timestamp), or `latest`.
        backup: String,
        #[arg(long)]
        json: bool,
    },

    /// Restore a database, or some of its tables, into a target server.
    Restore {
        /// Backup id, a unique prefix of one (e.g. its timestamp), or `latest`.
        #[arg(required_unless_present = "at", conflicts_with = "at")]
        backup: Option<String>,
        /// Point in time: restore the newest backup whose consistent point is at or before
        /// TIME (2026-11-24T03:00:00Z; "2026-11-24 03:00" is UTC). Says which backup and how
        /// much data before TIME it lacks, before restoring.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Database of the backup to restore (optional when it holds one).
        #[arg(long, short = 'd')]
        database: Option<String>,
        /// Target: postgres URL of the database to restore into. Prefer PGPASSWORD or a
        /// password file for the password: command lines are visible to `ps`.
        #[arg(long, env = "LIFEBOAT_RESTORE_INTO")]
        into: String,
        /// Create the target database (fails if it exists, unless --clean).
        #[arg(long)]
        create: bool,
        /// Replace what is there. A database is restored beside it and swapped in only once
        /// complete (a failure leaves it untouched); named tables are dropped and recreated
        /// after every object was verified.
        #[arg(long)]
        clean: bool,
        /// Restore only this table (schema.table); repeatable.
        #[arg(long = "table", short = 't')]
        tables: Vec<String>,
        /// Only the schema, no rows.
        #[arg(long, conflicts_with = "data_only")]
        schema_only: bool,
        /// Only rows, sequence values and large objects, into an existing schema.
        #[arg(long)]
        data_only: bool,
        /// Parallel connections (default: one per core, at least 2).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Restore into an older PostgreSQL major than the source (may fail).
        #[arg(long)]
        allow_older_target: bool,
        /// First apply the backup's roles and tablespaces to the target cluster (existing
        /// roles get the backed-up attributes).
        #[arg(long)]
        globals: bool,
        /// Take no repository lock (for read-only credentials); a concurrent prune could
        /// then delete the backup while it is restored.
        #[arg(long)]
        no_lock: bool,
        /// With --clean: keep the replaced database (renamed `<name>_replaced_<x>`) instead of
        /// dropping it once the restore is in place.
        #[arg(long, requires = "clean")]
        keep_old: bool,
        /// Into an existing database (no --create): also apply the backup's database
        /// properties (owner, comment, privileges, ALTER DATABASE/ROLE … SET settings,
        /// connection limit). A database the restore creates always gets them, locale and
        /// default tablespace included.
        #[arg(long)]
        database_properties: bool,
        /// If the target server lacks the backup's locale (or provider), create the
        /// database with the server's default locale, with a warning, instead of failing.
        #[arg(long)]
        locale_fallback: bool,
        /// Print the restore report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// Prove a backup restores: restore, compare, time, record (exit 3 if a check fails)
    ///
    /// Restores the backup into a scratch server (a throwaway local one by default), reads
    /// every table back and compares it with the backup, checks sequences, large objects,
    /// the schema and your [verify] assertions, times every stage (the measured RTO), and
    /// keeps a signed verification record in the repository. Exits 3 if any check fails.
    Verify {
        /// Backup id, a unique prefix of one, or `latest` (the default).
        #[arg(conflicts_with = "at")]
        backup: Option<String>,
        /// Verify the newest backup whose consistent point is at or before TIME.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Database of the backup to verify; repeatable (default: all of them).
        #[arg(long = "database", short = 'd')]
        databases: Vec<String>,
        /// Restore into this server (a URL of any database on it) instead of a throwaway
        /// local one; new databases are created there and dropped after. Never the source.
        #[arg(long, env = "LIFEBOAT_SCRATCH_URL")]
        scratch_url: Option<String>,
        /// Keep the restored databases (and a throwaway server's files) after the checks.
        #[arg(long, conflicts_with = "keep_on_failure")]
        keep: bool,
        /// Keep them only when a check fails, for investigation.
        #[arg(long)]
        keep_on_failure: bool,
        /// Parallel connections (default: one per core, at least 2).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Print the verification record as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// Run a DR drill from a scenario file and write an auditor-ready report
    ///
    /// Chooses the backup, restores and verifies it, measures RPO and RTO against the
    /// scenario's targets, cleans up, and writes the report (Markdown, HTML, JSON) to files
    /// and, signed, into the repository. A failed drill still writes its report. Exit 3 if
    /// a check failed, 7 if a target was missed.
    Drill {
        /// The scenario (TOML; examples in schedules/).
        #[arg(long)]
        scenario: std::path::PathBuf,
        /// Directory for the report files (default: the scenario's report_dir, else `.`).
        #[arg(long)]
        output_dir: Option<std::path::PathBuf>,
        /// Parallel connections (default: one per core, at least 2).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// Check the repository without restoring: descriptor, every manifest and its signature,
    /// every object present at its size; with --read-data, read the data back too.
    Check {
        /// Read every stream back: the stored bytes' SHA-256, and with --identity also
        /// decryption and the plaintext hash.
        #[arg(long, conflicts_with = "read_data_subset")]
        read_data: bool,
        /// Read a deterministic subset: `n/t` (group n of t: 1/7 … 7/7 over a week reads
        /// everything once), `x%`, or a size such as `500MiB` (streams in a fixed order
        /// until that many stored bytes).
        #[arg(long, value_name = "SUBSET")]
        read_data_subset: Option<String>,
        #[arg(long)]
        json: bool,
    },

    /// RPO/RTO compliance report per database (exit 7 on breach)
    ///
    /// From the repository's signed backups and verification records: controls, achieved
    /// figures, status. Exits 7 when a database is in BREACH (after the report is written),
    /// 0 when OK or AT RISK.
    Report {
        /// The window the figures cover, ending now (e.g. 30d, 90d, 12weeks).
        #[arg(long, default_value = "90d", value_name = "DURATION",
              value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        /// table (terminal), markdown, json (docs/report-schema.md) or html (one
        /// self-contained file with charts).
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
        /// Write the report to FILE (atomically: a temporary file renamed into place)
        /// instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Report only this database; repeatable. A named database gets a row even with no
        /// backup (then in BREACH). Default: every database backed up, named in [targets]
        /// or in [source] databases.
        #[arg(long = "database", short = 'd')]
        databases: Vec<String>,
    },

    /// Delete backups (takes the exclusive lock; the manifest goes first, then its objects).
    /// Pinned backups are refused.
    Forget {
        /// Backup ids (or unique prefixes).
        #[arg(required = true)]
        backups: Vec<String>,
    },

    /// Apply the retention policy: plan, show every backup with keep or delete and why,
    /// then delete (exclusive lock; the manifest goes first, then its objects) and remove
    /// crashed runs' debris. The policy comes from --keep-* flags or [retention]; each
    /// database's history is judged on its own; pinned backups and the newest verified
    /// backup of each database are always kept.
    Prune {
        #[command(flatten)]
        policy: PolicyArgs,
        /// Time zone of the calendar periods (IANA name, e.g. Europe/Berlin; default UTC, or
        /// [retention] timezone).
        #[arg(long, env = "LIFEBOAT_TIMEZONE", value_name = "ZONE")]
        timezone: Option<String>,
        /// Keep the newest backup of each database that passed a trusted verification (the
        /// default; overrides `keep_verified = false` in [retention]).
        #[arg(long, conflicts_with = "no_keep_verified")]
        keep_verified: bool,
        /// Do not give verified backups that protection.
        #[arg(long)]
        no_keep_verified: bool,
        /// Show the plan, change nothing (takes no lock).
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Print the plan and what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// Pin a backup: no command deletes it (prune, forget) until `lifeboat unpin`. Without
    /// an id, list the pins.
    Pin {
        /// Backup id, a unique prefix of one, or `latest`.
        #[arg(required_unless_present = "list")]
        backup: Option<String>,
        /// Why it is kept (shown by prune and forget).
        #[arg(long)]
        reason: Option<String>,
        /// List the pinned backups.
        #[arg(long, conflicts_with_all = ["backup", "reason"])]
        list: bool,
    },

    /// Remove a backup's pin, so retention and forget may delete it again.
    Unpin {
        /// Backup id (or a unique prefix of a complete backup).
        backup: String,
    },

    /// Remove stale repository locks (of processes that are gone, or not refreshed for 30
    /// minutes).
    Unlock {
        /// Remove every lock, also those of processes that may still be running.
        #[arg(long)]
        remove_all: bool,
    },

    /// The scheduler daemon: run the [[job]]s of the configuration on their cron schedules,
    /// each as a child `lifeboat` process, and serve /healthz, /readyz, /metrics and
    /// /status on [scheduler] listen. SIGTERM/SIGINT: no new runs, running jobs finish
    /// within [scheduler] grace_period, then are cancelled cleanly; exit 0.
    Run,

    /// Amazon RDS and Aurora: snapshots with DR-region copies, retention, restores
    ///
    /// The targets are [[rds.target]]s of the configuration file; credentials come from the
    /// standard AWS chain; LIFEBOAT_RDS_ENDPOINT (or [rds] endpoint) overrides the endpoint.
    #[command(subcommand)]
    Rds(RdsCommand),

    /// Scheduler tools.
    #[command(subcommand)]
    Schedule(ScheduleCommand),

    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Key tools: age key pairs (encryption) and signing key pairs.
    #[command(subcommand)]
    Key(KeyCommand),

    /// Run the whole job on a throwaway local PostgreSQL: backup, restore, compare, verify.
    Demo {
        /// Keep the temporary directory (server data, key, repository) afterwards.
        #[arg(long)]
        keep: bool,
    },
}

/// `--keep-*`: the retention policy (restic's). Given at all, it replaces [retention]'s.
#[derive(Args, Debug, Default, Clone)]
pub struct PolicyArgs {
    /// Keep the N newest backups (`unlimited` keeps all).
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_last: Option<Keep>,
    /// For the last N hours that have backups, keep the newest of each hour.
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_hourly: Option<Keep>,
    /// For the last N days that have backups, keep the newest of each day.
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_daily: Option<Keep>,
    /// For the last N weeks (Monday to Sunday) that have backups, keep the newest of each.
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_weekly: Option<Keep>,
    /// For the last N months that have backups, keep the newest of each month.
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_monthly: Option<Keep>,
    /// For the last N years that have backups, keep the newest of each year.
    #[arg(long, value_name = "N", value_parser = Keep::parse, allow_negative_numbers = true)]
    pub keep_yearly: Option<Keep>,
    /// Keep every backup newer than the newest backup minus DURATION (e.g. 2d, 36h,
    /// 6months; a bare `m` is refused as ambiguous).
    #[arg(long, value_name = "DURATION", value_parser = lifeboat::retention::parse_within)]
    pub keep_within: Option<std::time::Duration>,
}

impl PolicyArgs {
    /// The policy the flags give, if any flag is given.
    pub fn policy(&self) -> Option<Policy> {
        let given = [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .iter()
        .any(Option::is_some)
            || self.keep_within.is_some();
        given.then(|| Policy {
            last: self.keep_last.unwrap_or_default(),
            hourly: self.keep_hourly.unwrap_or_default(),
            daily: self.keep_daily.unwrap_or_default(),
            weekly: self.keep_weekly.unwrap_or_default(),
            monthly: self.keep_monthly.unwrap_or_default(),
            yearly: self.keep_yearly.unwrap_or_default(),
            within: self.keep_within,
        })
    }
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Markdown,
    Json,
    Html,
}

impl From<ReportFormat> for lifeboat::report::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Table => Self::Table,
            ReportFormat::Markdown => Self::Markdown,
            ReportFormat::Json => Self::Json,
            ReportFormat::Html => Self::Html,
        }
    }
}

/// Which configured RDS targets a command applies to (default: all; restore: the only one).
#[derive(Args, Debug, Default, Clone)]
pub struct RdsWhich {
    /// The [[rds.target]] of this name.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// The target whose DB instance identifier this is.
    #[arg(long, value_name = "ID", conflicts_with = "cluster")]
    pub instance: Option<String>,
    /// The target whose Aurora DB cluster identifier this is.
    #[arg(long, value_name = "ID")]
    pub cluster: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RdsCommand {
    /// Take a manual snapshot, tagged as lifeboat's, wait until available, copy it to each
    /// DR region (with that region's KMS key), wait for the copies, and record the set
    /// (signed) in the repository.
    Snapshot {
        #[command(flatten)]
        which: RdsWhich,
        /// Print the recorded sets as JSON on stdout.
        #[arg(long)]
        json: bool,
    },

    /// lifeboat's snapshots in every configured region: age, size, engine version,
    /// encryption, status, copies, and whether a signed record names them.
    List {
        #[command(flatten)]
        which: RdsWhich,
        #[arg(long)]
        json: bool,
    },

    /// Apply each region's retention policy to lifeboat's snapshots (tagged and recorded;
    /// nothing else is touched); the newest copy in each DR region is always kept.
    Prune {
        #[command(flatten)]
        which: RdsWhich,
        /// Show the plan, delete nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },

    /// Restore into a new DB instance (Aurora: a new cluster and its first instance), to a
    /// point in time or from a snapshot (also a DR-region copy); never touches the source.
    #[command(group(clap::ArgGroup::new("from").required(true).args(["at", "latest", "from_snapshot"])))]
    Restore {
        #[command(flatten)]
        which: RdsWhich,
        /// Point-in-time: restore to TIME (2026-11-24T03:00:00Z; "2026-11-24 03:00" is UTC),
        /// which must be inside the restorable window.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Point-in-time: restore to the latest restorable time.
        #[arg(long)]
        latest: bool,
        /// Restore this snapshot (`newest`: lifeboat's newest available one in --region).
        #[arg(long, value_name = "ID")]
        from_snapshot: Option<String>,
        /// Region of --from-snapshot (a DR region for a failover; default: the source region).
        #[arg(long, requires = "from_snapshot")]
        region: Option<String>,
        /// Name of the new DB instance (Aurora: of the new cluster; its instance is NAME-1).
        #[arg(long, value_name = "NAME")]
        target_instance: String,
        /// DB instance class (e.g. db.r6g.large); default: the source's or the snapshot's.
        #[arg(long)]
        instance_class: Option<String>,
        /// DB subnet group of the new instance.
        #[arg(long)]
        subnet_group: Option<String>,
        /// VPC security group id; repeat or comma-separate.
        #[arg(long = "security-group", value_delimiter = ',')]
        security_groups: Vec<String>,
        /// DB parameter group (Aurora: DB cluster parameter group).
        #[arg(long)]
        parameter_group: Option<String>,
        /// Make the new instance publicly accessible (default: not).
        #[arg(long)]
        publicly_accessible: bool,
        /// Print the API calls it would make, with their parameters; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Validate [scheduler] and every [[job]] (command lines, cron expressions, time zones,
    /// durations) and print each job's next runs in its time zone.
    Check {
        /// How many upcoming runs to print per job.
        #[arg(long, default_value_t = 5, value_name = "N")]
        next: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration, reach PostgreSQL and the repository, print the result
    /// with secrets redacted.
    Check {
        #[command(flatten)]
        source: SourceArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Generate keys: an age key pair (identity file, mode 0600; prints the recipient)
    /// and/or a signing key pair (secret key, mode 0600, and FILE.pub; prints the trusted
    /// public key).
    #[command(arg_required_else_help = true)]
    Generate {
        /// Where to write the age identity (private key).
        #[arg(
            long = "age",
            short = 'o',
            visible_alias = "output",
            value_name = "FILE"
        )]
        output: Option<PathBuf>,
        /// Where to write a signing key (its public key goes to FILE.pub).
        #[arg(long = "signing", value_name = "FILE")]
        signing: Option<PathBuf>,
    },
    /// Print the public key (recipient) of an identity file.
    Public {
        /// The identity file.
        identity: PathBuf,
    },
}
