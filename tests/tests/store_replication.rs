//! Replication through a 3-node cluster of real processes: a write that
//! returned is visible on every node, and the operator API answers as
//! docs/NODE-CLI.md says (statuses and JSON errors).

use opencloud_tests::api::kv_write_ok;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use reqwest::StatusCode;

async fn start() -> Cluster {
    Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts and elects a leader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_created_through_a_follower_is_readable_on_every_node() {
    let cluster = start().await;
    let leader = cluster.wait_for_leader().await.expect("leader");
    let follower = cluster.follower_of(leader);

    let created = cluster
        .api(follower)
        .create_tenant("acme", "Acme Corp", None)
        .await
        .expect("POST /api/v1/tenants");
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "body: {}",
        created.text()
    );
    let body = created.json().expect("tenant JSON");
    assert_eq!(body["slug"], "acme", "created tenant: {body}");

    // Right after the write returned, every node must see it: reads are
    // linearizable wherever they are sent.
    for id in cluster.ids() {
        let got = cluster
            .api(id)
            .get_tenant("acme")
            .await
            .expect("GET tenant");
        assert_eq!(got.status, StatusCode::OK, "node {id}: {}", got.text());
        let t = got.json().expect("tenant JSON");
        assert_eq!(t["slug"], "acme", "node {id}: {t}");
        assert_eq!(t["name"], "Acme Corp", "node {id}: {t}");

        let list = cluster.api(id).list_tenants().await.expect("GET tenants");
        assert_eq!(list.status, StatusCode::OK, "node {id}: {}", list.text());
        assert!(
            list.text().contains("\"acme\""),
            "node {id} lists tenants without acme: {}",
            list.text()
        );
    }

    // The same for a kv write through each follower in turn.
    for writer in cluster.ids() {
        let key = format!("written-through-{writer}");
        let r = cluster
            .api(writer)
            .put_kv(&key, key.as_bytes(), None)
            .await
            .expect("PUT kv");
        assert!(
            kv_write_ok(r.status),
            "PUT via {writer}: {} {}",
            r.status,
            r.text()
        );
        for reader in cluster.ids() {
            let got = cluster.api(reader).get_kv(&key).await.expect("GET kv");
            assert_eq!(got.status, StatusCode::OK, "{key} on node {reader}");
            assert_eq!(got.body, key.as_bytes(), "{key} on node {reader}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_statuses_and_errors() {
    let cluster = start().await;
    let leader = cluster
        .wait_all_agree(std::time::Duration::from_secs(30))
        .await
        .expect("every node learns the leader");
    let api = cluster.api(leader);

    // Every node reports the same leader and the three members (a follower
    // may know the leader from its heartbeats a moment before it has
    // applied the membership entry: give replication that moment).
    for id in cluster.ids() {
        let mut info = cluster.api(id).cluster().await.expect("cluster info");
        for _ in 0..50 {
            if !info.members.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            info = cluster.api(id).cluster().await.expect("cluster info");
        }
        assert_eq!(info.node_id, id);
        assert_eq!(info.leader, Some(leader), "node {id}: {info:?}");
        let mut members = info.members.clone();
        members.sort_unstable();
        assert_eq!(members, vec![1, 2, 3], "node {id}: {info:?}");
    }

    let ok = api
        .create_tenant("globex", "Globex", None)
        .await
        .expect("POST");
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());

    let dup = api
        .create_tenant("globex", "Globex again", None)
        .await
        .expect("POST");
    assert_eq!(
        dup.status,
        StatusCode::CONFLICT,
        "duplicate slug: {}",
        dup.text()
    );
    assert!(
        dup.is_json_error(),
        "409 body is not {{\"error\":...}}: {}",
        dup.text()
    );

    for bad in ["Not A Slug!", "", "a/b", "has space"] {
        let r = api.create_tenant(bad, "Bad", None).await.expect("POST");
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "slug {bad:?}: {}",
            r.text()
        );
        assert!(r.is_json_error(), "400 body for {bad:?}: {}", r.text());
    }

    let missing = api.get_tenant("nobody").await.expect("GET");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.is_json_error(), "404 body: {}", missing.text());

    let del = api.delete_tenant("globex", None).await.expect("DELETE");
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text());
    for id in cluster.ids() {
        let r = cluster.api(id).get_tenant("globex").await.expect("GET");
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "deleted tenant on node {id}"
        );
    }
    let again = api.delete_tenant("globex", None).await.expect("DELETE");
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text());

    // kv: 404 for a missing key, the raw bytes back, delete.
    let r = api.get_kv("absent").await.expect("GET kv");
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let value: Vec<u8> = (0u8..=255).collect();
    let r = api.put_kv("bytes", &value, None).await.expect("PUT kv");
    assert!(kv_write_ok(r.status), "PUT: {} {}", r.status, r.text());
    let r = api.get_kv("bytes").await.expect("GET kv");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, value, "binary values come back as written");
    let r = api.delete_kv("bytes", None).await.expect("DELETE kv");
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = api.delete_kv("bytes", None).await.expect("DELETE kv");
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // Operator endpoints refuse a missing or a wrong token.
    let anonymous = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let url = format!("{}/api/v1/tenants", cluster.node(leader).url());
    let r = anonymous.get(&url).send().await.expect("GET without token");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token");
    let r = anonymous
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("GET with a wrong token");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "wrong token");
    let r = anonymous
        .put(format!("{}/api/v1/kv/x", cluster.node(leader).url()))
        .body("v")
        .send()
        .await
        .expect("PUT without token");
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "kv write without token"
    );

    // Health and metrics need no token.
    let r = anonymous
        .get(format!("{}/healthz", cluster.node(leader).url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = api.metrics().await.expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|l| !l.starts_with('#') && !l.trim().is_empty()),
        "/metrics has no sample: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_slug_have_one_winner() {
    let cluster = start().await;
    let ids = cluster.ids();
    let attempts = (0..12).map(|i| {
        let api = cluster.api(ids[i % ids.len()]);
        async move {
            api.create_tenant("contested", &format!("Contender {i}"), None)
                .await
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let mut created = 0;
    for r in replies {
        let r = r.expect("POST tenant");
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(r.is_json_error(), "409 body: {}", r.text()),
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert_eq!(created, 1, "exactly one of the concurrent creates wins");
    let names: Vec<String> = {
        let mut v = Vec::new();
        for id in cluster.ids() {
            let r = cluster.api(id).get_tenant("contested").await.expect("GET");
            assert_eq!(r.status, StatusCode::OK);
            v.push(r.json().expect("tenant")["name"].to_string());
        }
        v
    };
    assert!(
        names.windows(2).all(|w| w[0] == w[1]),
        "nodes disagree on the winner: {names:?}"
    );
}
