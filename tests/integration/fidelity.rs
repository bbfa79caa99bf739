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
//!
//! The restore goes into a fresh cluster (`restore --create --globals`), so the database's
//! own properties (owner, locale, privileges, comment, settings) are compared with the
//! source's too, and so is the column order of inheritance children, which pg_dump's own
//! round trip does not keep.

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

/// A schema dump without one table's definition.
fn without_table(dump: &str, schema: &str, name: &str) -> String {
    use lifeboat::postgres::toc::{self, EntryKind};
    let mut d = toc::split(dump);
    d.entries.retain(|e| {
        !(e.kind == EntryKind::Table && e.name == name && e.schema.as_deref() == Some(schema))
    });
    d.script()
}

/// Every inheritance child's columns in their order, and the rows as `SELECT *` sees them.
const COLUMN_ORDER: &str = "SELECT c.relnamespace::regnamespace || '.' || c.relname,
        (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_catalog.pg_attribute
          WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)
   FROM pg_catalog.pg_class c
  WHERE c.oid IN (SELECT inhrelid FROM pg_catalog.pg_inherits) AND NOT c.relispartition
  ORDER BY 1";
const SELECT_STAR: &str = "SELECT (SELECT array_agg(t::text ORDER BY t::text) FROM app.circle t),
        (SELECT array_agg(t::text ORDER BY t::text) FROM app.square t)";

/// The fidelity fixture in a new database whose locale differs from every test server's
/// default (C): LC_CTYPE C.UTF-8.
fn fixture_database(src: &Pg) -> String {
    let db = unique("fidelity");
    src.psql(
        "postgres",
        &format!("CREATE DATABASE {db} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"),
    );
    src.psql_file(&db, Path::new("tests/fixtures/fidelity.sql"));
    db
}

/// Backs the fixture up from `src_major` with its roles, restores it with `--create
/// --globals` into a fresh cluster of `dst_major` (nothing there but what initdb makes),
/// and compares everything.
pub fn fidelity(src_major: u32, dst_major: u32) {
    let (src, dst) = (pg(src_major), pg(dst_major));
    let db = fixture_database(&src);

    let setup = Setup::new(src.clone(), local_repo());
    let m = setup.backup(&db, &["--globals", "--jobs", "2"]);
    let id = m["id"].as_str().unwrap();

    // Its bootstrap superuser has the source's name, as a rebuilt server would.
    let cluster = lifeboat::postgres::ScratchCluster::start_as(
        Some(dst.bin.clone()),
        Some(dst_major),
        "postgres",
    )
    .expect("a fresh cluster of the target major");
    let fresh = Pg {
        major: dst_major,
        url: cluster.url("postgres"),
        bin: dst.bin.clone(),
    };
    let target = unique("fidelity_restored");
    let env = setup.env_with_pg_bin(&dst.bin);
    let into = fresh.db_url(&target);
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
        // pg_dump's migration is what loses the column order of a child created first and
        // attached later, whose columns pg_dump then writes in that lost order: its
        // definition is left out here and its order compared with the source below.
        let reference = pg_dump_migration(&src, &db, &fresh);
        without_table(&schema_with(&dst, &fresh, &reference), "app", "square")
    };
    let restored = schema_with(&dst, &fresh, &target);
    let restored = if src_major == dst_major {
        restored
    } else {
        without_table(&restored, "app", "square")
    };
    let (a, b) = (expected, restored);
    if a != b {
        panic!(
            "{src_major}→{dst_major}: schema differs:\n{}",
            unified_diff(&a, &b)
        );
    }
    assert_eq!(
        src.psql(&db, DATABASE_PROPERTIES),
        fresh.psql(&target, DATABASE_PROPERTIES),
        "{src_major}→{dst_major}: the database's own properties differ"
    );
    let order = src.psql(&db, COLUMN_ORDER);
    assert!(
        order.contains("app.circle|id,label,radius,created")
            && order.contains("app.square|side,created,id,label"),
        "the fixture's children no longer diverge: {order}"
    );
    assert_eq!(
        order,
        fresh.psql(&target, COLUMN_ORDER),
        "{src_major}→{dst_major}: inheritance children's column order differs"
    );
    assert_eq!(
        src.psql(&db, SELECT_STAR),
        fresh.psql(&target, SELECT_STAR),
        "SELECT * differs"
    );
    assert_eq!(
        src.table_digests(&db),
        fresh.table_digests(&target),
        "rows differ"
    );
    assert_eq!(
        src.psql(&db, LARGE_OBJECTS),
        fresh.psql(&target, LARGE_OBJECTS),
        "large objects differ"
    );
    assert_eq!(
        src.psql(&db, SEQUENCES),
        fresh.psql(&target, SEQUENCES),
        "sequence values differ"
    );
    assert_eq!(
        src.psql(&db, MATVIEW),
        fresh.psql(&target, MATVIEW),
        "materialized view not refreshed"
    );
}

/// What pg_dump's own round trip loses, which lifeboat keeps: restored by pg_restore, the
/// fixture's inheritance children come back in their parent's column order.
#[test]
fn pg_dump_alone_loses_the_column_order_lifeboat_keeps() {
    let pg = pg15();
    let db = fixture_database(&pg);
    let reference = pg_dump_migration(&pg, &db, &pg);
    let order = pg.psql(&reference, COLUMN_ORDER);
    assert!(
        order.contains("app.circle|id,label,created,radius")
            && order.contains("app.square|id,label,created,side"),
        "{order}"
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
