//! Nothing unauthenticated is executed: a restore runs the repository's SQL as a privileged
//! role, so only backups signed by a trusted key are restored, and the check happens before
//! the target is touched.

use crate::common::*;
use std::path::PathBuf;

/// A database whose backup an attacker would like to plant.
fn small_db(pg: &Pg, prefix: &str, marker: &str) -> String {
    let db = pg.create_db(prefix);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t VALUES (1, '{marker}');"
        ),
    );
    db
}

fn db_exists(pg: &Pg, name: &str) -> bool {
    pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) == "1"
}

/// The restore side's environment: identity and trusted key, no signing key.
fn restore_env(setup: &Setup) -> Vec<(String, String)> {
    let mut env: Vec<_> = setup
        .env()
        .into_iter()
        .filter(|(k, _)| k != "LIFEBOAT_SIGNING_KEY_FILE")
        .collect();
    env.push(("LIFEBOAT_TRUSTED_KEYS".into(), setup.keys.trusted.clone()));
    env
}

/// An attacker who can write to the bucket and knows the (public) age recipient plants a
/// complete, well-formed backup signed with their own key.
fn planted_backup(victim: &Setup) -> (String, PathBuf) {
    let pg = victim.pg.clone();
    let db = small_db(&pg, "evil", "planted");
    let mut attacker = Setup::new(pg.clone(), local_repo());
    attacker.keys.recipient = victim.keys.recipient.clone();
    let m = attacker.backup(&db, &[]);
    let id = m["id"].as_str().unwrap().to_string();
    let from = attacker
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{id}"));
    let to = victim
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{id}"));
    copy_dir(&from, &to);
    (id, to)
}

#[test]
fn a_backup_signed_by_an_unknown_key_is_refused_before_the_target_is_touched() {
    let pg = pg15();
    let victim = Setup::new(pg.clone(), local_repo());
    let (id, _) = planted_backup(&victim);
    // It is listed (list shows what is there), marked as untrusted.
    let listed = ok(lifeboat(&["list"], &restore_env(&victim)));
    assert!(
        listed.contains(&id) && listed.contains("UNTRUSTED KEY"),
        "{listed}"
    );
    let target = unique("target");
    let url = pg.db_url(&target);
    let err = fails(
        lifeboat(
            &["restore", &id, "--into", &url, "--create"],
            &restore_env(&victim),
        ),
        3,
        &[&id, "not a trusted key", "--trusted-key"],
    );
    assert!(!err.contains("planted"), "{err}");
    assert!(!db_exists(&pg, &target), "the target was touched");
    // `latest` is the planted backup here, and it is refused, not skipped.
    fails(
        lifeboat(
            &["restore", "latest", "--into", &url, "--create"],
            &restore_env(&victim),
        ),
        3,
        &[&id, "not a trusted key"],
    );
    fails(
        lifeboat(&["show", &id], &restore_env(&victim)),
        3,
        &["not a trusted key"],
    );
    assert!(!db_exists(&pg, &target));
}

#[test]
fn an_unsigned_or_modified_backup_is_refused_and_break_glass_is_loud() {
    let pg = pg15();
    let db = small_db(&pg, "sig", "genuine");
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let id = m["id"].as_str().unwrap();
    let dir = setup
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{id}"));
    let manifest = dir.join("manifest.json");
    let signature = dir.join("manifest.json.minisig");

    // Modified after signing: one row count changed.
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        original.replacen("\"rows\": 1", "\"rows\": 2", 1),
    )
    .unwrap();
    let target = unique("target");
    let url = pg.db_url(&target);
    fails(
        lifeboat(
            &["restore", id, "--into", &url, "--create"],
            &restore_env(&setup),
        ),
        3,
        &[id, "does not match its content"],
    );
    std::fs::write(&manifest, &original).unwrap();

    // No signature at all.
    std::fs::remove_file(&signature).unwrap();
    fails(
        lifeboat(
            &["restore", id, "--into", &url, "--create"],
            &restore_env(&setup),
        ),
        3,
        &[id, "has no signature"],
    );
    assert!(!db_exists(&pg, &target));

    // Break-glass: restores, and says so loudly.
    let out = lifeboat(
        &[
            "restore",
            id,
            "--into",
            &url,
            "--create",
            "--insecure-skip-signature",
        ],
        &restore_env(&setup),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(stderr.contains("SIGNATURE NOT VERIFIED"), "{stderr}");
    assert_eq!(pg.psql(&target, "SELECT s FROM t"), "genuine");
}

#[test]
fn restoring_needs_a_trusted_key_configured() {
    let pg = pg15();
    let db = small_db(&pg, "notrust", "x");
    let setup = Setup::new(pg.clone(), local_repo());
    setup.backup(&db, &[]);
    let env: Vec<_> = setup
        .env()
        .into_iter()
        .filter(|(k, _)| k != "LIFEBOAT_SIGNING_KEY_FILE")
        .collect();
    let target = unique("target");
    fails(
        lifeboat(
            &[
                "restore",
                "latest",
                "--into",
                &pg.db_url(&target),
                "--create",
            ],
            &env,
        ),
        2,
        &["no trusted signing key", "LIFEBOAT_TRUSTED_KEYS"],
    );
    assert!(!db_exists(&pg, &target));
}

#[test]
fn stock_minisign_verifies_a_manifest_and_the_descriptor() {
    let pg = pg15();
    let db = small_db(&pg, "mini", "x");
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &[]);
    let root = setup.repo.local.as_ref().unwrap();
    for doc in [
        root.join(format!(
            "backups/{}/manifest.json",
            m["id"].as_str().unwrap()
        )),
        root.join("lifeboat.json"),
    ] {
        let out = std::process::Command::new("minisign")
            .args(["-V", "-p"])
            .arg(&setup.keys.signing_pub)
            .arg("-m")
            .arg(&doc)
            .output()
            .expect("minisign runs (tests/servers.sh installs it)");
        assert!(
            out.status.success(),
            "minisign -V {}: {}{}",
            doc.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("Signature and comment signature verified"),
            "{said}"
        );
        assert!(said.contains("lifeboat "), "{said}");
    }
}

#[test]
fn key_rotation_trusts_several_keys_at_once() {
    let pg = pg15();
    let db = small_db(&pg, "rot", "x");
    let setup = Setup::new(pg.clone(), local_repo());
    let old = setup.backup(&db, &[]);
    // The backup side moves to a new signing key; restores trust both during the rotation.
    let new_keys = keys();
    let mut env = setup.env();
    for (k, v) in env.iter_mut() {
        if k == "LIFEBOAT_SIGNING_KEY_FILE" {
            *v = new_keys.signing.display().to_string();
        }
    }
    let url = pg.db_url(&db);
    let new: serde_json::Value = serde_json::from_str(&ok(lifeboat(
        &["backup", "--source", &url, "--database", &db, "--json"],
        &env,
    )))
    .unwrap();
    let mut restore = restore_env(&setup);
    restore.push((
        "LIFEBOAT_TRUSTED_KEYS".into(),
        format!("{},{}", setup.keys.trusted, new_keys.trusted),
    ));
    for m in [&old, &new] {
        let target = pg.db_url(&unique("rot"));
        let id = m["id"].as_str().unwrap();
        ok(lifeboat(
            &["restore", id, "--into", &target, "--create"],
            &restore,
        ));
    }
    // Once the old key is retired, its backups are no longer trusted.
    let mut only_new = restore_env(&setup);
    only_new.push(("LIFEBOAT_TRUSTED_KEYS".into(), new_keys.trusted.clone()));
    let target = pg.db_url(&unique("rot"));
    fails(
        lifeboat(
            &[
                "restore",
                old["id"].as_str().unwrap(),
                "--into",
                &target,
                "--create",
            ],
            &only_new,
        ),
        3,
        &["not a trusted key"],
    );
}

#[test]
fn latest_never_falls_back_to_an_older_backup() {
    let pg = pg15();
    let db = small_db(&pg, "latest", "x");
    let setup = Setup::new(pg.clone(), local_repo());
    setup.backup(&db, &[]);
    let newest = setup.backup(&db, &[]);
    let id = newest["id"].as_str().unwrap();
    let manifest = setup
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{id}/manifest.json"));
    std::fs::write(&manifest, b"{ not json").unwrap();
    let target = unique("target");
    fails(
        setup.run(&[
            "restore",
            "latest",
            "--into",
            &pg.db_url(&target),
            "--create",
        ]),
        3,
        &[id, "newest backup", "name it by id"],
    );
    assert!(!db_exists(&pg, &target));
}

#[test]
fn a_path_that_is_not_a_repository_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let env = vec![
        ("LIFEBOAT_REPO".into(), dir.path().display().to_string()),
        (
            "LIFEBOAT_SIGNING_KEY_FILE".into(),
            keys.signing.display().to_string(),
        ),
    ];
    fails(
        lifeboat(&["list"], &env),
        4,
        &["is not a lifeboat repository"],
    );
    fails(
        lifeboat(&["show", "latest"], &env),
        4,
        &["is not a lifeboat repository"],
    );
    let url = pg15().db_url(&unique("t"));
    let mut env = env;
    env.push((
        "LIFEBOAT_AGE_IDENTITY_FILE".into(),
        keys.identity.display().to_string(),
    ));
    fails(
        lifeboat(&["restore", "latest", "--into", &url, "--create"], &env),
        4,
        &["is not a lifeboat repository"],
    );
    // Nothing was written there (no lock directory).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
