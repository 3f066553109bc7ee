//! Compaction under load: with a snapshot every few entries, many writers
//! at once and a follower killed and restarted twice, the leader builds,
//! purges and ships snapshots while applying. No node may panic or crash,
//! and no acknowledged write may be lost.

use std::time::Duration;

use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, write_many};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_under_load_with_a_restarting_follower() {
    let mut cluster = Cluster::start(ClusterOptions::default().snapshot_every(10))
        .await
        .expect("a 3-node cluster starts");
    let apis: Vec<_> = cluster.apis();
    let load = tokio::spawn(async move { write_many(&apis, "churn", 800, 32).await });

    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let leader = cluster.wait_for_leader().await.expect("leader");
        let follower = cluster.follower_of(leader);
        cluster.kill(follower);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster
            .restart(follower)
            .await
            .expect("the follower restarts");
    }
    let acked = load
        .await
        .expect("the load task")
        .expect("every write is acknowledged in the end");
    for id in cluster.ids() {
        cluster
            .wait_caught_up(id, Duration::from_secs(90))
            .await
            .expect("every node catches up");
    }
    cluster
        .check_no_crash()
        .expect("no node crashed or panicked");
    let all: Vec<_> = cluster.apis();
    assert_all_present(&all, &acked).await;
}
