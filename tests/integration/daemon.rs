//! `lifeboat run`, the scheduler daemon, and `lifeboat schedule check`, for real: the
//! daemon runs real jobs (child lifeboat processes) against the real PostgreSQL and moto,
//! its endpoints are scraped over HTTP and /metrics is read by the official Prometheus
//! parser; SIGTERM in the middle of a backup leaves nothing behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::signals::{parse_with_prometheus_client, Receiver};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// GET over plain HTTP/1.1: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn status_json(port: u16) -> Option<serde_json::Value> {
    let (code, body) = get(port, "/status")?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

fn job<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("no job {name} in {status}"))
}

/// The daemon, its stderr in a file.
struct Daemon {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, port: u16, env: &[(String, String)], dir: &Path) -> Daemon {
        let log = dir.join("daemon.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        for (k, _) in std::env::vars() {
            if k.starts_with("LIFEBOAT_") && !k.starts_with("LIFEBOAT_TEST") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .env("LIFEBOAT_LOG", "lifeboat=info,warn")
            .args(["--config", &config.display().to_string(), "run"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lifeboat run starts");
        let mut d = Daemon { child, port, log };
        d.wait_for("the daemon is ready", Duration::from_secs(30), |d| {
            get(d.port, "/readyz").is_some_and(|(c, _)| c == 200)
        });
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    #[track_caller]
    fn wait_for(&mut self, what: &str, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) before {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting until {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn sigterm(&self) {
        sigterm(self.child.id());
    }

    /// Waits for the exit; returns the exit code and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), start.elapsed());
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the daemon did not exit within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("lifeboat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn open_uploads(bucket: &str) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        s3_client()
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .unwrap()
            .uploads()
            .len()
    })
}

fn keys_under(bucket: &str, prefix: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        s3_client()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    })
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The nightly example of schedules/ as it is (its jobs' command lines, policies, time
/// zone), made to fire every few seconds, on a free port, with paths in `dir`.
fn nightly_example_every_few_seconds(dir: &Path, port: u16) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/daemon-nightly.toml"),
    )
    .unwrap();
    let mut doc: toml::Table = text.parse().unwrap();
    doc["metrics"]["textfile"] = dir.join("lifeboat.prom").display().to_string().into();
    let scheduler = doc["scheduler"].as_table_mut().unwrap();
    scheduler.insert("listen".into(), format!("127.0.0.1:{port}").into());
    scheduler.insert(
        "state_file".into(),
        dir.join("state.json").display().to_string().into(),
    );
    let jobs = doc["job"].as_array_mut().unwrap();
    for job in jobs.iter_mut() {
        let job = job.as_table_mut().unwrap();
        job.insert("schedule".into(), "*/2 * * * * *".into());
        job.remove("jitter");
        let command: Vec<toml::Value> = job["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| match a.as_str() {
                Some(p) if p.starts_with("/var/lib/lifeboat/") => dir
                    .join(p.trim_start_matches("/var/lib/lifeboat/"))
                    .display()
                    .to_string()
                    .into(),
                _ => a.clone(),
            })
            .collect();
        job.insert("command".into(), command.into());
    }
    toml::to_string(&doc).unwrap()
}

/// `lifeboat run` with the nightly example: backup, verify and report jobs run for real
/// against PostgreSQL and moto; /healthz, /readyz, /metrics (read by prometheus_client) and
/// /status answer; SIGTERM stops it with exit 0.
#[test]
fn the_nightly_example_runs_for_real_and_serves_its_endpoints() {
    let pg = pg15();
    let db = pg.create_db("daemon");
    pg.psql(
        &db,
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 1000) g;",
    );
    let setup = Setup::new(pg.clone(), s3_repo());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &nightly_example_every_few_seconds(dir.path(), port),
    );
    let mut env = setup.env();
    env.push(("LIFEBOAT_SOURCE".into(), pg.db_url(&db)));
    env.push(("LIFEBOAT_DATABASES".into(), db.clone()));
    let mut daemon = Daemon::start(&config, port, &env, dir.path());

    assert_eq!(get(port, "/healthz").unwrap(), (200, "ok\n".to_string()));
    daemon.wait_for(
        "every job of the example succeeded once",
        Duration::from_secs(240),
        |d| {
            status_json(d.port).is_some_and(|s| {
                ["nightly-backup", "nightly-verify", "daily-report"]
                    .iter()
                    .all(|j| !job(&s, j)["last"]["last_success"].is_null())
            })
        },
    );

    // /status: each job's schedule, next run and last result.
    let status = status_json(port).unwrap();
    assert_eq!(status["ready"], true, "{status}");
    let backup = job(&status, "nightly-backup");
    assert_eq!(backup["schedule"], "*/2 * * * * *");
    assert!(backup["dialect"].as_str().unwrap().starts_with("6-field"));
    assert_eq!(backup["timezone"], "Europe/Berlin");
    assert_eq!(backup["command"][0], "backup");
    let next = chrono::DateTime::parse_from_rfc3339(backup["next_run"].as_str().unwrap()).unwrap();
    assert!(
        next.timestamp() >= chrono::Utc::now().timestamp() - 3,
        "{backup}"
    );
    let report = job(&status, "daily-report");
    assert!(
        [0, 7].contains(&report["last"]["last_exit_code"].as_i64().unwrap()),
        "{report}"
    );
    assert!(dir.path().join("compliance.html").exists());

    // /metrics: the textfile's figures (written by the jobs) plus the scheduler's, as the
    // official parser reads them.
    let (code, metrics) = get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    let file = dir.path().join("scraped.prom");
    std::fs::write(&file, &metrics).unwrap();
    let families = parse_with_prometheus_client(&file);
    let sample = |name: &str, job: &str| -> Option<f64> {
        families
            .iter()
            .flat_map(|f| f["samples"].as_array().unwrap().iter())
            .find(|s| s["name"] == name && s["labels"]["job_name"] == job)
            .and_then(|s| s["value"].as_f64())
    };
    let now = chrono::Utc::now().timestamp() as f64;
    let success = sample(
        "lifeboat_job_last_success_timestamp_seconds",
        "nightly-backup",
    )
    .unwrap();
    assert!(now - success < 240.0, "{metrics}");
    assert!(
        sample("lifeboat_job_next_run_timestamp_seconds", "nightly-backup").unwrap() > now - 3.0
    );
    assert!(sample("lifeboat_job_last_duration_seconds", "nightly-verify").unwrap() > 0.0);
    assert_eq!(sample("lifeboat_job_overdue", "nightly-backup"), Some(0.0));
    assert!(sample("lifeboat_job_running", "nightly-backup").is_some());
    assert!(
        families.iter().any(
            |f| f["name"] == "lifeboat_backup_last_success_timestamp_seconds"
                || f["name"].as_str().unwrap().starts_with("lifeboat_backup_")
        ),
        "the textfile's metrics are served too:\n{metrics}"
    );

    // One structured line per job start and end.
    let log = daemon.log();
    assert!(
        log.contains("job started") && log.contains("job finished"),
        "{log}"
    );
    assert!(log.contains("run_id="), "{log}");

    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains(&db), "{listed}");

    daemon.sigterm();
    let (code, took) = daemon.wait_exit(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{}", daemon.log());
    assert!(took < Duration::from_secs(120));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    assert!(
        !state["jobs"]["nightly-backup"]["last_success"].is_null(),
        "{state}"
    );
}

/// SIGTERM to the daemon in the middle of a backup: after the grace period the backup is
/// sent SIGTERM, cancels cleanly, and the daemon exits 0: no visible backup, no open
/// multipart upload, no lock, no process left.
#[test]
fn sigterm_in_the_middle_of_a_backup_leaves_nothing_behind() {
    let pg = pg15();
    let db = pg.create_db("daemon_stop");
    pg.psql(&db, "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 2000000) g;");
    let mut repo = s3_repo();
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let bucket = repo.bucket();
    let setup = Setup::new(pg.clone(), repo);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = pg.db_url(&db);
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[scheduler]
listen = "127.0.0.1:{port}"
grace_period = "1s"
state_file = "{state}"

[[job]]
name = "backup"
command = ["backup", "--source", "{url}", "--database", "{db}", "--jobs", "1", "--split-size", "0", "--compression-level", "19", "--compression-threads", "0"]
schedule = "*/2 * * * * *"
"#,
            state = dir.path().join("state.json").display()
        ),
    );
    let mut daemon = Daemon::start(&config, port, &setup.env(), dir.path());
    daemon.wait_for(
        "the backup has a multipart upload open",
        Duration::from_secs(120),
        |_| open_uploads(&bucket) > 0,
    );
    let pid = job(&status_json(port).unwrap(), "backup")["pid"]
        .as_u64()
        .expect("the running job's pid") as u32;
    assert!(process_exists(pid));

    daemon.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    let (code, body) = get(port, "/readyz").unwrap_or((0, String::new()));
    if code != 0 {
        assert_eq!((code, body.as_str()), (503, "stopping\n"));
    }
    let (code, took) = daemon.wait_exit(Duration::from_secs(60));
    let log = daemon.log();
    assert_eq!(code, Some(0), "{log}");
    // Grace period 1s, then the backup's own clean cancellation.
    assert!(took < Duration::from_secs(30), "took {took:?}:\n{log}");
    assert!(log.contains("stopping the job (SIGTERM)"), "{log}");
    assert!(
        log.contains("result=\"cancelled\"") || log.contains("result=cancelled"),
        "{log}"
    );
    assert!(log.contains("exit_code=143"), "{log}");

    assert!(!process_exists(pid), "the backup process {pid} is left");
    assert_eq!(open_uploads(&bucket), 0, "a multipart upload is left open");
    assert_eq!(
        keys_under(&bucket, "nightly/locks/"),
        Vec::<String>::new(),
        "a lock is left"
    );
    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains("no backups"), "{listed}");
    assert!(
        keys_under(&bucket, "nightly/backups/").is_empty(),
        "the cancelled backup's objects are left"
    );
}

/// The one-shot `lifeboat backup` cancels itself cleanly on SIGTERM: exit 143, transaction
/// aborted, multipart upload aborted, lock released.
#[test]
fn a_one_shot_backup_cancels_cleanly_on_sigterm() {
    let pg = pg15();
    let db = pg.create_db("oneshot_stop");
    pg.psql(&db, "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 2000000) g;");
    let mut repo = s3_repo();
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let bucket = repo.bucket();
    let setup = Setup::new(pg.clone(), repo);
    let url = pg.db_url(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args([
            "backup",
            "--source",
            &url,
            "--database",
            &db,
            "--jobs",
            "1",
            "--split-size",
            "0",
            "--compression-level",
            "1",
        ])
        .envs(setup.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_while_running(&mut child, "the backup starts a multipart upload", || {
        open_uploads(&bucket) > 0
    });
    let sent = Instant::now();
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(30));
    assert!(stderr.contains("cancelled by SIGTERM"), "{stderr}");
    assert_eq!(open_uploads(&bucket), 0, "a multipart upload is left open");
    assert_eq!(keys_under(&bucket, "nightly/locks/"), Vec::<String>::new());
    assert!(keys_under(&bucket, "nightly/backups/").is_empty());
}

/// Overlap: a job still running at its next trigger is skipped (`skip`, logged and counted)
/// or runs right after (`queue`). The runs last ~3 s: the backup waits 3 s for a table
/// another session holds locked, and fails.
#[test]
fn overlapping_triggers_are_skipped_or_queued() {
    let pg = pg15();
    let db = pg.create_db("daemon_overlap");
    pg.psql(&db, "CREATE TABLE t (id int);");
    let setup = Setup::new(pg.clone(), local_repo());
    let mut holder = Command::new(pg.bin.join("psql"))
        .args([
            &pg.db_url(&db),
            "-c",
            "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = pg.db_url(&db);
    let command =
        format!(r#"["backup", "--source", "{url}", "--database", "{db}", "--lock-timeout", "3"]"#);
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[scheduler]
listen = "127.0.0.1:{port}"
max_concurrent = 2
grace_period = "30s"
state_file = "{state}"

[[job]]
name = "skipper"
command = {command}
schedule = "*/2 * * * * *"
overlap = "skip"

[[job]]
name = "queuer"
command = {command}
schedule = "*/2 * * * * *"
overlap = "queue"
"#,
            state = dir.path().join("state.json").display()
        ),
    );
    let mut daemon = Daemon::start(&config, port, &setup.env(), dir.path());
    daemon.wait_for("both jobs ran twice", Duration::from_secs(90), |d| {
        status_json(d.port).is_some_and(|s| {
            job(&s, "skipper")["runs"].as_u64().unwrap() >= 2
                && job(&s, "queuer")["runs"].as_u64().unwrap() >= 2
        })
    });
    let status = status_json(port).unwrap();
    let log = daemon.log();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        job(&status, "skipper")["skipped"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(
        log.contains("run skipped: the previous run has not finished (overlap = \"skip\")")
            && log.contains("job=skipper"),
        "{log}"
    );
    assert!(log.contains("run queued"), "{log}");
    // The failed runs (table lock timeout) are recorded with their exit code.
    assert_eq!(
        job(&status, "skipper")["last"]["last_exit_code"],
        1,
        "{status}"
    );
    assert_eq!(job(&status, "skipper")["last"]["last_result"], "failure");
    daemon.sigterm();
    let (code, _) = daemon.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", daemon.log());
}

/// A job that never started (its schedule is a year away) whose last success is older
/// than `overdue_after` raises one `overdue` notification and the metric.
#[test]
fn the_overdue_check_fires_for_a_job_that_never_started() {
    let receiver = Receiver::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[scheduler]
listen = "127.0.0.1:{port}"
state_file = "{state}"

[[job]]
name = "yearly-drill"
command = ["drill", "--scenario", "schedules/drill-quarterly.toml"]
schedule = "0 0 9 1 1 *"
overdue_after = "2s"
"#,
            state = dir.path().join("state.json").display()
        ),
    );
    let env = vec![("LIFEBOAT_WEBHOOK_URL".to_string(), receiver.url("/hook"))];
    let mut daemon = Daemon::start(&config, port, &env, dir.path());
    daemon.wait_for(
        "the overdue notification arrived",
        Duration::from_secs(30),
        |_| !receiver.received().is_empty(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let got = receiver.received();
    assert_eq!(got.len(), 1, "raised once: {got:?}");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "overdue", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("yearly-drill"),
        "{body}"
    );
    let (_, metrics) = get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("lifeboat_job_overdue{job_name=\"yearly-drill\"} 1"),
        "{metrics}"
    );
    let status = status_json(port).unwrap();
    assert_eq!(job(&status, "yearly-drill")["overdue"], true);
    assert_eq!(job(&status, "yearly-drill")["runs"], 0);
    daemon.sigterm();
    assert_eq!(daemon.wait_exit(Duration::from_secs(30)).0, Some(0));
}

/// `schedule check` accepts every daemon example in schedules/ and prints next runs.
#[test]
fn schedule_check_accepts_every_example_in_schedules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if path.extension().is_none_or(|e| e != "toml") || !text.contains("[[job]]") {
            continue;
        }
        let out = ok(lifeboat(
            &[
                "schedule",
                "check",
                "--config",
                &path.display().to_string(),
                "--next",
                "3",
            ],
            &[],
        ));
        assert!(
            out.contains("configuration OK"),
            "{}: {out}",
            path.display()
        );
        assert!(out.contains("next 3 run(s)"), "{out}");
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the nightly, hourly and drill examples"
    );
}

/// A bad job is refused before the daemon starts, naming the job and the key; exit 2.
#[test]
fn bad_jobs_are_refused_naming_the_job_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (job, needle) in [
        (
            r#"command = ["backup", "--globalz"]
schedule = "@daily""#,
            "[[job]] `j`: command: `backup --globalz` is not a valid lifeboat command line",
        ),
        (
            r#"command = ["run"]
schedule = "@daily""#,
            "[[job]] `j`: command: `run` cannot be a job",
        ),
        (
            r#"command = ["check"]
schedule = "0 61 * * *""#,
            "[[job]] `j`: schedule:",
        ),
        (
            r#"command = ["check"]
schedule = "@daily"
timezone = "Europe/Nowhere""#,
            "[[job]] `j`: timezone: `Europe/Nowhere` is not an IANA time zone",
        ),
    ] {
        let config = write_config(dir.path(), &format!("[[job]]\nname = \"j\"\n{job}\n"));
        let config = config.display().to_string();
        fails(
            lifeboat(&["schedule", "check", "--config", &config], &[]),
            2,
            &[needle],
        );
        fails(lifeboat(&["run", "--config", &config], &[]), 2, &[needle]);
    }
}
