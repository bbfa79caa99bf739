//! Fidelity: a backup restored into a fresh database is the source database — every object,
//! privilege, row, large object and sequence value — on the same or a newer PostgreSQL.
//!
//! The schema is compared as `pg_dump --schema-only` of source and target, both made by the
//! target's (newest) pg_dump, after these normalizations only:
//! - `\restrict` / `\unrestrict` lines: pg_dump writes a random key per run.
//! - the `-- Dumped from database version` comment: the servers' versions differ by design
//!   when restoring into a newer major.
//!
//! Across majors the target server itself rewrites some things (it deparses view bodies its
//! own way, and since 15 gives schema `public` a different default owner and ACL), so there
//! the restored database is compared with pg_dump's own migration of the source: the same
//! source-version pg_dump lifeboat used, `-Fc`, loaded into the target server by pg_restore.
//! Rows, large objects and sequence values are always compared with the source itself.

use crate::common::*;
use std::path::Path;

fn normalize(dump: &str) -> String {
    normalize_dump(dump)
        .lines()
        .filter(|l| !l.starts_with("-- Dumped from database version"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn schema_with(tool: &Pg, server: &Pg, db: &str) -> String {
    let out = std::process::Command::new(tool.bin.join("pg_dump"))
        .args(["--schema-only", "-d", &server.db_url(db)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    normalize(&String::from_utf8_lossy(&out.stdout))
}

/// What pg_dump alone gives: the source dumped by its own pg_dump, restored by pg_restore.
fn pg_dump_migration(src: &Pg, db: &str, dst: &Pg) -> String {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("ref.dump");
    let dumped = std::process::Command::new(src.bin.join("pg_dump"))
        .args(["-Fc", "-f"])
        .arg(&archive)
        .args(["-d", &src.db_url(db)])
        .output()
        .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let reference = unique("pg_dump_reference");
    dst.psql(
        "postgres",
        &format!("CREATE DATABASE {reference} TEMPLATE template0"),
    );
    let restored = std::process::Command::new(dst.bin.join("pg_restore"))
        .args(["--exit-on-error", "-d", &dst.db_url(&reference)])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    reference
}

fn unified_diff(a: &str, b: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        dir.path().join("source.sql"),
        dir.path().join("restored.sql"),
    );
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let out = std::process::Command::new("diff")
        .arg("-u")
        .arg(&pa)
        .arg(&pb)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .chars()
        .take(6000)
        .collect()
}

const LARGE_OBJECTS: &str = "SELECT oid, lomowner::regrole, lomacl, md5(lo_get(oid)) \
     FROM pg_largeobject_metadata ORDER BY oid";
const SEQUENCES: &str =
    "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2";
const MATVIEW: &str = "SELECT count(*), sum(n) FROM app.order_counts";

pub fn fidelity(src_major: u32, dst_major: u32) {
    let (src, dst) = (pg(src_major), pg(dst_major));
    let db = src.create_db("fidelity");
    src.psql_file(&db, Path::new("tests/fixtures/fidelity.sql"));

    let setup = Setup::new(src.clone(), local_repo());
    let m = setup.backup(&db, &["--globals", "--jobs", "2"]);
    let id = m["id"].as_str().unwrap();

    let target = unique("fidelity_restored");
    let mut env = setup.env();
    env.retain(|(k, _)| k != "LIFEBOAT_PG_BIN_DIR");
    env.push(("LIFEBOAT_PG_BIN_DIR".into(), dst.bin.display().to_string()));
    let into = dst.db_url(&target);
    ok(lifeboat(
        &[
            "restore",
            id,
            "--into",
            &into,
            "--create",
            "--globals",
            "--jobs",
            "2",
        ],
        &env,
    ));

    let expected = if src_major == dst_major {
        schema_with(&dst, &src, &db)
    } else {
        let reference = pg_dump_migration(&src, &db, &dst);
        schema_with(&dst, &dst, &reference)
    };
    let (a, b) = (expected, schema_with(&dst, &dst, &target));
    if a != b {
        panic!(
            "{src_major}→{dst_major}: schema differs:\n{}",
            unified_diff(&a, &b)
        );
    }
    assert_eq!(
        src.table_digests(&db),
        dst.table_digests(&target),
        "rows differ"
    );
    assert_eq!(
        src.psql(&db, LARGE_OBJECTS),
        dst.psql(&target, LARGE_OBJECTS),
        "large objects differ"
    );
    assert_eq!(
        src.psql(&db, SEQUENCES),
        dst.psql(&target, SEQUENCES),
        "sequence values differ"
    );
    assert_eq!(
        src.psql(&db, MATVIEW),
        dst.psql(&target, MATVIEW),
        "materialized view not refreshed"
    );
}

#[test]
fn fidelity_15_to_15() {
    fidelity(15, 15);
}

#[test]
fn fidelity_14_to_18() {
    fidelity(14, 18);
}

#[test]
fn fidelity_18_to_18() {
    fidelity(18, 18);
}

/// The whole matrix: run by tests/matrix.sh, which starts every major and names the pairs
/// (e.g. "14:14 14:18") in LIFEBOAT_TEST_FIDELITY_PAIRS.
#[test]
#[ignore = "the full version matrix: run tests/matrix.sh"]
fn fidelity_matrix() {
    let pairs = std::env::var("LIFEBOAT_TEST_FIDELITY_PAIRS")
        .expect("LIFEBOAT_TEST_FIDELITY_PAIRS names the pairs; run tests/matrix.sh");
    for pair in pairs.split_whitespace() {
        let (s, d) = pair.split_once(':').expect("pairs look like 14:18");
        fidelity(s.parse().unwrap(), d.parse().unwrap());
        eprintln!("fidelity {pair}: identical");
    }
}

#[test]
fn restoring_into_an_older_major_is_refused() {
    let (new, old) = (pg(18), pg(14));
    let db = new.create_db("newer");
    new.psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let setup = Setup::new(new.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let into = old.db_url(&unique("older"));
    fails(
        setup.run(&[
            "restore",
            m["id"].as_str().unwrap(),
            "--into",
            &into,
            "--create",
        ]),
        1,
        &["older than the backup's source", "--allow-older-target"],
    );
}
