//! `lifeboat check`: integrity without a restore. A sound repository passes; a missing
//! object, a flipped byte (with --read-data, with and without an identity) and a modified
//! manifest are each named, with exit code 3.

use crate::common::*;

fn backed_up() -> (Setup, serde_json::Value) {
    let pg = pg15();
    let db = pg.create_db("chk");
    pg.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g; CREATE TABLE u (k int); INSERT INTO u VALUES (1);");
    let setup = Setup::new(pg, local_repo());
    setup.backup(&db, &[]);
    let m = setup.backup(&db, &[]);
    (setup, m)
}

fn data_path(setup: &Setup, m: &serde_json::Value) -> std::path::PathBuf {
    setup.repo.local.as_ref().unwrap().join(format!(
        "backups/{}/{}",
        m["id"].as_str().unwrap(),
        first_key(&m["databases"][0]["tables"][0]["object"])
    ))
}

fn without_identity(setup: &Setup) -> Vec<(String, String)> {
    let mut env = setup.env();
    env.retain(|(k, _)| k != "LIFEBOAT_AGE_IDENTITY_FILE");
    env
}

#[test]
fn a_sound_repository_passes_and_subsets_cover_everything() {
    let (setup, _) = backed_up();
    let out = ok(setup.run(&["check"]));
    assert!(
        out.contains("checked 2 backups") && out.contains("no problems"),
        "{out}"
    );
    let out = ok(setup.run(&["check", "--read-data"]));
    assert!(out.contains("decrypted"), "{out}");
    let out = ok(lifeboat(
        &["check", "--read-data"],
        &without_identity(&setup),
    ));
    assert!(out.contains("stored bytes checked"), "{out}");
    let all: serde_json::Value =
        serde_json::from_str(&ok(setup.run(&["check", "--read-data", "--json"]))).unwrap();
    let parts: u64 = ["1/3", "2/3", "3/3"]
        .iter()
        .map(|s| {
            let r: serde_json::Value = serde_json::from_str(&ok(setup.run(&[
                "check",
                "--read-data-subset",
                s,
                "--json",
            ])))
            .unwrap();
            r["streams_read"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(parts, all["streams_read"].as_u64().unwrap());
    let some: serde_json::Value = serde_json::from_str(&ok(setup.run(&[
        "check",
        "--read-data-subset",
        "1KiB",
        "--json",
    ])))
    .unwrap();
    let read = some["streams_read"].as_u64().unwrap();
    assert!(
        read >= 1 && read < all["streams_read"].as_u64().unwrap(),
        "{some}"
    );
    fails(
        setup.run(&["check", "--read-data-subset", "8/7"]),
        2,
        &["n must be between"],
    );
}

#[test]
fn damage_is_found_and_named() {
    let (setup, m) = backed_up();
    let key = first_key(&m["databases"][0]["tables"][0]["object"]);
    // A flipped byte keeps the size: only reading the data finds it, with or without a key.
    let path = data_path(&setup, &m);
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    ok(setup.run(&["check"]));
    let out = fails(setup.run(&["check", "--read-data"]), 3, &["1 problem(s)"]);
    let stdout_and_err = format!(
        "{out}{}",
        String::from_utf8_lossy(&setup.run(&["check", "--read-data"]).stdout)
    );
    assert!(stdout_and_err.contains(&key), "{stdout_and_err}");
    let out = lifeboat(&["check", "--read-data"], &without_identity(&setup));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SHA-256"));
    // A missing object: found without reading data.
    std::fs::remove_file(&path).unwrap();
    let out = setup.run(&["check"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{key} is missing")));
    // A modified manifest: its signature no longer verifies.
    let manifest = setup.repo.local.as_ref().unwrap().join(format!(
        "backups/{}/manifest.json",
        m["id"].as_str().unwrap()
    ));
    let text_m = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text_m.replacen("\"rows\": ", "\"rows\":  ", 1)).unwrap();
    let out = setup.run(&["check"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BAD SIGNATURE"),
        "{}",
        text(&out)
    );
}
