//! Finding PostgreSQL's client programs (pg_dump, psql, initdb…) of a fitting major version:
//! the commonest failure of dump scripts is "server version X; pg_dump version Y — aborting".

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result, ToolFailure};

#[derive(Debug, Clone)]
pub struct PgTool {
    pub path: PathBuf,
    pub major: u32,
}

#[derive(Debug, Clone, Default)]
pub struct PgTools {
    /// A directory the user named; when set, only it is searched.
    pub configured: Option<PathBuf>,
}

impl PgTools {
    pub fn new(configured: Option<PathBuf>) -> Self {
        PgTools { configured }
    }

    /// Directories to search, in order: the configured one alone, else PATH, then the
    /// usual package locations (Debian/Ubuntu, RHEL, Homebrew).
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        if let Some(dir) = &self.configured {
            return vec![dir.clone()];
        }
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        for pattern in ["/usr/lib/postgresql", "/usr"] {
            if let Ok(entries) = std::fs::read_dir(pattern) {
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        pattern == "/usr/lib/postgresql" || name.starts_with("pgsql-")
                    })
                    .map(|p| p.join("bin"))
                    .collect();
                found.sort();
                dirs.extend(found);
            }
        }
        dirs.push(PathBuf::from("/opt/homebrew/bin"));
        dirs
    }

    fn candidates(&self, tool: &str) -> Vec<PgTool> {
        let mut out: Vec<PgTool> = Vec::new();
        for dir in self.search_dirs() {
            let path = dir.join(tool);
            if !path.is_file() {
                continue;
            }
            if let Some(major) = tool_major(&path) {
                let canonical = path.canonicalize().unwrap_or(path.clone());
                if !out
                    .iter()
                    .any(|t| t.path.canonicalize().ok() == Some(canonical.clone()))
                {
                    out.push(PgTool { path, major });
                }
            }
        }
        out
    }

    /// The tool of the lowest major that is at least `min_major` (pg_dump must be as new as
    /// the server; the closest version produces the most faithful dump for that server).
    pub fn at_least(&self, tool: &str, min_major: u32) -> Result<PgTool> {
        let all = self.candidates(tool);
        all.iter()
            .filter(|t| t.major >= min_major)
            .min_by_key(|t| t.major)
            .cloned()
            .ok_or_else(|| self.missing(tool, Some(min_major), &all))
    }

    /// The newest available tool (psql: newer ones read everything older pg_dumps write).
    pub fn newest(&self, tool: &str) -> Result<PgTool> {
        let all = self.candidates(tool);
        all.iter()
            .max_by_key(|t| t.major)
            .cloned()
            .ok_or_else(|| self.missing(tool, None, &all))
    }

    fn missing(&self, tool: &str, min_major: Option<u32>, found: &[PgTool]) -> Error {
        let want = match min_major {
            Some(m) => format!("{tool} of PostgreSQL {m} or newer"),
            None => tool.to_string(),
        };
        let seen = if found.is_empty() {
            "none found".to_string()
        } else {
            let list: Vec<String> = found
                .iter()
                .map(|t| format!("{} ({})", t.path.display(), t.major))
                .collect();
            format!("found only {}", list.join(", "))
        };
        let install = match min_major {
            Some(m) => format!(
                "install the PostgreSQL {m} client (Debian/Ubuntu: postgresql-client-{m}) or point \
                 --pg-bin-dir / LIFEBOAT_PG_BIN_DIR at its bin directory"
            ),
            None => "install the PostgreSQL client (Debian/Ubuntu: postgresql-client) or set \
                     --pg-bin-dir / LIFEBOAT_PG_BIN_DIR"
                .to_string(),
        };
        Error::Tool {
            tool: tool.to_string(),
            failure: ToolFailure::Missing(format!("need {want}; {seen}. To fix: {install}")),
        }
    }
}

/// Runs `tool --version` ("pg_dump (PostgreSQL) 15.18 (Debian …)") and reads the major.
pub fn tool_major(path: &Path) -> Option<u32> {
    let out = Command::new(path).arg("--version").output().ok()?;
    parse_version_major(&String::from_utf8_lossy(&out.stdout))
}

fn parse_version_major(text: &str) -> Option<u32> {
    let after = text.split(')').nth(1)?.trim();
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Variables of lifeboat's environment that the client tools never get.
const SECRET_ENV: &[&str] = &[
    "LIFEBOAT_SOURCE",
    "LIFEBOAT_RESTORE_INTO",
    "DATABASE_URL",
    "LIFEBOAT_AGE_IDENTITY_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

impl PgTool {
    /// A command for this tool that reaches `conn`, with the password passed through the
    /// child's environment, never on its command line where `ps` would show it.
    pub fn command(&self, conn: &super::ConnSpec) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.path);
        // The tools need the connection's password and nothing else of ours: psql runs SQL
        // that comes from a backup, so it does not see other secrets in its environment.
        for var in SECRET_ENV {
            cmd.env_remove(var);
        }
        if let Some(pw) = conn.password() {
            cmd.env("PGPASSWORD", pw);
        }
        cmd.env("PGAPPNAME", "lifeboat")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Starts the tool with `args`, its stdin piped if `stdin`, and collects its stderr in
    /// the background for error messages.
    pub fn spawn(
        &self,
        conn: &super::ConnSpec,
        args: &[&str],
        stdin: bool,
    ) -> crate::error::Result<(tokio::process::Child, tokio::task::JoinHandle<String>)> {
        let mut cmd = self.command(conn);
        cmd.args(args);
        if stdin {
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null());
        }
        let mut child = cmd.spawn().map_err(|e| Error::Tool {
            tool: self.path.display().to_string(),
            failure: ToolFailure::Start(e),
        })?;
        let stderr = tokio::spawn(collect_stderr(child.stderr.take()));
        Ok((child, stderr))
    }

    /// The error for an unsuccessful exit against `conn`, classified by its stderr.
    pub fn exit_error(
        &self,
        conn: &super::ConnSpec,
        status: std::process::ExitStatus,
        stderr: String,
    ) -> Error {
        Error::Tool {
            tool: format!("{} {}", self.name(), self.major),
            failure: ToolFailure::exited(Some(conn.display()), status.to_string(), stderr),
        }
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Collects a child's stderr (the first 16 KiB) for error messages.
pub async fn collect_stderr(stderr: Option<tokio::process::ChildStderr>) -> String {
    use tokio::io::AsyncReadExt;
    let Some(mut err) = stderr else {
        return String::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = err.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        if buf.len() < 16 * 1024 {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    String::from_utf8_lossy(&buf).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::parse_version_major;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version_major("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_version_major("psql (PostgreSQL) 18.1\n"), Some(18));
        assert_eq!(
            parse_version_major("postgres (PostgreSQL) 17beta2"),
            Some(17)
        );
        assert_eq!(parse_version_major("nonsense"), None);
    }
}
