//! `lifeboat drill`: a passing drill writes its report (Markdown, HTML, JSON) and a signed
//! record; the HTML opens in headless Chromium and shows the verdict and figures; a drill
//! that fails — no backup before its time, or a missed target — still writes its report and
//! exits with the failure's code.

use crate::common::*;
use std::path::Path;

fn scenario(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("scenario.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_drill(setup: &Setup, scenario: &Path, out_dir: &Path) -> std::process::Output {
    setup.run(&[
        "drill",
        "--scenario",
        &scenario.display().to_string(),
        "--output-dir",
        &out_dir.display().to_string(),
    ])
}

fn report_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("drill-")
        })
        .collect();
    v.sort();
    v
}

/// The page as Chromium renders it (its DOM after layout), and a screenshot of it.
pub fn chromium_dom_and_screenshot(html: &Path) -> (String, Vec<u8>) {
    let url = format!("file://{}", html.display());
    let run = |extra: &[&str]| {
        let out = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (tests/servers.sh installs it)");
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = String::from_utf8(run(&["--dump-dom"]).stdout).unwrap();
    let shot = html.with_extension("png");
    run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,1600",
    ]);
    (dom, std::fs::read(&shot).expect("screenshot written"))
}

#[test]
fn a_drill_reports_for_the_auditor_in_files_the_repository_and_a_browser() {
    let pg = pg15();
    let db = pg.create_db("drill");
    pg.psql(&db, "CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz DEFAULT now()); INSERT INTO orders (id) SELECT generate_series(1, 500);");
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        &format!(
            r#"name = "Quarterly <drill> of {db}"
databases = ["{db}"]
[targets]
rpo = "1h"
rto = "10m"
[[assertion]]
database = "{db}"
name = "orders up to the backup"
sql = "SELECT count(*) FROM orders WHERE created_at <= {{consistent_at}}"
expect = "= 500"
"#
        ),
    );
    let out_dir = dir.path().join("reports");
    let out = ok(run_drill(&setup, &file, &out_dir));
    assert!(out.contains("PASSED"), "{out}");
    let files = report_files(&out_dir);
    assert_eq!(files.len(), 3, "{files:?}");
    let json_path = files
        .iter()
        .find(|p| p.extension().unwrap() == "json")
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["backup"]["id"], id);
    assert_eq!(
        report["backup"]["manifest_sha256"].as_str().unwrap().len(),
        64
    );
    assert_eq!(report["rpo"]["status"], "met");
    assert_eq!(report["rto"]["status"], "met");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "repository reachable and trusted",
            "backup chosen",
            "restore and verify",
            "clean-up"
        ]
    );
    // Signed into the repository, identical to the file.
    let drill_id = report["id"].as_str().unwrap();
    let root = setup.repo.local.as_ref().unwrap();
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(format!("drills/{drill_id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(stored, report);
    assert!(root
        .join(format!("drills/{drill_id}.json.minisig"))
        .exists());
    let md = std::fs::read_to_string(
        files
            .iter()
            .find(|p| p.extension().unwrap() == "md")
            .unwrap(),
    )
    .unwrap();
    assert!(md.contains("PASSED") && md.contains(id), "{md}");

    // The HTML, as a browser shows it: verdict, figures, the backup, every step; escaped.
    let html = files
        .iter()
        .find(|p| p.extension().unwrap() == "html")
        .unwrap();
    let (dom, png) = chromium_dom_and_screenshot(html);
    assert!(dom.contains(r#"id="status">PASSED<"#), "{dom}");
    assert!(
        dom.contains("RPO achieved") && dom.contains("against a target of 1h"),
        "{dom}"
    );
    assert!(dom.contains(id) && dom.contains("restore and verify"));
    assert!(dom.contains("Quarterly &lt;drill&gt;"), "names are escaped");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn a_failed_drill_still_writes_its_report_and_exits_with_the_cause() {
    let pg = pg15();
    let db = pg.create_db("drill_fail");
    pg.psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let setup = Setup::new(pg.clone(), local_repo());
    setup.backup(&db, &[]);
    let dir = tempfile::tempdir().unwrap();

    // No backup that old: the step fails, the report says so, exit 1.
    let file = scenario(
        dir.path(),
        "name = \"too early\"\nat = \"2001-01-01 00:00\"\n",
    );
    let out_dir = dir.path().join("early");
    fails(run_drill(&setup, &file, &out_dir), 1, &["backup chosen"]);
    assert_eq!(report_files(&out_dir).len(), 3);

    // A target missed (an RTO of a millisecond): exit 7, report written, status FAILED.
    let file = scenario(
        dir.path(),
        &format!("name = \"impatient\"\ndatabases = [\"{db}\"]\n[targets]\nrto = \"1ms\"\n"),
    );
    let out_dir = dir.path().join("rto");
    fails(run_drill(&setup, &file, &out_dir), 7, &["RTO", "missed"]);
    let json = report_files(&out_dir)
        .into_iter()
        .find(|p| p.extension().unwrap() == "json")
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["rto"]["status"], "missed");
}
