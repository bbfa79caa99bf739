//! Replacing is atomic from the user's point of view: `restore --clean` loads into a staging
//! database and swaps names only when everything is in, and `--table` verifies every object
//! before it writes anything. A failure at any point leaves what the user had.

use crate::common::*;

fn databases_like(pg: &Pg, prefix: &str) -> Vec<String> {
    let list = pg.psql(
        "postgres",
        &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1"),
    );
    list.lines().map(str::to_string).collect()
}

/// A backup of `src`, and an existing database `live` with different content.
fn setup_pair() -> (Setup, String, String, serde_json::Value) {
    let pg = pg15();
    let src = pg.create_db("src");
    pg.psql(&src, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t SELECT g, repeat('b', g % 40) FROM generate_series(1, 30000) g; CREATE TABLE u (k int); INSERT INTO u VALUES (1);");
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&src, &[]);
    let live = pg.create_db("live");
    pg.psql(&live, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t VALUES (1, 'what the user had');");
    (setup, src, live, m)
}

fn corrupt_first_table(setup: &Setup, m: &serde_json::Value) {
    let path = setup.repo.local.as_ref().unwrap().join(format!(
        "backups/{}/{}",
        m["id"].as_str().unwrap(),
        first_key(&m["databases"][0]["tables"][0]["object"])
    ));
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() * 2 / 3;
    bytes[i] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn clean_with_a_corrupt_object_leaves_the_existing_database_unchanged() {
    let (setup, src, live, m) = setup_pair();
    corrupt_first_table(&setup, &m);
    let pg = &setup.pg;
    let before = pg.table_digests(&live);
    let err = fails(
        setup.run(&[
            "restore",
            "latest",
            "--database",
            &src,
            "--into",
            &pg.db_url(&live),
            "--clean",
        ]),
        3,
        &["corrupt", "was not changed"],
    );
    assert!(err.contains(&live), "{err}");
    assert_eq!(
        pg.table_digests(&live),
        before,
        "the existing database changed"
    );
    assert_eq!(
        databases_like(pg, &format!("{live}_")),
        Vec::<String>::new(),
        "staging left"
    );
}

#[test]
fn clean_replaces_the_database_and_keep_old_keeps_it() {
    let (setup, src, live, _) = setup_pair();
    let pg = &setup.pg;
    let before = pg.table_digests(&live);
    let out = ok(setup.run(&[
        "restore",
        "latest",
        "--database",
        &src,
        "--into",
        &pg.db_url(&live),
        "--clean",
        "--keep-old",
    ]));
    assert!(out.contains("kept as"), "{out}");
    assert_eq!(pg.table_digests(&live), pg.table_digests(&src));
    let kept = databases_like(pg, &format!("{live}_replaced_"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(pg.table_digests(&kept[0]), before);
    // Without --keep-old the replaced database goes.
    let out = ok(setup.run(&[
        "restore",
        "latest",
        "--database",
        &src,
        "--into",
        &pg.db_url(&live),
        "--create",
        "--clean",
    ]));
    assert!(out.contains("was dropped"), "{out}");
    assert_eq!(databases_like(pg, &format!("{live}_replaced_")), kept);
    assert_eq!(
        databases_like(pg, &format!("{live}_lifeboat_")),
        Vec::<String>::new()
    );
}

#[test]
fn clean_with_clients_connected_keeps_both_and_says_how_to_finish() {
    let (setup, src, live, _) = setup_pair();
    let pg = &setup.pg;
    // A client holding a session on the live database blocks the rename.
    let mut client = std::process::Command::new(pg.bin.join("psql"))
        .args([
            "-X",
            "-q",
            "-d",
            &pg.db_url(&live),
            "-c",
            "SELECT pg_sleep(60)",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let err = fails(
        setup.run(&[
            "restore",
            "latest",
            "--database",
            &src,
            "--into",
            &pg.db_url(&live),
            "--clean",
        ]),
        1,
        &[
            "the restore is complete in",
            "nothing was replaced",
            "ALTER DATABASE",
        ],
    );
    client.kill().unwrap();
    client.wait().unwrap();
    let staged = databases_like(pg, &format!("{live}_lifeboat_"));
    assert_eq!(staged.len(), 1, "{err}");
    assert_eq!(pg.table_digests(&staged[0]), pg.table_digests(&src));
    assert_eq!(pg.psql(&live, "SELECT s FROM t"), "what the user had");
}

#[test]
fn table_restore_with_a_corrupt_object_writes_nothing() {
    let (setup, src, live, m) = setup_pair();
    corrupt_first_table(&setup, &m);
    let pg = &setup.pg;
    let before = pg.schema_dump(&live);
    fails(
        setup.run(&[
            "restore",
            "latest",
            "--database",
            &src,
            "--table",
            "public.t",
            "--into",
            &pg.db_url(&live),
            "--clean",
        ]),
        3,
        &["corrupt"],
    );
    assert_eq!(pg.schema_dump(&live), before);
    assert_eq!(pg.psql(&live, "SELECT s FROM t"), "what the user had");
    // And into a database without the table: no half-made table either.
    let empty = pg.create_db("empty");
    fails(
        setup.run(&[
            "restore",
            "latest",
            "--database",
            &src,
            "--table",
            "public.t",
            "--into",
            &pg.db_url(&empty),
        ]),
        3,
        &["corrupt"],
    );
    assert_eq!(
        pg.psql(&empty, "SELECT count(*) FROM pg_class WHERE relname = 't'"),
        "0"
    );
}
