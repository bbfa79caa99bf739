//! Consistency: a backup taken under write load restores to one point in time, and locks
//! never hang a backup or block writers.

use crate::common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TRANSFER: &str = r"\set a1 random(1, 100000)
\set a2 random(1, 100000)
\set d random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance - :d WHERE aid = :a1;
UPDATE pgbench_accounts SET abalance = abalance + :d WHERE aid = :a2;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :a1, :d, CURRENT_TIMESTAMP);
UPDATE pgbench_branches SET bbalance = bbalance + :d WHERE bid = 1;
END;
";

fn pgbench(pg: &Pg, db: &str, args: &[&str]) -> Command {
    let mut c = Command::new(pg.bin.join("pgbench"));
    c.args(args).arg(pg.db_url(db));
    c
}

#[test]
fn backup_under_write_load_is_one_point_in_time() {
    let pg = pg15();
    let db = pg.create_db("load");
    let init = pgbench(&pg, &db, &["-i", "-s", "1", "-q"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("transfer.sql");
    std::fs::write(&script, TRANSFER).unwrap();
    let mut load: Child = pgbench(
        &pg,
        &db,
        &["-n", "-c", "2", "-T", "120", "-f", script.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));

    let setup = Setup::new(pg.clone(), local_repo());
    let mut checked = 0;
    for _ in 0..3 {
        let before = pg.psql(&db, "SELECT count(*) FROM pgbench_history");
        // Small split size: pgbench_accounts is dumped as many block ranges by several jobs.
        let m = setup.backup(&db, &["--jobs", "3", "--split-size", "1MiB"]);
        let after = pg.psql(&db, "SELECT count(*) FROM pgbench_history");
        assert!(
            before != after,
            "no writes happened during the backup: the test proves nothing"
        );
        let parts = m["databases"][0]["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == "pgbench_accounts")
            .count();
        assert!(
            parts > 3,
            "pgbench_accounts was not split ({parts} objects)"
        );
        let restored = setup.restore_new(m["id"].as_str().unwrap(), &db, &[]);
        // Within a table split across jobs: every transfer is either wholly there or not.
        assert_eq!(
            pg.psql(&restored, "SELECT sum(abalance) FROM pgbench_accounts"),
            "0"
        );
        // Across tables: the history and the branch balance agree.
        assert_eq!(
            pg.psql(&restored, "SELECT (SELECT coalesce(sum(delta), 0) FROM pgbench_history) = (SELECT bbalance FROM pgbench_branches WHERE bid = 1)"),
            "t"
        );
        assert_eq!(
            pg.psql(&restored, "SELECT count(*) FROM pgbench_accounts"),
            "100000"
        );
        checked += 1;
    }
    let _ = load.kill();
    let _ = load.wait();
    assert_eq!(checked, 3);
}

#[test]
fn exclusively_locked_table_is_named_not_waited_on_forever() {
    let pg = pg15();
    let db = pg.create_db("locked");
    pg.psql(
        &db,
        "CREATE TABLE free (id int); CREATE TABLE held (id int); INSERT INTO held VALUES (1);",
    );
    let mut holder = Command::new(pg.bin.join("psql"))
        .args(["-X", "-q", "-d", &pg.db_url(&db), "-c"])
        .arg("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the lock is really held.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg.psql(&db, "SELECT count(*) FROM pg_locks WHERE relation = 'held'::regclass AND mode = 'AccessExclusiveLock'") != "1" {
        assert!(Instant::now() < deadline, "lock never taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = Setup::new(pg.clone(), local_repo());
    let url = pg.db_url(&db);
    let started = Instant::now();
    let out = setup.run(&["backup", "--source", &url, "-d", &db, "--lock-timeout", "1"]);
    fails(out, 1, &["public.held", "locked", "--lock-timeout"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "backup waited too long"
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(ok(setup.run(&["list"])).contains("no backups"));
}
