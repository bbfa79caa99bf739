//! Connections to PostgreSQL: one connection description for our own driver and for the
//! PostgreSQL client tools we run, the few catalog questions every command asks, and
//! pg_dump's output read as typed entries ([`toc`]).

pub mod cluster;
mod conn;
mod passfile;
pub mod tls;
pub mod toc;
mod tools;
pub mod wire;

pub use cluster::ScratchCluster;
pub use conn::ConnSpec;
pub use tools::{collect_stderr, PgTool, PgTools};

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// Oldest and newest server majors this build knows. A newer server gets a clear refusal
/// rather than a backup whose fidelity nobody has tested.
pub const OLDEST_MAJOR: u32 = 14;
pub const NEWEST_MAJOR: u32 = 18;

pub async fn server_version_num(client: &Client, conn: &ConnSpec) -> Result<u32> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| conn.error("cannot read server version", &e))?;
    let v: i32 = row.get(0);
    Ok(v as u32)
}

pub fn major_of(version_num: u32) -> u32 {
    version_num / 10000
}

/// Refuses servers this build has not been tested with.
pub fn check_supported(version_num: u32, conn: &ConnSpec, allow_newer: bool) -> Result<()> {
    let major = major_of(version_num);
    if major < OLDEST_MAJOR {
        return Err(Error::Postgres {
            target: conn.display(),
            reason: format!(
                "server major version {major} is not supported (lifeboat supports \
                 {OLDEST_MAJOR}–{NEWEST_MAJOR}); use pg_dump directly"
            ),
        });
    }
    if major > NEWEST_MAJOR && !allow_newer {
        return Err(Error::Postgres {
            target: conn.display(),
            reason: format!(
                "server major version {major} is newer than this lifeboat knows \
                 ({OLDEST_MAJOR}–{NEWEST_MAJOR}); upgrade lifeboat"
            ),
        });
    }
    Ok(())
}

/// Names of all databases that accept connections, templates excluded.
pub async fn list_databases(client: &Client, conn: &ConnSpec) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn \
             ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| conn.error("cannot list databases", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Quotes an identifier the way PostgreSQL's quote_ident does.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Renders a database error with its SQLSTATE detail, without any connection secret.
pub fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                s.push_str(&format!("; hint: {hint}"));
            }
            s
        }
        None => {
            let mut s = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(e) = source {
                s.push_str(&format!(": {e}"));
                source = e.source();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("My \"Table\""), "\"My \"\"Table\"\"\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(major_of(150018), 15);
        assert_eq!(major_of(180001), 18);
    }

    #[test]
    fn only_known_majors_are_backed_up() {
        let conn = ConnSpec::from_url_and_env(Some("postgres://u@h:5432/db")).unwrap();
        assert!(check_supported(140000, &conn, false).is_ok());
        assert!(check_supported(180003, &conn, false).is_ok());
        let newer = check_supported(190000, &conn, false).unwrap_err();
        assert!(newer.to_string().contains("newer than this lifeboat knows"));
        assert_eq!(newer.exit_code(), 5);
        assert!(check_supported(130000, &conn, false)
            .unwrap_err()
            .to_string()
            .contains("not supported"));
    }
}
