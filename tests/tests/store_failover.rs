//! Failover: kill -9 the leader of a 3-node cluster while a writer keeps
//! writing; a new leader is elected, writes succeed again through the
//! survivors, and no acknowledged write is lost.

use std::time::Duration;

use opencloud_tests::api::kv_write_ok;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::{assert_all_present, Writer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_the_leader_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts and elects a leader");
    let old = cluster.wait_for_leader().await.expect("leader");

    let apis = cluster.apis();
    let writer = Writer::start(apis, "fo", Duration::from_secs(60));
    writer
        .wait_acked(30, Duration::from_secs(60))
        .await
        .expect("writes are acknowledged before the kill");

    cluster.kill(old);
    let at_kill = writer.acked();
    let new = cluster
        .wait_for_new_leader(old)
        .await
        .expect("the survivors elect a new leader");
    assert_ne!(new, old);

    // The writer goes on through the survivors.
    writer
        .wait_acked(at_kill + 30, Duration::from_secs(60))
        .await
        .expect("writes are acknowledged again after the kill");
    let acked = writer.finish().await.expect("the writer never got stuck");

    // Each survivor accepts writes itself (the follower forwards).
    let survivors = cluster.running_ids();
    assert_eq!(survivors.len(), 2);
    for &id in &survivors {
        let key = format!("after-kill-via-{id}");
        let r = cluster
            .api(id)
            .put_kv(&key, b"v", None)
            .await
            .expect("PUT through a survivor");
        assert!(kv_write_ok(r.status), "via {id}: {} {}", r.status, r.text());
    }

    let apis: Vec<_> = survivors.iter().map(|&id| cluster.api(id)).collect();
    assert_all_present(&apis, &acked).await;

    // The killed node comes back, follows the new leader and has it all.
    cluster
        .restart(old)
        .await
        .expect("the killed node restarts");
    cluster
        .wait_caught_up(old, Duration::from_secs(60))
        .await
        .expect("the restarted node catches up");
    let info = cluster.api(old).cluster().await.expect("cluster info");
    assert!(
        info.leader.is_some(),
        "restarted node knows a leader: {info:?}"
    );
    assert_all_present(&[cluster.api(old)], &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_leader_kills_lose_nothing() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts and elects a leader");
    let apis = cluster.apis();
    let writer = Writer::start(apis, "rk", Duration::from_secs(60));
    writer
        .wait_acked(20, Duration::from_secs(60))
        .await
        .expect("first writes");
    for round in 0..3 {
        let old = cluster.wait_for_leader().await.expect("leader");
        cluster.kill(old);
        let at_kill = writer.acked();
        cluster
            .wait_for_new_leader(old)
            .await
            .unwrap_or_else(|e| panic!("round {round}: no new leader: {e:#}"));
        writer
            .wait_acked(at_kill + 20, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("round {round}: writes stalled: {e:#}"));
        cluster
            .restart(old)
            .await
            .expect("the killed node restarts");
        cluster
            .wait_caught_up(old, Duration::from_secs(60))
            .await
            .expect("the killed node catches up");
    }
    let acked = writer.finish().await.expect("the writer never got stuck");
    let apis: Vec<_> = cluster.apis();
    assert_all_present(&apis, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_that_resumes_serves_no_stale_data() {
    let cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts and elects a leader");
    let old = cluster.wait_for_leader().await.expect("leader");
    let r = cluster
        .api(old)
        .put_kv("k", b"v1", None)
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status));

    // Freeze the leader (its sockets stay open, it just stops answering):
    // the other two elect a leader and overwrite the key.
    cluster.pause(old).expect("SIGSTOP the leader");
    let new = cluster
        .wait_for_new_leader(old)
        .await
        .expect("the other two elect a leader");
    let r = cluster
        .api(new)
        .put_kv("k", b"v2", None)
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status), "{} {}", r.status, r.text());

    // The old leader wakes up still believing it leads. Whatever it answers
    // must not be the overwritten value.
    cluster.resume(old).expect("SIGCONT the old leader");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut reads = 0;
    while std::time::Instant::now() < deadline {
        if let Ok(r) = cluster.api(old).get_kv("k").await {
            if r.status == reqwest::StatusCode::OK {
                assert_eq!(r.text(), "v2", "stale read from the resumed old leader");
                reads += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It rejoins as a follower: writes through it succeed and land.
    cluster.wait_for_leader().await.expect("a leader");
    let r = cluster
        .api(old)
        .put_kv("k", b"v3", None)
        .await
        .expect("PUT");
    assert!(
        kv_write_ok(r.status),
        "write through the resumed node: {}",
        r.text()
    );
    for id in cluster.ids() {
        let got = cluster.api(id).get_kv("k").await.expect("GET");
        assert_eq!(got.text(), "v3", "node {id}");
    }
    eprintln!("{reads} reads answered by the resumed node while it rejoined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_quorum_writes_fail_fast_and_resume_with_one() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts and elects a leader");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let r = cluster
        .api(leader)
        .put_kv("before", b"1", None)
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status));

    // Two of three gone: the survivor can neither commit nor elect.
    let survivor = cluster.follower_of(leader);
    for id in cluster.ids() {
        if id != survivor {
            cluster.kill(id);
        }
    }
    let t0 = std::time::Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        cluster
            .api(survivor)
            .put_kv("lonely", b"x", Some("lonely-1")),
    )
    .await
    .expect("the write answers in bounded time")
    .expect("the survivor answers HTTP");
    assert_eq!(
        r.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "a write without quorum after {:?}: {}",
        t0.elapsed(),
        r.text()
    );
    assert!(r.is_json_error(), "503 body: {}", r.text());

    // One node back is a quorum again: writes resume, old data is there, and
    // the failed write is not.
    cluster.restart(leader).await.expect("restart one node");
    cluster
        .wait_for_leader()
        .await
        .expect("a leader with two of three");
    let r = cluster
        .api(survivor)
        .put_kv("after", b"2", None)
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status), "{} {}", r.status, r.text());
    let got = cluster.api(survivor).get_kv("before").await.expect("GET");
    assert_eq!(got.body, b"1");
    let got = cluster.api(survivor).get_kv("lonely").await.expect("GET");
    assert_eq!(got.status, reqwest::StatusCode::NOT_FOUND, "{}", got.text());
}
