use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

use super::tls::{self, TlsMode};
use crate::error::{Error, Result};

/// How to reach a PostgreSQL server: a URL or libpq keyword string, completed from the
/// standard `PG*` environment variables as libpq would.
#[derive(Clone)]
pub struct ConnSpec {
    config: Config,
    tls: TlsMode,
    root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl ConnSpec {
    pub fn from_url_and_env(url: Option<&str>) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        // sslmode and sslrootcert are read here: our driver knows fewer modes than libpq.
        let (cleaned, mode, root_cert) = match url {
            Some(u) => split_tls_params(u),
            None => (String::new(), None, None),
        };
        let tls = match mode.or_else(|| env("PGSSLMODE")) {
            Some(m) => TlsMode::parse(&m)?,
            None => TlsMode::Prefer,
        };
        let root_cert = root_cert
            .or_else(|| env("PGSSLROOTCERT"))
            .map(PathBuf::from);
        let url = url.map(|_| cleaned.as_str());
        let mut config = match url {
            // The value itself is not repeated: it may hold a password in a form that no
            // redaction can be sure to recognise once it is malformed.
            Some(u) => Config::from_str(u).map_err(|e| {
                Error::config(format!(
                    "the PostgreSQL connection string (--source / --into / LIFEBOAT_SOURCE / \
                     DATABASE_URL) is not a postgres:// URL or libpq keyword string: {e}"
                ))
            })?,
            None => Config::new(),
        };
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
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
        Ok(ConnSpec {
            config,
            tls,
            root_cert,
        })
    }

    pub fn with_database(&self, db: &str) -> Self {
        let mut spec = self.clone();
        spec.config.dbname(db);
        spec
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("postgres")
    }

    pub fn host_port(&self) -> (String, u16) {
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
        parts.push(kv("sslmode", self.tls.as_str()));
        if let Some(root) = &self.root_cert {
            parts.push(kv("sslrootcert", &root.display().to_string()));
        }
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

    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    pub fn root_cert(&self) -> Option<&PathBuf> {
        self.root_cert.as_ref()
    }

    /// An error about this server, for a reason that is not a driver error.
    pub fn fail(&self, reason: String) -> Error {
        Error::Postgres {
            target: self.display(),
            reason,
        }
    }

    pub fn error(&self, what: &str, err: &tokio_postgres::Error) -> Error {
        Error::Postgres {
            target: self.display(),
            reason: format!("{what}: {}", super::describe(err)),
        }
    }

    pub async fn connect(&self) -> Result<Client> {
        let config = self.config_with_passfile();
        match tls::connector(self.tls, self.root_cert.as_ref())? {
            None => {
                let (client, connection) = config
                    .connect(NoTls)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                self.spawn(connection);
                Ok(client)
            }
            Some(connector) => {
                let (client, connection) = config
                    .connect(connector)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                self.spawn(connection);
                Ok(client)
            }
        }
    }

    /// Our configuration, with the password from the password file when none was given
    /// (looked up per connection: the database differs from one to the next).
    pub(crate) fn config_with_passfile(&self) -> std::borrow::Cow<'_, Config> {
        if self.config.get_password().is_some() {
            return std::borrow::Cow::Borrowed(&self.config);
        }
        let (host, port) = self.host_port();
        match super::passfile::lookup(&host, port, self.dbname(), self.user()) {
            Some(password) => {
                let mut config = self.config.clone();
                config.password(password);
                std::borrow::Cow::Owned(config)
            }
            None => std::borrow::Cow::Borrowed(&self.config),
        }
    }

    fn spawn<F>(&self, connection: F)
    where
        F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>
            + Send
            + 'static,
    {
        let target = self.display();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%target, error = %e, "connection closed with error");
            }
        });
    }

    fn connect_error(&self, e: tokio_postgres::Error) -> Error {
        {
            let text = super::describe(&e);
            let hint = if e.as_db_error().is_some() {
                ""
            } else if text.contains("password missing") {
                ". Give the password with PGPASSWORD, a password file (~/.pgpass, PGPASSFILE) \
                 or the URL"
            } else if text.contains("TLS") || text.contains("tls") || text.contains("certificate") {
                ". Check sslmode, sslrootcert / PGSSLROOTCERT and the server's certificate"
            } else {
                ". Check that the server is running and the host and port are right"
            };
            Error::Postgres {
                target: self.display(),
                reason: format!("cannot connect: {text}{hint}"),
            }
        }
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query or a keyword string.
fn split_tls_params(text: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let Ok(mut url) = url::Url::parse(text) else {
            return (text.to_string(), None, None);
        };
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| match k.as_ref() {
                "sslmode" => {
                    mode = Some(v.into_owned());
                    None
                }
                "sslrootcert" => {
                    root = Some(v.into_owned());
                    None
                }
                _ => Some((k.into_owned(), v.into_owned())),
            })
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        return (url.to_string(), mode, root);
    }
    let kept: Vec<&str> = text
        .split_whitespace()
        .filter(|t| {
            if let Some(v) = t.strip_prefix("sslmode=") {
                mode = Some(v.trim_matches('\'').to_string());
                false
            } else if let Some(v) = t.strip_prefix("sslrootcert=") {
                root = Some(v.trim_matches('\'').to_string());
                false
            } else {
                true
            }
        })
        .collect();
    (kept.join(" "), mode, root)
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
    fn tls_parameters_are_ours() {
        let c = ConnSpec::from_url_and_env(Some(
            "postgres://app@db/app?sslmode=verify-full&sslrootcert=/etc/rds.pem&connect_timeout=5",
        ))
        .unwrap();
        assert_eq!(c.tls, TlsMode::VerifyFull);
        assert_eq!(c.root_cert, Some(PathBuf::from("/etc/rds.pem")));
        let info = c.libpq_conninfo();
        assert!(
            info.contains("sslmode='verify-full'") && info.contains("sslrootcert='/etc/rds.pem'"),
            "{info}"
        );
        let k = ConnSpec::from_url_and_env(Some("host=db user=app sslmode=require")).unwrap();
        assert_eq!(k.tls, TlsMode::Require);
        assert!(ConnSpec::from_url_and_env(Some("postgres://db/app?sslmode=sometimes")).is_err());
    }

    #[test]
    fn bad_url_error_is_redacted() {
        let err = ConnSpec::from_url_and_env(Some("postgres://u:secret@h:notaport/db"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
