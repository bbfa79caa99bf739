//! `lifeboat prune`, `pin` and `unpin` on real repositories holding a history of several
//! databases over many days. The history is synthetic: real backups made by the binary are
//! cloned under new ids with rewritten times and manifests re-signed with the test's
//! signing key (the test is a key holder), so `list`, `check`, `verify` and `prune` see
//! ordinary backups. Then: the dry-run table exactly; a real run deletes exactly what it
//! planned (and `list` and `check` agree); pins, the newest verified backup, a future-dated
//! and an untrusted backup survive; a backup being written is never touched, an abandoned
//! one is removed; a prune waits for a running backup's lock, or exits 6 without
//! `--retry-lock`.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use lifeboat::demo::human_bytes;
use lifeboat::manifest::Manifest;
use lifeboat::storage::{self, Storage, StorageLocation, StorageSettings};
use std::sync::Arc;

use crate::common::*;

/// One runtime for the test process, so the S3 client's connections outlive each call.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// The repository's store, to write behind lifeboat's back.
fn store_of(setup: &Setup) -> Arc<dyn Storage> {
    let settings = match &setup.repo.local {
        Some(path) => StorageSettings::local(path.clone()),
        None => StorageSettings {
            location: StorageLocation::parse(&setup.repo.url).unwrap(),
            endpoint: Some(s3_endpoint()),
            region: Some("us-east-1".into()),
            path_style: true,
            part_size: 5 << 20,
            upload_concurrency: 2,
            object_lock: None,
        },
    };
    rt().block_on(storage::open(&settings)).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}

/// A backup id for `at`, with a chosen suffix.
fn id_at(at: DateTime<Utc>, suffix: &str) -> String {
    format!("{}-{suffix}", at.format("%Y%m%dT%H%M%S%3fZ"))
}

/// Copies backup `from` to a new backup `to` started at `at`: every object, and its manifest
/// with the id and times rewritten, signed with `signing` (the repository's key, unless a
/// test wants an untrusted one).
fn clone_backup(
    store: &Arc<dyn Storage>,
    signing: &std::path::Path,
    from: &str,
    to: &str,
    at: DateTime<Utc>,
) {
    let key = lifeboat::crypto::sign::read_signing_key_file(signing, None).unwrap();
    rt().block_on(async {
        let src = format!("backups/{from}/");
        let dst = format!("backups/{to}/");
        for o in storage::list_all(store.as_ref(), &src).await.unwrap() {
            let name = o.key.strip_prefix(&src).unwrap();
            if name.starts_with("manifest.json") {
                continue;
            }
            let bytes = store.get(&o.key).await.unwrap();
            store.put(&format!("{dst}{name}"), bytes).await.unwrap();
        }
        let bytes = store.get(&format!("{src}manifest.json")).await.unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        m["id"] = to.into();
        m["started_at"] = at.to_rfc3339().into();
        m["finished_at"] = (at + Duration::seconds(30)).to_rfc3339().into();
        for db in m["databases"].as_array_mut().unwrap() {
            db["consistent_at"] = (at + Duration::seconds(5)).to_rfc3339().into();
        }
        let manifest = serde_json::to_vec_pretty(&m).unwrap();
        let doc = format!("{dst}manifest.json");
        let sig = key.sign(&manifest, &format!("lifeboat {doc}")).unwrap();
        store
            .put(&format!("{doc}.minisig"), sig.into_bytes().into())
            .await
            .unwrap();
        store.put(&doc, manifest.into()).await.unwrap();
    });
}

/// A backup directory with an in-progress marker refreshed `age` ago, by a writer this host
/// cannot judge (another machine): fresh means being written, old means abandoned.
fn in_progress(store: &Arc<dyn Storage>, id: &str, age: Duration) {
    let at = Utc::now() - age;
    let marker = serde_json::json!({
        "id": id,
        "host": "another-host",
        "pid": 4242,
        "started_at": at.to_rfc3339(),
        "heartbeat_at": at.to_rfc3339(),
    });
    rt().block_on(async {
        let prefix = format!("backups/{id}/");
        store
            .put(
                &format!("{prefix}in-progress.json"),
                serde_json::to_vec(&marker).unwrap().into(),
            )
            .await
            .unwrap();
        store
            .put(
                &format!("{prefix}db000-x/pre-data.sql.zst.age"),
                bytes::Bytes::from_static(b"partial"),
            )
            .await
            .unwrap();
    });
}

fn exists(store: &Arc<dyn Storage>, key: &str) -> bool {
    rt().block_on(store.head(key)).unwrap().is_some()
}

fn listed_ids(setup: &Setup) -> Vec<String> {
    let rows: serde_json::Value =
        serde_json::from_str(&ok(setup.run(&["list", "--json"]))).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// `check`'s report; it fails (exit 3) only for the untrusted backup the history holds.
fn checked(setup: &Setup) -> String {
    let out = setup.run(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stdout.contains("1 PROBLEM(S)"), "{stdout}");
    stdout
}

fn stored(manifest: &serde_json::Value) -> u64 {
    serde_json::from_value::<Manifest>(manifest.clone())
        .unwrap()
        .stored_size()
}

/// The plan's table as `prune` prints it, from (id, started in Berlin, size, action,
/// databases, why) rows.
fn table(rows: &[(String, &str, u64, &str, String, String)]) -> String {
    let started = "STARTED (Europe/Berlin)";
    let dw = rows.iter().map(|r| r.4.len()).max().unwrap().max(9);
    let mut out = vec![format!(
        "{:<24} {started:<23} {:>10} {:<6} {:<dw$} WHY",
        "ID", "STORED", "ACTION", "DATABASES"
    )];
    for (id, at, size, action, dbs, why) in rows {
        out.push(
            format!(
                "{id:<24} {at:<23} {:>10} {action:<6} {dbs:<dw$} {why}",
                human_bytes(*size)
            )
            .trim_end()
            .to_string(),
        );
    }
    out.join("\n")
}

/// Two databases; nightly backups of both (01:00 UTC) and afternoon backups of `app` alone,
/// over three months; a backup dated in 2099; one signed by a key nobody trusts.
#[test]
fn prune_plans_exactly_and_deletes_exactly_that_keeping_pins_and_the_verified() {
    let pg = pg15();
    let app = pg.create_db("prune_app");
    let billing = pg.create_db("prune_billing");
    pg.psql(
        &app,
        "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 100) g;",
    );
    pg.psql(
        &billing,
        "CREATE TABLE invoices AS SELECT g AS id FROM generate_series(1, 50) g;",
    );
    let setup = Setup::new(pg.clone(), local_repo());
    let store = store_of(&setup);
    let source = pg.db_url(&app);
    let t_app = setup.backup(&app, &[]);
    let t_both: serde_json::Value = serde_json::from_str(&ok(setup.run(&[
        "backup",
        "--source",
        &source,
        "--database",
        &app,
        "--database",
        &billing,
        "--json",
    ])))
    .unwrap();
    let (t_app_id, t_both_id) = (
        t_app["id"].as_str().unwrap().to_string(),
        t_both["id"].as_str().unwrap().to_string(),
    );

    // The history (UTC). In Berlin (CET since 2026-10-25) s10 falls on November 4.
    let history: Vec<(&str, &str, bool)> = vec![
        ("s01", "2026-08-15 01:00", true),
        ("s02", "2026-09-20 01:00", true),
        ("s03", "2026-10-01 01:00", true),
        ("s04", "2026-10-20 01:00", true),
        ("s05", "2026-11-01 01:00", true),
        ("s06", "2026-11-02 01:00", true),
        ("s07", "2026-11-02 13:00", false),
        ("s08", "2026-11-03 01:00", true),
        ("s09", "2026-11-03 13:00", false),
        ("s10", "2026-11-03 23:30", false),
        ("s11", "2026-11-04 01:00", true),
        ("s12", "2099-01-01 00:00", false),
    ];
    let mut ids = std::collections::BTreeMap::new();
    for (name, at, both) in &history {
        let id = id_at(utc(at), &format!("a0{}", &name[1..]));
        let from = if *both { &t_both_id } else { &t_app_id };
        clone_backup(&store, &setup.keys.signing, from, &id, utc(at));
        ids.insert(*name, id);
    }
    // Signed by a key nobody configured: not counted, not deleted by policy.
    let stranger = keys();
    let s13 = id_at(utc("2026-11-04 12:00"), "a013");
    clone_backup(
        &store,
        &stranger.signing,
        &t_app_id,
        &s13,
        utc("2026-11-04 12:00"),
    );
    ids.insert("s13", s13.clone());
    // The real backups were only templates.
    ok(setup.run(&["forget", &t_app_id, &t_both_id]));
    // Ids sort by time, as `list` does.
    let mut all: Vec<String> = ids.values().cloned().collect();
    all.sort();
    assert_eq!(listed_ids(&setup), all);
    // `check` agrees: 12 good backups, and one problem, the untrusted one.
    let check = checked(&setup);
    assert!(check.contains("checked 12 backups"), "{check}");
    assert!(check.contains(&format!("PROBLEM  backup {s13}")), "{check}");

    // A pin, a verification (the real command, on the clone), a backup being written and
    // one abandoned.
    let pinned = ok(setup.run(&["pin", &ids["s02"], "--reason", "audit 2026"]));
    assert!(pinned.contains("pinned backup"), "{pinned}");
    let again = ok(setup.run(&["pin", &ids["s02"], "--reason", "other"]));
    assert!(again.contains("already pinned (audit 2026)"), "{again}");
    ok(setup.run(&["verify", &ids["s03"]]));
    let writing = id_at(Utc::now(), "beef");
    in_progress(&store, &writing, Duration::seconds(10));
    let crashed = id_at(Utc::now() - Duration::hours(3), "dead");
    in_progress(&store, &crashed, Duration::hours(2));

    let policy = [
        "--keep-daily",
        "2",
        "--keep-monthly",
        "2",
        "--timezone",
        "Europe/Berlin",
    ];
    let mut dry = vec!["prune", "--dry-run"];
    dry.extend(policy);
    let out = ok(setup.run(&dry));
    println!("{out}");

    let (app_size, both_size) = (stored(&t_app), stored(&t_both));
    let both = format!("{app},{billing}");
    let row = |name: &str, at: &'static str, action: &'static str, why: &str| {
        let is_both = history.iter().any(|(n, _, b)| *n == name && *b);
        (
            ids[name].clone(),
            at,
            if is_both { both_size } else { app_size },
            action,
            if is_both { both.clone() } else { app.clone() },
            why.to_string(),
        )
    };
    let verified = "newest verified";
    let rows = vec![
        row("s01", "2026-08-15 03:00:00", "delete", ""),
        row("s02", "2026-09-20 03:00:00", "keep", "pinned: audit 2026"),
        row("s03", "2026-10-01 03:00:00", "keep", verified),
        row("s04", "2026-10-20 03:00:00", "keep", "monthly 2026-10"),
        row("s05", "2026-11-01 02:00:00", "delete", ""),
        row("s06", "2026-11-02 02:00:00", "delete", ""),
        row("s07", "2026-11-02 14:00:00", "delete", ""),
        row(
            "s08",
            "2026-11-03 02:00:00",
            "keep",
            &format!("daily 2026-11-03 ({billing})"),
        ),
        row("s09", "2026-11-03 14:00:00", "keep", "daily 2026-11-03"),
        row("s10", "2026-11-04 00:30:00", "delete", ""),
        row(
            "s11",
            "2026-11-04 02:00:00",
            "keep",
            "daily 2026-11-04, monthly 2026-11",
        ),
        row(
            "s13",
            "2026-11-04 13:00:00",
            "keep",
            "signature not verified: not counted, left alone",
        ),
        row(
            "s12",
            "2099-01-01 01:00:00",
            "keep",
            "future-dated (kept, not counted)",
        ),
    ];
    let expected = format!(
        "dry run: nothing is deleted\n{}\nin progress, never touched: {writing}\nabandoned write \
         (its process is gone): {crashed}, removed by a real run\nwould delete 5 of 13 backup(s) \
         ({}), keep 8\n",
        table(&rows),
        human_bytes(2 * app_size + 3 * both_size)
    );
    let (header, rest) = out.split_once('\n').unwrap();
    assert!(
        header.ends_with(
            ": keep 2 daily, 2 monthly; the newest verified backup of each database; periods \
             in Europe/Berlin"
        ),
        "{header}"
    );
    assert_eq!(rest, expected, "\n{out}");
    // Nothing changed.
    assert_eq!(listed_ids(&setup), all);
    assert!(exists(
        &store,
        &format!("backups/{crashed}/in-progress.json")
    ));

    // forget refuses the pinned backup, before deleting anything it was given.
    fails(
        setup.run(&["forget", &ids["s01"], &ids["s02"]]),
        1,
        &["is pinned (audit 2026)", "lifeboat unpin"],
    );
    assert!(listed_ids(&setup).contains(&ids["s01"]));

    // The real run: the same table, then exactly the planned deletions.
    let mut real = vec!["prune", "--json"];
    real.extend(policy);
    let report: serde_json::Value = serde_json::from_str(&ok(setup.run(&real))).unwrap();
    let deleted: Vec<&str> = report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["deleted"] == true)
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let planned: Vec<&str> = rows
        .iter()
        .filter(|r| r.3 == "delete")
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(deleted, planned);
    assert_eq!(report["abandoned"][0]["removed"], true);
    let kept: Vec<String> = rows
        .iter()
        .filter(|r| r.3 == "keep")
        .map(|r| r.0.clone())
        .collect();
    let mut kept_sorted = kept.clone();
    kept_sorted.sort();
    assert_eq!(listed_ids(&setup), kept_sorted);
    let check = checked(&setup);
    assert!(check.contains("checked 7 backups"), "{check}");
    assert!(check.contains("1 PROBLEM(S)"), "{check}");
    // The writer's directory is untouched; the abandoned one is gone; no lock is left.
    assert!(exists(
        &store,
        &format!("backups/{writing}/in-progress.json")
    ));
    assert!(exists(
        &store,
        &format!("backups/{writing}/db000-x/pre-data.sql.zst.age")
    ));
    assert!(!exists(
        &store,
        &format!("backups/{crashed}/in-progress.json")
    ));
    let locks = rt()
        .block_on(storage::list_all(store.as_ref(), "locks/"))
        .unwrap();
    assert!(locks.is_empty(), "{locks:?}");

    // A second run with the same policy changes nothing.
    let mut again = vec!["prune"];
    again.extend(policy);
    let out = ok(setup.run(&again));
    assert!(out.contains("deleted 0 of 8 backup(s)"), "{out}");

    // Unpinned, and without keep-verified, the pinned and the verified backups go.
    let out = ok(setup.run(&["unpin", &ids["s02"]]));
    assert!(out.contains("unpinned backup"), "{out}");
    fails(setup.run(&["unpin", &ids["s02"]]), 1, &["is not pinned"]);
    let mut no_verified = vec!["prune", "--no-keep-verified"];
    no_verified.extend(policy);
    let out = ok(setup.run(&no_verified));
    assert!(out.contains("deleted 2 of 8 backup(s)"), "{out}");
    let left = listed_ids(&setup);
    assert!(
        !left.contains(&ids["s02"]) && !left.contains(&ids["s03"]),
        "{left:?}"
    );
    // The verification record outlives its backup: evidence for audits.
    let records = rt()
        .block_on(storage::list_all(
            store.as_ref(),
            &format!("verifications/{}/", ids["s03"]),
        ))
        .unwrap();
    assert!(!records.is_empty());
}

#[test]
fn an_empty_policy_and_bad_settings_are_refused_before_anything_is_read() {
    let setup = Setup::new(pg15(), local_repo());
    fails(setup.run(&["prune"]), 2, &["retention policy is empty"]);
    fails(setup.run(&["prune", "--keep-last", "0"]), 2, &["empty"]);
    fails(
        setup.run(&["prune", "--keep-daily", "7", "--timezone", "Mars/Olympus"]),
        2,
        &["Mars/Olympus", "IANA"],
    );
    fails(
        setup.run(&["prune", "--keep-daily", "seven"]),
        2,
        &["unlimited"],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(&config, "[retention]\nkeep_daily = -4\n").unwrap();
    let mut env = setup.env();
    env.push(("LIFEBOAT_CONFIG".into(), config.display().to_string()));
    fails(lifeboat(&["prune"], &env), 2, &["[retention] keep_daily"]);
    // From the file: a valid policy on an empty repository.
    std::fs::write(
        &config,
        "[retention]\nkeep_daily = 7\nkeep_yearly = \"unlimited\"\n",
    )
    .unwrap();
    let out = ok(lifeboat(&["prune", "--dry-run"], &env));
    assert!(out.contains("keep 7 daily, all yearly"), "{out}");
    // restic's -1 for unlimited, as a flag.
    let out = ok(lifeboat(
        &["prune", "--dry-run", "--keep-monthly", "-1"],
        &env,
    ));
    assert!(out.contains("keep all monthly"), "{out}");
    assert!(out.contains("no backups"), "{out}");
    fails(
        setup.run(&["pin", "20260101T000000000Z-0000"]),
        1,
        &["not found"],
    );
    let out = ok(setup.run(&["pin", "--list"]));
    assert!(out.contains("no pinned backups"), "{out}");
}

/// On S3 (moto): pins and prune through the same paths.
#[test]
fn prune_and_pins_on_s3() {
    let pg = pg15();
    let db = pg.create_db("prune_s3");
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g;",
    );
    let setup = Setup::new(pg.clone(), s3_repo());
    let store = store_of(&setup);
    let template = setup.backup(&db, &[]);
    let template_id = template["id"].as_str().unwrap().to_string();
    let days: Vec<String> = (1..=4)
        .map(|d| {
            let at = utc(&format!("2026-10-0{d} 04:00"));
            let id = id_at(at, &format!("c00{d}"));
            clone_backup(&store, &setup.keys.signing, &template_id, &id, at);
            id
        })
        .collect();
    ok(setup.run(&["forget", &template_id]));
    ok(setup.run(&["pin", &days[0]]));
    let out = ok(setup.run(&["pin", "--list"]));
    assert!(out.contains(&days[0]), "{out}");

    let out = ok(setup.run(&["prune", "--keep-last", "1"]));
    assert!(out.contains("deleted 2 of 4 backup(s)"), "{out}");
    assert!(
        out.contains(&format!("{} ", days[0])) && out.contains("pinned"),
        "{out}"
    );
    assert_eq!(listed_ids(&setup), [days[0].clone(), days[3].clone()]);
    ok(setup.run(&["check"]));
    assert!(exists(&store, &format!("pins/{}.json", days[0])));
}

/// A database big enough that a `--compression-level 19` backup runs for several seconds.
fn slow_db(pg: &Pg) -> String {
    let db = pg.create_db("prune_lock");
    pg.psql(
        &db,
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s \
         FROM generate_series(1, 200000) g;",
    );
    db
}

#[test]
fn prune_waits_for_a_running_backups_lock_or_exits_6() {
    let pg = pg15();
    let db = slow_db(&pg);
    let setup = Setup::new(pg.clone(), local_repo());
    let first = setup.backup(&db, &["--compression-level", "1"]);
    let first_id = first["id"].as_str().unwrap().to_string();
    let mut backup = setup.spawn_backup(&db, &["--compression-level", "19"]);
    let locks = setup.repo.local.as_ref().unwrap().join("locks");
    wait_while_running(&mut backup, "the backup takes its lock", || {
        std::fs::read_dir(&locks).is_ok_and(|mut d| d.next().is_some())
    });

    // Without --retry-lock: exit 6 at once, naming the holder; nothing deleted.
    fails(
        setup.run(&["prune", "--keep-last", "1"]),
        6,
        &["locked", "shared lock of `lifeboat backup`", "--retry-lock"],
    );
    assert_eq!(listed_ids(&setup), vec![first_id.clone()]);
    // A dry run takes no lock: it plans while the backup runs.
    let out = ok(setup.run(&["prune", "--keep-last", "1", "--dry-run"]));
    assert!(out.contains("would delete 0 of 1"), "{out}");

    // With it: waits for the backup to finish, then keeps only its backup.
    let out = setup.run(&["prune", "--keep-last", "1", "--retry-lock", "5m"]);
    assert!(
        backup.try_wait().unwrap().is_some(),
        "prune went ahead while the backup was running"
    );
    assert!(backup.wait().unwrap().success(), "the backup itself failed");
    let out = ok(out);
    assert!(out.contains("deleted 1 of 2 backup(s)"), "{out}");
    let left = listed_ids(&setup);
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], first_id);
}

/// A bucket with S3 Object Lock (hence versioned) on the moto server, and a repository in
/// it whose config locks for `retain`.
fn locked_setup(pg: &Pg, retain: &str, dir: &std::path::Path) -> Setup {
    let bucket = unique("lockbkt").replace('_', "-");
    rt().block_on(async {
        s3_client()
            .create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .expect("create a bucket with Object Lock on moto");
    });
    let config = dir.join(format!("{bucket}.toml"));
    std::fs::write(
        &config,
        format!(
            "[repository]\npart_size = \"5MiB\"\nobject_lock_mode = \"governance\"\nobject_lock_retain = \"{retain}\"\n"
        ),
    )
    .unwrap();
    let mut repo = s3_repo_in(&bucket);
    repo.env
        .push(("LIFEBOAT_CONFIG".into(), config.display().to_string()));
    Setup::new(pg.clone(), repo)
}

/// Every version and delete marker of the objects under `prefix` of the setup's bucket.
fn versions(setup: &Setup, prefix: &str) -> Vec<String> {
    let out = rt()
        .block_on(
            s3_client()
                .list_object_versions()
                .bucket(setup.repo.bucket())
                .prefix(format!("nightly/{prefix}"))
                .send(),
        )
        .unwrap();
    let mut all: Vec<String> = out
        .versions()
        .iter()
        .map(|v| format!("version {}", v.key().unwrap_or_default()))
        .collect();
    all.extend(
        out.delete_markers()
            .iter()
            .map(|m| format!("delete marker {}", m.key().unwrap_or_default())),
    );
    all
}

#[test]
fn object_lock_retains_backups_and_prune_deletes_them_only_after_their_date() {
    let pg = pg15();
    let db = pg.create_db("objlock");
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g; \
         CREATE TABLE big AS SELECT md5(g::text) || md5((g * 7)::text) AS v \
         FROM generate_series(1, 300000) g;",
    );
    let dir = tempfile::tempdir().unwrap();

    // Locked for an hour: the backup's documents and data carry the lock; routine objects
    // (locks, the in-progress marker) do not, and leave no version behind when removed.
    let setup = locked_setup(&pg, "1h", dir.path());
    let first = setup.backup(&db, &[]);
    let first_id = first["id"].as_str().unwrap().to_string();
    let head = |key: &str| {
        rt().block_on(
            s3_client()
                .head_object()
                .bucket(setup.repo.bucket())
                .key(format!("nightly/{key}"))
                .send(),
        )
        .unwrap()
    };
    let manifest = head(&format!("backups/{first_id}/manifest.json"));
    assert_eq!(
        manifest.object_lock_mode().map(|m| m.as_str()),
        Some("GOVERNANCE")
    );
    let until = manifest.object_lock_retain_until_date().unwrap().secs();
    let in_an_hour = Utc::now().timestamp() + 3600;
    assert!(
        (in_an_hour - 120..=in_an_hour).contains(&until),
        "retained until {until}, expected about {in_an_hour}"
    );
    let tables = first["databases"][0]["tables"].as_array().unwrap();
    let small = tables.iter().find(|t| t["name"] == "t").unwrap();
    let data = first_key(&small["object"]);
    assert!(head(&format!("backups/{first_id}/{data}"))
        .object_lock_retain_until_date()
        .is_some());
    // The big table went up in several parts, each with the Content-MD5 S3 requires of
    // locked writes (moto accepts the lock on CreateMultipartUpload but does not keep it).
    let big = tables.iter().find(|t| t["name"] == "big").unwrap();
    let etag = head(&format!("backups/{first_id}/{}", first_key(&big["object"])))
        .e_tag()
        .unwrap_or_default()
        .to_string();
    assert!(etag.contains('-'), "a multipart upload's ETag, got {etag}");
    assert_eq!(versions(&setup, "locks/"), Vec::<String>::new());
    assert_eq!(
        versions(&setup, &format!("backups/{first_id}/in-progress")),
        Vec::<String>::new()
    );

    let out = setup.run(&["config", "check"]);
    assert!(
        text(&out).contains("S3 Object Lock governance for 1h (bucket checked)"),
        "{}",
        text(&out)
    );

    // Nothing deletes it early, and each path says why and until when.
    fails(
        setup.run(&["forget", &first_id]),
        1,
        &[&first_id, "S3 Object Lock until"],
    );
    setup.backup(&db, &[]);
    let out = ok(setup.run(&["prune", "--keep-last", "1"]));
    assert!(out.contains("object lock until"), "{out}");
    assert!(out.contains("deleted 0 of 2 backup(s)"), "{out}");
    assert_eq!(listed_ids(&setup).len(), 2);
    setup.restore_new(&first_id, &db, &[]);

    // Locked for 3 seconds: once the date has passed, prune deletes the old backup, every
    // version of every object (no delete markers hiding bytes that are still billed).
    let short = locked_setup(&pg, "3s", dir.path());
    let old = short.backup(&db, &[])["id"].as_str().unwrap().to_string();
    let new = short.backup(&db, &[])["id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let out = ok(short.run(&["prune", "--keep-last", "1"]));
    assert!(out.contains("deleted 1 of 2 backup(s)"), "{out}");
    assert_eq!(listed_ids(&short), [new]);
    assert_eq!(
        versions(&short, &format!("backups/{old}/")),
        Vec::<String>::new()
    );
    ok(short.run(&["check"]));
}

#[test]
fn object_lock_settings_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let keys = keys();
    let key_env = |config: &str, url: &str| {
        vec![
            ("LIFEBOAT_CONFIG".to_string(), config.to_string()),
            ("LIFEBOAT_REPO".to_string(), url.to_string()),
            ("LIFEBOAT_S3_ENDPOINT".to_string(), s3_endpoint()),
            ("LIFEBOAT_S3_PATH_STYLE".to_string(), "true".to_string()),
            (
                "LIFEBOAT_SIGNING_KEY_FILE".to_string(),
                keys.signing.display().to_string(),
            ),
            (
                "LIFEBOAT_AGE_RECIPIENTS".to_string(),
                keys.recipient.clone(),
            ),
        ]
    };
    // A bucket without Object Lock: refused when the store is opened, naming the bucket.
    let plain = s3_repo();
    let config = write(
        "lock.toml",
        "[repository]\nobject_lock_mode = \"compliance\"\nobject_lock_retain = \"7d\"\n",
    );
    fails(
        lifeboat(&["init"], &key_env(&config, &plain.url)),
        2,
        &[&plain.bucket(), "does not have S3 Object Lock enabled"],
    );
    // A directory repository cannot be locked.
    let local = dir.path().join("repo").display().to_string();
    fails(
        lifeboat(&["init"], &key_env(&config, &local)),
        2,
        &["object_lock_mode needs an S3 repository"],
    );
    // A mode without a duration, or one derived from nothing.
    let bare = write(
        "bare.toml",
        "[repository]\nobject_lock_mode = \"governance\"\n",
    );
    fails(
        lifeboat(&["init"], &key_env(&bare, &plain.url)),
        2,
        &["nothing says how long to retain"],
    );
    let bad = write(
        "bad.toml",
        "[repository]\nobject_lock_mode = \"forever\"\nobject_lock_retain = \"7d\"\n",
    );
    fails(
        lifeboat(&["init"], &key_env(&bad, &plain.url)),
        2,
        &["`forever` is neither `governance` nor `compliance`"],
    );
    // Derived from the retention policy: every backup younger than keep_within is kept.
    let derived = write(
        "derived.toml",
        "[repository]\nobject_lock_mode = \"governance\"\n[retention]\nkeep_within = \"2d\"\n",
    );
    fails(
        lifeboat(&["init"], &key_env(&derived, &plain.url)),
        2,
        &["does not have S3 Object Lock enabled"],
    );
}

/// A prune that fails after deleting some of its plan exits 8 (partial), records the failure
/// in the metrics textfile without inventing success figures, and the next run records its
/// own.
#[test]
fn a_prune_that_fails_midway_is_partial_and_the_metrics_say_so() {
    let pg = pg15();
    let db = pg.create_db("prune_partial");
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let setup = locked_setup(&pg, "1s", dir.path());
    let store = store_of(&setup);
    let template = setup.backup(&db, &[]);
    let template_id = template["id"].as_str().unwrap().to_string();
    let days: Vec<String> = (1..=3)
        .map(|d| {
            let at = utc(&format!("2026-10-0{d} 04:00"));
            let id = id_at(at, &format!("d00{d}"));
            clone_backup(&store, &setup.keys.signing, &template_id, &id, at);
            id
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    ok(setup.run(&["forget", &template_id]));

    // One object of the second day's backup is retained for a few seconds more, behind
    // lifeboat's back: its manifest is not, so the plan deletes it, and the delete stops
    // at that object.
    let data = format!(
        "nightly/backups/{}/{}",
        days[1],
        first_key(&template["databases"][0]["tables"][0]["object"])
    );
    rt().block_on(async {
        let body = s3_client()
            .get_object()
            .bucket(setup.repo.bucket())
            .key(&data)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let until = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        s3_client()
            .put_object()
            .bucket(setup.repo.bucket())
            .key(&data)
            .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
            .object_lock_retain_until_date(aws_smithy_types::DateTime::from(until))
            .body(body.into())
            .send()
            .await
            .unwrap();
    });
    let metrics = dir.path().join("lifeboat.prom");
    let metrics_arg = metrics.display().to_string();
    let err = fails(
        setup.run(&["prune", "--keep-last", "1", "--metrics-file", &metrics_arg]),
        8,
        &[
            "1 of the 2 backups the plan deletes were deleted",
            "S3 Object Lock until",
            "run it again for the rest",
        ],
    );
    assert!(!err.contains("panicked"), "{err}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("lifeboat_prune_last_failure_timestamp_seconds{"),
        "{text}"
    );
    assert!(!text.contains("lifeboat_prune_last_success"), "{text}");
    assert_eq!(listed_ids(&setup), [days[2].clone()]);

    // The next run succeeds and records its figures. What the failed delete left (a backup
    // without its manifest: never listed, never restored) looks like a write that has not
    // put its marker yet, so it is left alone until its newest object is stale.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let out = ok(setup.run(&["prune", "--keep-last", "1", "--metrics-file", &metrics_arg]));
    assert!(out.contains("deleted 0 of 1 backup(s)"), "{out}");
    assert!(out.contains(&days[1]), "{out}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "lifeboat_prune_last_deleted_backups{repository=",
        "lifeboat_repository_backups{repository=",
        "lifeboat_prune_last_success_timestamp_seconds{",
        "lifeboat_prune_last_failure_timestamp_seconds{",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(text.contains(",database=\"\"} 1\n"), "{text}");
    ok(setup.run(&["check"]));
}
