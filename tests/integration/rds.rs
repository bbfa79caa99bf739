//! Amazon RDS and Aurora against moto (one server, every region): snapshot → copy to a DR
//! region → list → prune; point-in-time restore inside and outside the window; restore from a
//! DR-region copy; an Aurora cluster snapshot, copy and restore; the errors moto returns
//! itself (instance not found, KMS key not accessible) and, through tests/rdsfault.py, the
//! real AWS error codes it does not (SnapshotQuotaExceeded, InvalidDBInstanceState, and
//! Throttling followed by success, which proves the retries).

use crate::common::*;
use std::io::BufRead;

const SOURCE: &str = "us-east-1";
const DR: &str = "us-west-2";

fn rds_client(region: &str) -> aws_sdk_rds::Client {
    let conf = aws_sdk_rds::config::Builder::new()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(s3_endpoint())
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_rds::Client::from_conf(conf)
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// A KMS key in `region` (moto's KMS, through boto3 in the test venv).
fn kms_key(region: &str) -> String {
    let python = std::env::var("LIFEBOAT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import boto3; k=boto3.client('kms', region_name='{region}', endpoint_url='{}', \
         aws_access_key_id='testing', aws_secret_access_key='testing'); \
         print(k.create_key()['KeyMetadata']['Arn'])",
        s3_endpoint()
    );
    let out = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A PostgreSQL DB instance in the source region, encrypted with a key of that region when
/// `encrypted`.
fn create_instance(name: &str, encrypted: bool) {
    let key = encrypted.then(|| kms_key(SOURCE));
    block(async {
        rds_client(SOURCE)
            .create_db_instance()
            .db_instance_identifier(name)
            .engine("postgres")
            .engine_version("16.4")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("app")
            .master_user_password("not-a-real-password")
            .backup_retention_period(7)
            .storage_encrypted(encrypted)
            .set_kms_key_id(key)
            .send()
            .await
            .expect("create the DB instance on moto");
    });
}

fn instance_exists(region: &str, name: &str) -> bool {
    block(async {
        rds_client(region)
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
            .is_ok()
    })
}

fn snapshot_ids(region: &str) -> Vec<String> {
    block(async {
        rds_client(region)
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .iter()
            .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
            .collect()
    })
}

/// A repository and keys, plus a configuration file with `rds` appended.
struct RdsSetup {
    setup: Setup,
    config: std::path::PathBuf,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl RdsSetup {
    fn new(rds: &str) -> Self {
        let setup = Setup::new(pg15(), local_repo());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lifeboat.toml");
        std::fs::write(
            &config,
            format!("[rds]\npoll_interval = \"100ms\"\n\n{rds}"),
        )
        .unwrap();
        RdsSetup {
            setup,
            config,
            endpoint: s3_endpoint(),
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut env = self.setup.env();
        env.push(("LIFEBOAT_RDS_ENDPOINT".into(), self.endpoint.clone()));
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        lifeboat(&all, &env)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&ok(self.run(args))).expect("json")
    }
}

fn target_toml(name: &str, instance: &str, extra: &str) -> String {
    format!(
        "[[rds.target]]\nname = \"{name}\"\ninstance = \"{instance}\"\nregion = \"{SOURCE}\"\n{extra}"
    )
}

/// The listed snapshots of one region as (id, recorded, encrypted, kms key).
fn listed(list: &serde_json::Value, region: &str) -> Vec<serde_json::Value> {
    list[0]["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .unwrap()["snapshots"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn snapshot_copy_list_prune_never_touches_what_is_not_lifeboats() {
    let name = unique("scp").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, true);
    let dr_key = kms_key(DR);
    let s = RdsSetup::new(&target_toml(
        &name,
        &instance,
        &format!(
            "retention = {{ keep_last = 1 }}\ntags = {{ team = \"payments\" }}\n\n\
             [[rds.target.copy]]\nregion = \"{DR}\"\nkms_key_id = \"{dr_key}\"\n"
        ),
    ));

    // Three sets: each a snapshot in the source region and an encrypted copy in the DR region.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let sets = s.json(&["rds", "snapshot", "--json"]);
        let set = &sets[0];
        assert_eq!(set["snapshot"]["status"], "available");
        assert_eq!(set["snapshot"]["tags"]["team"], "payments");
        assert_eq!(set["snapshot"]["tags"]["lifeboat:target"], name.as_str());
        assert_eq!(set["copies"][0]["region"], DR);
        assert_eq!(set["copies"][0]["encrypted"], true);
        assert_eq!(set["copies"][0]["kms_key_id"], dr_key.as_str());
        ids.push(set["snapshot"]["id"].as_str().unwrap().to_string());
    }
    // The sets are recorded, signed, in the repository.
    let records = s.setup.repo.local.as_ref().unwrap().join("rds").join(&name);
    let files: Vec<_> = std::fs::read_dir(&records).unwrap().collect();
    assert_eq!(files.len(), 6, "three records, each with its .minisig");

    // Not lifeboat's: an untagged manual snapshot, and one tagged by hand but not recorded.
    let untagged = format!("{name}-by-hand");
    let planted = format!("{name}-planted");
    block(async {
        let c = rds_client(SOURCE);
        c.create_db_snapshot()
            .db_instance_identifier(&instance)
            .db_snapshot_identifier(&untagged)
            .send()
            .await
            .unwrap();
        c.create_db_snapshot()
            .db_instance_identifier(&instance)
            .db_snapshot_identifier(&planted)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("lifeboat:target")
                    .value(&name)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });

    let list = s.json(&["rds", "list", "--json"]);
    let source = listed(&list, SOURCE);
    assert_eq!(
        source.len(),
        4,
        "three sets and the hand-tagged one: {list:#}"
    );
    for snap in &source {
        let recorded = snap["recorded"].as_bool().unwrap();
        assert_eq!(recorded, snap["id"] != planted.as_str(), "{snap:#}");
        assert_eq!(snap["engine_version"], "16.4");
        if recorded {
            assert_eq!(snap["copies"][0]["status"], "available", "{snap:#}");
        }
    }
    assert_eq!(listed(&list, DR).len(), 3);
    let table = ok(s.run(&["rds", "list"]));
    assert!(table.contains("us-west-2: available"), "{table}");

    // Dry run: the plan, nothing deleted.
    let plan = ok(s.run(&["rds", "prune", "--dry-run"]));
    assert!(plan.contains("dry run: nothing is deleted"), "{plan}");
    assert!(plan.contains("would delete 4 of 7"), "{plan}");
    assert!(
        plan.contains("no trusted lifeboat record names it"),
        "{plan}"
    );
    assert!(plan.contains("newest copy in a DR region"), "{plan}");
    assert_eq!(
        snapshot_ids(DR)
            .iter()
            .filter(|i| i.contains(&name))
            .count(),
        3
    );

    let done = ok(s.run(&["rds", "prune"]));
    assert!(done.contains("deleted 4 of 7"), "{done}");
    let left_source: Vec<String> = snapshot_ids(SOURCE)
        .into_iter()
        .filter(|i| i.contains(&name))
        .collect();
    let newest = ids.last().unwrap();
    for kept in [&untagged, &planted, newest] {
        assert!(left_source.contains(kept), "{kept} kept: {left_source:?}");
    }
    assert_eq!(left_source.len(), 3, "{left_source:?}");
    let left_dr: Vec<String> = snapshot_ids(DR)
        .into_iter()
        .filter(|i| i.contains(&name))
        .collect();
    assert_eq!(left_dr, vec![newest.clone()], "the newest DR copy survives");
    // The evidence stays.
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 6);
}

#[test]
fn point_in_time_restore_inside_and_outside_the_window() {
    let name = unique("pitr").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, false);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let s = RdsSetup::new(&target_toml(&name, &instance, ""));

    let err = fails(
        s.run(&[
            "rds",
            "restore",
            "--at",
            "2020-01-01 00:00",
            "--target-instance",
            &format!("{name}-old"),
        ]),
        9,
        &["outside the restorable window", "2020-01-01T00:00:00+00:00"],
    );
    assert!(
        err.contains(&format!("RDS target `{name}` in {SOURCE}")),
        "{err}"
    );
    assert!(!instance_exists(SOURCE, &format!("{name}-old")));

    // Dry run: the calls, nothing made.
    let dry = ok(s.run(&[
        "rds",
        "restore",
        "--latest",
        "--target-instance",
        &format!("{name}-dry"),
        "--instance-class",
        "db.t3.small",
        "--dry-run",
    ]));
    assert!(dry.contains("RestoreDBInstanceToPointInTime"), "{dry}");
    assert!(
        dry.contains(&format!("SourceDBInstanceIdentifier={instance}")),
        "{dry}"
    );
    assert!(dry.contains("UseLatestRestorableTime=true"), "{dry}");
    assert!(dry.contains("DBInstanceClass=db.t3.small"), "{dry}");
    assert!(dry.contains("PubliclyAccessible=false"), "{dry}");
    assert!(!instance_exists(SOURCE, &format!("{name}-dry")));

    // Inside the window: a second ago.
    let at = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let restored = format!("{name}-pitr");
    let out = s.json(&[
        "rds",
        "restore",
        "--at",
        &at,
        "--target-instance",
        &restored,
        "--json",
    ]);
    assert_eq!(out["instance"], restored.as_str());
    assert!(
        out["endpoint"].as_str().unwrap().contains(&restored),
        "{out:#}"
    );
    assert!(out["seconds"].as_f64().is_some());
    assert!(instance_exists(SOURCE, &restored));
    assert!(
        instance_exists(SOURCE, &instance),
        "the source is untouched"
    );

    // The source itself is refused as a target.
    fails(
        s.run(&["rds", "restore", "--latest", "--target-instance", &instance]),
        9,
        &["is the source itself"],
    );
}

#[test]
fn restore_from_a_dr_region_copy() {
    let name = unique("drr").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, false);
    let s = RdsSetup::new(&target_toml(
        &name,
        &instance,
        &format!("\n[[rds.target.copy]]\nregion = \"{DR}\"\n"),
    ));
    let set = s.json(&["rds", "snapshot", "--json"]);
    let id = set[0]["snapshot"]["id"].as_str().unwrap().to_string();
    let restored = format!("{name}-failover");
    let out = ok(s.run(&[
        "rds",
        "restore",
        "--from-snapshot",
        "newest",
        "--region",
        DR,
        "--target-instance",
        &restored,
    ]));
    assert!(
        out.contains(&format!("from snapshot {id} in {DR}")),
        "{out}"
    );
    assert!(out.contains("endpoint: "), "{out}");
    assert!(instance_exists(DR, &restored));
    assert!(!instance_exists(SOURCE, &restored));
    // A snapshot that does not exist there is named.
    fails(
        s.run(&[
            "rds",
            "restore",
            "--from-snapshot",
            "lifeboat-nope",
            "--region",
            DR,
            "--target-instance",
            &format!("{name}-x"),
        ]),
        9,
        &["lifeboat-nope", "does not exist"],
    );
}

#[test]
fn aurora_cluster_snapshot_copy_and_restore() {
    let name = unique("aur").replace('_', "-");
    let cluster = format!("{name}-cluster");
    block(async {
        rds_client(SOURCE)
            .create_db_cluster()
            .db_cluster_identifier(&cluster)
            .engine("aurora-postgresql")
            .engine_version("16.4")
            .master_username("app")
            .master_user_password("not-a-real-password")
            .backup_retention_period(7)
            .send()
            .await
            .expect("create the cluster on moto");
    });
    let s = RdsSetup::new(&format!(
        "[[rds.target]]\nname = \"{name}\"\ncluster = \"{cluster}\"\nregion = \"{SOURCE}\"\n\n\
         [[rds.target.copy]]\nregion = \"{DR}\"\n"
    ));
    let sets = s.json(&["rds", "snapshot", "--cluster", &cluster, "--json"]);
    assert_eq!(sets[0]["kind"], "cluster");
    assert_eq!(sets[0]["copies"][0]["kind"], "cluster");
    let list = s.json(&["rds", "list", "--json"]);
    assert_eq!(listed(&list, DR).len(), 1, "{list:#}");

    let restored = format!("{name}-dr");
    let out = s.json(&[
        "rds",
        "restore",
        "--from-snapshot",
        "newest",
        "--region",
        DR,
        "--target-instance",
        &restored,
        "--instance-class",
        "db.r6g.large",
        "--json",
    ]);
    assert_eq!(out["cluster"], restored.as_str());
    assert_eq!(out["calls"][0]["operation"], "RestoreDBClusterFromSnapshot");
    assert_eq!(out["calls"][1]["operation"], "CreateDBInstance");
    assert!(instance_exists(DR, &format!("{restored}-1")));
    block(async {
        rds_client(DR)
            .describe_db_clusters()
            .db_cluster_identifier(&restored)
            .send()
            .await
            .expect("the restored cluster exists in the DR region");
    });
}

#[test]
fn errors_moto_returns_are_named_with_exit_9() {
    let name = unique("err").replace('_', "-");
    // An instance that does not exist.
    let s = RdsSetup::new(&target_toml(&name, &format!("{name}-missing"), ""));
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &[
            &format!("DB instance {name}-missing does not exist"),
            "DBInstanceNotFound",
        ],
    );
    // A DR KMS key that does not exist in the destination region.
    let instance = format!("{name}-db");
    create_instance(&instance, true);
    let s = RdsSetup::new(&target_toml(
        &format!("{name}-k"),
        &instance,
        &format!(
            "\n[[rds.target.copy]]\nregion = \"{DR}\"\nkms_key_id = \"arn:aws:kms:{DR}:123456789012:key/00000000-0000-0000-0000-000000000000\"\n"
        ),
    ));
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &[
            "KMS key arn:aws:kms:us-west-2",
            "is not accessible",
            "kms_key_id",
        ],
    );
    // An encrypted source without a DR key: refused before anything is created.
    let s = RdsSetup::new(&target_toml(
        &format!("{name}-n"),
        &instance,
        &format!("\n[[rds.target.copy]]\nregion = \"{DR}\"\n"),
    ));
    let before = snapshot_ids(SOURCE).len();
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &["is encrypted", "nothing was created"],
    );
    assert_eq!(snapshot_ids(SOURCE).len(), before);
    // `config check` reaches the RDS API for each target and names what is missing.
    let s = RdsSetup::new(&format!(
        "{}
{}",
        target_toml(&format!("{name}-ok"), &instance, ""),
        target_toml(&format!("{name}-gone"), &format!("{name}-missing"), "")
    ));
    let out = s.run(&["config", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("ok    rds {name}-ok"))
            && stdout.contains("point-in-time restore 7 days"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains(&format!("FAIL  rds {name}-gone")) && stdout.contains("does not exist"),
        "{}",
        text(&out)
    );
    // A configuration mistake is exit 2, naming the key.
    let s = RdsSetup::new(
        "[[rds.target]]\nname = \"x\"\ninstance = \"a\"\ncluster = \"b\"\nregion = \"r\"\n",
    );
    fails(
        s.run(&["rds", "list"]),
        2,
        &["[[rds.target]] `x`", "not both"],
    );
}

/// tests/rdsfault.py in front of moto, stopped when dropped.
struct RdsFault {
    endpoint: String,
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RdsFault {
    fn start(fails: &[&str]) -> Self {
        let upstream = s3_endpoint().trim_start_matches("http://").to_string();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rdsfault.py");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script).args(["--upstream", &upstream]);
        for f in fails {
            cmd.args(["--fail", f]);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs tests/rdsfault.py");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("it says where it listens").unwrap();
        let addr = first.strip_prefix("listening on ").unwrap().to_string();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        RdsFault {
            endpoint: format!("http://{addr}"),
            child,
            log,
        }
    }

    fn injected(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for RdsFault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn real_aws_error_codes_from_the_test_double() {
    let name = unique("flt").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, false);
    let mut s = RdsSetup::new(&target_toml(
        &name,
        &instance,
        &format!("\n[[rds.target.copy]]\nregion = \"{DR}\"\n"),
    ));

    let quota = RdsFault::start(&["CreateDBSnapshot=SnapshotQuotaExceeded"]);
    s.endpoint = quota.endpoint.clone();
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &[
            &format!("RDS target `{name}` in {SOURCE}"),
            "snapshot quota exceeded",
            "rds prune",
        ],
    );
    drop(quota);

    let state = RdsFault::start(&["CreateDBSnapshot=InvalidDBInstanceState"]);
    s.endpoint = state.endpoint.clone();
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &["InvalidDBInstanceState", "wait until it is `available`"],
    );
    drop(state);

    let kms = RdsFault::start(&["CopyDBSnapshot=KMSKeyNotAccessibleFault"]);
    s.endpoint = kms.endpoint.clone();
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &[&format!("in {DR}"), "is not accessible"],
    );
    drop(kms);

    // Throttling twice, then success: the SDK's retries get past it.
    let throttle = RdsFault::start(&[
        "CreateDBSnapshot=Throttling:2",
        "CopyDBSnapshot=Throttling:1",
    ]);
    s.endpoint = throttle.endpoint.clone();
    let out = ok(s.run(&["rds", "snapshot"]));
    assert!(out.contains("copy in us-west-2 available"), "{out}");
    let injected = throttle.injected();
    assert_eq!(
        injected,
        vec![
            "injected CreateDBSnapshot Throttling",
            "injected CreateDBSnapshot Throttling",
            "injected CopyDBSnapshot Throttling"
        ]
    );
    // Throttling that outlasts the attempts is named as such.
    drop(throttle);
    let always = RdsFault::start(&["DescribeDBInstances=Throttling"]);
    s.endpoint = always.endpoint.clone();
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("[rds]\n", "[rds]\nmax_attempts = 2\n"),
    )
    .unwrap();
    fails(
        s.run(&["rds", "snapshot"]),
        9,
        &["still failing after 2 attempts", "Throttling"],
    );
}

#[test]
fn report_shows_an_rds_target_beside_a_logical_database() {
    let name = unique("rep").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, true);
    let dr_key = kms_key(DR);
    let lonely = format!("{name}-lonely");
    let s = RdsSetup::new(&format!(
        "[targets]\nrpo = \"26h\"\n\n{}\n{}",
        target_toml(
            &name,
            &instance,
            &format!("\n[[rds.target.copy]]\nregion = \"{DR}\"\nkms_key_id = \"{dr_key}\"\n"),
        ),
        // A second target with no DR region: its cross-region control fails.
        target_toml(&lonely, &instance, ""),
    ));
    let db = s.setup.pg.create_db("rdsrep");
    s.setup.pg.psql(&db, "CREATE TABLE t AS SELECT 1 AS x");
    s.setup.backup(&db, &[]);
    ok(s.run(&["rds", "snapshot", "--target", &name]));
    ok(s.run(&["rds", "snapshot", "--target", &lonely]));

    let out = s.run(&["report", "--format", "json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |n: &str| {
        r["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .unwrap_or_else(|| panic!("no row {n}: {r:#}"))
            .clone()
    };
    let control = |row: &serde_json::Value, id: &str| {
        row["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no control {id}: {row:#}"))
            .clone()
    };
    let logical = row(&db);
    assert_eq!(logical["kind"], "database");
    assert_eq!(logical["status"], "OK");

    let rds = row(&format!("rds:{name}"));
    assert_eq!(rds["kind"], "rds");
    assert_eq!(rds["status"], "OK", "{rds:#}");
    assert_eq!(rds["rds"]["live"], true);
    assert_eq!(rds["rds"]["recovery_point_source"], "point-in-time");
    assert_eq!(rds["rds"]["copies"][0]["region"], DR);
    assert_eq!(rds["rds"]["copies"][0]["newest"]["encrypted"], true);
    assert_eq!(
        control(&rds, "LAST_RECOVERY_POINT_CREATED")["status"],
        "PASS"
    );
    assert_eq!(control(&rds, "RECOVERY_POINT_ENCRYPTED")["status"], "PASS");
    let cross = control(&rds, "RESOURCES_PROTECTED_BY_CROSS_REGION");
    assert_eq!(cross["status"], "PASS", "{cross:#}");
    assert!(rds["figures"]["current_rpo_seconds"].as_i64().unwrap() < 60);

    let alone = row(&format!("rds:{lonely}"));
    assert_eq!(alone["status"], "BREACH");
    let cross = control(&alone, "RESOURCES_PROTECTED_BY_CROSS_REGION");
    assert_eq!(cross["status"], "FAIL");
    assert!(
        cross["reason"].as_str().unwrap().contains("no DR region"),
        "{cross:#}"
    );

    // The terminal form shows both worlds, and the breach is named.
    let out = s.run(&["report"]);
    assert_eq!(out.status.code(), Some(7));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("== {db} — OK")), "{table}");
    assert!(
        table.contains(&format!("RDS instance {instance} in {SOURCE}")),
        "{table}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "rds:{lonely} fails RESOURCES_PROTECTED_BY_CROSS_REGION"
        )),
        "{err}"
    );
}

#[test]
fn a_drill_restores_the_newest_dr_copy_into_a_scratch_instance_and_deletes_it() {
    let name = unique("dri").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, false);
    let s = RdsSetup::new(&target_toml(
        &name,
        &instance,
        &format!("\n[[rds.target.copy]]\nregion = \"{DR}\"\n"),
    ));
    ok(s.run(&["rds", "snapshot"]));
    let newest = s.json(&["rds", "snapshot", "--json"])[0]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"RDS failover drill\"\nreport_dir = \"{}\"\n\n[targets]\nrpo = \"1h\"\nrto = \"1h\"\n\n\
             [rds]\ntarget = \"{name}\"\ndatabase = \"app\"\nuser = \"app\"\n\n\
             [[assertion]]\ndatabase = \"app\"\nname = \"orders exist\"\nsql = \"SELECT count(*) FROM orders\"\nexpect = \"> 0\"\n",
            dir.path().join("reports").display()
        ),
    )
    .unwrap();
    let out = s.run(&["drill", "--scenario", scenario.to_str().unwrap(), "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report["passed"], true, "{report:#}");
    let ev = &report["rds"];
    assert_eq!(
        ev["snapshot"],
        newest.as_str(),
        "the newest DR copy: {report:#}"
    );
    assert_eq!(ev["region"], DR);
    assert_eq!(ev["cleaned_up"], true);
    assert!(ev["record"]
        .as_str()
        .unwrap()
        .starts_with(&format!("rds/{name}/")));
    let steps: Vec<(String, String)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            let result = match (st["not_run"].as_bool(), st["passed"].as_bool()) {
                (Some(true), _) => "not run",
                (_, Some(true)) => "pass",
                _ => "fail",
            };
            (st["name"].as_str().unwrap().to_string(), result.to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("repository reachable and trusted", "pass"),
        ("DR-region copy chosen", "pass"),
        ("restore into a scratch instance", "pass"),
        // moto's endpoint cannot be reached: recorded as not run, never as a pass.
        ("SQL checks", "not run"),
        ("clean-up", "pass"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected, "{report:#}");
    assert_eq!(report["rto"]["status"], "met", "{report:#}");
    assert_eq!(report["rpo"]["status"], "met", "{report:#}");
    let scratch = ev["scratch_instance"].as_str().unwrap();
    assert!(scratch.starts_with(&format!("lifeboat-drill-{name}-")));
    assert!(
        !instance_exists(DR, scratch),
        "the scratch instance is deleted"
    );
    assert!(
        instance_exists(SOURCE, &instance),
        "the source is untouched"
    );
    // The auditor's files say the same.
    let md = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .unwrap();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("| RDS DR copy |"), "{md}");
    assert!(md.contains("NOT RUN"), "{md}");
    assert!(md.contains("deleted after the drill"), "{md}");

    // The report counts the drill's restore time as the target's measured RTO (the
    // unencrypted instance is a breach of its own: exit 7).
    let out = s.run(&["report", "--format", "json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = r["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == format!("rds:{name}").as_str())
        .unwrap()
        .clone();
    let rto = row["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "RESTORE_TIME_MEETS_TARGET")
        .unwrap()
        .clone();
    assert!(rto["achieved_seconds"].as_f64().is_some(), "{rto:#}");
    assert!(rto["reason"].as_str().unwrap().contains(&newest), "{rto:#}");
    assert_eq!(row["restores"].as_array().unwrap().len(), 1, "{row:#}");
}

/// An `rds snapshot` run feeds the same metrics as a backup, under the report's name for the
/// target (`rds:<name>`): the alerts on the last recovery point and on failed runs cover RDS
/// targets too.
#[test]
fn rds_snapshots_feed_the_backup_metrics_under_the_targets_name() {
    let name = unique("met").replace('_', "-");
    let instance = format!("{name}-db");
    create_instance(&instance, false);
    let s = RdsSetup::new(&target_toml(&name, &instance, ""));
    let prom = s._dir.path().join("lifeboat.prom");
    let prom_arg = prom.display().to_string();
    ok(s.run(&["--metrics-file", &prom_arg, "rds", "snapshot"]));
    let text = std::fs::read_to_string(&prom).unwrap();
    let series = format!("database=\"rds:{name}\"}}");
    for metric in [
        "lifeboat_backup_last_success_timestamp_seconds",
        "lifeboat_backup_last_recovery_point_timestamp_seconds",
        "lifeboat_backup_last_size_bytes",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(metric) && l.contains(&series)),
            "{metric} for rds:{name} in:\n{text}"
        );
    }
    // A failed run: its failure time, the success's figures kept.
    let missing = RdsSetup::new(&target_toml(&name, &format!("{name}-gone"), ""));
    fails(
        missing.run(&["--metrics-file", &prom_arg, "rds", "snapshot"]),
        9,
        &["does not exist"],
    );
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.lines().any(
            |l| l.starts_with("lifeboat_backup_last_failure_timestamp_seconds")
                && l.contains(&series)
        ),
        "{text}"
    );
}
