//! `lifeboat verify`: a good backup restores on a throwaway server (and on a configured
//! scratch server, from S3) and passes every check, leaving a signed record; a damaged
//! object, a manifest that disagrees with the data, a failing assertion and a missing role
//! each fail with exit code 3, naming what. `--at` picks the backup by time.

use crate::common::*;
use std::path::Path;

fn with_config(setup: &Setup, config: &Path) -> Vec<(String, String)> {
    let mut env = setup.env();
    env.push(("LIFEBOAT_CONFIG".into(), config.display().to_string()));
    env
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn record(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not a record ({e}): {out}"))
}

fn checks_of<'a>(r: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    r["databases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect()
}

#[test]
fn a_faithful_backup_passes_every_check_on_a_throwaway_server() {
    let pg = pg15();
    let db = pg.create_db("verify");
    pg.psql_file(&db, Path::new("tests/fixtures/fidelity.sql"));
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &["--globals", "--jobs", "2", "--split-size", "1MiB"]);
    let id = m["id"].as_str().unwrap();
    let config = write_config(
        "lifeboat.toml",
        &format!(
            r#"
[[verify.assertion]]
database = "{db}"
name = "customers exist"
sql = "SELECT count(*) FROM app.customers"
expect = "> 0"

[[verify.assertion]]
database = "{db}"
name = "nothing written after the consistent point"
sql = "SELECT count(*) FROM app.orders WHERE updated_at > {{consistent_at}}"
expect = "= 0"
"#
        ),
    );
    let env = with_config(&setup, &config);
    let out = ok(lifeboat(&["verify", "--json", "--jobs", "2"], &env));
    let r = record(&out);
    assert_eq!(r["backup"], id);
    assert_eq!(r["passed"], true, "{out}");
    assert_eq!(r["target"]["kind"], "throwaway");
    let d = &r["databases"][0];
    assert_eq!(d["name"], db.as_str());
    assert!(d["restore_seconds"].as_f64().unwrap() > 0.0);
    let tables = checks_of(&r, "table");
    let in_manifest: std::collections::BTreeSet<String> = m["databases"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}.{}",
                t["schema"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(tables.len(), in_manifest.len(), "one check per table");
    assert!(tables.iter().all(|c| c["passed"] == true));
    for kind in [
        "sequences",
        "large-objects",
        "database-properties",
        "schema",
    ] {
        let c = checks_of(&r, kind);
        assert_eq!(c.len(), 1, "{kind}");
        assert_eq!(c[0]["passed"], true, "{kind}: {}", c[0]["evidence"]);
    }
    assert!(checks_of(&r, "large-objects")[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("each matches"));
    let assertions = checks_of(&r, "assertion");
    assert_eq!(assertions.len(), 2);
    assert!(
        assertions.iter().all(|c| c["passed"] == true),
        "{assertions:?}"
    );
    let stages: Vec<&str> = d["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for s in [
        "roles and tablespaces",
        "schema",
        "data and table indexes",
        "checks",
    ] {
        assert!(stages.contains(&s), "{stages:?}");
    }

    // The record is signed and kept in the repository; the readable form says where.
    let root = setup.repo.local.as_ref().unwrap();
    let dir = root.join(format!("verifications/{id}"));
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "record and signature: {files:?}");
    assert!(files.iter().any(|f| f.ends_with(".json.minisig")));
    let text = ok(lifeboat(&["verify", id, "--jobs", "2"], &env));
    assert!(
        text.contains("PASSED") && text.contains("measured RTO"),
        "{text}"
    );
    assert!(
        text.contains(&format!("record: verifications/{id}/")),
        "{text}"
    );
}

#[test]
fn verifies_from_s3_on_a_configured_scratch_server_and_never_on_the_source() {
    let pg = pg15();
    let db = pg.create_db("verify_s3");
    pg.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, at timestamptz, b bytea, f float8); INSERT INTO t SELECT g, '2026-01-01 12:00+05'::timestamptz + g * interval '1 hour', decode(md5(g::text), 'hex'), g / 3.0 FROM generate_series(1, 5000) g; SELECT lo_from_bytea(0, 'large');");
    let setup = Setup::new(pg.clone(), s3_repo());
    setup.backup(&db, &[]);
    let scratch = crate::common::pg(18);
    let env = setup.env_with_pg_bin(&scratch.bin);
    let out = ok(lifeboat(
        &["verify", "latest", "--scratch-url", &scratch.url, "--json"],
        &env,
    ));
    let r = record(&out);
    assert_eq!(r["passed"], true, "{out}");
    assert_eq!(r["target"]["kind"], "server");
    let restored_as = r["databases"][0]["restored_as"].as_str().unwrap();
    assert!(restored_as.starts_with("lifeboat_verify_"), "{restored_as}");
    // Dropped after the checks.
    let left = scratch.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{restored_as}'"),
    );
    assert_eq!(left.trim(), "0");
    // Across majors the schema is compared as object lists, and says so.
    let schema = checks_of(&r, "schema")[0]["evidence"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(schema.contains("pg_dump 15 wrote the backup"), "{schema}");

    fails(
        setup.run(&["verify", "--scratch-url", &pg.url]),
        2,
        &["is the source of backup", "scratch_url"],
    );
}

#[test]
fn damage_a_lying_manifest_a_failing_assertion_and_a_missing_role_are_named() {
    let pg = pg15();
    let role = unique("verify_owner");
    let db = pg.create_db("verify_bad");
    pg.psql(&db, &format!("CREATE ROLE {role} NOLOGIN; CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g; CREATE TABLE u (k int); INSERT INTO u VALUES (1), (2);"));
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &["--globals"]);
    let id = m["id"].as_str().unwrap().to_string();
    let root = setup.repo.local.clone().unwrap();

    // A failing assertion: exit 3, named, and the record says so.
    let config = write_config(
        "a.toml",
        &format!(
            "[[verify.assertion]]\ndatabase = \"{db}\"\nname = \"u has three rows\"\nsql = \"SELECT count(*) FROM u\"\nexpect = \"= 3\"\n"
        ),
    );
    fails(
        lifeboat(&["verify", &id], &with_config(&setup, &config)),
        3,
        &["u has three rows", "value 2, expected = 3"],
    );

    // A manifest (re-signed by a key holder) that records another row count for a table.
    let manifest_path = root.join(format!("backups/{id}/manifest.json"));
    let original = std::fs::read(&manifest_path).unwrap();
    let mut lying: serde_json::Value = serde_json::from_slice(&original).unwrap();
    for t in lying["databases"][0]["tables"].as_array_mut().unwrap() {
        if t["name"] == "u" {
            t["rows"] = serde_json::json!(5);
        }
    }
    let bytes = serde_json::to_vec_pretty(&lying).unwrap();
    std::fs::write(&manifest_path, &bytes).unwrap();
    resign(
        &setup,
        &manifest_path,
        &format!("backups/{id}/manifest.json"),
    );
    fails(
        setup.run(&["verify", &id]),
        3,
        &["public.u", "the manifest says 5"],
    );
    std::fs::write(&manifest_path, &original).unwrap();
    resign(
        &setup,
        &manifest_path,
        &format!("backups/{id}/manifest.json"),
    );

    // A damaged object: the restore stops at it, and verify names it.
    let key = first_key(&m["databases"][0]["tables"][0]["object"]);
    let path = root.join(format!("backups/{id}/{key}"));
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let i = bad.len() / 2;
    bad[i] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    fails(setup.run(&["verify", &id]), 3, &[&key]);
    std::fs::write(&path, &good).unwrap();

    // A table owned by a role the backup does not carry (no --globals): surfaced, not hidden.
    pg.psql(&db, &format!("ALTER TABLE t OWNER TO {role}"));
    setup.backup(&db, &[]);
    fails(
        setup.run(&["verify", "latest"]),
        3,
        &[&format!("role \"{role}\" does not exist")],
    );
    // Every run left its record, failed ones included.
    let records = std::fs::read_dir(root.join(format!("verifications/{id}")))
        .unwrap()
        .count();
    assert_eq!(
        records,
        2 * 3,
        "three runs of the first backup, each signed"
    );
}

/// Signs a file as the repository's document `key` with the test's signing key.
fn resign(setup: &Setup, path: &Path, key: &str) {
    let sig = format!("{}.minisig", path.display());
    let status = std::process::Command::new("minisign")
        .args(["-S", "-s"])
        .arg(&setup.keys.signing)
        .args(["-m"])
        .arg(path)
        .args(["-x", &sig, "-t", &format!("lifeboat {key}")])
        .status()
        .expect("minisign runs");
    assert!(status.success());
}

#[test]
fn at_picks_the_newest_backup_before_the_time_and_states_the_loss() {
    let pg = pg15();
    let db = pg.create_db("verify_at");
    pg.psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let setup = Setup::new(pg.clone(), local_repo());
    let first = setup.backup(&db, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    pg.psql(&db, "INSERT INTO t VALUES (2);");
    setup.backup(&db, &[]);
    let at = between.to_rfc3339();

    let target = unique("verify_at_restored");
    let done = setup.run(&[
        "restore",
        "--at",
        &at,
        "--database",
        &db,
        "--into",
        &pg.db_url(&target),
        "--create",
    ]);
    let out = text(&done);
    assert!(done.status.success(), "{out}");
    let id = first["id"].as_str().unwrap();
    assert!(out.contains(&format!("using backup {id}")), "{out}");
    assert!(out.contains("are not in it"), "{out}");
    assert_eq!(pg.psql(&target, "SELECT count(*) FROM t").trim(), "1");

    let r = record(&ok(setup.run(&["verify", "--at", &at, "--json"])));
    assert_eq!(r["backup"], id);
    assert_eq!(r["passed"], true);

    fails(
        setup.run(&[
            "restore",
            "--at",
            "2001-01-01 00:00",
            "--into",
            &pg.db_url("x"),
        ]),
        1,
        &["at or before 2001-01-01 00:00:00 UTC"],
    );
    fails(
        setup.run(&["verify", "--at", "last tuesday"]),
        2,
        &["last tuesday", "is not a time"],
    );
}

#[test]
fn keep_on_failure_leaves_the_failed_database_for_investigation() {
    let pg = pg15();
    let db = pg.create_db("verify_keep");
    pg.psql(
        &db,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    setup.backup(&db, &[]);
    let scratch = crate::common::pg(18);
    let env = setup.env_with_pg_bin(&scratch.bin);
    let passing = write_config("p.toml", &format!("[[verify.assertion]]\ndatabase = \"{db}\"\nname = \"two\"\nsql = \"SELECT count(*) FROM t\"\nexpect = \"= 2\"\n"));
    let failing = write_config("f.toml", &format!("[[verify.assertion]]\ndatabase = \"{db}\"\nname = \"three\"\nsql = \"SELECT count(*) FROM t\"\nexpect = \"= 3\"\n"));
    let exists = |name: &str| {
        scratch
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
            )
            .trim()
            == "1"
    };
    let run = |config: &Path| {
        let mut e = env.clone();
        e.push(("LIFEBOAT_CONFIG".into(), config.display().to_string()));
        lifeboat(
            &[
                "verify",
                "--scratch-url",
                &scratch.url,
                "--keep-on-failure",
                "--json",
            ],
            &e,
        )
    };
    // Passing: dropped even with --keep-on-failure.
    let out = run(&passing);
    assert!(out.status.success(), "{}", text(&out));
    let r = record(&String::from_utf8_lossy(&out.stdout));
    assert!(!exists(r["databases"][0]["restored_as"].as_str().unwrap()));
    // Failing: kept, and the output says where.
    let out = run(&failing);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let r = record(&String::from_utf8_lossy(&out.stdout));
    let kept = r["databases"][0]["restored_as"].as_str().unwrap();
    assert!(exists(kept), "{kept} kept for investigation");
    scratch.psql("postgres", &format!("DROP DATABASE \"{kept}\""));
}

/// SIGTERM in the middle of a verification's restore: the run stops cleanly — exit 143, the
/// scratch database dropped from the configured server, no record written (a run cut short
/// proves nothing either way), the repository lock released.
#[test]
fn a_verification_cancelled_by_sigterm_drops_its_scratch_database_and_records_nothing() {
    let pg = pg15();
    let db = pg.create_db("verify_stop");
    pg.psql(
        &db,
        "CREATE TABLE big (id int PRIMARY KEY, s text); \
         INSERT INTO big SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, 1500000) g;",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let id = setup.backup(&db, &[])["id"].as_str().unwrap().to_string();
    let scratch = crate::common::pg(18);
    let env = setup.env_with_pg_bin(&scratch.bin);
    let ours = format!(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat\\_verify\\_{db}\\_%'"
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["verify", &id, "--scratch-url", &scratch.url, "--jobs", "1"])
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_while_running(
        &mut child,
        "the restore creates its scratch database",
        || scratch.psql("postgres", &ours).trim() == "1",
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = std::time::Instant::now();
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < std::time::Duration::from_secs(30));
    assert!(stderr.contains("cancelled by SIGTERM"), "{stderr}");
    assert_eq!(
        scratch.psql("postgres", &ours).trim(),
        "0",
        "the scratch database is left"
    );
    let root = setup.repo.local.clone().unwrap();
    assert!(
        !root.join(format!("verifications/{id}")).exists(),
        "a cancelled verification wrote a record"
    );
    let locks: Vec<_> = std::fs::read_dir(root.join("locks"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(locks.is_empty(), "locks left: {locks:?}");
}
