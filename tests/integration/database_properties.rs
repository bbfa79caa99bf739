//! The database itself at restore: a locale the target lacks, roles it lacks, and a
//! restore into an existing database (properties only when asked; `--clean` recreates the
//! database with them). The full round trip of every property, into a fresh cluster, is in
//! fidelity.rs.

use crate::common::*;

fn exists(pg: &Pg, db: &str) -> bool {
    pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    ) == "1"
}

/// Edits a backup's manifest as another server's backup would have written it, and signs
/// it with the backup side's key, as a genuine backup is.
fn rewrite_manifest(setup: &Setup, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let dir = setup.repo.local.as_ref().unwrap().join("backups").join(id);
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    let bytes = serde_json::to_vec_pretty(&m).unwrap();
    let key = lifeboat::crypto::sign::read_signing_key_file(&setup.keys.signing, None).unwrap();
    let signature = key
        .sign(&bytes, &format!("lifeboat backups/{id}/manifest.json"))
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(dir.join("manifest.json.minisig"), signature).unwrap();
}

#[test]
fn a_locale_the_target_lacks_is_refused_before_anything_is_created() {
    let pg = pg15();
    let db = pg.create_db("locale");
    pg.psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    // A backup from a server that has a locale this machine lacks.
    rewrite_manifest(&setup, id, |m| {
        let p = &mut m["databases"][0]["properties"];
        p["collate"] = "xx_XX.UTF-8".into();
        p["ctype"] = "xx_XX.UTF-8".into();
    });

    let target = unique("locale_restored");
    let into = pg.db_url(&target);
    fails(
        setup.run(&["restore", id, "--into", &into, "--create"]),
        1,
        &[
            &format!("database `{db}` uses libc locale \"xx_XX.UTF-8\""),
            "Install that locale",
            "--locale-fallback",
        ],
    );
    assert!(
        !exists(&pg, &target),
        "created before the locale was checked"
    );

    // Told to fall back: the server's default locale, said loudly.
    let out = setup.run(&[
        "restore",
        id,
        "--into",
        &into,
        "--create",
        "--locale-fallback",
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("server's") && said.contains("default locale"),
        "{said}"
    );
    assert_eq!(
        pg.psql(
            &target,
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ),
        "C"
    );
    assert_eq!(pg.psql(&target, "SELECT count(*) FROM t"), "1");
}

#[test]
fn a_backup_without_properties_restores_with_a_warning() {
    let pg = pg15();
    let db = pg.create_db("old_backup");
    pg.psql(&db, &format!("COMMENT ON DATABASE {db} IS 'kept?'"));
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    rewrite_manifest(&setup, id, |m| {
        m["databases"][0]
            .as_object_mut()
            .unwrap()
            .remove("properties");
    });
    let target = unique("old_restored");
    let out = setup.run(&["restore", id, "--into", &pg.db_url(&target), "--create"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        said.matches("predates database properties").count(),
        1,
        "{said}"
    );
    assert_eq!(
        pg.psql(&target, "SELECT shobj_description(oid, 'pg_database') IS NULL FROM pg_database WHERE datname = current_database()"),
        "t"
    );
}

#[test]
fn a_role_the_target_lacks_is_named_before_anything_is_created() {
    let pg = pg15();
    let role = unique("gone_owner");
    let db = pg.create_db("role");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {role} NOLOGIN; ALTER DATABASE {db} OWNER TO {role}"),
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    pg.psql(
        "postgres",
        &format!("ALTER DATABASE {db} OWNER TO postgres; DROP ROLE {role}"),
    );
    let target = unique("role_restored");
    fails(
        setup.run(&["restore", id, "--into", &pg.db_url(&target), "--create"]),
        1,
        &[&role, "--globals"],
    );
    assert!(!exists(&pg, &target));
}

#[test]
fn an_existing_database_gets_the_properties_only_when_asked() {
    let pg = pg15();
    let db = pg.create_db("props");
    pg.psql(
        &db,
        "CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1);",
    );
    pg.psql(
        "postgres",
        &format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'props_owner') THEN
                 CREATE ROLE props_owner NOLOGIN; END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'props_reader') THEN
                 CREATE ROLE props_reader NOLOGIN; END IF;
             END $$;
             ALTER DATABASE {db} OWNER TO props_owner;
             REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT ON DATABASE {db} TO props_reader;
             COMMENT ON DATABASE {db} IS 'props';
             ALTER DATABASE {db} SET search_path = app, public;
             ALTER DATABASE {db} SET default_transaction_read_only = on;
             ALTER ROLE props_reader IN DATABASE {db} SET work_mem = '16MB';"
        ),
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    let source = pg.psql(&db, DATABASE_PROPERTIES);

    // Into an existing (empty) database: its own properties stay, and restore says so.
    let existing = pg.create_db("props_existing");
    let before = pg.psql(&existing, DATABASE_PROPERTIES);
    let out = setup.run(&["restore", id, "--into", &pg.db_url(&existing)]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("--database-properties").count(), 1, "{said}");
    assert_eq!(pg.psql(&existing, DATABASE_PROPERTIES), before);
    assert_ne!(before, source);

    // Asked: applied after the data (a read-only default did not stop the load).
    let asked = pg.create_db("props_asked");
    ok(setup.run(&[
        "restore",
        id,
        "--into",
        &pg.db_url(&asked),
        "--database-properties",
    ]));
    assert_eq!(pg.psql(&asked, DATABASE_PROPERTIES), source);
    assert_eq!(pg.psql(&asked, "SELECT count(*) FROM public.t"), "1");

    // --clean recreates the existing database, properties and all.
    ok(setup.run(&[
        "restore",
        id,
        "--into",
        &pg.db_url(&existing),
        "--create",
        "--clean",
    ]));
    assert_eq!(pg.psql(&existing, DATABASE_PROPERTIES), source);
}
