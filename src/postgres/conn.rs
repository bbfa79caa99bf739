use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Error, Result};

/// How to reach a PostgreSQL server: a URL or libpq keyword string, completed from the
/// standard `PG*` environment variables as libpq would.
#[derive(Clone)]
pub struct ConnSpec {
    config: Config,
}

impl std::fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl ConnSpec {
    pub fn from_url_and_env(url: Option<&str>) -> Result<Self> {
        let mut config = match url {
            Some(u) => Config::from_str(u).map_err(|e| {
                Error::config(format!(
                    "source `{}` is not a postgres URL or connection string: {e}",
                    crate::config::redact_url(u)
                ))
            })?,
            None => Config::new(),
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if config.get_hosts().is_empty() {
            let host = env("PGHOST").unwrap_or_else(|| "localhost".into());
            for h in host.split(',') {
                config.host(h);
            }
        }
        if config.get_ports().is_empty() {
            if let Some(p) = env("PGPORT") {
                let port = p
                    .parse()
                    .map_err(|_| Error::config(format!("PGPORT `{p}` is not a port number")))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_dbname().is_none() {
            config.dbname(env("PGDATABASE").as_deref().unwrap_or("postgres"));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("lifeboat");
        }
        Ok(ConnSpec { config })
    }

    pub fn with_database(&self, db: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(db);
        ConnSpec { config }
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("postgres")
    }

    fn host_port(&self) -> (String, u16) {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        (
            host,
            self.config.get_ports().first().copied().unwrap_or(5432),
        )
    }

    /// `user@host:port/db`, never with a password: safe for logs, errors and reports.
    pub fn display(&self) -> String {
        let (host, port) = self.host_port();
        format!("{}@{}:{}/{}", self.user(), host, port, self.dbname())
    }

    /// A libpq keyword string for the client tools, without the password: that goes through
    /// the child's environment (`PGPASSWORD`) so it never shows in a process title.
    pub fn libpq_conninfo(&self) -> String {
        let (host, port) = self.host_port();
        let mut parts = vec![
            kv("host", &host),
            kv("port", &port.to_string()),
            kv("user", self.user()),
            kv("dbname", self.dbname()),
            kv("application_name", "lifeboat"),
        ];
        let ssl = match self.config.get_ssl_mode() {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            _ => "prefer",
        };
        parts.push(kv("sslmode", ssl));
        if let Some(t) = self.config.get_connect_timeout() {
            parts.push(kv("connect_timeout", &t.as_secs().max(1).to_string()));
        }
        parts.join(" ")
    }

    pub fn password(&self) -> Option<String> {
        self.config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    pub fn error(&self, what: &str, err: &tokio_postgres::Error) -> Error {
        Error::Postgres {
            target: self.display(),
            reason: format!("{what}: {}", super::describe(err)),
        }
    }

    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            let hint = if e.as_db_error().is_some() {
                ""
            } else {
                ". Check that the server is running and the host and port are right"
            };
            Error::Postgres {
                target: self.display(),
                reason: format!("cannot connect: {}{hint}", super::describe(&e)),
            }
        })?;
        let target = self.display();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%target, error = %e, "connection closed with error");
            }
        });
        Ok(client)
    }
}

fn kv(key: &str, value: &str) -> String {
    format!(
        "{key}='{}'",
        value.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_has_no_password() {
        let c = ConnSpec::from_url_and_env(Some("postgres://app:pw@db.example:6543/app")).unwrap();
        assert_eq!(c.display(), "app@db.example:6543/app");
        let info = c.libpq_conninfo();
        assert!(info.contains("host='db.example'") && info.contains("port='6543'"));
        assert!(!info.contains("pw"));
        assert_eq!(c.password().as_deref(), Some("pw"));
        assert_eq!(c.with_database("other").dbname(), "other");
    }

    #[test]
    fn bad_url_error_is_redacted() {
        let err = ConnSpec::from_url_and_env(Some("postgres://u:secret@h:notaport/db"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
