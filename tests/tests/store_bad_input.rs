//! Nothing a client sends may crash or panic a node: malformed, oversized
//! and odd requests get a JSON error with a 4xx status (or succeed, where
//! the input is merely unusual), and the cluster keeps working. The harness
//! fails the test if any node exits or logs a panic.

use opencloud_tests::api::kv_write_ok;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_errors_and_crash_nothing() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let leader = cluster.wait_for_leader().await.expect("leader");
    let follower = cluster.follower_of(leader);
    let client = cluster.client();
    let mut problems = Vec::new();

    for id in [leader, follower] {
        let base = cluster.node(id).url();
        let bodies: Vec<(Method, String, Vec<u8>, &str)> = vec![
            (
                Method::POST,
                "/api/v1/tenants".into(),
                b"{not json".to_vec(),
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                b"[]".to_vec(),
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                br#"{"slug":7,"name":null}"#.to_vec(),
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                br#"{"slug":"ok-slug"}"#.to_vec(),
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                vec![0xff, 0xfe, 0x00],
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                format!(r#"{{"slug":"{}","name":"x"}}"#, "a".repeat(100_000)).into_bytes(),
                "application/json",
            ),
            (
                Method::POST,
                "/api/v1/tenants".into(),
                br#"{"slug":"x","name":"y"}"#.to_vec(),
                "text/plain",
            ),
            (
                Method::GET,
                format!("/api/v1/tenants/{}", "%FF%00"),
                Vec::new(),
                "text/plain",
            ),
            (Method::GET, "/api/v1/kv/".into(), Vec::new(), "text/plain"),
            (
                Method::PUT,
                format!("/api/v1/kv/{}", "k".repeat(8_000)),
                b"v".to_vec(),
                "application/octet-stream",
            ),
            (
                Method::PATCH,
                "/api/v1/kv/x".into(),
                b"v".to_vec(),
                "application/octet-stream",
            ),
            (
                Method::GET,
                "/api/v1/nowhere".into(),
                Vec::new(),
                "text/plain",
            ),
        ];
        for (method, path, body, ctype) in bodies {
            let r = client
                .request(method.clone(), format!("{base}{path}"))
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{method} {} on node {id}: no answer: {}",
                        &path[..path.len().min(60)],
                        e.without_url()
                    )
                });
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            let short = &path[..path.len().min(60)];
            if !status.is_client_error() {
                problems.push(format!(
                    "{method} {short} on node {id}: expected a 4xx, got {status}: {text}"
                ));
            } else if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
                let is_json_error = serde_json::from_str::<serde_json::Value>(&text)
                    .map(|v| v["error"].is_string())
                    .unwrap_or(false);
                if !is_json_error {
                    problems.push(format!(
                        "{method} {short} on node {id}: {status} body is not {{\"error\": ...}}: {text}"
                    ));
                }
            }
        }

        // Odd but valid: a long request id, a big value, and URL-encoded keys.
        let api = cluster.api(id);
        let long_id = "r".repeat(4096);
        let r = api
            .put_kv("odd-id", b"v", Some(&long_id))
            .await
            .expect("PUT");
        assert!(
            kv_write_ok(r.status) || r.status.is_client_error(),
            "{}",
            r.status
        );
        let big = vec![7u8; 1 << 20];
        let r = api
            .put_kv(&format!("big-{id}"), &big, None)
            .await
            .expect("PUT 1 MiB");
        assert!(
            kv_write_ok(r.status) || (r.status.is_client_error() && r.is_json_error()),
            "1 MiB value: {} {}",
            r.status,
            r.text()
        );
        if kv_write_ok(r.status) {
            let got = api.get_kv(&format!("big-{id}")).await.expect("GET");
            assert_eq!(got.body.len(), big.len(), "1 MiB value comes back whole");
        }
        let r = api.put_kv("with%20space", b"s", None).await.expect("PUT");
        assert!(
            kv_write_ok(r.status),
            "encoded key: {} {}",
            r.status,
            r.text()
        );
        let got = api.get_kv("with%20space").await.expect("GET");
        assert_eq!(got.body, b"s");
    }

    // Still healthy, still committing, and nobody crashed or panicked.
    let leader = cluster.wait_for_leader().await.expect("leader");
    let r = cluster
        .api(leader)
        .put_kv("after", b"ok", None)
        .await
        .expect("PUT");
    assert!(kv_write_ok(r.status));
    cluster
        .check_no_crash()
        .expect("no node crashed or panicked");
    assert!(problems.is_empty(), "bad answers:\n{}", problems.join("\n"));
}
