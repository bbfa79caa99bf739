//! A backup killed with SIGKILL mid-flight leaves nothing `list` or `restore` takes as a
//! backup, and the next run cleans up after it.

use crate::common::*;

#[test]
fn kill_9_during_backup_leaves_no_backup_and_next_run_cleans_up() {
    let pg = pg15();
    let db = pg.create_db("crash");
    pg.psql(&db, "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 3000000) g;");
    let setup = Setup::new(pg.clone(), local_repo());
    let root = setup.repo.local.clone().unwrap();

    let mut child = setup.spawn_backup(&db, &["--compression-level", "19"]);
    // Wait until the backup is writing data (a partial file exists), then SIGKILL it.
    wait_while_running(&mut child, "the backup writes data", || {
        walk(&root)
            .iter()
            .any(|p| p.contains(".partial-") && p.contains("/data/"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        walk(&root).iter().any(|p| p.contains("in-progress.json")),
        "marker left by the killed run"
    );

    let listed = ok(setup.run(&["list"]));
    assert!(listed.contains("no backups"), "{listed}");
    let target = pg.db_url(&unique("t"));
    fails(
        setup.run(&["restore", "latest", "--into", &target, "--create"]),
        1,
        &["none found"],
    );

    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    let dirs: Vec<String> = std::fs::read_dir(root.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dirs,
        vec![id.to_string()],
        "the killed backup's objects were cleaned up"
    );
    assert!(!walk(&root).iter().any(|p| p.contains(".partial-")));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// S3 keeps the parts of a multipart upload whose process was killed (and bills them) until
/// someone aborts it: the next backup does, for the killed backup's objects at once.
#[test]
fn kill_9_during_an_s3_upload_leaves_no_open_multipart_upload_after_the_next_backup() {
    let pg = pg15();
    let db = pg.create_db("crash_s3");
    pg.psql(&db, "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 2000000) g;");
    let mut repo = s3_repo();
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let bucket = repo.bucket();
    let setup = Setup::new(pg.clone(), repo);
    let mut child = setup.spawn_backup(&db, &["--split-size", "0", "--compression-level", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open_uploads = || {
        rt.block_on(async {
            s3_client()
                .list_multipart_uploads()
                .bucket(&bucket)
                .send()
                .await
                .unwrap()
                .uploads()
                .len()
        })
    };
    wait_while_running(&mut child, "the backup starts a multipart upload", || {
        open_uploads() > 0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(open_uploads() > 0);
    setup.backup(&db, &["--compression-level", "1"]);
    assert_eq!(
        open_uploads(),
        0,
        "the killed run's multipart upload is still open"
    );
}
