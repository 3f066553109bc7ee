//! A node that was down catches up when it comes back: by log when the
//! leader still has the entries it missed, by snapshot when the leader has
//! compacted them away.
//!
//! Reads sent to a follower are forwarded to the leader, so what the node
//! itself holds is checked through its own `last_applied` in
//! `/api/v1/cluster`, its snapshot-install counter in `/metrics`, and finally
//! by making it the leader and reading everything back through it.

use std::time::Duration;

use opencloud_tests::api::snapshot_installs;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, write_many};

const CATCH_UP: Duration = Duration::from_secs(90);

/// Kills a follower, writes `n` keys through the other two, restarts it,
/// and checks that it catches up and holds every key. Returns how many
/// snapshots the restarted follower installed, when `/metrics` says.
async fn follower_misses_writes(cluster: &mut Cluster, prefix: &str, n: usize) -> Option<f64> {
    let leader = cluster.wait_for_leader().await.expect("leader");
    let ids = cluster.ids();
    let behind = *ids.iter().find(|&&id| id != leader).expect("a follower");

    let before = write_many(&[cluster.api(leader)], &format!("{prefix}-before"), 10, 2)
        .await
        .expect("writes before the kill");
    cluster.kill(behind);

    let live: Vec<_> = cluster
        .running_ids()
        .into_iter()
        .map(|id| cluster.api(id))
        .collect();
    let missed = write_many(&live, prefix, n, 8)
        .await
        .expect("the two others keep committing");
    let leader_info = cluster.api(leader).cluster().await.expect("leader info");

    cluster
        .restart(behind)
        .await
        .expect("the follower restarts");
    cluster
        .wait_for_applied(behind, leader_info.last_applied, CATCH_UP)
        .await
        .expect("the restarted follower applies everything the leader had");
    let installs_after = cluster
        .api(behind)
        .metrics()
        .await
        .ok()
        .and_then(|m| snapshot_installs(&m));

    // It now holds the data itself: make it lead and read everything back.
    cluster
        .make_leader(behind, 16)
        .await
        .expect("the caught-up follower can lead");
    let mut all = before;
    all.extend(missed);
    assert_all_present(&[cluster.api(behind)], &all).await;
    installs_after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_follower_catches_up_by_log() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    // With the default snapshot interval (10000) nothing is compacted, so
    // the missed entries can only come as log.
    let installs = follower_misses_writes(&mut cluster, "bylog", 100)
        .await
        .expect("/metrics exposes a snapshot-install counter");
    assert_eq!(
        installs, 0.0,
        "caught up by log, yet /metrics counts snapshot installs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_behind_follower_catches_up_by_snapshot() {
    // A snapshot every 20 entries: the leader keeps at most that much log,
    // so 400 missed writes are long gone from it and only a snapshot helps.
    let mut cluster = Cluster::start(ClusterOptions::default().snapshot_every(20))
        .await
        .expect("a 3-node cluster starts");
    let installs = follower_misses_writes(&mut cluster, "bysnap", 400)
        .await
        .expect("/metrics exposes a snapshot-install counter");
    assert!(
        installs >= 1.0,
        "/metrics shows no snapshot install on the follower"
    );
}
