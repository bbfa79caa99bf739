//! Repository locks between real processes on a real repository: a backup's shared lock
//! keeps `forget` (exclusive) out until it ends; `--retry-lock` waits for it; a killed
//! holder's lock is stale at once on the same host; `unlock` removes what is stale.

use crate::common::*;

/// A database big enough that a `--compression-level 19` backup runs for several seconds.
fn slow_db(pg: &Pg) -> String {
    let db = pg.create_db("lock");
    pg.psql(&db, "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 1500000) g;");
    db
}

fn start_slow_backup(setup: &Setup, db: &str) -> std::process::Child {
    let url = setup.pg.db_url(db);
    setup.spawn(&[
        "backup",
        "--source",
        &url,
        "--database",
        db,
        "--jobs",
        "1",
        "--compression-level",
        "19",
    ])
}

/// Waits until the repository holds a lock file.
fn wait_for_lock(setup: &Setup, child: &mut std::process::Child) {
    let locks = setup.repo.local.as_ref().unwrap().join("locks");
    // A whole lock file, not the temporary file it is written through (a backup killed while
    // that exists holds no lock).
    wait_while_running(child, "the backup takes its lock", || {
        std::fs::read_dir(&locks).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
    });
}

#[test]
fn forget_waits_for_a_running_backup_and_retry_lock_gets_through() {
    let pg = pg15();
    let db = slow_db(&pg);
    let setup = Setup::new(pg.clone(), local_repo());
    let first = setup.backup(&db, &["--compression-level", "1"]);
    let first_id = first["id"].as_str().unwrap();

    let mut backup = start_slow_backup(&setup, &db);
    wait_for_lock(&setup, &mut backup);
    // Without --retry-lock: refused at once, naming the holder, exit 6, nothing deleted.
    fails(
        setup.run(&["forget", first_id]),
        6,
        &["locked", "shared lock of `lifeboat backup`", "--retry-lock"],
    );
    assert!(ok(setup.run(&["list"])).contains(first_id));
    // With it: waits for the backup to end, then deletes.
    let out = setup.run(&["forget", first_id, "--retry-lock", "5m"]);
    assert!(
        backup.try_wait().unwrap().is_some(),
        "forget went ahead while the backup was running"
    );
    assert!(backup.wait().unwrap().success(), "the backup itself failed");
    assert!(ok(out).contains(&format!("deleted backup {first_id}")));
    let listed = ok(setup.run(&["list"]));
    assert!(!listed.contains(first_id), "{listed}");
    // The backup that held the lock completed, and every lock is gone.
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let locks = setup.repo.local.as_ref().unwrap().join("locks");
    assert!(std::fs::read_dir(&locks).map_or(true, |mut d| d.next().is_none()));
}

#[test]
fn a_killed_holders_lock_is_stale_at_once_and_unlock_removes_it() {
    let pg = pg15();
    let db = slow_db(&pg);
    let setup = Setup::new(pg.clone(), local_repo());
    let first = setup.backup(&db, &["--compression-level", "1"]);
    let mut backup = start_slow_backup(&setup, &db);
    wait_for_lock(&setup, &mut backup);
    backup.kill().unwrap();
    backup.wait().unwrap();
    // Same host and PID namespace, process gone: the lock does not block.
    let out = ok(setup.run(&["forget", first["id"].as_str().unwrap()]));
    assert!(out.contains("deleted backup"), "{out}");
    // The killed run's lock file is still there until unlock removes it.
    let removed = ok(setup.run(&["unlock"]));
    assert!(removed.contains("removed 1 lock(s); 0 left"), "{removed}");
}

#[test]
fn two_exclusive_contenders_never_both_proceed() {
    let pg = pg15();
    let db = pg.create_db("excl");
    pg.psql(&db, "CREATE TABLE t (id int)");
    let setup = Setup::new(pg.clone(), local_repo());
    let ids: Vec<String> = (0..2)
        .map(|_| setup.backup(&db, &[])["id"].as_str().unwrap().to_string())
        .collect();
    // Both start at once; each either deletes its backup or reports the lock (exit 6).
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                .args(["forget", id, "--retry-lock", "60s"])
                .envs(setup.env())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains("no backups"), "{listed}");
}
