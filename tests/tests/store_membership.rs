//! Membership of a running cluster: `opencloud cluster add` of a fourth
//! node and `cluster remove` of it or of an old one, and a node rebuilt from
//! an empty data dir that rejoins and gets all the data.

use std::time::Duration;

use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, write_many};

const CHANGE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_fourth_node_then_remove_it() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let apis: Vec<_> = cluster.apis();
    let mut acked = write_many(&apis, "before-add", 30, 4)
        .await
        .expect("writes");

    cluster
        .add_node(4)
        .await
        .expect("`opencloud cluster add` of node 4 succeeds");
    cluster
        .wait_for_members(&[1, 2, 3, 4], CHANGE)
        .await
        .expect("node 4 becomes a voter");
    cluster
        .wait_caught_up(4, CHANGE)
        .await
        .expect("node 4 catches up");
    let info = cluster.api(4).cluster().await.expect("node 4 info");
    assert!(info.leader.is_some(), "node 4 knows the leader: {info:?}");

    // Node 4 takes writes (forwarded) and everyone reads them.
    acked.extend(
        write_many(&[cluster.api(4)], "via-4", 10, 2)
            .await
            .expect("writes through node 4"),
    );
    let all: Vec<_> = cluster.apis();
    assert_all_present(&all, &acked).await;

    cluster
        .remove_node(4)
        .await
        .expect("`opencloud cluster remove` of node 4 succeeds");
    cluster
        .wait_for_members(&[1, 2, 3], CHANGE)
        .await
        .expect("node 4 is no longer a member");
    cluster.kill(4);
    let old: Vec<_> = [1, 2, 3].iter().map(|&id| cluster.api(id)).collect();
    acked.extend(
        write_many(&old, "after-remove", 10, 2)
            .await
            .expect("the three keep committing without node 4"),
    );
    assert_all_present(&old, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_node_and_retire_an_old_one() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let mut acked = write_many(&[cluster.api(leader)], "before", 30, 4)
        .await
        .expect("writes");

    cluster.add_node(4).await.expect("cluster add 4");
    cluster
        .wait_for_members(&[1, 2, 3, 4], CHANGE)
        .await
        .expect("node 4 becomes a voter");
    let retired = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader && id != 4)
        .expect("an old follower");
    cluster
        .remove_node(retired)
        .await
        .expect("cluster remove of an old node");
    let mut members: Vec<u64> = vec![1, 2, 3, 4];
    members.retain(|&id| id != retired);
    cluster
        .wait_for_members(&members, CHANGE)
        .await
        .expect("the old node is no longer a member");
    cluster.kill(retired);
    cluster
        .wait_caught_up(4, CHANGE)
        .await
        .expect("node 4 caught up");

    // Kill the leader: the two that remain, node 4 among them, are a
    // quorum of the new membership and have everything.
    let leader = cluster.wait_for_leader().await.expect("leader");
    cluster.kill(leader);
    let new = cluster
        .wait_for_new_leader(leader)
        .await
        .expect("the remaining two elect a leader");
    let live: Vec<_> = cluster
        .running_ids()
        .into_iter()
        .map(|id| cluster.api(id))
        .collect();
    assert!(cluster.running_ids().contains(&4) && cluster.running_ids().contains(&new));
    acked.extend(write_many(&live, "after", 10, 2).await.expect("writes"));
    assert_all_present(&live, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebuilt_from_an_empty_data_dir_rejoins_with_all_data() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let apis: Vec<_> = cluster.apis();
    let mut acked = write_many(&apis, "before", 50, 4).await.expect("writes");

    let rebuilt = cluster.follower_of(leader);
    cluster
        .wipe_and_restart(rebuilt)
        .await
        .expect("the node restarts on an empty data dir with --join");
    cluster
        .wait_caught_up(rebuilt, CHANGE)
        .await
        .expect("the rebuilt node catches up");
    acked.extend(
        write_many(&[cluster.api(rebuilt)], "via-rebuilt", 10, 2)
            .await
            .expect("writes through the rebuilt node"),
    );
    // Reads judged by the rebuilt node's own state.
    cluster
        .make_leader(rebuilt, 16)
        .await
        .expect("the rebuilt node can lead");
    assert_all_present(&[cluster.api(rebuilt)], &acked).await;
    let all: Vec<_> = cluster.apis();
    assert_all_present(&all, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_leader_hands_over_to_the_others() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let mut acked = write_many(
        &[cluster.api(1), cluster.api(2), cluster.api(3)],
        "before",
        20,
        2,
    )
    .await
    .expect("writes");
    cluster.add_node(4).await.expect("cluster add 4");
    cluster
        .wait_for_members(&[1, 2, 3, 4], CHANGE)
        .await
        .expect("node 4 becomes a voter");
    let leader = cluster.wait_for_leader().await.expect("leader");
    cluster
        .remove_node(leader)
        .await
        .expect("cluster remove of the leader");
    let mut rest: Vec<u64> = vec![1, 2, 3, 4];
    rest.retain(|&id| id != leader);
    // The removed leader may act until the new membership is committed,
    // then steps down; one of the others takes over.
    let new = cluster
        .wait_for_new_leader(leader)
        .await
        .expect("a remaining node takes over from the removed leader");
    assert!(rest.contains(&new), "leader {new} is not a member");
    cluster
        .wait_for_members(&rest, CHANGE)
        .await
        .expect("the others carry on without the old leader");
    cluster.kill(leader);
    let live: Vec<_> = rest.iter().map(|&id| cluster.api(id)).collect();
    acked.extend(write_many(&live, "after", 10, 2).await.expect("writes"));
    assert_all_present(&live, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_unreachable_node_leaves_the_cluster_writable() {
    // A voter nobody can reach would take the quorum with it: the add must
    // fail and the cluster keep its members and its writes.
    let cluster = Cluster::start(ClusterOptions::default().nodes(1))
        .await
        .expect("a 1-node cluster starts");
    let api = cluster.api(1);
    let r = cluster
        .client()
        .post(format!("{}/api/v1/cluster/nodes", api.url()))
        .json(&serde_json::json!({"id": 7, "raft_addr": "127.0.0.1:1"}))
        .send()
        .await
        .expect("POST cluster/nodes");
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert!(
        !status.is_success(),
        "an unreachable node was added: {status} {body}"
    );
    let info = api.cluster().await.expect("cluster info");
    assert_eq!(info.members, vec![1], "{info:?}");
    let w = api.put_kv("after", b"v", None).await.expect("PUT");
    assert!(
        opencloud_tests::api::kv_write_ok(w.status),
        "the cluster stopped taking writes: {} {}",
        w.status,
        w.text()
    );
}
