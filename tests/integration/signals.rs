//! Signals of `lifeboat backup` against the real test server: the metrics textfile, read by
//! the official Prometheus Python client's text-format parser, and webhook notifications
//! received by a real HTTP server in the test.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use crate::common::*;

// ---------------------------------------------------------------------------------------
// The Prometheus parser: prometheus_client.parser from the test venv (tests/servers.sh).

const PARSE_PY: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    families.append({
        "name": f.name, "type": f.type, "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
    })
print(json.dumps(families))
"#;

/// Families as the official parser reads them; fails the test on anything it rejects.
pub(crate) fn parse_with_prometheus_client(file: &Path) -> Vec<serde_json::Value> {
    let python = std::env::var("LIFEBOAT_TEST_PYTHON").expect(
        "LIFEBOAT_TEST_PYTHON is not set: run tests/servers.sh start and source \
         target/test-servers/env (it installs prometheus_client in the test venv)",
    );
    let out = std::process::Command::new(python)
        .args(["-c", PARSE_PY])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "prometheus_client rejected {}:\n{}\n--- file\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).expect("parser output is JSON")
}

/// `(metric, database) -> value` for the samples of `repository`, checking on the way that
/// every family is a documented gauge with exactly the two labels.
fn samples(families: &[serde_json::Value], repository: &str) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for f in families {
        let name = f["name"].as_str().unwrap();
        assert!(name.starts_with("lifeboat_"), "{f}");
        assert_eq!(f["type"], "gauge", "{f}");
        assert!(!f["help"].as_str().unwrap().is_empty(), "{f}");
        for s in f["samples"].as_array().unwrap() {
            assert_eq!(s["name"], name, "{s}");
            let labels = s["labels"].as_object().unwrap();
            assert_eq!(labels.len(), 2, "{s}");
            if labels["repository"] != repository {
                continue;
            }
            let db = labels["database"].as_str().unwrap().to_string();
            out.insert((name.to_string(), db), s["value"].as_f64().unwrap());
        }
    }
    out
}

fn unix(text: &serde_json::Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(text.as_str().unwrap()).unwrap();
    t.timestamp_millis() as f64 / 1000.0
}

fn stored_bytes(db: &serde_json::Value) -> f64 {
    let mut streams = vec![
        &db["pre_data"],
        &db["post_data"],
        &db["sequences"],
        &db["large_objects"],
    ];
    streams.extend(
        db["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["object"]),
    );
    streams
        .iter()
        .flat_map(|s| s["parts"].as_array().unwrap())
        .map(|p| p["size"].as_u64().unwrap())
        .sum::<u64>() as f64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0015
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// A real HTTP receiver: answers each request with the next scripted status (then 200),
// records what it got.

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

pub(crate) struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<_>>(),
        ));
        let (sink, script2) = (got.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                let status = script2.lock().unwrap().pop_front().unwrap_or(200);
                sink.lock().unwrap().push(req);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
                     Connection: close\r\n\r\nok"
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver { port, got }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------

/// A database with a little data, backed up by `setup`'s server.
fn source_db(setup: &Setup) -> String {
    let db = setup.pg.create_db("sig");
    setup.pg.psql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;",
    );
    db
}

/// `backup --database db` from a database that does not exist: fails at the source.
fn failing_backup(
    setup: &Setup,
    db: &str,
    extra_args: &[&str],
    extra_env: &[(&str, &str)],
) -> Output {
    let url = setup.pg.db_url("no_such_database_for_signals");
    let mut args = vec!["backup", "--source", url.as_str(), "--database", db];
    args.extend_from_slice(extra_args);
    let mut env = setup.env();
    // The receiver is local: never through a proxy the machine may have configured.
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    lifeboat(&args, &env)
}

/// The `error: …` line a failed command printed last.
fn error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rfind(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{}", text(out)))
        .to_string()
}

/// The same failure with signals as without: exit code and error message unchanged.
#[track_caller]
fn same_failure(with: &Output, baseline: &Output) {
    assert_eq!(with.status.code(), baseline.status.code(), "{}", text(with));
    assert_eq!(error_line(with), error_line(baseline));
}

#[track_caller]
fn secret_absent(out: &Output, secret: &str) {
    let all = text(out);
    assert!(!all.contains(secret), "the webhook's secret leaked:\n{all}");
}

#[test]
fn metrics_textfile_is_prometheus_text_and_a_failure_keeps_the_last_success() {
    let setup = Setup::new(pg15(), local_repo());
    let repo = setup.repo.url.clone();
    let (app, other) = (source_db(&setup), source_db(&setup));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.prom");
    let file_arg = file.display().to_string();

    // A real backup writes the textfile: every figure of the database, exact.
    let manifest = setup.backup(&app, &["--metrics-file", &file_arg]);
    let families = parse_with_prometheus_client(&file);
    let got = samples(&families, &repo);
    let m = |name: &str, db: &str| got.get(&(name.to_string(), db.to_string())).copied();
    let db = &manifest["databases"][0];
    let finished = unix(&manifest["finished_at"]);
    let consistent = unix(&db["consistent_at"]);
    let expect = [
        ("lifeboat_backup_last_success_timestamp_seconds", finished),
        (
            "lifeboat_backup_last_duration_seconds",
            finished - unix(&manifest["started_at"]),
        ),
        ("lifeboat_backup_last_size_bytes", stored_bytes(db)),
        (
            "lifeboat_backup_last_recovery_point_timestamp_seconds",
            consistent,
        ),
        ("lifeboat_rpo_seconds", finished - consistent),
    ];
    for (name, value) in expect {
        let v = m(name, &app).unwrap_or_else(|| panic!("{name} missing: {got:?}"));
        assert!(close(v, value), "{name}: {v} != {value}");
    }
    assert!(stored_bytes(db) > 1000.0);
    assert_eq!(got.len(), expect.len(), "{got:?}");

    // A second database, through the environment variable: both are in the file.
    let url = setup.pg.db_url(&other);
    let mut env = setup.env();
    env.push(("LIFEBOAT_METRICS_FILE".into(), file_arg.clone()));
    ok(lifeboat(
        &["backup", "--source", &url, "--database", &other],
        &env,
    ));
    let before = samples(&parse_with_prometheus_client(&file), &repo);
    assert_eq!(before.len(), 2 * expect.len(), "{before:?}");
    for (name, value) in expect {
        assert!(close(before[&(name.to_string(), app.clone())], value));
    }

    // A failed backup of `app`: exit code and message as without metrics; the failure
    // time is set; the last success's figures stay exactly; `other` is untouched.
    let baseline = failing_backup(&setup, &app, &[], &[]);
    let t0 = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let failed = failing_backup(&setup, &app, &["--metrics-file", &file_arg], &[]);
    let t1 = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    same_failure(&failed, &baseline);
    assert_eq!(failed.status.code(), Some(5), "{}", text(&failed));

    let after = samples(&parse_with_prometheus_client(&file), &repo);
    let failure = after[&(
        "lifeboat_backup_last_failure_timestamp_seconds".to_string(),
        app.clone(),
    )];
    assert!(
        t0 - 0.001 <= failure && failure <= t1 + 0.001,
        "{failure} not in {t0}..{t1}"
    );
    for (key, value) in &before {
        if key.0 == "lifeboat_rpo_seconds" && key.1 == app {
            // The achieved RPO grew to the age of the last recovery point at the failure.
            assert!(
                close(after[key], failure - consistent),
                "{} vs {}",
                after[key],
                failure - consistent
            );
        } else {
            assert_eq!(after[key], *value, "{key:?} changed");
        }
    }
    assert_eq!(after.len(), before.len() + 1, "{after:?}");

    // Never half-written: only the file and its lock file are there, no temp file.
    assert_eq!(
        dir_names(dir.path()),
        ["lifeboat.prom", "lifeboat.prom.lock"]
    );
}

#[test]
fn a_failed_backup_notifies_the_webhook_with_the_documented_json() {
    let setup = Setup::new(pg15(), local_repo());
    let app = source_db(&setup);
    let receiver = Receiver::start(&[]);
    let secret = "T0KEN-s3cr3t-9f8e7d";
    let hook = receiver.url(&format!("/hooks/{secret}"));
    let env = [("LIFEBOAT_WEBHOOK_URL", hook.as_str())];

    // A successful backup sends nothing.
    let url = setup.pg.db_url(&app);
    let mut ok_env = setup.env();
    ok_env.push(("LIFEBOAT_WEBHOOK_URL".into(), hook.clone()));
    ok_env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    let out = lifeboat(&["backup", "--source", &url, "--database", &app], &ok_env);
    secret_absent(&out, secret);
    ok(out);
    assert!(receiver.received().is_empty());

    let baseline = failing_backup(&setup, &app, &[], &[]);
    let before = chrono::Utc::now();
    let failed = failing_backup(&setup, &app, &[], &env);
    let after = chrono::Utc::now();
    same_failure(&failed, &baseline);
    secret_absent(&failed, secret);

    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/hooks/{secret}"));
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(
        req.headers["user-agent"].starts_with("lifeboat/"),
        "{req:?}"
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "backup_id",
            "database",
            "databases",
            "event",
            "host",
            "lifeboat_version",
            "message",
            "repository",
            "schema_version",
            "severity",
            "timestamp"
        ],
        "{body}"
    );
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["event"], "backup_failed");
    assert_eq!(body["severity"], "error");
    assert_eq!(body["database"], app.as_str());
    assert_eq!(body["databases"], serde_json::json!([app]));
    assert_eq!(body["repository"], setup.repo.url.as_str());
    assert_eq!(body["backup_id"], serde_json::Value::Null);
    assert_eq!(
        format!("error: {}", body["message"].as_str().unwrap()),
        error_line(&failed)
    );
    assert_eq!(body["lifeboat_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["host"],
        lifeboat::repository::liveness::hostname().as_str()
    );
    let at = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert!(before <= at && at <= after, "{at} not in {before}..{after}");
}

#[test]
fn slack_mode_from_the_config_file_sends_one_readable_line() {
    let setup = Setup::new(pg15(), local_repo());
    let app = source_db(&setup);
    let receiver = Receiver::start(&[]);
    let secret = "B0123/xoxb-s3cr3t-slack";
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("webhook-url");
    std::fs::write(
        &url_file,
        format!("{}\n", receiver.url(&format!("/services/{secret}"))),
    )
    .unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            "[notify]\nformat = \"slack\"\nwebhook_url_file = \"{}\"\n",
            url_file.display()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();

    let baseline = failing_backup(&setup, &app, &[], &[]);
    let failed = failing_backup(&setup, &app, &["--config", &config_arg], &[]);
    same_failure(&failed, &baseline);
    secret_absent(&failed, secret);

    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, format!("/services/{secret}"));
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let line = body["text"].as_str().unwrap();
    let host = lifeboat::repository::liveness::hostname();
    let expected_start = format!(
        "[lifeboat] backup failed: {app} on {} (host {host}): ",
        setup.repo.url
    );
    assert!(line.starts_with(&expected_start), "{line}");
    assert!(line.contains("no_such_database_for_signals"), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn a_webhook_answering_500_gets_the_retry() {
    let setup = Setup::new(pg15(), local_repo());
    let app = source_db(&setup);
    let receiver = Receiver::start(&[500, 200]);
    let secret = "retry-s3cr3t";
    let hook = receiver.url(&format!("/{secret}"));

    let baseline = failing_backup(&setup, &app, &[], &[]);
    let failed = failing_backup(&setup, &app, &[], &[("LIFEBOAT_WEBHOOK_URL", &hook)]);
    same_failure(&failed, &baseline);
    secret_absent(&failed, secret);
    let got = receiver.received();
    assert_eq!(got.len(), 2, "one failed attempt, one retry: {got:?}");
    assert_eq!(got[0].body, got[1].body);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("notification sent"), "{stderr}");
    assert!(!stderr.contains("not delivered"), "{stderr}");
}

#[test]
fn a_dead_webhook_changes_nothing_but_a_warning() {
    let setup = Setup::new(pg15(), local_repo());
    let app = source_db(&setup);
    let secret = "dead-s3cr3t-path";
    let hook = format!(
        "http://127.0.0.1:{}/{secret}?token=qu3ry-s3cr3t",
        dead_port()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.prom");

    let baseline = failing_backup(&setup, &app, &[], &[]);
    let failed = failing_backup(
        &setup,
        &app,
        &["--metrics-file", &file.display().to_string()],
        &[("LIFEBOAT_WEBHOOK_URL", &hook)],
    );
    same_failure(&failed, &baseline);
    secret_absent(&failed, secret);
    secret_absent(&failed, "qu3ry-s3cr3t");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(
            "notification: backup_failed to the webhook from LIFEBOAT_WEBHOOK_URL not \
             delivered after 4 attempts"
        ),
        "{stderr}"
    );
    // The metrics were still written.
    let got = samples(&parse_with_prometheus_client(&file), &setup.repo.url);
    assert!(got.contains_key(&(
        "lifeboat_backup_last_failure_timestamp_seconds".to_string(),
        app.clone()
    )));
}

#[test]
fn bad_signal_settings_are_refused_before_the_backup() {
    let setup = Setup::new(pg15(), local_repo());
    let dir = tempfile::tempdir().unwrap();
    let run = |toml: &str, extra: &[&str]| {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, toml).unwrap();
        let config = config.display().to_string();
        let mut args = vec![
            "backup",
            "--config",
            config.as_str(),
            "--source",
            "postgres://x@127.0.0.1:1/x",
        ];
        args.extend_from_slice(extra);
        setup.run(&args)
    };

    fails(
        run(
            "[notify]\nformat = \"teams\"\nwebhook_url = \"http://127.0.0.1:1/x\"\n",
            &[],
        ),
        2,
        &["[notify] format: `teams` is not a format; use json or slack"],
    );

    let missing = dir.path().join("missing-url-file");
    fails(
        run(
            &format!("[notify]\nwebhook_url_file = \"{}\"\n", missing.display()),
            &[],
        ),
        2,
        &["[notify] webhook_url_file", &missing.display().to_string()],
    );

    let garbage = dir.path().join("garbage-url-file");
    std::fs::write(&garbage, "not-a-url-s3cr3t\n").unwrap();
    let err = fails(
        run(
            &format!("[notify]\nwebhook_url_file = \"{}\"\n", garbage.display()),
            &[],
        ),
        2,
        &[&garbage.display().to_string()],
    );
    assert!(!err.contains("s3cr3t"), "{err}");

    // `config check` says where the URL comes from, never what it is.
    let mut env = setup.env();
    env.push((
        "LIFEBOAT_WEBHOOK_URL".into(),
        "https://hooks.example.com/services/T0/B0/cfg-s3cr3t".into(),
    ));
    let out = lifeboat(&["config", "check"], &env);
    secret_absent(&out, "cfg-s3cr3t");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("ok    notify       json webhook; URL from LIFEBOAT_WEBHOOK_URL, not shown"),
        "{}",
        text(&out)
    );

    let nowhere = dir.path().join("no/such/dir/lifeboat.prom");
    fails(
        run("", &["--metrics-file", &nowhere.display().to_string()]),
        2,
        &["--metrics-file / LIFEBOAT_METRICS_FILE", "does not exist"],
    );
}

#[test]
fn two_backups_finishing_together_both_land_in_the_textfile() {
    let setup = Setup::new(pg15(), local_repo());
    let (a, b) = (source_db(&setup), source_db(&setup));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.prom");
    let file_arg = file.display().to_string();
    let (url_a, url_b) = (setup.pg.db_url(&a), setup.pg.db_url(&b));
    let children: Vec<_> = [(&url_a, &a), (&url_b, &b)]
        .into_iter()
        .map(|(url, db)| {
            setup.spawn(&[
                "backup",
                "--source",
                url,
                "--database",
                db,
                "--metrics-file",
                &file_arg,
            ])
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let got = samples(&parse_with_prometheus_client(&file), &setup.repo.url);
    for db in [&a, &b] {
        assert!(
            got.contains_key(&(
                "lifeboat_backup_last_success_timestamp_seconds".to_string(),
                db.to_string()
            )),
            "{db} lost: {got:?}"
        );
    }
    assert_eq!(
        dir_names(dir.path()),
        ["lifeboat.prom", "lifeboat.prom.lock"]
    );
}

/// The facade as verify, report and the daemon will call it: the textfile gets their
/// figures (read by the official parser) and the webhook their events.
#[test]
fn verify_and_report_signals_through_the_facade() {
    use lifeboat::signals::*;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.prom");
    let receiver = Receiver::start(&[]);
    let settings = NotifySettings {
        url: WebhookUrl::parse(&receiver.url("/facade"), "test").unwrap(),
        format: Format::Json,
        source: "test".into(),
    };
    let signals = Signals::new(
        Some(Textfile::new(&file)),
        Some(Notifier::new(settings).unwrap()),
    );
    let repo = "s3://acme/pg";
    let now = chrono::Utc::now();
    let ago = |s: i64| now - chrono::Duration::seconds(s);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        signals
            .backup_finished(&BackupRun {
                repository: repo.into(),
                started_at: ago(100_060),
                finished_at: ago(100_000),
                outcome: BackupOutcome::Succeeded {
                    backup_id: "b1".into(),
                    databases: ["app", "billing"]
                        .iter()
                        .map(|n| BackedUpDatabase {
                            name: n.to_string(),
                            consistent_at: ago(100_050),
                            stored_bytes: 1234,
                        })
                        .collect(),
                },
            })
            .await;
        signals
            .verify_finished(&VerifyRun {
                repository: repo.into(),
                backup_id: Some("b1".into()),
                started_at: ago(50_000),
                finished_at: ago(49_000),
                databases: vec![
                    VerifiedDatabase {
                        name: "app".into(),
                        passed: true,
                        restore_seconds: Some(321.5),
                        problem: None,
                    },
                    VerifiedDatabase {
                        name: "billing".into(),
                        passed: false,
                        restore_seconds: Some(10.0),
                        problem: Some("table public.invoices: 9 rows, backup recorded 10".into()),
                    },
                ],
                error: None,
                requested: vec![],
            })
            .await;
        let db = |name: &str, status, overdue| DatabaseCompliance {
            name: name.into(),
            status,
            rpo_seconds: Some(100_050.0),
            rpo_target_seconds: Some(93_600.0),
            overdue,
            newest_backup: Some("b1".into()),
            reasons: vec![],
        };
        signals
            .report_computed(&ComplianceRun {
                repository: repo.into(),
                computed_at: now,
                databases: vec![
                    db("app", ComplianceStatus::Breach, true),
                    db("billing", ComplianceStatus::Breach, false),
                ],
            })
            .await;
    });

    let got = samples(&parse_with_prometheus_client(&file), repo);
    let m = |name: &str, db: &str| got[&(name.to_string(), db.to_string())];
    assert_eq!(m("lifeboat_backup_last_size_bytes", "app"), 1234.0);
    assert_eq!(m("lifeboat_verify_last_restore_seconds", "app"), 321.5);
    assert!(close(
        m("lifeboat_verify_last_failure_timestamp_seconds", "billing"),
        ago(49_000).timestamp_millis() as f64 / 1000.0
    ));
    assert_eq!(m("lifeboat_compliance_status", "app"), 2.0);
    assert_eq!(m("lifeboat_rpo_seconds", "billing"), 100_050.0);
    assert_eq!(m("lifeboat_rpo_target_seconds", "app"), 93_600.0);

    let bodies: Vec<serde_json::Value> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let events: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap(),
                b["database"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("verify_failed", "billing"),
            ("overdue", "app"),
            ("breach", "billing")
        ]
    );
    assert_eq!(
        bodies[0]["message"],
        "billing: table public.invoices: 9 rows, backup recorded 10"
    );
    assert_eq!(bodies[0]["backup_id"], "b1");
    assert_eq!(bodies[1]["status"], "BREACH");
    assert_eq!(bodies[1]["rpo_target_seconds"], 93_600.0);
}

/// `lifeboat check` as a cron job: a clean check records its success; a damaged object makes
/// it exit 3, record the failure and the problem count (parsed by prometheus_client), and
/// send `check_failed` to the webhook.
#[test]
fn check_records_its_result_and_a_damaged_repository_notifies() {
    let setup = Setup::new(pg15(), local_repo());
    let app = source_db(&setup);
    let manifest = setup.backup(&app, &[]);
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("lifeboat.prom");
    let receiver = Receiver::start(&[]);
    let mut env = setup.env();
    env.push(("LIFEBOAT_METRICS_FILE".into(), prom.display().to_string()));
    env.push(("LIFEBOAT_WEBHOOK_URL".into(), receiver.url("/hook")));
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));

    ok(lifeboat(&["check"], &env));
    assert!(receiver.received().is_empty());
    let clean = samples(&parse_with_prometheus_client(&prom), &setup.repo.url);
    assert_eq!(
        clean[&("lifeboat_check_last_problems".into(), String::new())],
        0.0
    );
    assert!(clean.contains_key(&(
        "lifeboat_check_last_success_timestamp_seconds".into(),
        String::new()
    )));

    // One object of the backup loses its last byte.
    let id = manifest["id"].as_str().unwrap();
    let key = first_key(&manifest["databases"][0]["tables"][0]["object"]);
    let path = setup
        .repo
        .local
        .clone()
        .unwrap()
        .join(format!("backups/{id}/{key}"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    std::fs::write(&path, bytes).unwrap();

    fails(lifeboat(&["check"], &env), 3, &["found 1 problem"]);
    let damaged = samples(&parse_with_prometheus_client(&prom), &setup.repo.url);
    assert_eq!(
        damaged[&("lifeboat_check_last_problems".into(), String::new())],
        1.0
    );
    assert!(damaged.contains_key(&(
        "lifeboat_check_last_failure_timestamp_seconds".into(),
        String::new()
    )));
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "check_failed");
    assert_eq!(body["severity"], "error");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("found 1 problem(s):\n- backup "),
        "{message}"
    );
    assert!(message.contains(&key), "{message}");
}
