//! Bad input: one readable message naming the thing and what to do, the right exit code,
//! and nothing lost or half-written.

use crate::common::*;
use std::path::PathBuf;

/// A backed-up small database in a local repository.
fn backed_up() -> (Setup, String, serde_json::Value) {
    let pg = pg15();
    let db = pg.create_db("bad");
    pg.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t SELECT g, repeat('x', g % 50) FROM generate_series(1, 50000) g;");
    let setup = Setup::new(pg, local_repo());
    let m = setup.backup(&db, &[]);
    (setup, db, m)
}

fn data_object(setup: &Setup, m: &serde_json::Value) -> PathBuf {
    let key_owned = first_key(&m["databases"][0]["tables"][0]["object"]);
    let key = key_owned.as_str();
    setup
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{}/{key}", m["id"].as_str().unwrap()))
}

fn restore_into_new(
    setup: &Setup,
    extra_env: &[(String, String)],
) -> (std::process::Output, String) {
    let target = unique("target");
    let url = setup.pg.db_url(&target);
    let mut env = setup.env();
    env.extend_from_slice(extra_env);
    (
        lifeboat(&["restore", "latest", "--into", &url, "--create"], &env),
        target,
    )
}

fn db_exists(pg: &Pg, name: &str) -> bool {
    pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) == "1"
}

#[test]
fn wrong_key_is_named_before_the_target_is_touched() {
    let (setup, _, _) = backed_up();
    let other = keys();
    let (out, target) = restore_into_new(
        &setup,
        &[(
            "LIFEBOAT_AGE_IDENTITY_FILE".into(),
            other.identity.display().to_string(),
        )],
    );
    let err = fails(out, 2, &["not a recipient", "private key"]);
    assert!(!err.contains("AGE-SECRET-KEY"), "secret in error: {err}");
    assert!(
        !db_exists(&setup.pg, &target),
        "target was created despite the wrong key"
    );
}

#[test]
fn missing_identity_is_explained() {
    let (setup, _, _) = backed_up();
    let env: Vec<_> = setup
        .env()
        .into_iter()
        .filter(|(k, _)| k != "LIFEBOAT_AGE_IDENTITY_FILE")
        .collect();
    let url = setup.pg.db_url(&unique("t"));
    fails(
        lifeboat(&["restore", "latest", "--into", &url, "--create"], &env),
        2,
        &["LIFEBOAT_AGE_IDENTITY_FILE"],
    );
}

#[test]
fn truncated_object_fails_and_leaves_nothing() {
    let (setup, _, m) = backed_up();
    let path = data_object(&setup, &m);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    let (out, target) = restore_into_new(&setup, &[]);
    let key_owned = first_key(&m["databases"][0]["tables"][0]["object"]);
    let key = key_owned.as_str();
    fails(out, 3, &[key, "corrupt"]);
    assert!(
        !db_exists(&setup.pg, &target),
        "half-restored database left behind"
    );
}

#[test]
fn one_flipped_byte_is_caught() {
    let (setup, _, m) = backed_up();
    let path = data_object(&setup, &m);
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() * 2 / 3;
    bytes[i] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let (out, target) = restore_into_new(&setup, &[]);
    let key_owned = first_key(&m["databases"][0]["tables"][0]["object"]);
    let key = key_owned.as_str();
    fails(out, 3, &[key]);
    assert!(!db_exists(&setup.pg, &target));
}

#[test]
fn missing_object_is_named() {
    let (setup, _, m) = backed_up();
    std::fs::remove_file(data_object(&setup, &m)).unwrap();
    let (out, _) = restore_into_new(&setup, &[]);
    fails(
        out,
        4,
        &[
            "not found",
            first_key(&m["databases"][0]["tables"][0]["object"]).as_str(),
        ],
    );
}

#[test]
fn missing_manifest_means_no_backup() {
    let (setup, _, m) = backed_up();
    let id = m["id"].as_str().unwrap();
    let root = setup.repo.local.as_ref().unwrap();
    std::fs::remove_file(root.join(format!("backups/{id}/manifest.json"))).unwrap();
    let listed = ok(setup.run(&["list"]));
    assert!(!listed.contains(id), "{listed}");
    let url = setup.pg.db_url(&unique("t"));
    fails(
        setup.run(&["restore", id, "--into", &url, "--create"]),
        1,
        &[id, "not found"],
    );
    fails(
        setup.run(&["restore", "latest", "--into", &url, "--create"]),
        1,
        &["none found"],
    );
}

#[test]
fn missing_bucket_is_named() {
    let keys = keys();
    let env = vec![
        ("LIFEBOAT_S3_ENDPOINT".into(), s3_endpoint()),
        ("LIFEBOAT_S3_PATH_STYLE".into(), "true".into()),
        ("LIFEBOAT_AGE_RECIPIENTS".into(), keys.recipient.clone()),
    ];
    let out = lifeboat(&["--repo", "s3://no-such-bucket-lifeboat/x", "list"], &env);
    fails(out, 4, &["no-such-bucket-lifeboat", "does not exist"]);
    // init needs a signing key first of all (exit 2), then finds the bucket missing.
    let out = lifeboat(&["--repo", "s3://no-such-bucket-lifeboat/x", "init"], &env);
    fails(out, 2, &["no signing key", "LIFEBOAT_SIGNING_KEY_FILE"]);
    let mut env = env;
    env.push((
        "LIFEBOAT_SIGNING_KEY_FILE".into(),
        keys.signing.display().to_string(),
    ));
    let out = lifeboat(&["--repo", "s3://no-such-bucket-lifeboat/x", "init"], &env);
    fails(out, 4, &["does not exist"]);
}

#[test]
fn unreachable_postgres_is_named() {
    let setup = Setup::new(pg15(), local_repo());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://someone:hunter2@127.0.0.1:{port}/app");
    let err = fails(
        setup.run(&["backup", "--source", &url]),
        5,
        &["cannot connect", &format!("127.0.0.1:{port}")],
    );
    assert!(!err.contains("hunter2"), "password leaked: {err}");
    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains("no backups"), "{listed}");
}

/// `lifeboat_pw` must give a password (tests/servers.sh). Without one, the error says how to
/// give it; a 0600 password file works for lifeboat and for pg_dump alike; a file others can
/// read is ignored with a warning, as libpq ignores it.
#[test]
fn password_comes_from_a_private_password_file() {
    use std::os::unix::fs::PermissionsExt;
    let pg = pg15();
    pg.psql(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lifeboat_pw') THEN \
         CREATE ROLE lifeboat_pw LOGIN SUPERUSER; END IF; END $$; \
         ALTER ROLE lifeboat_pw PASSWORD 'pw:se\\cret';",
    );
    let db = pg.create_db("pwfile");
    pg.psql(&db, "CREATE TABLE t AS SELECT 1 AS x;");
    let setup = Setup::new(pg.clone(), local_repo());
    let url = pg.db_url(&db).replacen("//postgres@", "//lifeboat_pw@", 1);
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    // `:` and `\` escaped as in libpq's format.
    std::fs::write(&passfile, "*:*:*:lifeboat_pw:pw\\:se\\\\cret\n").unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut env = setup.env();
        env.push(("PGPASSWORD".into(), String::new()));
        env.push(("PGPASSFILE".into(), passfile.display().to_string()));
        lifeboat(&["backup", "--source", &url, "--database", &db], &env)
    };
    ok(run(0o600));
    fails(
        run(0o644),
        5,
        &["password missing", "PGPASSFILE", "chmod 0600"],
    );
}

#[test]
fn invalid_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(
        &cfg,
        "[repository]\nurl = \"/tmp/x\"\npart_size = \"lots\"\n",
    )
    .unwrap();
    let out = lifeboat(&["--config", cfg.to_str().unwrap(), "list"], &[]);
    fails(out, 2, &["part size", "lots"]);

    std::fs::write(&cfg, "[repositry]\nurl = \"/tmp/x\"\n").unwrap();
    let out = lifeboat(&["--config", cfg.to_str().unwrap(), "list"], &[]);
    fails(out, 2, &["repositry", "line 1"]);

    let out = lifeboat(
        &["--repo", "/tmp/x", "--recipient", "age1notakey", "init"],
        &[],
    );
    fails(out, 2, &["not an age X25519 recipient"]);

    let out = lifeboat(&["--repo", "gs://bucket", "list"], &[]);
    fails(out, 2, &["unsupported scheme"]);
}

#[test]
fn zero_jobs_is_refused_by_backup_and_restore_alike() {
    let url = "postgres://u@127.0.0.1:1/db";
    let out = lifeboat(
        &[
            "--repo",
            "/nonexistent/repo",
            "backup",
            "--source",
            url,
            "--jobs",
            "0",
        ],
        &[],
    );
    fails(out, 2, &["jobs must be at least 1"]);
    let out = lifeboat(
        &[
            "--repo",
            "/nonexistent/repo",
            "restore",
            "latest",
            "--into",
            url,
            "--jobs",
            "0",
        ],
        &[],
    );
    fails(out, 2, &["jobs must be at least 1"]);
}

#[test]
fn init_refuses_an_existing_repository() {
    let setup = Setup::new(pg15(), local_repo());
    fails(
        setup.run(&["init"]),
        4,
        &["already holds a lifeboat repository"],
    );
}

#[test]
fn missing_database_is_named() {
    let setup = Setup::new(pg15(), local_repo());
    let url = setup.pg.db_url("postgres");
    fails(
        setup.run(&["backup", "--source", &url, "-d", "no_such_db"]),
        5,
        &["no_such_db", "does not exist"],
    );
}

#[test]
fn config_check_redacts_secrets() {
    let setup = Setup::new(pg15(), local_repo());
    let url = setup.pg.url.replace("postgres@", "postgres:sekrit@");
    let out = ok(setup.run(&["config", "check", "--source", &url]));
    assert!(!out.contains("sekrit"), "{out}");
    assert!(out.contains("configuration is usable"), "{out}");
}

/// Every password method a server may ask of the backup role works for the whole backup
/// (lifeboat's own COPY sessions authenticate themselves): SCRAM (above), MD5 and cleartext;
/// a wrong password is named as such, exit 5.
#[test]
fn md5_and_cleartext_passwords_and_a_wrong_one() {
    let pg = pg15();
    pg.psql(
        "postgres",
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lifeboat_md5') THEN \
             CREATE ROLE lifeboat_md5 LOGIN SUPERUSER; END IF; \
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lifeboat_clear') THEN \
             CREATE ROLE lifeboat_clear LOGIN SUPERUSER; END IF; END $$; \
         SET password_encryption = 'md5'; \
         ALTER ROLE lifeboat_md5 PASSWORD 'md5-secret'; \
         RESET password_encryption; \
         ALTER ROLE lifeboat_clear PASSWORD 'clear-secret';",
    );
    let db = pg.create_db("pwmethods");
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 1000) g;",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let backup = |user: &str, password: &str| {
        let url = pg
            .db_url(&db)
            .replacen("//postgres@", &format!("//{user}@"), 1);
        let mut env = setup.env();
        env.push(("PGPASSWORD".into(), password.into()));
        env.push(("PGPASSFILE".into(), "/nonexistent".into()));
        lifeboat(
            &["backup", "--source", &url, "--database", &db, "--json"],
            &env,
        )
    };
    for (user, password) in [
        ("lifeboat_md5", "md5-secret"),
        ("lifeboat_clear", "clear-secret"),
    ] {
        let manifest: serde_json::Value =
            serde_json::from_str(&ok(backup(user, password))).unwrap();
        assert_eq!(
            manifest["databases"][0]["tables"][0]["rows"], 1000,
            "{user}"
        );
    }
    let err = fails(
        backup("lifeboat_md5", "wr0ng-pw-123"),
        5,
        &["password authentication failed"],
    );
    assert!(!err.contains("wr0ng-pw-123"), "the password leaked: {err}");
}
