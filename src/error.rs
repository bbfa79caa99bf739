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

    #[error("PostgreSQL at {target}: {reason}")]
    Postgres { target: String, reason: String },

    #[error("{tool}: {reason}")]
    Tool { tool: String, reason: String },

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

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
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
            Error::Postgres { target, reason } => Error::Postgres {
                target,
                reason: format!("{reason} ({note})"),
            },
            Error::Tool { tool, reason } => Error::Tool {
                tool,
                reason: format!("{reason} ({note})"),
            },
            Error::Backup(m) => Error::Backup(format!("{m} ({note})")),
            Error::Restore(m) => Error::Restore(format!("{m} ({note})")),
            Error::NotFound { repo, key } => Error::Repository {
                repo,
                reason: format!("object {key} not found ({note})"),
            },
            other => Error::Restore(format!("{other} ({note})")),
        }
    }

    /// Process exit code for this error class, so scripts can tell a bad invocation from a
    /// damaged backup from an unreachable service.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::ReadFile { .. } | Error::Key(_) => 2,
            Error::Decrypt { .. } | Error::Corrupt { .. } => 3,
            Error::Repository { .. } | Error::NotFound { .. } => 4,
            Error::Postgres { .. } | Error::Tool { .. } => 5,
            Error::Backup(_) | Error::Restore(_) | Error::Worker { .. } | Error::Io { .. } => 1,
        }
    }
}
