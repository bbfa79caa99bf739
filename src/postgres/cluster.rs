//! A throwaway PostgreSQL server: initdb in a directory, started on a free loopback port,
//! stopped when dropped. `lifeboat demo` runs on one; a restore check can too.
//!
//! When lifeboat runs as root the server runs as the `postgres` user, since PostgreSQL
//! refuses root.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ConnSpec, PgTool, PgTools};
use crate::error::{Error, Result, ToolFailure};

/// The login role of a scratch cluster (trusted on its loopback port), unless started with
/// another bootstrap superuser name.
pub const USER: &str = "lifeboat";

pub struct ScratchCluster {
    /// Holds the server's data directory, its socket and its log.
    base: PathBuf,
    port: u16,
    major: u32,
    pg_ctl: PgTool,
    run_as: Option<String>,
    /// The bootstrap superuser, who logs in (trusted on loopback).
    user: String,
    running: bool,
    /// A directory of our own, removed after the server stops (fields drop after `drop`).
    _temp: Option<tempfile::TempDir>,
}

impl ScratchCluster {
    /// Starts a server in a new temporary directory, removed when the cluster is dropped.
    /// `bin_dir`: where initdb, pg_ctl and postgres are (default: searched as for every
    /// client tool); `major_at_least`: the lowest major that will do (default: the newest
    /// installed).
    pub fn start(bin_dir: Option<PathBuf>, major_at_least: Option<u32>) -> Result<Self> {
        Self::start_as(bin_dir, major_at_least, USER)
    }

    /// Like [`ScratchCluster::start`], with `user` as the bootstrap superuser's name (verify
    /// names it after the role the backup was taken as, which owns objects on the source).
    pub fn start_as(
        bin_dir: Option<PathBuf>,
        major_at_least: Option<u32>,
        user: &str,
    ) -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("lifeboat-cluster-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        let mut cluster = Self::start_in_as(temp.path(), bin_dir, major_at_least, user)?;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    /// Starts a server in `base` (created if missing), which is left in place.
    pub fn start_in(
        base: &Path,
        bin_dir: Option<PathBuf>,
        major_at_least: Option<u32>,
    ) -> Result<Self> {
        Self::start_in_as(base, bin_dir, major_at_least, USER)
    }

    fn start_in_as(
        base: &Path,
        bin_dir: Option<PathBuf>,
        major_at_least: Option<u32>,
        user: &str,
    ) -> Result<Self> {
        let (initdb, pg_ctl) = server_tools(&PgTools::new(bin_dir), major_at_least)?;
        let run_as = is_root().then(|| "postgres".to_string());
        prepare_dir(base, run_as.as_deref())?;
        let mut cluster = ScratchCluster {
            base: base.to_path_buf(),
            port: free_port()?,
            major: initdb.major,
            pg_ctl,
            run_as,
            user: user.to_string(),
            running: false,
            _temp: None,
        };
        cluster.init(&initdb)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's major version.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The bootstrap superuser.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The directory holding the server's files.
    pub fn dir(&self) -> &Path {
        &self.base
    }

    /// Keeps the directory after the cluster is dropped, and returns it.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(temp) = self._temp.take() {
            let _ = temp.keep();
        }
        self.base.clone()
    }

    /// A URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        let user: String = self
            .user
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn conn(&self, db: &str) -> Result<ConnSpec> {
        ConnSpec::from_url_and_env(Some(&self.url(db)))
    }

    /// Stops the server (fast shutdown). Stopping a stopped cluster does nothing.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let pg_ctl = self.pg_ctl.path.clone();
        let data = self.data_dir().display().to_string();
        self.run(
            &pg_ctl,
            &["-D", &data, "-m", "fast", "-w", "stop"],
            "pg_ctl stop",
        )
    }

    fn data_dir(&self) -> PathBuf {
        self.base.join("pgdata")
    }

    fn init(&self, initdb: &PgTool) -> Result<()> {
        let data = self.data_dir().display().to_string();
        self.run(
            &initdb.path,
            &[
                "-D",
                &data,
                "-U",
                &self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
    }

    fn start_server(&mut self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.base.display()
        );
        let log = self.base.join("server.log").display().to_string();
        let data = self.data_dir().display().to_string();
        let pg_ctl = self.pg_ctl.path.clone();
        self.run(
            &pg_ctl,
            &[
                "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "60", "start",
            ],
            "pg_ctl start",
        )?;
        self.running = true;
        Ok(())
    }

    /// Runs a server program, as the server's user when we are root.
    fn run(&self, program: &Path, args: &[&str], what: &str) -> Result<()> {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let out = cmd.args(args).output().map_err(|e| Error::Tool {
            tool: what.into(),
            failure: ToolFailure::Start(e),
        })?;
        if !out.status.success() {
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
            return Err(Error::Tool {
                tool: what.into(),
                failure: ToolFailure::exited(None, out.status.to_string(), printed),
            });
        }
        Ok(())
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, dir = %self.base.display(), "could not stop the scratch cluster");
        }
    }
}

/// initdb (of the wanted major) and the pg_ctl beside it.
fn server_tools(tools: &PgTools, major_at_least: Option<u32>) -> Result<(PgTool, PgTool)> {
    let version = major_at_least
        .map(|m| format!(" of PostgreSQL {m} or newer"))
        .unwrap_or_default();
    let hint = format!(
        "a scratch PostgreSQL server needs the server programs{version} (initdb, pg_ctl, \
         postgres): install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew \
         install postgresql) or point --pg-bin-dir / LIFEBOAT_PG_BIN_DIR at their directory"
    );
    let missing = |tool: &str| Error::Tool {
        tool: tool.into(),
        failure: ToolFailure::Missing(hint.clone()),
    };
    let initdb = match major_at_least {
        Some(m) => tools.at_least("initdb", m),
        None => tools.newest("initdb"),
    }
    .map_err(|_| missing("initdb"))?;
    let dir = initdb.path.parent().map(Path::to_path_buf);
    let pg_ctl = PgTools::new(dir)
        .newest("pg_ctl")
        .map_err(|_| missing("pg_ctl"))?;
    Ok((initdb, pg_ctl))
}

/// Creates `base`; as root, hands it to the server's user.
fn prepare_dir(base: &Path, run_as: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(base)
        .map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
    let Some(user) = run_as else {
        return Ok(());
    };
    // The server's user must reach its directory.
    set_mode(base, 0o755)?;
    let status = Command::new("chown")
        .args([user, &base.display().to_string()])
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        return Err(Error::Tool {
            tool: "chown".into(),
            failure: ToolFailure::Unusable(format!(
                "running as root, the server must run as `{user}`, and that user could not be \
                 given {}; create the user or run lifeboat as a normal user",
                base.display()
            )),
        });
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

fn is_root() -> bool {
    crate::repository::liveness::uid() == Some(0)
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port", e))
}
