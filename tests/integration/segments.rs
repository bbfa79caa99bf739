//! A stream larger than the segment size rolls over into a sequence of objects, each a
//! complete age file over complete zstd frames: memory stays bounded by the part size, the
//! restore is identical, and the by-hand recipe (decrypt each part in order, then zstd -d)
//! still gives the rows.

use crate::common::*;

fn wide_db(pg: &Pg) -> String {
    let db = pg.create_db("seg");
    // ~35 MB of barely compressible text: several 1 MiB segments at any level.
    pg.psql(&db, "CREATE TABLE w (id int PRIMARY KEY, s text); INSERT INTO w SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 300000) g;");
    db
}

#[test]
fn a_stream_rolls_over_into_segments_and_restores_identically_from_s3() {
    let pg = pg15();
    let db = wide_db(&pg);
    let mut repo = s3_repo();
    repo.env.push(("LIFEBOAT_PART_SIZE".into(), "5MiB".into()));
    let setup = Setup::new(pg.clone(), repo);
    let m = setup.backup(
        &db,
        &["--segment-size", "1MiB", "--split-size", "0", "--jobs", "1"],
    );
    let parts = m["databases"][0]["tables"][0]["object"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        parts.len() >= 5,
        "expected several segments, got {}",
        parts.len()
    );
    for (n, p) in parts.iter().enumerate() {
        let key = p["key"].as_str().unwrap();
        if n == 0 {
            assert!(key.ends_with(".copy.zst.age"), "{key}");
        } else {
            assert!(key.ends_with(&format!(".copy.s{n:04}.zst.age")), "{key}");
        }
        // Each segment stays near the segment size (one plaintext block of slack).
        assert!(p["size"].as_u64().unwrap() < 3 << 20, "{p}");
    }
    let restored = setup.restore_new(m["id"].as_str().unwrap(), &db, &[]);
    assert_eq!(pg.table_digests(&db), pg.table_digests(&restored));
}

#[test]
fn segments_restore_by_hand_with_age_and_zstd() {
    let pg = pg15();
    let db = wide_db(&pg);
    let setup = Setup::new(pg.clone(), local_repo());
    let m = setup.backup(&db, &["--segment-size", "1MiB", "--split-size", "0"]);
    let dir = setup
        .repo
        .local
        .as_ref()
        .unwrap()
        .join(format!("backups/{}", m["id"].as_str().unwrap()));
    let parts: Vec<String> = m["databases"][0]["tables"][0]["object"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| dir.join(p["key"].as_str().unwrap()).display().to_string())
        .collect();
    assert!(parts.len() > 1);
    // docs/repository-format.md: `for f in PARTS; do age -d -i KEY "$f"; done | zstd -dc`
    let script = format!(
        "for f in {}; do age -d -i {} \"$f\"; done | zstd -dc",
        parts.join(" "),
        setup.keys.identity.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = String::from_utf8(out.stdout).unwrap();
    assert_eq!(copy.lines().count(), 300_000);
    let expected = pg.psql(&db, "SELECT count(*) FROM w WHERE id = 4242 AND s = md5('4242') || md5('29694') || md5('55146')");
    assert_eq!(expected, "1");
    assert!(copy.contains(&format!(
        "4242\t{}",
        pg.psql(&db, "SELECT s FROM w WHERE id = 4242")
    )));
}
