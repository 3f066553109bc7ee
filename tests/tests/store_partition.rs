//! Partitions: every link between nodes goes through a fault-injecting
//! proxy. A node cut off from the other two cannot commit (a write sent to
//! it answers 503 in bounded time and is not there after healing), reads on
//! it never return stale data, and the other two keep committing.

use std::time::{Duration, Instant};

use opencloud_tests::api::Api;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, write_many, Acked};
use reqwest::StatusCode;

/// A write to a node without quorum must answer within this (the node's
/// write timeout is a few seconds; this leaves a wide margin).
const BOUNDED: Duration = Duration::from_secs(30);

async fn start() -> Cluster {
    let cluster = Cluster::start(ClusterOptions::default().proxies(true))
        .await
        .expect("a 3-node cluster behind proxies starts");
    // The proxies must carry the Raft traffic, or cutting them proves nothing.
    let carried: u64 = cluster
        .ids()
        .iter()
        .flat_map(|&i| cluster.ids().into_iter().map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| cluster.proxy(i, j).accepted())
        .sum();
    assert!(
        carried > 0,
        "no inter-node connection went through the proxies"
    );
    cluster
}

/// Sends a write to the cut-off node and checks it fails with 503 and a
/// JSON error, in bounded time.
async fn write_to_cut_off_node(api: &Api, key: &str) {
    let t0 = Instant::now();
    let r = tokio::time::timeout(BOUNDED, api.put_kv(key, b"minority", Some(key)))
        .await
        .unwrap_or_else(|_| panic!("a write to the cut-off node did not answer in {BOUNDED:?}"));
    let elapsed = t0.elapsed();
    let r = r.expect("the cut-off node answers HTTP");
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a write without quorum: {} after {elapsed:?}",
        r.text()
    );
    assert!(r.is_json_error(), "503 body: {}", r.text());
}

/// A linearizable read on the cut-off node of a key the majority committed
/// may fail, or be served with the right value, but never answer 404.
async fn no_stale_read(api: &Api, acked: &Acked) {
    let r = tokio::time::timeout(BOUNDED, api.get_kv(&acked.key))
        .await
        .unwrap_or_else(|_| panic!("a read on the cut-off node did not answer in {BOUNDED:?}"));
    if let Ok(r) = r {
        assert_ne!(
            r.status,
            StatusCode::NOT_FOUND,
            "stale read: the cut-off node says {} is missing though the majority committed it",
            acked.key
        );
        if r.status == StatusCode::OK {
            assert_eq!(r.body, acked.value);
        }
    }
}

/// After healing: all three agree, the failed write is nowhere, and all the
/// majority's writes are everywhere.
async fn after_healing(cluster: &Cluster, lost_key: &str, acked: &[Acked]) {
    cluster.heal_all();
    cluster
        .wait_for_leader()
        .await
        .expect("a leader after healing");
    for id in cluster.ids() {
        cluster
            .wait_caught_up(id, Duration::from_secs(60))
            .await
            .expect("every node catches up after healing");
    }
    for id in cluster.ids() {
        let r = cluster.api(id).get_kv(lost_key).await.expect("GET");
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "node {id}: the write that answered 503 on the cut-off node is there: {}",
            r.text()
        );
    }
    let apis: Vec<_> = cluster.apis();
    assert_all_present(&apis, acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_follower_cannot_commit() {
    let cluster = start().await;
    let leader = cluster.wait_for_leader().await.expect("leader");
    let cut = cluster.follower_of(leader);
    let majority: Vec<_> = cluster.apis_except(cut);
    let mut acked = write_many(&majority, "before", 10, 2)
        .await
        .expect("writes");

    cluster.isolate(cut);
    let during = write_many(&majority, "during", 30, 4)
        .await
        .expect("the other two keep committing");
    write_to_cut_off_node(&cluster.api(cut), "lost-on-follower").await;
    no_stale_read(&cluster.api(cut), &during[during.len() - 1]).await;
    acked.extend(during);

    after_healing(&cluster, "lost-on-follower", &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_cannot_commit_and_the_others_elect() {
    let cluster = start().await;
    let old = cluster.wait_for_leader().await.expect("leader");
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != old).collect();
    let majority: Vec<_> = others.iter().map(|&id| cluster.api(id)).collect();
    let mut acked = write_many(&[cluster.api(old)], "before", 10, 2)
        .await
        .expect("writes");

    cluster.isolate(old);
    // The old leader still believes it leads: its write waits for a quorum
    // it cannot reach, then fails.
    let old_api = cluster.api(old);
    let stale_write = tokio::spawn(async move {
        write_to_cut_off_node(&old_api, "lost-on-leader").await;
    });
    let new = cluster
        .wait_for_new_leader(old)
        .await
        .expect("the other two elect a leader");
    assert!(others.contains(&new));
    let during = write_many(&majority, "during", 30, 4)
        .await
        .expect("the other two keep committing");
    stale_write
        .await
        .expect("the write to the old leader failed as it must");
    no_stale_read(&cluster.api(old), &during[during.len() - 1]).await;
    acked.extend(during);

    after_healing(&cluster, "lost-on-leader", &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_blackholed_node_cannot_commit() {
    let cluster = start().await;
    let leader = cluster.wait_for_leader().await.expect("leader");
    let cut = cluster.follower_of(leader);
    // Packets vanish instead of connections being refused: only timeouts
    // tell the node, and it must still answer in bounded time.
    for other in cluster.ids().into_iter().filter(|&id| id != cut) {
        cluster.proxy(cut, other).blackhole();
        cluster.proxy(other, cut).blackhole();
    }
    let majority: Vec<_> = cluster.apis_except(cut);
    let acked = write_many(&majority, "during", 20, 4)
        .await
        .expect("the other two keep committing");
    write_to_cut_off_node(&cluster.api(cut), "lost-in-the-hole").await;
    no_stale_read(&cluster.api(cut), &acked[acked.len() - 1]).await;
    after_healing(&cluster, "lost-in-the-hole", &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_node_far_behind_catches_up_by_snapshot_through_the_proxies() {
    let cluster = Cluster::start(ClusterOptions::default().proxies(true).snapshot_every(20))
        .await
        .expect("a 3-node cluster behind proxies starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let cut = cluster.follower_of(leader);
    let majority: Vec<_> = cluster.apis_except(cut);
    let installs_before = cluster
        .api(cut)
        .metrics()
        .await
        .ok()
        .and_then(|m| opencloud_tests::api::snapshot_installs(&m))
        .expect("/metrics exposes a snapshot-install counter");

    cluster.isolate(cut);
    // Far more than the leader keeps as log after a snapshot.
    let acked = write_many(&majority, "while-cut", 300, 8)
        .await
        .expect("the other two keep committing");
    after_healing(&cluster, "never-written", &acked).await;
    let installs_after = cluster
        .api(cut)
        .metrics()
        .await
        .ok()
        .and_then(|m| opencloud_tests::api::snapshot_installs(&m))
        .expect("/metrics exposes a snapshot-install counter");
    assert!(
        installs_after > installs_before,
        "the healed node caught up without installing a snapshot ({installs_before} -> {installs_after})"
    );
}
