use crate::common::*;
use std::path::Path;

fn varied_db(pg: &Pg) -> String {
    let db = pg.create_db("varied");
    pg.psql_file(&db, Path::new("tests/fixtures/varied.sql"));
    db
}

/// Backup → restore → every row and the whole schema identical.
fn round_trip(setup: &Setup, db: &str, extra_backup: &[&str]) {
    let manifest = setup.backup(db, extra_backup);
    let id = manifest["id"].as_str().unwrap().to_string();
    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains(&id), "list shows the backup:\n{listed}");

    let restored = setup.restore_new(&id, db, &[]);
    let pg = &setup.pg;
    assert_eq!(
        pg.table_digests(db),
        pg.table_digests(&restored),
        "rows differ"
    );
    assert_eq!(
        pg.schema_dump(db),
        pg.schema_dump(&restored),
        "schema differs"
    );
    let seq = "SELECT last_value FROM \"Sales Data\".\"Order Lines_Line ID_seq\"";
    assert_eq!(
        pg.psql(db, seq),
        pg.psql(&restored, seq),
        "sequence value differs"
    );
}

#[test]
fn round_trip_local_repository() {
    let pg = pg15();
    let db = varied_db(&pg);
    let setup = Setup::new(pg, local_repo());
    round_trip(&setup, &db, &["--jobs", "2"]);
}

#[test]
fn round_trip_s3_with_multipart_and_split_tables() {
    let pg = pg15();
    let db = varied_db(&pg);
    let mut repo = s3_repo();
    // Smallest part size and a small split size: the million-row table becomes several
    // ranges, and several objects go up in multiple parts.
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let setup = Setup::new(pg, repo);
    round_trip(
        &setup,
        &db,
        &[
            "--jobs",
            "3",
            "--split-size",
            "8MiB",
            "--compression-level",
            "1",
        ],
    );
}

#[test]
fn manifest_records_objects_checksums_and_consistent_point() {
    let pg = pg15();
    let db = pg.create_db("small");
    pg.psql(
        &db,
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000);",
    );
    let setup = Setup::new(pg, local_repo());
    let m = setup.backup(&db, &[]);
    assert_eq!(m["format_version"], 2);
    // Plaintext hashes are keyed; the key is sealed to the recipients, never in the clear.
    assert_eq!(m["plain_hash"]["algorithm"], "blake3-keyed");
    assert!(m["plain_hash"]["key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let d = &m["databases"][0];
    assert_eq!(d["name"], db.as_str());
    assert!(d["consistent_at"].is_string());
    let t = &d["tables"][0];
    assert_eq!(t["rows"], 1000);
    assert_eq!(
        t["object"]["parts"][0]["sha256"].as_str().unwrap().len(),
        64
    );
    let fp = m["encryption"]["recipient_fingerprints"][0]
        .as_str()
        .unwrap();
    assert!(fp.starts_with("sha256:"));
    // The stored object matches the manifest's size and SHA-256, checkable with sha256sum.
    let root = setup.repo.local.as_ref().unwrap();
    let key = format!(
        "backups/{}/{}",
        m["id"].as_str().unwrap(),
        first_key(&t["object"]).as_str()
    );
    let bytes = std::fs::read(root.join(key)).unwrap();
    assert_eq!(
        bytes.len() as u64,
        t["object"]["parts"][0]["size"].as_u64().unwrap()
    );
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        t["object"]["parts"][0]["sha256"].as_str().unwrap()
    );
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    // No secret in the manifest.
    let raw = std::fs::read_to_string(root.join(format!(
        "backups/{}/manifest.json",
        m["id"].as_str().unwrap()
    )))
    .unwrap();
    assert!(!raw.contains("AGE-SECRET-KEY"));
}

#[test]
fn restore_single_table_and_schema_only() {
    let pg = pg15();
    let db = varied_db(&pg);
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();

    let only = setup.restore_new(id, &db, &["--table", "Sales Data.Order Lines"]);
    let q = "SELECT count(*) FROM \"Sales Data\".\"Order Lines\"";
    assert_eq!(pg.psql(&only, q), "3");
    assert_eq!(
        pg.psql(
            &only,
            "SELECT count(*) FROM pg_class WHERE relname = 'million'"
        ),
        "0"
    );
    // Its primary key came back, and its serial sequence continues where it was.
    assert_eq!(
        pg.psql(&only, "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = '\"Sales Data\".\"Order Lines\"'::regclass"),
        "1"
    );
    let seq = "SELECT last_value FROM \"Sales Data\".\"Order Lines_Line ID_seq\"";
    assert_eq!(pg.psql(&db, seq), pg.psql(&only, seq));

    // Restoring the same table again is refused, and --clean replaces it.
    let url = pg.db_url(&only);
    fails(
        setup.run(&[
            "restore",
            id,
            "--database",
            &db,
            "--into",
            &url,
            "--table",
            "Sales Data.Order Lines",
        ]),
        1,
        &["already exists", "--clean"],
    );
    ok(setup.run(&[
        "restore",
        id,
        "--database",
        &db,
        "--into",
        &url,
        "--table",
        "Sales Data.Order Lines",
        "--clean",
    ]));
    assert_eq!(pg.psql(&only, q), "3");

    let schema = setup.restore_new(id, &db, &["--schema-only"]);
    assert_eq!(pg.schema_dump(&db), pg.schema_dump(&schema));
    assert_eq!(pg.psql(&schema, "SELECT count(*) FROM million"), "0");
}

#[test]
fn restore_single_table_keeps_its_comments_and_grants() {
    let pg = pg15();
    let db = pg.create_db("commented");
    let reader = unique("reader");
    pg.psql(
        &db,
        &format!(
            "CREATE ROLE {reader}; CREATE SCHEMA \"odd.schema\";
             CREATE TABLE \"odd.schema\".\"t.1\" (id serial PRIMARY KEY, \"a.b\" text);
             INSERT INTO \"odd.schema\".\"t.1\" (\"a.b\") VALUES ('x');
             COMMENT ON TABLE \"odd.schema\".\"t.1\" IS 'the table';
             COMMENT ON COLUMN \"odd.schema\".\"t.1\".\"a.b\" IS 'the column';
             COMMENT ON SEQUENCE \"odd.schema\".\"t.1_id_seq\" IS 'the sequence';
             GRANT SELECT ON \"odd.schema\".\"t.1\" TO {reader};
             GRANT UPDATE (\"a.b\") ON \"odd.schema\".\"t.1\" TO {reader};
             GRANT USAGE ON SEQUENCE \"odd.schema\".\"t.1_id_seq\" TO {reader};
             CREATE TABLE other (id int);"
        ),
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let only = setup.restore_new(
        m["id"].as_str().unwrap(),
        &db,
        &["--table", "odd.schema.t.1"],
    );
    let checks = format!(
        "SELECT obj_description('\"odd.schema\".\"t.1\"'::regclass, 'pg_class'),
                col_description('\"odd.schema\".\"t.1\"'::regclass, 2),
                obj_description('\"odd.schema\".\"t.1_id_seq\"'::regclass, 'pg_class'),
                has_table_privilege('{reader}', '\"odd.schema\".\"t.1\"', 'SELECT'),
                has_column_privilege('{reader}', '\"odd.schema\".\"t.1\"', 'a.b', 'UPDATE'),
                has_sequence_privilege('{reader}', '\"odd.schema\".\"t.1_id_seq\"', 'USAGE'),
                (SELECT count(*) FROM \"odd.schema\".\"t.1\")"
    );
    assert_eq!(pg.psql(&db, &checks), pg.psql(&only, &checks));
    assert_eq!(
        pg.psql(&only, &checks),
        "the table|the column|the sequence|t|t|t|1"
    );
    assert_eq!(
        pg.psql(
            &only,
            "SELECT count(*) FROM pg_class WHERE relname = 'other'"
        ),
        "0"
    );
}

#[test]
fn refuses_non_empty_target_unless_clean() {
    let pg = pg15();
    let db = pg.create_db("src");
    pg.psql(
        &db,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    setup.backup(&db, &[]);
    let target = pg.create_db("busy");
    pg.psql(
        &target,
        "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);",
    );
    let url = pg.db_url(&target);
    fails(
        setup.run(&["restore", "latest", "--into", &url]),
        1,
        &["not empty", "--clean"],
    );
    assert_eq!(
        pg.psql(&target, "SELECT x FROM precious"),
        "42",
        "target untouched"
    );
    ok(setup.run(&["restore", "latest", "--into", &url, "--clean"]));
    assert_eq!(pg.psql(&target, "SELECT count(*) FROM t"), "2");
    assert_eq!(
        pg.psql(
            &target,
            "SELECT count(*) FROM pg_class WHERE relname = 'precious'"
        ),
        "0"
    );
}

#[test]
fn several_databases_and_show() {
    let pg = pg15();
    let (a, b) = (pg.create_db("multi_a"), pg.create_db("multi_b"));
    pg.psql(&a, "CREATE TABLE ta AS SELECT generate_series(1, 10) AS x;");
    pg.psql(&b, "CREATE TABLE tb AS SELECT generate_series(1, 20) AS y;");
    let setup = Setup::new(pg.clone(), local_repo());
    let url = pg.db_url("postgres");
    let out = ok(setup.run(&["backup", "--source", &url, "-d", &a, "-d", &b, "--json"]));
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["databases"].as_array().unwrap().len(), 2);
    let shown = ok(setup.run(&["show", "latest"]));
    assert!(
        shown.contains(&a) && shown.contains(&b) && shown.contains("public.tb"),
        "{shown}"
    );
    let id = m["id"].as_str().unwrap();
    // The id's timestamp alone (as `list` shows it) is a prefix, though shaped like an id.
    let by_time = ok(setup.run(&["show", &id[..16], "--json"]));
    assert!(by_time.contains(id), "{by_time}");
    let restored = setup.restore_new(id, &b, &[]);
    assert_eq!(pg.psql(&restored, "SELECT sum(y) FROM tb"), "210");
    // Several databases: restore must be told which.
    let target = pg.db_url(&unique("x"));
    fails(
        setup.run(&["restore", id, "--into", &target, "--create"]),
        2,
        &["--database"],
    );
}

#[test]
fn globals_bring_roles_back() {
    let pg = pg15();
    let db = pg.create_db("glob");
    let role = unique("lb_role");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {role} NOLOGIN CONNECTION LIMIT 7"),
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &["--globals"]);
    assert!(
        m["globals"]["parts"][0]["sha256"].is_string(),
        "globals object recorded"
    );
    pg.psql("postgres", &format!("DROP ROLE {role}"));
    let restored = setup.restore_new(m["id"].as_str().unwrap(), &db, &["--globals"]);
    assert_eq!(
        pg.psql(
            &restored,
            &format!("SELECT rolconnlimit FROM pg_roles WHERE rolname = '{role}'")
        ),
        "7"
    );
    // Without --globals in the backup, asking for them is refused before anything happens.
    let m2 = setup.backup(&db, &[]);
    let url = pg.db_url(&unique("g"));
    fails(
        setup.run(&[
            "restore",
            m2["id"].as_str().unwrap(),
            "--into",
            &url,
            "--create",
            "--globals",
        ]),
        1,
        &["no roles"],
    );
}

#[test]
fn tls_verify_full_round_trip_and_wrong_ca_refused() {
    let pg = pg15();
    let ca = std::env::var("LIFEBOAT_TEST_PG15_CA").expect("servers.sh exports the test CA");
    let db = pg.create_db("tls");
    // `big` streams ~5 MB: enough for the COPY reader to batch its reads under TLS too.
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT generate_series(1, 100) AS x;
         CREATE TABLE big AS SELECT g, md5(g::text) AS s FROM generate_series(1, 120000) g;",
    );
    let digest = "SELECT count(*) || ':' || md5(string_agg(g || s, ',' ORDER BY g)) FROM big";
    let before = pg.psql(&db, digest);
    let setup = Setup::new(pg.clone(), local_repo());
    let tls = |url: String, ca: &str| {
        format!(
            "{}?sslmode=verify-full&sslrootcert={ca}",
            url.replace("127.0.0.1", "localhost")
        )
    };
    let src = tls(pg.db_url(&db), &ca);
    let out = ok(setup.run(&["backup", "--source", &src, "-d", &db, "--json"]));
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    let target = unique("tls_restored");
    let into = tls(pg.db_url(&target), &ca);
    ok(setup.run(&[
        "restore",
        m["id"].as_str().unwrap(),
        "--into",
        &into,
        "--create",
    ]));
    assert_eq!(pg.psql(&target, "SELECT sum(x) FROM t"), "5050");
    assert_eq!(pg.psql(&target, digest), before);

    // A certificate from another CA is refused, with the reason.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "1",
            "-nodes",
            "-subj",
            "/CN=other",
            "-keyout",
        ])
        .arg(other.path().join("other.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(made.status.success());
    let bad = tls(pg.db_url(&db), other_ca.to_str().unwrap());
    fails(
        setup.run(&["backup", "--source", &bad, "-d", &db]),
        5,
        &["cannot connect", "certificate"],
    );
}

/// The server ends a COPY in the middle (its backend terminated once rows are streaming, so
/// the reader is batching its reads): the backup fails with the server's own reason and the
/// table's name, exit 5, and leaves no backup behind.
#[test]
fn a_copy_ended_by_the_server_fails_with_its_reason_and_the_table() {
    let pg = pg15();
    let db = pg.create_db("copy_killed");
    pg.psql(
        &db,
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s
         FROM generate_series(1, 2000000) g;",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let url = pg.db_url(&db);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["backup", "--source", &url, "-d", &db, "--jobs", "1"])
        .args(["--compression-level", "19"])
        .envs(setup.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lifeboat starts");
    // Once the COPY has streamed for a while, its backend is terminated.
    let copying = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%big%' \
                   AND state = 'active' AND now() - query_start > interval '300 ms'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let pid = loop {
        let pid = pg.psql("postgres", copying);
        if !pid.is_empty() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the COPY never showed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    pg.psql("postgres", &format!("SELECT pg_terminate_backend({pid})"));
    let out = child.wait_with_output().expect("lifeboat ends");
    fails(
        out,
        5,
        &[
            "COPY of public.big",
            "terminating connection due to administrator command",
        ],
    );
    let list = ok(setup.run(&["list", "--json"]));
    assert!(!list.contains(&db), "no backup is listed: {list}");
}
