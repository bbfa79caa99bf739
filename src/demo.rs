//! `lifeboat demo`: the whole job on a throwaway PostgreSQL and a local repository, so a
//! newcomer sees a backup restored and compared in a minute, with no cloud and no config.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::SourceSettings;
use crate::crypto;
use crate::dump::{self, BackupOptions, Tuning};
use crate::error::{Error, Result};
use crate::postgres::{ConnSpec, ScratchCluster};
use crate::repository::{Keys, Repository, Trust};
use crate::restore::{self, RestoreOptions};
use crate::storage::StorageSettings;

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
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
    let base = tempfile::Builder::new()
        .prefix("lifeboat-demo-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory", e))?;
    let root = base.path().to_path_buf();
    println!("lifeboat demo: working in {}", root.display());

    let mut cluster =
        ScratchCluster::start_in(&root.join("server"), opts.pg_bin_dir.clone(), None)?;
    println!(
        "  started a throwaway PostgreSQL {} on 127.0.0.1:{}",
        cluster.major(),
        cluster.port()
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

    let (signing_text, _, signing_key) = crypto::sign::generate()?;
    let signing_path = root.join("demo-signing.key");
    std::fs::write(&signing_path, signing_text)
        .map_err(|e| Error::io("writing the demo signing key", e))?;
    set_mode(&signing_path, 0o600)?;
    println!(
        "  generated a signing key: {} (trusted public key: {})",
        signing_path.display(),
        signing_key.public_base64()
    );

    let repo_path = root.join("repository");
    let keys = Keys {
        trust: Trust {
            keys: vec![signing_key.trusted()],
            skip_check: false,
        },
        signer: Some(Arc::new(signing_key)),
    };
    let repo = Arc::new(Repository::open(&StorageSettings::local(&repo_path), keys).await?);
    repo.init(vec![crypto::fingerprint(&recipient)]).await?;
    let backup_opts = BackupOptions::new(
        SourceSettings {
            conn: shop.clone(),
            databases: vec!["shop".into()],
            jobs: crate::config::default_jobs(),
            globals: false,
            pg_bin_dir: opts.pg_bin_dir.clone(),
            lock_timeout_secs: 10,
        },
        vec![recipient],
        &Tuning {
            // Compression on each stream's own thread: the demo's data is small.
            compression_threads: Some(0),
            ..Default::default()
        },
        crate::progress::Progress::hidden(),
    )?;
    let manifest = dump::backup(repo.clone(), backup_opts).await?;
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

    // The proof lifeboat runs every night: restore on a throwaway server, check, record.
    let verified = crate::verify::verify(
        repo.clone(),
        crypto::read_identity_file(&key_path)?,
        &crate::verify::VerifyOptions {
            which: crate::verify::Which::Named("latest".into()),
            databases: vec!["shop".into()],
            scratch: crate::verify::ScratchChoice::Throwaway {
                bin_dir: opts.pg_bin_dir.clone(),
            },
            keep: crate::verify::Keep::Never,
            jobs: crate::config::default_jobs(),
            assertions: Vec::new(),
            pg_bin_dir: opts.pg_bin_dir.clone(),
            progress: crate::progress::Progress::default(),
            lock: crate::repository::lock::LockOptions::default(),
            cancel: crate::cancel::Cancel::new(),
        },
    )
    .await?;
    let r = &verified.record;
    let checks: Vec<_> = r.databases.iter().flat_map(|d| d.checks.iter()).collect();
    println!(
        "  `lifeboat verify` proved it on a second throwaway server: {} of {} checks passed \
         (every table read back and compared, sequences, schema), measured restore time \
         {:.1}s; signed record {}",
        checks.iter().filter(|c| c.passed).count(),
        checks.len(),
        r.restore_seconds().unwrap_or_default(),
        verified.key
    );
    let same = same && r.passed;
    if let Err(e) = cluster.stop() {
        tracing::warn!(error = %e, "could not stop the demo server");
    }
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
