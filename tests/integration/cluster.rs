//! The scratch cluster `lifeboat demo` runs on (and a restore check can reuse): started from
//! a chosen bin directory, reachable, stopped and removed when dropped.

use crate::common::*;
use lifeboat::postgres::ScratchCluster;

#[tokio::test]
async fn scratch_cluster_starts_answers_and_goes_away() {
    let pg = pg15();
    let mut cluster = ScratchCluster::start(Some(pg.bin.clone()), Some(pg.major)).unwrap();
    assert!(cluster.major() >= pg.major);
    let dir = cluster.dir().to_path_buf();
    assert!(dir.join("pgdata").is_dir());
    let client = cluster.conn("postgres").unwrap().connect().await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop(client);
    cluster.stop().unwrap();
    cluster.stop().unwrap();
    assert!(cluster.conn("postgres").unwrap().connect().await.is_err());
    drop(cluster);
    assert!(!dir.exists(), "{} was left behind", dir.display());

    // Dropped while running: stopped and removed all the same.
    let cluster = ScratchCluster::start(Some(pg.bin.clone()), None).unwrap();
    let dir = cluster.dir().to_path_buf();
    let conn = cluster.conn("postgres").unwrap();
    drop(cluster);
    assert!(!dir.exists());
    assert!(conn.connect().await.is_err());
}
