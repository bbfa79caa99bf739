//! Test harness: the shared real servers started by tests/servers.sh, fresh databases and
//! repositories per test, and a way to run the lifeboat binary as users do.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DEFAULT_MAJOR: u32 = 15;

fn env_or_die(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the tests need the real servers that tests/run.sh starts \
             (run `tests/run.sh`, or `tests/servers.sh start && source target/test-servers/env`)"
        )
    })
}

/// A PostgreSQL server of the test cluster set.
#[derive(Clone)]
pub struct Pg {
    pub major: u32,
    /// URL of the `postgres` database, superuser, trust auth.
    pub url: String,
    pub bin: PathBuf,
}

pub fn pg(major: u32) -> Pg {
    Pg {
        major,
        url: env_or_die(&format!("LIFEBOAT_TEST_PG{major}_URL")),
        bin: PathBuf::from(env_or_die(&format!("LIFEBOAT_TEST_PG{major}_BIN"))),
    }
}

pub fn pg15() -> Pg {
    pg(DEFAULT_MAJOR)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique across concurrently running test processes.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl Pg {
    pub fn db_url(&self, db: &str) -> String {
        let base = self
            .url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.url);
        format!("{base}/{db}")
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = std::process::Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.db_url(db),
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn psql_file(&self, db: &str, file: &Path) {
        let out = std::process::Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.db_url(db),
                "-f",
            ])
            .arg(file)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql -f {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates an empty database with a unique name.
    pub fn create_db(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE template0"),
        );
        name
    }

    pub fn schema_dump(&self, db: &str) -> String {
        let out = std::process::Command::new(self.bin.join("pg_dump"))
            .arg("--schema-only")
            .args(["-d", &self.db_url(db)])
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        normalize_dump(&String::from_utf8_lossy(&out.stdout))
    }

    /// Every row of every table, as digests per table (count and md5 of all rows sorted).
    pub fn table_digests(&self, db: &str) -> String {
        self.psql(db, lifeboat::demo::TABLE_DIGEST_SQL)
    }
}

/// Removes only what must differ between two dumps of equal databases: pg_dump's
/// `\restrict` keys (random per run).
pub fn normalize_dump(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `ready` until it holds while `child` still runs; fails if `child` ends first or a
/// minute passes (`what` says what was awaited).
pub fn wait_while_running(
    child: &mut std::process::Child,
    what: &str,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process ended before: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Copies a directory tree (a repository, to tamper with or to use without changing it).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// An age key pair and a signing key pair in a temp dir.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub recipient: String,
    /// The secret signing key (minisign format) and its public key file, `.pub`.
    pub signing: PathBuf,
    pub signing_pub: PathBuf,
    /// The public signing key, `RW…`.
    pub trusted: String,
}

pub fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (text, public) = lifeboat::crypto::generate_identity_file();
    let identity = dir.path().join("key.txt");
    std::fs::write(&identity, text).unwrap();
    let (secret, public_file, key) = lifeboat::crypto::sign::generate().unwrap();
    let signing = dir.path().join("signing.key");
    let signing_pub = dir.path().join("signing.key.pub");
    std::fs::write(&signing, secret).unwrap();
    std::fs::write(&signing_pub, public_file).unwrap();
    Keys {
        dir,
        identity,
        recipient: public.to_string(),
        signing,
        signing_pub,
        trusted: key.public_base64(),
    }
}

/// The key of a stream's first (usually only) stored object, from a manifest's JSON.
pub fn first_key(stream: &serde_json::Value) -> String {
    stream["parts"][0]["key"]
        .as_str()
        .expect("a stream with parts")
        .to_string()
}

/// A repository location plus the environment lifeboat needs to reach it.
pub struct Repo {
    pub url: String,
    pub env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
    pub local: Option<PathBuf>,
}

impl Repo {
    /// The bucket of an S3 repository.
    pub fn bucket(&self) -> String {
        let rest = self.url.trim_start_matches("s3://");
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

pub fn local_repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    Repo {
        url: path.display().to_string(),
        env: vec![],
        local: Some(path),
        _dir: Some(dir),
    }
}

pub fn s3_endpoint() -> String {
    env_or_die("LIFEBOAT_TEST_S3_ENDPOINT")
}

/// A fresh bucket on the moto server (S3 API over HTTP, path-style).
pub fn s3_repo() -> Repo {
    let bucket = unique("bkt").replace('_', "-");
    create_bucket(&bucket);
    s3_repo_in(&bucket)
}

pub fn s3_repo_in(bucket: &str) -> Repo {
    Repo {
        url: format!("s3://{bucket}/nightly"),
        env: vec![
            ("LIFEBOAT_S3_ENDPOINT".into(), s3_endpoint()),
            ("LIFEBOAT_S3_PATH_STYLE".into(), "true".into()),
        ],
        local: None,
        _dir: None,
    }
}

/// A plain S3 client for the moto server, to look behind lifeboat's back.
pub fn s3_client() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(s3_endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn create_bucket(bucket: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        s3_client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket on moto");
    });
}

/// Runs the lifeboat binary with a clean lifeboat environment plus `env`.
pub fn lifeboat(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT_") && !k.starts_with("LIFEBOAT_TEST") {
            cmd.env_remove(k);
        }
    }
    cmd.env("LIFEBOAT_LOG", "lifeboat=info,warn");
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.output().expect("lifeboat runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "lifeboat failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a failure with this exit code whose stderr mentions every `needle`.
#[track_caller]
pub fn fails(out: Output, code: i32, needles: &[&str]) -> String {
    let t = text(&out);
    assert_eq!(out.status.code(), Some(code), "wrong exit code:\n{t}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`:\n{t}");
    }
    err
}

/// A configured setup: keys + repository + source server, as environment for the CLI.
pub struct Setup {
    pub keys: Keys,
    pub repo: Repo,
    pub pg: Pg,
}

impl Setup {
    pub fn new(pg: Pg, repo: Repo) -> Self {
        let s = Setup {
            keys: keys(),
            repo,
            pg,
        };
        ok(s.run(&["init"]));
        s
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.repo.env.clone();
        env.push(("LIFEBOAT_REPO".into(), self.repo.url.clone()));
        env.push((
            "LIFEBOAT_AGE_RECIPIENTS".into(),
            self.keys.recipient.clone(),
        ));
        env.push((
            "LIFEBOAT_AGE_IDENTITY_FILE".into(),
            self.keys.identity.display().to_string(),
        ));
        env.push((
            "LIFEBOAT_SIGNING_KEY_FILE".into(),
            self.keys.signing.display().to_string(),
        ));
        env.push((
            "LIFEBOAT_PG_BIN_DIR".into(),
            self.pg.bin.display().to_string(),
        ));
        env
    }

    pub fn run(&self, args: &[&str]) -> Output {
        lifeboat(args, &self.env())
    }

    /// This setup's environment with another directory of PostgreSQL client programs (a
    /// restore or verification into a server of another major).
    pub fn env_with_pg_bin(&self, bin: &Path) -> Vec<(String, String)> {
        let mut env = self.env();
        env.retain(|(k, _)| k != "LIFEBOAT_PG_BIN_DIR");
        env.push(("LIFEBOAT_PG_BIN_DIR".into(), bin.display().to_string()));
        env
    }

    /// Starts lifeboat with this setup's environment, in the background, output discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(args)
            .envs(self.env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("lifeboat starts")
    }

    /// Starts a backup of `db` in the background with one job (slow on purpose, for tests
    /// that interrupt or contend with it); `extra` adds flags (`--compression-level 19`…).
    pub fn spawn_backup(&self, db: &str, extra: &[&str]) -> std::process::Child {
        let url = self.pg.db_url(db);
        let mut args = vec!["backup", "--source", &url, "--database", db, "--jobs", "1"];
        args.extend_from_slice(extra);
        self.spawn(&args)
    }

    pub fn backup(&self, db: &str, extra: &[&str]) -> serde_json::Value {
        let url = self.pg.db_url(db);
        let mut args = vec!["backup", "--source", &url, "--database", db, "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(self.run(&args))).expect("manifest json")
    }

    /// Restores `db` of backup `id` into a new database; returns its name.
    pub fn restore_new(&self, id: &str, db: &str, extra: &[&str]) -> String {
        let target = unique("restored");
        let url = self.pg.db_url(&target);
        let mut args = vec!["restore", id, "--database", db, "--into", &url, "--create"];
        args.extend_from_slice(extra);
        ok(self.run(&args));
        target
    }
}

/// Sends SIGTERM to a process, as an orchestrator stopping it would.
pub fn sigterm(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {pid} failed");
}

/// The database's own properties, as comparable text: owner, locale, flags, comment,
/// privileges (the defaults spelled out when `datacl` is NULL) and settings.
pub const DATABASE_PROPERTIES: &str =
    "SELECT pg_catalog.pg_get_userbyid(d.datdba), d.datcollate, d.datctype,
        d.datconnlimit, d.datistemplate, d.datallowconn,
        pg_catalog.shobj_description(d.oid, 'pg_database'),
        (SELECT string_agg(x, ',' ORDER BY x) FROM (
           SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                       ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END
                  || '=' || a.privilege_type || '/' || pg_catalog.pg_get_userbyid(a.grantor)
                  || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS x
             FROM pg_catalog.aclexplode(coalesce(d.datacl,
                    pg_catalog.acldefault('d', d.datdba))) a) acl),
        (SELECT string_agg(x, ' | ' ORDER BY x) FROM (
           SELECT coalesce(r.rolname::text, '(database)') || ': '
                  || array_to_string(s.setconfig, '; ') AS x
             FROM pg_catalog.pg_db_role_setting s
             LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
            WHERE s.setdatabase = d.oid) st)
   FROM pg_catalog.pg_database d WHERE d.datname = current_database()";
