//! Whole-cluster restarts: stop all three nodes (gracefully, or with
//! kill -9 right after the writes were acknowledged) and start them again on
//! their data dirs; every acknowledged write is still there.

use std::time::Duration;

use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, write_many, Acked};
use reqwest::StatusCode;

/// Writes tenants and keys through every node; returns the keys.
async fn write_data(cluster: &Cluster, prefix: &str, n: usize) -> Vec<Acked> {
    for id in cluster.ids() {
        let slug = format!("{prefix}-tenant-{id}");
        let r = cluster
            .api(id)
            .create_tenant(&slug, "Restart Co", None)
            .await
            .expect("POST tenant");
        assert_eq!(r.status, StatusCode::CREATED, "{slug}: {}", r.text());
    }
    let apis: Vec<_> = cluster.apis();
    write_many(&apis, prefix, n, 4)
        .await
        .expect("writes acknowledged")
}

async fn check_data(cluster: &Cluster, prefix: &str, acked: &[Acked]) {
    let leader = cluster
        .wait_for_leader()
        .await
        .expect("a leader after the restart");
    for id in cluster.ids() {
        cluster
            .wait_caught_up(id, Duration::from_secs(60))
            .await
            .expect("every node catches up after the restart");
        for t in cluster.ids() {
            let slug = format!("{prefix}-tenant-{t}");
            let r = cluster.api(id).get_tenant(&slug).await.expect("GET tenant");
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{slug} via node {id}: {}",
                r.text()
            );
        }
    }
    let apis: Vec<_> = cluster.apis();
    assert_all_present(&apis, acked).await;
    // And the cluster still takes writes.
    write_many(&[cluster.api(leader)], &format!("{prefix}-after"), 5, 1)
        .await
        .expect("writes after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_all_three_and_start_again_keeps_all_data() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let acked = write_data(&cluster, "graceful", 60).await;
    for id in cluster.ids() {
        cluster.stop(id).await.expect("the node exits on SIGTERM");
    }
    cluster
        .start_stopped()
        .await
        .expect("all three start again");
    check_data(&cluster, "graceful", &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_three_right_after_acknowledgement_loses_nothing() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let acked = write_data(&cluster, "crash", 60).await;
    // No pause: whatever was acknowledged must already be on disk.
    for id in cluster.ids() {
        cluster.kill(id);
    }
    cluster
        .start_stopped()
        .await
        .expect("all three start again");
    check_data(&cluster, "crash", &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_compaction_keeps_all_data() {
    // Snapshots every 20 entries: the nodes restart from a snapshot plus a
    // short log, with the log's start purged.
    let mut cluster = Cluster::start(ClusterOptions::default().snapshot_every(20))
        .await
        .expect("a 3-node cluster starts");
    let acked = write_data(&cluster, "compacted", 150).await;
    for id in cluster.ids() {
        cluster.kill(id);
    }
    cluster
        .start_stopped()
        .await
        .expect("all three start again");
    check_data(&cluster, "compacted", &acked).await;
    // A second restart, after more writes on the recovered state.
    for id in cluster.ids() {
        cluster.stop(id).await.expect("the node exits on SIGTERM");
    }
    cluster
        .start_stopped()
        .await
        .expect("all three start a second time");
    check_data(&cluster, "compacted", &acked).await;
}
