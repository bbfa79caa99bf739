//! Where `verify` restores: a throwaway local server started for the run (the default, so a
//! cron container needs nothing else), or a configured scratch server — never the source.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::postgres::{self, quote_ident, ConnSpec, ScratchCluster};
use crate::repository::manifest::Manifest;
use crate::repository::records::VerifyTarget;

/// The scratch server asked for.
#[derive(Debug, Clone)]
pub enum ScratchChoice {
    /// Start a local server of the source's major or newer (server programs found like the
    /// client tools, or in `bin_dir`).
    Throwaway { bin_dir: Option<PathBuf> },
    /// An existing server: restores go into new databases, dropped afterwards.
    Server(Box<ConnSpec>),
}

/// A running scratch server.
pub struct Scratch {
    /// The throwaway server, stopped (and its files removed) when dropped.
    cluster: Option<ScratchCluster>,
    /// A connection to its maintenance database.
    maintenance: ConnSpec,
    pub target: VerifyTarget,
    pub version_num: u32,
}

impl Scratch {
    /// Starts (or reaches) the scratch server, refusing the backup's source server.
    pub async fn start(choice: &ScratchChoice, manifest: &Manifest) -> Result<Scratch> {
        let source_major = postgres::major_of(manifest.source.server_version_num);
        let (cluster, maintenance, kind) = match choice {
            ScratchChoice::Throwaway { bin_dir } => {
                let cluster = ScratchCluster::start_as(
                    bin_dir.clone(),
                    Some(source_major),
                    source_user(&manifest.source.server),
                )?;
                let conn = cluster.conn("postgres")?;
                (Some(cluster), conn, "throwaway")
            }
            ScratchChoice::Server(conn) => {
                refuse_source(conn, manifest)?;
                (None, conn.as_ref().clone(), "server")
            }
        };
        let client = maintenance.connect().await?;
        let version_num = postgres::server_version_num(&client, &maintenance).await?;
        if postgres::major_of(version_num) < source_major {
            return Err(Error::config(format!(
                "the scratch server {} runs PostgreSQL {}, older than the source of backup {} \
                 ({}); verify restores into the same major or a newer one",
                maintenance.display(),
                postgres::major_of(version_num),
                manifest.id,
                manifest.source.server_version
            )));
        }
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .map_err(|e| maintenance.error("cannot read the server version", &e))?
            .get(0);
        let (host, port) = maintenance.host_port();
        Ok(Scratch {
            cluster,
            target: VerifyTarget {
                kind: kind.into(),
                server: format!("{}@{host}:{port}", maintenance.user()),
                server_version: version,
            },
            maintenance,
            version_num,
        })
    }

    /// The database a backup's database `name` is restored as: its own name on a throwaway
    /// server (so assertions that name it still work), a fresh name on a shared server.
    pub fn database_for(&self, name: &str) -> String {
        let taken = ["postgres", "template0", "template1"];
        if self.cluster.is_some() && !taken.contains(&name) {
            return name.to_string();
        }
        let suffix: u32 = rand::random();
        let mut base = format!("lifeboat_verify_{name}");
        // Identifiers are cut at 63 bytes; keep room for the suffix, on a char boundary.
        while base.len() > 54 {
            base.pop();
        }
        format!("{base}_{suffix:08x}")
    }

    pub fn conn(&self, database: &str) -> ConnSpec {
        self.maintenance.with_database(database)
    }

    /// Drops a scratch database (the server's connections to it are ended first).
    pub async fn drop_database(&self, database: &str) -> Result<()> {
        let client = self.maintenance.connect().await?;
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        );
        client.batch_execute(&sql).await.map_err(|e| {
            self.maintenance
                .error(&format!("cannot drop {database}"), &e)
        })
    }

    /// Keeps a throwaway server's files after the run and says how to start it again.
    pub fn keep(&mut self) -> Option<String> {
        let cluster = self.cluster.as_mut()?;
        let dir = cluster.keep();
        Some(format!(
            "the scratch server's files are kept in {}; start it with: pg_ctl -D {} -o \
             \"-p {} -k {}\" start, then connect as {} on 127.0.0.1:{}",
            dir.display(),
            dir.join("pgdata").display(),
            cluster.port(),
            dir.display(),
            cluster.user(),
            cluster.port()
        ))
    }
}

/// Refuses a scratch server that is the backup's source: verify loads whole databases and
/// must never compete with (or be confused with) production.
fn refuse_source(scratch: &ConnSpec, manifest: &Manifest) -> Result<()> {
    let (host, port) = scratch.host_port();
    let ours = format!("{}:{port}", canonical_host(&host));
    let source = source_host_port(&manifest.source.server);
    if source.as_deref() == Some(ours.as_str()) {
        return Err(Error::config(format!(
            "the scratch server {} is the source of backup {} ({}): verify must never restore \
             into the source. Set [verify] scratch_url to another server, or leave it unset \
             for a throwaway local server",
            scratch.display(),
            manifest.id,
            manifest.source.server
        )));
    }
    Ok(())
}

/// The role a backup was taken as (`user@host:port/db`): the throwaway server's superuser
/// gets its name, so what that role owned on the source restores with its owner, as it
/// would on a server where it exists. Other roles come only from the backup's globals.
fn source_user(server: &str) -> &str {
    match server.rsplit_once('@') {
        Some((user, _)) if !user.is_empty() => user,
        _ => crate::postgres::cluster::USER,
    }
}

/// `host:port` of a `user@host:port/db` source description.
fn source_host_port(server: &str) -> Option<String> {
    let after_user = server.rsplit_once('@').map_or(server, |(_, h)| h);
    let host_port = after_user.split('/').next()?;
    let (host, port) = host_port.rsplit_once(':')?;
    Some(format!("{}:{port}", canonical_host(host)))
}

fn canonical_host(host: &str) -> String {
    match host.to_ascii_lowercase().as_str() {
        "localhost" | "::1" | "127.0.0.1" => "127.0.0.1".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_recognised_whatever_the_loopback_spelling() {
        assert_eq!(
            source_host_port("postgres@localhost:5432/app").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            source_host_port("app@db.internal:6432/x").as_deref(),
            Some("db.internal:6432")
        );
        assert_eq!(source_host_port("nonsense"), None);
    }
}
