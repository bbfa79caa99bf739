//! Format 1 repositories, written before backups were signed, still restore: read-only, and
//! only with the explicit break-glass flag, since nothing authenticates them.

use crate::common::*;
use std::path::{Path, PathBuf};

const ID: &str = "20261124T214606Z-8ff7";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-repo")
}

#[test]
fn a_format_1_backup_restores_with_break_glass_and_is_never_written_to() {
    let pg = pg15();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(&fixture().join("repo"), &repo);
    let keys = keys();
    let env = vec![
        ("LIFEBOAT_REPO".to_string(), repo.display().to_string()),
        (
            "LIFEBOAT_AGE_IDENTITY_FILE".to_string(),
            fixture().join("age-key.txt").display().to_string(),
        ),
        ("LIFEBOAT_TRUSTED_KEYS".to_string(), keys.trusted.clone()),
        (
            "LIFEBOAT_PG_BIN_DIR".to_string(),
            pg.bin.display().to_string(),
        ),
    ];
    let listed = ok(lifeboat(&["list"], &env));
    assert!(
        listed.contains(ID) && listed.contains("UNSIGNED (format 1)"),
        "{listed}"
    );

    let target = unique("v1");
    let url = pg.db_url(&target);
    fails(
        lifeboat(&["restore", ID, "--into", &url, "--create"], &env),
        3,
        &[
            ID,
            "format 1, before backups were signed",
            "--insecure-skip-signature",
        ],
    );
    ok(lifeboat(
        &[
            "restore",
            "latest",
            "--into",
            &url,
            "--create",
            "--insecure-skip-signature",
        ],
        &env,
    ));
    let expected = std::fs::read_to_string(fixture().join("expected-digests.txt")).unwrap();
    assert_eq!(pg.table_digests(&target), expected.trim());
    assert_eq!(
        pg.psql(&target, "SELECT last_value FROM customers_id_seq"),
        "2000"
    );
    assert_eq!(
        pg.psql(
            &target,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer'"
        ),
        "1"
    );

    // Read-only: new backups go to a new (format 2) repository.
    let mut write_env = env.clone();
    write_env.push((
        "LIFEBOAT_SIGNING_KEY_FILE".into(),
        keys.signing.display().to_string(),
    ));
    write_env.push(("LIFEBOAT_AGE_RECIPIENTS".into(), keys.recipient.clone()));
    let src = pg.db_url(&target);
    fails(
        lifeboat(
            &["backup", "--source", &src, "--database", &target],
            &write_env,
        ),
        4,
        &["format 1", "no longer writes", "lifeboat init"],
    );
}
