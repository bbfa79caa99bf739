//! `lifeboat report` on real repositories: real backups of a real PostgreSQL, verification
//! records written through the library (signed; one by an untrusted key) with chosen
//! figures, then the report's JSON figures asserted exactly against the manifests and the
//! report's own "now"; exit 7 on breach (with the report still written), 0 when OK or AT
//! RISK; the HTML form opened in headless Chromium, its DOM read and its charts seen in a
//! screenshot.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use lifeboat::config::{Overrides, Settings};
use lifeboat::repository::records::{
    CheckResult, DatabaseVerification, Stage, VerificationRecord, VerifyTarget,
    RECORD_FORMAT_VERSION, VERIFICATION_FORMAT,
};
use lifeboat::repository::Repository;
use serde_json::Value;

use crate::common::*;

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// The repository as the library sees it, signing with `signing` (the setup's key, or
/// another one to write untrusted records).
fn library_repo(setup: &Setup, signing: &Path) -> Repository {
    let env: std::collections::HashMap<_, _> = setup.repo.env.iter().cloned().collect();
    let overrides = Overrides {
        repo: Some(setup.repo.url.clone()),
        s3_endpoint: env.get("LIFEBOAT_S3_ENDPOINT").cloned(),
        s3_path_style: env.get("LIFEBOAT_S3_PATH_STYLE").map(|v| v == "true"),
        signing_key_file: Some(signing.to_path_buf()),
        ..Overrides::default()
    };
    let settings = Settings::load(None, overrides).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(Repository::open(
        &settings.repository().unwrap(),
        settings.keys().unwrap(),
    ))
    .unwrap()
}

fn put(repo: &Repository, record: &VerificationRecord) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(repo.put_verification(record)).unwrap();
}

/// A verification record of `db` in the backup `manifest`, finished `after` milliseconds after
/// the backup finished, with the chosen restore time; `check_fails` adds a failing check.
fn record(
    manifest: &Value,
    db: &str,
    after: i64,
    restore_seconds: f64,
    check_fails: bool,
) -> VerificationRecord {
    let finished = at(&manifest["finished_at"]) + Duration::milliseconds(after);
    let id = VerificationRecord::new_id(finished);
    let consistent_at = at(&manifest["databases"][0]["consistent_at"]);
    let check = CheckResult {
        kind: "table".into(),
        name: "public.orders".into(),
        passed: !check_fails,
        evidence: if check_fails {
            "rows 99 != 100 recorded; content hash differs".into()
        } else {
            "rows 100 = 100; content hash equal".into()
        },
    };
    VerificationRecord {
        format: VERIFICATION_FORMAT.into(),
        format_version: RECORD_FORMAT_VERSION,
        id,
        backup: manifest["id"].as_str().unwrap().into(),
        lifeboat_version: "test".into(),
        host: "test-host".into(),
        started_at: finished - Duration::seconds(restore_seconds as i64 + 5),
        finished_at: finished,
        target: VerifyTarget {
            kind: "throwaway".into(),
            server: "lifeboat@127.0.0.1:5432".into(),
            server_version: "15".into(),
        },
        passed: !check_fails,
        databases: vec![DatabaseVerification {
            name: db.into(),
            consistent_at,
            restored_as: format!("{db}_verify"),
            passed: !check_fails,
            restore_seconds,
            total_seconds: restore_seconds + 2.0,
            stages: vec![Stage {
                name: "data".into(),
                seconds: restore_seconds,
            }],
            bytes: 1000,
            rows: 100,
            checks: vec![check],
            error: None,
        }],
        error: None,
    }
}

fn config(dir: &Path, name: &str, targets: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("[report]\ntimezone = \"Europe/Berlin\"\n\n[targets]\n{targets}\n"),
    )
    .unwrap();
    path
}

fn source_db(pg: &Pg) -> String {
    let db = pg.create_db("rep");
    pg.psql(
        &db,
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric); \
         INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 100) g;",
    );
    db
}

/// Three real backups and four records: backup 1 verified (12.5 s), backup 2 failed a check
/// (14 s) then passed (13 s), backup 3 unverified; plus a passing record signed by an
/// untrusted key, which must be ignored.
struct History {
    setup: Setup,
    db: String,
    backups: Vec<Value>,
}

fn history(repo: Repo) -> History {
    let pg = pg15();
    let db = source_db(&pg);
    let setup = Setup::new(pg, repo);
    let backups: Vec<Value> = (0..3).map(|_| setup.backup(&db, &[])).collect();
    let repo = library_repo(&setup, &setup.keys.signing);
    put(&repo, &record(&backups[0], &db, 1, 12.5, false));
    put(&repo, &record(&backups[1], &db, 1, 14.0, true));
    put(&repo, &record(&backups[1], &db, 2, 13.0, false));
    let stranger = keys();
    let untrusted = library_repo(&setup, &stranger.signing);
    put(&untrusted, &record(&backups[2], &db, 1, 1.0, false));
    History { setup, db, backups }
}

fn report_json(h: &History, cfg: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let cfg = cfg.display().to_string();
    let mut args = vec!["--config", &cfg, "report", "--format", "json"];
    args.extend_from_slice(extra);
    let out = h.setup.run(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report JSON: {e}\n{}", text(&out)));
    (out, json)
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds()
}

#[test]
fn figures_are_exact_on_a_real_history_and_a_breach_exits_7() {
    let h = history(local_repo());
    // The "ok" configuration's minimum retention (1s) must be reached by the oldest backup:
    // on a fast machine the whole history is younger than a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let dir = tempfile::tempdir().unwrap();
    let ok_cfg = config(
        dir.path(),
        "ok.toml",
        "rpo = \"1h\"\nrto = \"1m\"\nverify_within = \"1h\"\nmin_retention = \"1s\"",
    );
    let (out, r) = report_json(&h, &ok_cfg, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let now = at(&r["generated_at"]);
    let start = at(&r["window"]["start"]);
    assert_eq!(secs(start, now), 90 * 86_400);
    assert_eq!(r["window"]["timezone"], "Europe/Berlin");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["status"], "OK");
    assert_eq!(r["databases"].as_array().unwrap().len(), 1);
    let d = &r["databases"][0];
    assert_eq!(d["name"], h.db.as_str());
    assert_eq!(d["status"], "OK");
    let statuses: Vec<(&str, &str)> = d["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("LAST_RECOVERY_POINT_CREATED", "PASS"),
            ("RECOVERY_POINT_VERIFIED", "PASS"),
            ("RESTORE_TIME_MEETS_TARGET", "PASS"),
            ("RECOVERY_POINT_ENCRYPTED", "PASS"),
            ("MINIMUM_RETENTION", "PASS"),
        ]
    );
    let cp: Vec<DateTime<Utc>> = h
        .backups
        .iter()
        .map(|m| at(&m["databases"][0]["consistent_at"]))
        .collect();
    let fin: Vec<DateTime<Utc>> = h.backups.iter().map(|m| at(&m["finished_at"])).collect();
    let id = |i: usize| h.backups[i]["id"].as_str().unwrap();
    let f = &d["figures"];
    // Current RPO: now minus the newest backup's consistent point, to the second.
    assert_eq!(f["current_rpo_seconds"], secs(cp[2], now));
    assert_eq!(f["newest_backup"]["backup"], id(2));
    assert_eq!(f["oldest_backup"]["backup"], id(0));
    assert_eq!(f["retention_seconds"], secs(cp[0], now));
    // Worst RPO: verified points are backups 1 and 2 (2's latest verdict passed); the
    // largest gap is from the window's start to the first.
    assert_eq!(f["worst_rpo"]["seconds"], secs(start, cp[0]));
    assert_eq!(f["worst_rpo"]["from_window_start"], true);
    assert_eq!(at(&f["worst_rpo"]["to"]), cp[0]);
    assert_eq!(f["verified_points_in_window"], 2);
    assert_eq!(f["newest_verified"]["backup"], id(1));
    // The sawtooth's peak: just before each backup became available, or now.
    let peak = [secs(cp[0], fin[1]), secs(cp[1], fin[2]), secs(cp[2], now)]
        .into_iter()
        .max()
        .unwrap();
    assert_eq!(f["max_backup_age_seconds"], peak);
    assert_eq!(f["backups_in_window"], 3);
    // Verifications: three trusted (the untrusted one is ignored), two passed.
    assert_eq!(f["verifications"], 3);
    assert_eq!(f["verifications_passed"], 2);
    assert_eq!(f["verifications_failed"], 1);
    assert_eq!(f["pass_rate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(f["last_restore"]["restore_seconds"], 13.0);
    assert_eq!(f["last_restore"]["backup"], id(1));
    let trend: Vec<f64> = d["restores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["restore_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(trend, [12.5, 14.0, 13.0]);
    let failures = d["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["backup"], id(1));
    assert_eq!(failures[0]["failed_checks"][0]["name"], "public.orders");
    let ignored = r["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["kind"], "verification");
    assert!(ignored[0]["reason"]
        .as_str()
        .unwrap()
        .contains("UNTRUSTED KEY"));
    // The controls' figures and targets.
    let rto = &d["controls"][2];
    assert_eq!(rto["achieved_seconds"], 13.0);
    assert_eq!(rto["target_seconds"], 60);
    assert_eq!(d["targets"]["rpo"], 3600);
    // The calendar covers every Berlin day of the window; today holds the three backups.
    let days = d["calendar"].as_array().unwrap();
    assert!(days.len() == 91 || days.len() == 92, "{}", days.len());
    let backups: u64 = days.iter().map(|c| c["backups"].as_u64().unwrap()).sum();
    assert_eq!(backups, 3);

    // AT RISK: 13 s of a 15 s RTO is above 80%; still exit 0, said clearly.
    let risk_cfg = config(dir.path(), "risk.toml", "rpo = \"1h\"\nrto = \"15s\"");
    let out = h
        .setup
        .run(&["--config", &risk_cfg.display().to_string(), "report"]);
    let table = ok(out);
    assert!(table.contains("STATUS: AT RISK"), "{table}");
    assert!(table.contains("PASS (AT RISK)"), "{table}");

    // BREACH: a 10 s RTO. The report is written first (to the file), then exit 7.
    let breach_cfg = config(dir.path(), "breach.toml", "rpo = \"1h\"\nrto = \"10s\"");
    let file = dir.path().join("report.json");
    let out = h.setup.run(&[
        "--config",
        &breach_cfg.display().to_string(),
        "report",
        "--format",
        "json",
        "-o",
        &file.display().to_string(),
    ]);
    let err = fails(out, 7, &["compliance breach", "RESTORE_TIME_MEETS_TARGET"]);
    assert!(err.contains(&h.db), "{err}");
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["status"], "BREACH");
    assert_eq!(written["databases"][0]["controls"][2]["status"], "FAIL");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".lifeboat-report")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    // A database named with --database that has no backup is its own row, in breach.
    let (out, r) = report_json(&h, &ok_cfg, &["--database", "nosuchdb"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(r["databases"][0]["name"], "nosuchdb");
    assert_eq!(r["databases"][0]["status"], "BREACH");

    // No targets at all: said so, exit 0.
    let none = dir.path().join("none.toml");
    std::fs::write(&none, "").unwrap();
    let out = ok(h
        .setup
        .run(&["--config", &none.display().to_string(), "report"]));
    assert!(out.contains("No targets are configured"), "{out}");

    // Without a trusted key nothing could count: refused, naming what to give.
    let mut env = h.setup.env();
    env.retain(|(k, _)| k != "LIFEBOAT_SIGNING_KEY_FILE");
    fails(lifeboat(&["report"], &env), 2, &["trusted"]);
}

#[test]
fn figures_are_exact_on_an_s3_repository() {
    let pg = pg15();
    let db = source_db(&pg);
    let setup = Setup::new(pg, s3_repo());
    let m = setup.backup(&db, &[]);
    put(
        &library_repo(&setup, &setup.keys.signing),
        &record(&m, &db, 3, 7.25, false),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.toml",
        "rpo = \"1h\"\nrto = \"1m\"\nverify_within = \"1h\"",
    );
    let out = setup.run(&[
        "--config",
        &cfg.display().to_string(),
        "report",
        "--format",
        "json",
        "--since",
        "7d",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let now = at(&r["generated_at"]);
    let cp = at(&m["databases"][0]["consistent_at"]);
    assert_eq!(r["repository"], setup.repo.url.as_str());
    let f = &r["databases"][0]["figures"];
    assert_eq!(f["current_rpo_seconds"], secs(cp, now));
    assert_eq!(f["last_restore"]["restore_seconds"], 7.25);
    // Verified at cp: the worst gap is the window's start to it (7 days minus its age).
    assert_eq!(
        f["worst_rpo"]["seconds"],
        secs(at(&r["window"]["start"]), cp)
    );
    assert_eq!(f["pass_rate"].as_f64(), Some(1.0));
    assert_eq!(r["status"], "OK");
}

/// The Debian `chromium` that tests/servers.sh installs; fails loudly when missing.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium is not installed: the HTML report test opens the report in headless \
         Chromium (Debian package `chromium`; tests/servers.sh start installs it)"
    );
}

fn headless(profile: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Pixels of each exact colour in a PNG screenshot.
fn colour_counts(png_path: &Path, colours: &[&str]) -> Vec<usize> {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let wanted: Vec<[u8; 3]> = colours
        .iter()
        .map(|c| {
            let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
            [(v >> 16) as u8, (v >> 8) as u8, v as u8]
        })
        .collect();
    let mut counts = vec![0; colours.len()];
    for px in buf[..info.buffer_size()].chunks_exact(step) {
        if let Some(i) = wanted.iter().position(|w| w[..] == px[..3]) {
            counts[i] += 1;
        }
    }
    counts
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let h = history(local_repo());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.toml",
        "rpo = \"30s\"\nrto = \"1m\"\nverify_within = \"1h\"",
    );
    // The backups took seconds: a window just wider than the history spreads it over the
    // charts, and the newest backup ages visibly for a few seconds before the report.
    const AGEING: u64 = 5;
    std::thread::sleep(std::time::Duration::from_secs(AGEING));
    let since = (Utc::now() - at(&h.backups[0]["started_at"])).num_seconds() + 3;
    let html = dir.path().join("report.html");
    ok(h.setup.run(&[
        "--config",
        &cfg.display().to_string(),
        "report",
        "--since",
        &format!("{since}s"),
        "--format",
        "html",
        "-o",
        &html.display().to_string(),
    ]));
    let source = std::fs::read_to_string(&html).unwrap();
    for external in ["<script", "src=", "<link", "url(", "@import"] {
        assert!(!source.contains(external), "not self-contained: {external}");
    }
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium-profile");

    // The DOM as Chromium parsed it: status first, then the database, controls and figures.
    let dom = String::from_utf8(headless(&profile, &["--dump-dom", &url]).stdout).unwrap();
    let status_at = dom.find("id=\"status\"").expect("status banner");
    assert!(
        dom[status_at..].starts_with("id=\"status\"><div class=\"big\">OK</div>"),
        "{dom}"
    );
    assert!(status_at < dom.find("<h3>Controls</h3>").unwrap());
    assert!(dom.contains(&format!("<h2>{}</h2>", h.db)));
    for control in [
        "LAST_RECOVERY_POINT_CREATED",
        "RECOVERY_POINT_VERIFIED",
        "RESTORE_TIME_MEETS_TARGET",
        "RECOVERY_POINT_ENCRYPTED",
        "MINIMUM_RETENTION",
    ] {
        assert!(
            dom.contains(&format!("data-control=\"{control}\"")),
            "{control}"
        );
    }
    assert_eq!(dom.matches(">PASS</span>").count(), 4, "four controls pass");
    assert!(
        dom.contains(">NOT CONFIGURED</span>"),
        "minimum retention is not set"
    );
    let stat = |name: &str| {
        let key = format!("id=\"{}-{name}\"", h.db);
        let at = dom.find(&key).unwrap_or_else(|| panic!("{key}"));
        let v = &dom[at..];
        let start = v.find("<div class=\"value\">").unwrap() + "<div class=\"value\">".len();
        v[start..start + v[start..].find('<').unwrap()].to_string()
    };
    let current = stat("current-rpo");
    let current_secs: u64 = current
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("current RPO `{current}` is not a few seconds"));
    assert!((AGEING..AGEING + 25).contains(&current_secs), "{current}");
    assert_eq!(stat("last-restore"), "13.0s");
    assert_eq!(stat("pass-rate"), "67%");
    assert_eq!(stat("backups"), "3");
    assert!(dom.contains("public.orders"), "the failed check is named");
    assert!(
        dom.contains("UNTRUSTED KEY"),
        "the ignored record is listed"
    );
    assert_eq!(dom.matches("<svg class=\"chart").count(), 3);

    // The screenshot: each chart's own colours are on screen, so the charts were drawn.
    let shot = dir.path().join("report.png");
    headless(
        &profile,
        &[
            "--window-size=1280,2600",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    // To look at it: LIFEBOAT_TEST_REPORT_SCREENSHOT=/tmp/report.png
    if let Ok(keep) = std::env::var("LIFEBOAT_TEST_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    use lifeboat::report::render::svg as c;
    let counts = colour_counts(
        &shot,
        &[
            c::AGE_LINE,
            c::RPO_TARGET,
            c::RESTORE_LINE,
            c::RTO_TARGET,
            c::BACKUP_DAY,
            c::PASS,
            c::FAIL,
        ],
    );
    let names = [
        "backup-age line",
        "RPO target line",
        "restore-time line",
        "RTO target line",
        "calendar backup day",
        "passing verification",
        "failing verification",
    ];
    for ((name, n), min) in names
        .iter()
        .zip(&counts)
        .zip([100, 200, 60, 200, 200, 60, 60])
    {
        assert!(
            *n >= min,
            "the {name} is not visible in the screenshot ({n} pixels < {min}): {counts:?}"
        );
    }
}

/// The whole loop with nothing synthesised: real backups, real `verify` runs (one passes,
/// one fails an assertion), then `report`: its figures are exactly the records' and the
/// manifests', and the metrics textfile written by verify and report agrees.
#[test]
fn a_real_sequence_of_backups_and_verifications_gives_exact_figures() {
    let pg = pg15();
    let db = source_db(&pg);
    let setup = Setup::new(pg, local_repo());
    let first = setup.backup(&db, &[]);
    let second = setup.backup(&db, &[]);
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("lifeboat.prom");
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "[targets]\nrpo = \"1h\"\nrto = \"10m\"\nverify_within = \"1d\"\n\n\
             [metrics]\ntextfile = \"{}\"\n\n\
             [[verify.assertion]]\ndatabase = \"{db}\"\nname = \"a hundred orders\"\n\
             sql = \"SELECT count(*) FROM orders\"\nexpect = \"= 100\"\n",
            metrics.display()
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", &cfg_s];
        all.extend_from_slice(args);
        setup.run(&all)
    };
    let verified: Value = serde_json::from_str(&ok(run(&[
        "verify",
        first["id"].as_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    assert_eq!(verified["passed"], true);
    // The second backup's verification fails an assertion the data no longer meets.
    let failing = dir.path().join("failing.toml");
    std::fs::write(
        &failing,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("= 100", "= 101"),
    )
    .unwrap();
    let failed = setup.run(&[
        "--config",
        &failing.display().to_string(),
        "verify",
        second["id"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed));
    let failed: Value = serde_json::from_slice(&failed.stdout).unwrap();

    let out = run(&["report", "--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let now = at(&r["generated_at"]);
    let d = &r["databases"][0];
    let f = &d["figures"];
    assert_eq!(d["name"], db.as_str());
    let cp = |m: &Value| at(&m["databases"][0]["consistent_at"]);
    assert_eq!(f["current_rpo_seconds"], secs(cp(&second), now));
    assert_eq!(f["verifications"], 2);
    assert_eq!(f["verifications_passed"], 1);
    assert_eq!(f["verifications_failed"], 1);
    assert_eq!(f["newest_verified"]["backup"], first["id"]);
    let last = &f["last_restore"];
    assert!(
        last["record"]
            .as_str()
            .unwrap()
            .contains(failed["id"].as_str().unwrap()),
        "{last}"
    );
    assert_eq!(
        last["restore_seconds"].as_f64().unwrap(),
        failed["databases"][0]["restore_seconds"].as_f64().unwrap()
    );
    let restores: Vec<f64> = d["restores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["restore_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(
        restores,
        [
            verified["databases"][0]["restore_seconds"]
                .as_f64()
                .unwrap(),
            failed["databases"][0]["restore_seconds"].as_f64().unwrap()
        ]
    );
    assert_eq!(d["failures"].as_array().unwrap().len(), 1);
    assert_eq!(r["status"], "OK", "{}", text(&out));

    // The textfile: verify's restore time and report's RPO and status, parsed for real.
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let parsed = std::process::Command::new(std::env::var("LIFEBOAT_TEST_PYTHON").unwrap())
        .args([
            "-c",
            "import sys; from prometheus_client.parser import text_string_to_metric_families as p\n\
             for f in p(sys.stdin.read()):\n  for s in f.samples: print(s.name, s.labels['database'], s.value)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(prom.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let samples = String::from_utf8(parsed.stdout).unwrap();
    let value = |name: &str| -> f64 {
        samples
            .lines()
            .find(|l| l.starts_with(&format!("{name} {db} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{samples}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("lifeboat_verify_last_restore_seconds"),
        verified["databases"][0]["restore_seconds"]
            .as_f64()
            .unwrap()
    );
    assert_eq!(value("lifeboat_compliance_status"), 0.0);
    assert_eq!(value("lifeboat_rpo_seconds"), secs(cp(&second), now) as f64);
    assert!(value("lifeboat_verify_last_failure_timestamp_seconds") > 0.0);
}
