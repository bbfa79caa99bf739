//! The library's error type. Every variant renders as one readable sentence that names the
//! thing that failed and, where we can tell, what to do about it. Secrets never reach these
//! messages: connection strings are redacted before they are stored in an error.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),

    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("encryption key: {0}")]
    Key(String),

    #[error(
        "cannot decrypt {object}: {reason}. Check that --identity / LIFEBOAT_AGE_IDENTITY_FILE names \
         a key whose public part was a recipient of this backup"
    )]
    Decrypt { object: String, reason: String },

    #[error("{object} is corrupt: {reason}")]
    Corrupt { object: String, reason: String },

    #[error("repository {repo}: {reason}")]
    Repository { repo: String, reason: String },

    #[error("object {key} not found in repository {repo}")]
    NotFound { repo: String, key: String },

    /// A failure that may pass: the network, a throttling or overloaded store. Retried
    /// (with backoff, and resuming downloads where they broke) before it is reported.
    #[error("repository {repo}: {reason}")]
    Unavailable { repo: String, reason: String },

    #[error("{repo} is not a lifeboat repository (no lifeboat.json); check the repository URL, or create one with `lifeboat init`")]
    NotARepository { repo: String },

    #[error("backup {id} not found in {repo} (or it never completed); see `lifeboat list`")]
    BackupNotFound { repo: String, id: String },

    #[error(
        "{what} is refused: {problem}. Only backups signed by a trusted key are restored, \
         because restoring runs their SQL; check --trusted-key / LIFEBOAT_TRUSTED_KEYS, or \
         for a backup you have verified another way, --insecure-skip-signature"
    )]
    Unauthenticated { what: String, problem: String },

    #[error("check of {repo} found {problems} problem(s), listed above")]
    CheckFailed { repo: String, problems: usize },

    /// `verify` ran and at least one check failed (each is named in its report).
    #[error("verification of backup {backup} failed: {summary}")]
    VerificationFailed { backup: String, summary: String },

    /// A compliance target (RPO, RTO, verification interval, retention) is breached.
    #[error("compliance breach: {summary}")]
    Breach { summary: String },

    /// A pinned backup was named for deletion.
    #[error(
        "backup {id} is pinned ({reason}): pinned backups are never deleted; if it really \
         must go, `lifeboat unpin {id}` first"
    )]
    Pinned { id: String, reason: String },

    /// A run did part of its work, then failed: what it did is complete and valid (exit 8).
    #[error("{error} ({done}; that part is complete; run it again for the rest)")]
    Partial { done: String, error: Box<Error> },

    /// S3 Object Lock still retains it: no one can delete it yet, and lifeboat does not try.
    #[error(
        "{what} is under S3 Object Lock until {until}: it cannot be deleted before then; \
         `lifeboat prune` keeps it and deletes it on a run after that date"
    )]
    Retained { what: String, until: String },

    #[error(
        "repository {repo} is locked by {holder}; wait for it to finish, retry with \
         --retry-lock DURATION, or if that process is gone, remove the lock with `lifeboat unlock`"
    )]
    Locked { repo: String, holder: String },

    #[error("PostgreSQL at {target}: {reason}")]
    Postgres { target: String, reason: String },

    /// A PostgreSQL program (pg_dump, pg_dumpall, initdb…) could not be found or run, or failed.
    #[error("{tool}: {failure}")]
    Tool { tool: String, failure: ToolFailure },

    #[error("backup {0}")]
    Backup(String),

    #[error("restore: {0}")]
    Restore(String),

    /// A worker task of a parallel step panicked or was cancelled.
    #[error("{pool} worker failed: {source}")]
    Worker {
        pool: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },

    /// A notification that could not be delivered. Logged as a warning by the caller,
    /// never a command's result; never contains the webhook's URL.
    #[error("notification: {0}")]
    Notify(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The command was stopped by SIGTERM or SIGINT and cleaned up after itself: nothing
    /// half-written is visible, and its repository lock is released. Exit 143 or 130.
    #[error(
        "cancelled by {}: stopped cleanly, nothing half-written was kept (run it again to \
         complete it)",
        signal.name()
    )]
    Cancelled { signal: crate::cancel::StopSignal },

    /// Amazon RDS refused or failed a call for an RDS target (exit 9). Throttling and
    /// transient failures were retried (with backoff) before this is reported.
    #[error("RDS target `{target}` in {region}: {failure}")]
    Rds {
        target: String,
        region: String,
        failure: Box<RdsFailure>,
    },

    /// An error of a typed kind with a note on what was cleaned up after it.
    #[error("{error} ({note})")]
    Noted { error: Box<Error>, note: String },
}

/// Why an Amazon RDS call failed, classified by the service's error code; each message names
/// what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RdsFailure {
    /// `SnapshotQuotaExceeded`: the account's manual snapshot quota in the region is used up.
    #[error(
        "snapshot quota exceeded while creating {snapshot}: delete old manual snapshots \
         (`lifeboat rds prune`) or ask AWS for a higher quota, then run it again"
    )]
    QuotaExceeded { snapshot: String },

    /// `KMSKeyNotAccessibleFault` (and `InvalidKMSKey…`): the KMS key cannot be used there.
    #[error(
        "the KMS key {key} is not accessible for {snapshot}: it must exist in that region, be \
         enabled, and its key policy must allow this role (kms:CreateGrant, kms:DescribeKey); \
         fix `kms_key_id` of [[rds.target.copy]]"
    )]
    KmsKeyNotAccessible { key: String, snapshot: String },

    /// `InvalidDBInstanceState`, `InvalidDBSnapshotState`, `InvalidDBClusterStateFault`…
    #[error("{what} is in a state that does not allow this ({code}: {message}); wait until it is `available` and run it again")]
    WrongState {
        what: String,
        code: String,
        message: String,
    },

    /// `DBInstanceNotFound`, `DBClusterNotFoundFault`, `DBSnapshotNotFound`…
    #[error(
        "{what} does not exist ({code}); check the identifier and the region in [[rds.target]]"
    )]
    NotFound { what: String, code: String },

    /// The identity lacks a permission (`AccessDenied`, `UnauthorizedOperation`…).
    #[error("access denied for {what} ({code}: {message}); grant the IAM permission it names to lifeboat's role")]
    AccessDenied {
        what: String,
        code: String,
        message: String,
    },

    /// A name that already exists (`DBInstanceAlreadyExists`, `DBSnapshotAlreadyExists`…).
    #[error("{what} already exists ({code}); choose another name")]
    AlreadyExists { what: String, code: String },

    /// Throttling or a transient failure that the retries did not get past.
    #[error("{what}: still failing after {attempts} attempts ({reason}); run it again later")]
    Unavailable {
        what: String,
        attempts: u32,
        reason: String,
    },

    /// A wait for `available` that ran out of time.
    #[error("{what} was not available after {waited} (status {status}); it may still finish: check `lifeboat rds list`, or raise [rds] wait_timeout")]
    Timeout {
        what: String,
        waited: String,
        status: String,
    },

    /// A point-in-time restore outside the restorable window.
    #[error("{at} is outside the restorable window {earliest} to {latest}; choose a time inside it, or restore a snapshot with --from-snapshot")]
    OutsideWindow {
        at: String,
        earliest: String,
        latest: String,
    },

    /// Any other error the service returned.
    #[error("{what}: {code}: {message}")]
    Api {
        what: String,
        code: String,
        message: String,
    },

    /// Something lifeboat itself refuses (a snapshot that is not lifeboat's, no copy…).
    #[error("{0}")]
    Refused(String),
}

/// Why a PostgreSQL program failed, classified once, where its output is read.
#[derive(Debug, thiserror::Error)]
pub enum ToolFailure {
    /// No program of a fitting version was found; says what was found and how to fix it.
    #[error("{0}")]
    Missing(String),

    #[error("cannot start: {0}")]
    Start(#[source] std::io::Error),

    /// Its stdin or stdout could not be taken.
    #[error("no {0}")]
    NoPipe(&'static str),

    /// Something it needs around it is missing (a user to run as, a directory).
    #[error("{0}")]
    Unusable(String),

    /// It exited unsuccessfully; `stderr` is what it printed.
    #[error("failed{} ({status}): {}", against(target), or_no_message(stderr))]
    Exited {
        target: Option<String>,
        status: String,
        stderr: String,
    },

    /// The server hides `pg_authid` (managed services such as RDS), so pg_dumpall cannot
    /// read role passwords; it can still dump roles with `--no-role-passwords`.
    #[error(
        "role passwords are not readable{} ({status}): {}",
        against(target),
        or_no_message(stderr)
    )]
    RolePasswordsHidden {
        target: Option<String>,
        status: String,
        stderr: String,
    },
}

fn against(target: &Option<String>) -> String {
    target
        .as_ref()
        .map(|t| format!(" against {t}"))
        .unwrap_or_default()
}

fn or_no_message(stderr: &str) -> &str {
    if stderr.is_empty() {
        "no message"
    } else {
        stderr
    }
}

impl ToolFailure {
    /// Classifies an unsuccessful exit by what the program printed on stderr (a program's
    /// only account of why it failed: there is no SQLSTATE to read).
    pub fn exited(target: Option<String>, status: String, stderr: String) -> Self {
        if stderr.contains("pg_authid") {
            ToolFailure::RolePasswordsHidden {
                target,
                status,
                stderr,
            }
        } else {
            ToolFailure::Exited {
                target,
                status,
                stderr,
            }
        }
    }
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    /// Appends a note (what was cleaned up) to the message, keeping the error's class.
    pub fn with_note(self, note: &str) -> Self {
        match self {
            Error::Config(m) => Error::Config(format!("{m} ({note})")),
            Error::Key(m) => Error::Key(format!("{m} ({note})")),
            Error::Decrypt { object, reason } => Error::Decrypt {
                object,
                reason: format!("{reason} ({note})"),
            },
            Error::Corrupt { object, reason } => Error::Corrupt {
                object,
                reason: format!("{reason} ({note})"),
            },
            Error::Repository { repo, reason } => Error::Repository {
                repo,
                reason: format!("{reason} ({note})"),
            },
            Error::Unavailable { repo, reason } => Error::Unavailable {
                repo,
                reason: format!("{reason} ({note})"),
            },
            Error::Postgres { target, reason } => Error::Postgres {
                target,
                reason: format!("{reason} ({note})"),
            },
            rds @ Error::Rds { .. } => Error::Noted {
                error: Box::new(rds),
                note: note.to_string(),
            },
            tool @ Error::Tool { .. } => Error::Noted {
                error: Box::new(tool),
                note: note.to_string(),
            },
            Error::Backup(m) => Error::Backup(format!("{m} ({note})")),
            Error::Restore(m) => Error::Restore(format!("{m} ({note})")),
            Error::NotFound { repo, key } => Error::Repository {
                repo,
                reason: format!("object {key} not found ({note})"),
            },
            Error::Unauthenticated { what, problem } => Error::Unauthenticated {
                what,
                problem: format!("{problem} ({note})"),
            },
            cancelled @ Error::Cancelled { .. } => cancelled,
            other => Error::Restore(format!("{other} ({note})")),
        }
    }

    /// Whether trying again may succeed (see [`Error::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::Noted { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// Process exit code for this error class, so scripts can tell a bad invocation from a
    /// damaged backup from an unreachable service.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::ReadFile { .. } | Error::Key(_) => 2,
            Error::Decrypt { .. }
            | Error::Corrupt { .. }
            | Error::Unauthenticated { .. }
            | Error::CheckFailed { .. }
            | Error::VerificationFailed { .. } => 3,
            Error::Repository { .. }
            | Error::Unavailable { .. }
            | Error::NotFound { .. }
            | Error::NotARepository { .. } => 4,
            Error::Postgres { .. } | Error::Tool { .. } => 5,
            Error::Locked { .. } => 6,
            Error::Breach { .. } => 7,
            Error::Partial { .. } => 8,
            Error::Rds { .. } => 9,
            Error::Backup(_)
            | Error::Restore(_)
            | Error::BackupNotFound { .. }
            | Error::Pinned { .. }
            | Error::Retained { .. }
            | Error::Worker { .. }
            | Error::Notify(_)
            | Error::Io { .. } => 1,
            Error::Cancelled { signal } => signal.exit_code(),
            Error::Noted { error, .. } => error.exit_code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_role_passwords_are_classified_from_the_tools_stderr() {
        let stderr = "pg_dumpall: error: query failed: ERROR:  permission denied for table \
                      pg_authid"
            .to_string();
        let failure = ToolFailure::exited(Some("db".into()), "exit status: 1".into(), stderr);
        assert!(matches!(failure, ToolFailure::RolePasswordsHidden { .. }));
        let other = ToolFailure::exited(None, "exit status: 1".into(), String::new());
        assert!(matches!(other, ToolFailure::Exited { .. }));
        assert_eq!(other.to_string(), "failed (exit status: 1): no message");
        let err = Error::Tool {
            tool: "pg_dumpall 15".into(),
            failure,
        };
        assert_eq!(err.exit_code(), 5);
        let noted = err.with_note("cleaned up");
        assert_eq!(noted.exit_code(), 5);
        assert!(noted.to_string().ends_with("(cleaned up)"), "{noted}");
    }

    #[test]
    fn exit_codes_by_class() {
        assert_eq!(Error::config("x").exit_code(), 2);
        assert_eq!(Error::Key("x".into()).exit_code(), 2);
        let corrupt = Error::Corrupt {
            object: "o".into(),
            reason: "r".into(),
        };
        assert_eq!(corrupt.exit_code(), 3);
        let repo = Error::NotFound {
            repo: "r".into(),
            key: "k".into(),
        };
        assert_eq!(repo.exit_code(), 4);
        assert_eq!(repo.with_note("n").exit_code(), 4);
        let pg = Error::Postgres {
            target: "t".into(),
            reason: "r".into(),
        };
        assert_eq!(pg.exit_code(), 5);
        assert_eq!(Error::Restore("x".into()).exit_code(), 1);
        let rds = Error::Rds {
            target: "orders".into(),
            region: "eu-west-1".into(),
            failure: Box::new(RdsFailure::QuotaExceeded {
                snapshot: "lifeboat-orders-x".into(),
            }),
        };
        assert_eq!(rds.exit_code(), 9);
        assert!(
            rds.to_string()
                .starts_with("RDS target `orders` in eu-west-1: snapshot quota exceeded"),
            "{rds}"
        );
        assert_eq!(rds.with_note("n").exit_code(), 9);
    }
}
