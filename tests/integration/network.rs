//! Restore through a faulty network: a fault-injecting proxy (tests/faultproxy.py) in front of
//! the S3 server resets connections in the middle of response bodies, answers 503 and
//! SlowDown, and stalls. Downloads retry and resume with ranged reads from the byte they
//! reached, the checksums cover the seams, and the restore is identical.

use crate::common::*;
use std::io::BufRead;

/// The proxy, stopped when dropped.
struct FaultProxy {
    endpoint: String,
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    fn start(args: &[&str]) -> Self {
        let upstream = s3_endpoint().trim_start_matches("http://").to_string();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faultproxy.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--upstream", &upstream])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs tests/faultproxy.py");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("the proxy says where it listens")
            .unwrap();
        let addr = first
            .strip_prefix("listening on ")
            .expect("listening on HOST:PORT")
            .to_string();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            child,
            log,
        }
    }

    fn faults(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A backed-up database of every object type, in a bucket reached directly.
fn backed_up() -> (Setup, String, String) {
    let pg = pg15();
    let db = pg.create_db("net");
    pg.psql_file(&db, std::path::Path::new("tests/fixtures/varied.sql"));
    let mut repo = s3_repo();
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let setup = Setup::new(pg, repo);
    let m = setup.backup(&db, &["--split-size", "8MiB", "--jobs", "2"]);
    (setup, db, m["id"].as_str().unwrap().to_string())
}

/// Restores through the proxy; returns the restored database.
fn restore_through(setup: &Setup, proxy: &FaultProxy, id: &str, db: &str) -> String {
    let target = unique("net");
    let url = setup.pg.db_url(&target);
    let mut env = setup.env();
    env.retain(|(k, _)| k != "LIFEBOAT_S3_ENDPOINT");
    env.push(("LIFEBOAT_S3_ENDPOINT".into(), proxy.endpoint.clone()));
    ok(lifeboat(
        &[
            "restore",
            id,
            "--database",
            db,
            "--into",
            &url,
            "--create",
            "--jobs",
            "2",
        ],
        &env,
    ));
    target
}

#[test]
fn restore_resumes_a_reset_in_the_middle_of_every_object() {
    let (setup, db, id) = backed_up();
    let proxy = FaultProxy::start(&["--reset-every-object"]);
    let restored = restore_through(&setup, &proxy, &id, &db);
    let pg = &setup.pg;
    assert_eq!(pg.table_digests(&db), pg.table_digests(&restored));
    assert_eq!(pg.schema_dump(&db), pg.schema_dump(&restored));
    let faults = proxy.faults();
    for kind in [
        "pre-data.sql",
        "post-data.sql",
        "sequences.sql",
        "large-objects.sql",
        ".copy.",
    ] {
        assert!(
            faults
                .iter()
                .any(|f| f.starts_with("fault reset-half") && f.contains(kind)),
            "no reset of a {kind} object: {faults:?}"
        );
    }
}

#[test]
fn restore_through_ten_percent_faults_is_identical() {
    let (setup, db, id) = backed_up();
    let proxy = FaultProxy::start(&["--rate", "0.1", "--seed", "11"]);
    let restored = restore_through(&setup, &proxy, &id, &db);
    let pg = &setup.pg;
    assert_eq!(pg.table_digests(&db), pg.table_digests(&restored));
    assert_eq!(pg.schema_dump(&db), pg.schema_dump(&restored));
    // The proxy's log is read by a thread: give it a moment to catch up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while proxy.faults().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!proxy.faults().is_empty(), "no fault was injected");
}

#[test]
fn a_store_that_keeps_failing_is_named_after_bounded_attempts() {
    let (setup, db, id) = backed_up();
    // Every request answered 503: the SDK's and lifeboat's retries run out, and the error
    // says which object and how many attempts, in one line, without the SDK's debug dump.
    let proxy = FaultProxy::start(&["--rate", "1", "--faults", "503"]);
    let target = unique("net");
    let mut env = setup.env();
    env.retain(|(k, _)| k != "LIFEBOAT_S3_ENDPOINT");
    env.push(("LIFEBOAT_S3_ENDPOINT".into(), proxy.endpoint.clone()));
    let started = std::time::Instant::now();
    let err = fails(
        lifeboat(
            &[
                "restore",
                &id,
                "--database",
                &db,
                "--into",
                &setup.pg.db_url(&target),
                "--create",
            ],
            &env,
        ),
        4,
        &["ServiceUnavailable", "gave up after"],
    );
    assert!(!err.contains("ServiceError {"), "SDK debug dump: {err}");
    // Retries are logged as they happen; the failure itself is one line.
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("gave up after"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}
