//! Idempotent writes: a write retried with the same `X-Request-Id` is
//! applied once and answers as the first did, wherever it is sent, and the
//! record of applied ids survives snapshots and restarts.

use std::time::Duration;

use opencloud_tests::api::kv_write_ok;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::workload::write_many;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_is_applied_once() {
    let cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let follower = cluster.follower_of(leader);
    let (l, f) = (cluster.api(leader), cluster.api(follower));

    // The same request again (same id, same body) answers like the first.
    let first = l.put_kv("k", b"v1", Some("req-x")).await.expect("PUT");
    assert!(
        kv_write_ok(first.status),
        "{} {}",
        first.status,
        first.text()
    );
    let retry = l
        .put_kv("k", b"v1", Some("req-x"))
        .await
        .expect("PUT retry");
    assert_eq!(
        retry.status, first.status,
        "the retry answers as the first did"
    );
    // Same id, other value: not a retry but a different request; it is
    // refused (never answered with the first one's outcome) and changes
    // nothing.
    let reuse = l
        .put_kv("k", b"v2", Some("req-x"))
        .await
        .expect("PUT reuse");
    assert_eq!(reuse.status, StatusCode::CONFLICT, "{}", reuse.text());
    assert_eq!(l.get_kv("k").await.expect("GET").body, b"v1");

    // A retry through another node is recognised too, and so is a reuse.
    let first = f.put_kv("k2", b"v1", Some("req-y")).await.expect("PUT");
    assert!(
        kv_write_ok(first.status),
        "{} {}",
        first.status,
        first.text()
    );
    let retry = l
        .put_kv("k2", b"v1", Some("req-y"))
        .await
        .expect("PUT retry");
    assert_eq!(retry.status, first.status);
    let reuse = l
        .put_kv("k2", b"v2", Some("req-y"))
        .await
        .expect("PUT reuse");
    assert_eq!(reuse.status, StatusCode::CONFLICT, "{}", reuse.text());
    for id in cluster.ids() {
        let got = cluster.api(id).get_kv("k2").await.expect("GET");
        assert_eq!(got.body, b"v1", "k2 on node {id}");
    }
    // A delete under a write's id is refused too, not answered "done".
    let reuse = l
        .delete_kv("k2", Some("req-y"))
        .await
        .expect("DELETE reuse");
    assert_eq!(reuse.status, StatusCode::CONFLICT, "{}", reuse.text());
    assert_eq!(l.get_kv("k2").await.expect("GET").body, b"v1");

    // A different id is a new write.
    let r = l.put_kv("k", b"v3", Some("req-z")).await.expect("PUT");
    assert!(kv_write_ok(r.status));
    assert_eq!(l.get_kv("k").await.expect("GET").body, b"v3");

    // Deletes: the retry of a delete answers 204 again, not 404.
    let del = l.delete_kv("k", Some("del-1")).await.expect("DELETE");
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text());
    let del_retry = f.delete_kv("k", Some("del-1")).await.expect("DELETE retry");
    assert_eq!(
        del_retry.status,
        StatusCode::NO_CONTENT,
        "{}",
        del_retry.text()
    );
    let plain = l.delete_kv("k", None).await.expect("DELETE");
    assert_eq!(plain.status, StatusCode::NOT_FOUND);
    // A late duplicate of an old PUT must not bring the value back.
    let late = f
        .put_kv("k", b"v1", Some("req-x"))
        .await
        .expect("late PUT retry");
    assert!(
        kv_write_ok(late.status),
        "late retry: {} {}",
        late.status,
        late.text()
    );
    assert_eq!(
        l.get_kv("k").await.expect("GET").status,
        StatusCode::NOT_FOUND
    );

    // Tenants: the retried POST answers 201 again, not 409; a new id does get 409.
    let t1 = f
        .create_tenant("initech", "Initech", Some("t-1"))
        .await
        .expect("POST");
    assert_eq!(t1.status, StatusCode::CREATED, "{}", t1.text());
    let t2 = l
        .create_tenant("initech", "Initech", Some("t-1"))
        .await
        .expect("POST retry");
    assert_eq!(t2.status, StatusCode::CREATED, "retry: {}", t2.text());
    let t3 = l
        .create_tenant("initech", "Initech", Some("t-2"))
        .await
        .expect("POST");
    assert_eq!(
        t3.status,
        StatusCode::CONFLICT,
        "a new request: {}",
        t3.text()
    );
    let list = l.list_tenants().await.expect("GET tenants");
    assert_eq!(
        list.text().matches("\"initech\"").count(),
        1,
        "one tenant: {}",
        list.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_ids_survive_snapshots_and_restarts() {
    let mut cluster = Cluster::start(ClusterOptions::default().snapshot_every(20))
        .await
        .expect("a 3-node cluster starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let r = cluster
        .api(leader)
        .put_kv("once", b"v1", Some("req-once"))
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status));
    // Enough writes to push the first one into a snapshot several times over.
    write_many(&[cluster.api(leader)], "filler", 100, 4)
        .await
        .expect("filler writes");

    // A node rebuilt from nothing gets the applied ids with the snapshot;
    // make it lead so that the retry is judged by its own state.
    let rebuilt = cluster.follower_of(leader);
    cluster
        .wipe_and_restart(rebuilt)
        .await
        .expect("rebuild a follower");
    cluster
        .wait_caught_up(rebuilt, Duration::from_secs(90))
        .await
        .expect("the rebuilt follower catches up");
    cluster
        .make_leader(rebuilt, 16)
        .await
        .expect("the rebuilt node can lead");
    let retry = cluster
        .api(rebuilt)
        .put_kv("once", b"v2", Some("req-once"))
        .await
        .expect("PUT under a used id");
    // Remembered: a different request under the id is refused (forgotten,
    // it would be applied and answer 204).
    assert_eq!(
        retry.status,
        StatusCode::CONFLICT,
        "the id was forgotten after a snapshot: {}",
        retry.text()
    );
    let got = cluster.api(rebuilt).get_kv("once").await.expect("GET");
    assert_eq!(
        got.body, b"v1",
        "the retry was applied again after a snapshot"
    );

    // And after all three restart from their compacted state.
    for id in cluster.ids() {
        cluster.stop(id).await.expect("stop");
    }
    cluster.start_stopped().await.expect("start again");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let retry = cluster
        .api(leader)
        .put_kv("once", b"v3", Some("req-once"))
        .await
        .expect("PUT under a used id");
    // Remembered: a different request under the id is refused (forgotten,
    // it would be applied and answer 204).
    assert_eq!(
        retry.status,
        StatusCode::CONFLICT,
        "the id was forgotten after a restart: {}",
        retry.text()
    );
    let got = cluster.api(leader).get_kv("once").await.expect("GET");
    assert_eq!(
        got.body, b"v1",
        "the retry was applied again after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_through_every_node_are_applied_once() {
    let cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    // The same request, sent at once through all three nodes (a client that
    // retried too eagerly): every copy answers 201, none 409.
    let posts = cluster.ids().into_iter().map(|id| {
        let api = cluster.api(id);
        async move { api.create_tenant("hooli", "Hooli", Some("t-dup")).await }
    });
    for r in futures::future::join_all(posts).await {
        let r = r.expect("POST");
        assert_eq!(r.status, StatusCode::CREATED, "a duplicate: {}", r.text());
    }
    // Copies of a kv write that carry different bodies are different
    // requests under one id: one of them wins, the others are refused, and
    // every node agrees on the winner.
    let puts = cluster.ids().into_iter().map(|id| {
        let api = cluster.api(id);
        async move {
            api.put_kv("dup", format!("from-{id}").as_bytes(), Some("kv-dup"))
                .await
        }
    });
    let mut won = Vec::new();
    for (id, r) in cluster
        .ids()
        .into_iter()
        .zip(futures::future::join_all(puts).await)
    {
        let r = r.expect("PUT");
        if kv_write_ok(r.status) {
            won.push(format!("from-{id}"));
        } else {
            assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        }
    }
    assert_eq!(won.len(), 1, "winners: {won:?}");
    let mut seen = Vec::new();
    for id in cluster.ids() {
        seen.push(cluster.api(id).get_kv("dup").await.expect("GET").text());
    }
    assert!(
        seen.iter().all(|v| v == &seen[0]),
        "nodes disagree: {seen:?}"
    );
    assert_eq!(seen[0], won[0], "the refused copies' value: {seen:?}");
    // A later copy with yet another body is refused and changes nothing.
    let late = cluster
        .api(1)
        .put_kv("dup", b"late", Some("kv-dup"))
        .await
        .expect("PUT");
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text());
    assert_eq!(
        cluster.api(2).get_kv("dup").await.expect("GET").text(),
        seen[0]
    );
}
