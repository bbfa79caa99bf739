//! `lifeboat demo`: the whole job on a throwaway PostgreSQL and a local repository, so a
//! newcomer sees a backup restored and compared in a minute, with no cloud and no config.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::config::SourceSettings;
use crate::crypto;
use crate::dump::{self, BackupOptions};
use crate::error::{Error, Result, ToolFailure};
use crate::pipeline::EncodeOptions;
use crate::postgres::{ConnSpec, PgTool, PgTools};
use crate::repository::{RepoLocation, RepoSettings, Repository};
use crate::restore::{self, RestoreOptions};

/// A PostgreSQL server in a temporary directory on a free loopback port. When lifeboat runs
/// as root the server runs as the `postgres` user, since PostgreSQL refuses root.
pub struct TempCluster {
    pub dir: PathBuf,
    pub port: u16,
    pg_ctl: PgTool,
    run_as: Option<String>,
    running: bool,
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

fn server_tools(tools: &PgTools) -> Result<(PgTool, PgTool)> {
    let hint = "the demo needs PostgreSQL's server programs (initdb, pg_ctl, postgres): install \
                them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) \
                or point --pg-bin-dir / LIFEBOAT_PG_BIN_DIR at their directory";
    let initdb = tools.newest("initdb").map_err(|_| Error::Tool {
        tool: "initdb".into(),
        failure: ToolFailure::Missing(hint.into()),
    })?;
    let dir = initdb.path.parent().map(Path::to_path_buf);
    let pg_ctl = PgTools::new(dir)
        .newest("pg_ctl")
        .map_err(|_| Error::Tool {
            tool: "pg_ctl".into(),
            failure: ToolFailure::Missing(hint.into()),
        })?;
    Ok((initdb, pg_ctl))
}

impl TempCluster {
    pub fn start(base: &Path, tools: &PgTools) -> Result<Self> {
        let (initdb, pg_ctl) = server_tools(tools)?;
        let run_as = if is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        let dir = base.join("pgdata");
        std::fs::create_dir_all(base)
            .map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
        if let Some(user) = &run_as {
            // The server's user must reach its directory.
            set_mode(base, 0o755)?;
            let status = Command::new("chown")
                .args([user, &base.display().to_string()])
                .status();
            if !status.map(|s| s.success()).unwrap_or(false) {
                return Err(Error::Tool {
                    tool: "chown".into(),
                    failure: ToolFailure::Unusable(format!(
                        "running as root, the server must run as `{user}`, and that user could \
                         not be given {}; create the user or run lifeboat as a normal user",
                        base.display()
                    )),
                });
            }
        }
        let port = free_port()?;
        let mut cluster = TempCluster {
            dir,
            port,
            pg_ctl,
            run_as,
            running: false,
        };
        cluster.run(
            &initdb.path,
            &[
                "-D",
                &cluster.dir.display().to_string(),
                "-U",
                "lifeboat",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )?;
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.port,
            base.display()
        );
        let log = base.join("server.log").display().to_string();
        let pg_ctl = cluster.pg_ctl.path.clone();
        cluster.run(
            &pg_ctl,
            &[
                "-D",
                &cluster.dir.display().to_string(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )?;
        cluster.running = true;
        Ok(cluster)
    }

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

    pub fn conn(&self, db: &str) -> Result<ConnSpec> {
        ConnSpec::from_url_and_env(Some(&format!(
            "postgres://lifeboat@127.0.0.1:{}/{db}",
            self.port
        )))
    }

    pub fn stop(&mut self) {
        if self.running {
            let pg_ctl = self.pg_ctl.path.clone();
            let dir = self.dir.display().to_string();
            let _ = self.run(
                &pg_ctl,
                &["-D", &dir, "-m", "fast", "-w", "stop"],
                "pg_ctl stop",
            );
            self.running = false;
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port", e))
}

const SAMPLE: &str = "
CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE,
                        created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE products (id serial PRIMARY KEY, title text, price numeric(10,2), attrs jsonb,
                       image bytea);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers(id),
                     product_id int REFERENCES products(id), quantity int CHECK (quantity > 0),
                     ordered_at timestamptz);
CREATE INDEX orders_customer_idx ON orders (customer_id);
INSERT INTO customers (name, email)
  SELECT 'Customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO products (title, price, attrs, image)
  SELECT 'Product ' || g, (g % 500) + 0.99, jsonb_build_object('color', g % 7, 'tags', ARRAY['a', 'b']),
         decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, product_id, quantity, ordered_at)
  SELECT 1 + g % 20000, 1 + g % 500, 1 + g % 5, '2026-01-01'::timestamptz + g * interval '1 minute'
    FROM generate_series(1, 200000) g;
CREATE VIEW big_spenders AS
  SELECT c.name, sum(o.quantity * p.price) AS spent FROM orders o
    JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id
   GROUP BY c.name;
";

/// A fingerprint of every table's contents, to compare source and restored databases.
pub const TABLE_DIGEST_SQL: &str = "
SELECT n.nspname || '.' || c.relname,
       (xpath('/row/c/text()', query_to_xml(format(
          'SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), '''') AS c FROM ONLY %I.%I t',
          n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1";

pub async fn table_digests(conn: &ConnSpec) -> Result<Vec<(String, String)>> {
    let client = conn.connect().await?;
    let rows = client
        .query(TABLE_DIGEST_SQL, &[])
        .await
        .map_err(|e| conn.error("cannot digest tables", &e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub struct DemoOptions {
    pub keep: bool,
    pub pg_bin_dir: Option<PathBuf>,
}

pub async fn run(opts: DemoOptions) -> Result<()> {
    let tools = PgTools::new(opts.pg_bin_dir.clone());
    let base = tempfile::Builder::new()
        .prefix("lifeboat-demo-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory", e))?;
    let root = base.path().to_path_buf();
    println!("lifeboat demo: working in {}", root.display());

    let mut cluster = TempCluster::start(&root.join("server"), &tools)?;
    println!(
        "  started a throwaway PostgreSQL on 127.0.0.1:{}",
        cluster.port
    );
    let admin = cluster.conn("postgres")?.connect().await?;
    admin
        .batch_execute("CREATE DATABASE shop")
        .await
        .map_err(|e| Error::Restore(e.to_string()))?;
    let shop = cluster.conn("shop")?;
    shop.connect()
        .await?
        .batch_execute(SAMPLE)
        .await
        .map_err(|e| shop.error("creating sample data", &e))?;
    println!("  created database `shop`: 20,000 customers, 500 products, 200,000 orders");

    let (identity_text, recipient) = crypto::generate_identity_file();
    let key_path = root.join("demo-key.txt");
    std::fs::write(&key_path, identity_text).map_err(|e| Error::io("writing the demo key", e))?;
    set_mode(&key_path, 0o600)?;
    println!(
        "  generated an age key: {} (public: {recipient})",
        key_path.display()
    );

    let repo_path = root.join("repository");
    let repo = Arc::new(
        Repository::open(&RepoSettings {
            location: RepoLocation::Local(repo_path.clone()),
            endpoint: None,
            region: None,
            path_style: false,
            part_size: crate::config::DEFAULT_PART_SIZE,
            upload_concurrency: 2,
        })
        .await?,
    );
    crate::catalog::init(&repo, vec![crypto::fingerprint(&recipient)]).await?;
    let manifest = dump::backup(
        repo.clone(),
        BackupOptions {
            source: SourceSettings {
                conn: shop.clone(),
                databases: vec!["shop".into()],
                jobs: crate::config::default_jobs(),
                globals: false,
                pg_bin_dir: opts.pg_bin_dir.clone(),
                lock_timeout_secs: 10,
            },
            recipients: vec![recipient],
            encode: EncodeOptions::default(),
            split_bytes: dump::DEFAULT_SPLIT_BYTES,
            progress: crate::progress::Progress::hidden(),
        },
    )
    .await?;
    let secs = (manifest.finished_at - manifest.started_at).num_milliseconds() as f64 / 1000.0;
    println!(
        "  backed up `shop` as {} in {secs:.1}s: {} of data stored as {} (zstd + age) in {}",
        manifest.id,
        human_bytes(manifest.plain_size()),
        human_bytes(manifest.stored_size()),
        repo_path.display()
    );

    let target = cluster.conn("shop_restored")?;
    let identities = crypto::read_identity_file(&key_path)?;
    let report = restore::restore(
        repo.clone(),
        &target,
        identities,
        &RestoreOptions {
            backup: "latest".into(),
            database: Some("shop".into()),
            create: true,
            jobs: crate::config::default_jobs(),
            pg_bin_dir: opts.pg_bin_dir.clone(),
            ..Default::default()
        },
    )
    .await?;
    println!(
        "  restored it into `shop_restored` in {:.1}s: {} tables, {} rows",
        report.seconds, report.tables, report.rows
    );

    let (a, b) = (table_digests(&shop).await?, table_digests(&target).await?);
    let same = a == b;
    for ((name, digest), (_, other)) in a.iter().zip(b.iter()) {
        let rows = digest.split(':').next().unwrap_or("?");
        let mark = if digest == other {
            "identical"
        } else {
            "DIFFERENT"
        };
        println!("    {name:<20} {rows:>8} rows  {mark}");
    }
    cluster.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    if opts.keep {
        let kept = base.keep();
        println!("  kept everything in {} (server stopped)", kept.display());
    } else {
        println!(
            "  removed the temporary server, key and repository (pass --keep to look at them)"
        );
    }
    if same {
        println!("demo passed: the restored database matches the original, row for row.");
        Ok(())
    } else {
        Err(Error::Restore(
            "the restored database differs from the original".into(),
        ))
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
