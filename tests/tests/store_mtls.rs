//! Mutual TLS between nodes: a peer whose certificate comes from another CA
//! (or that has none) is refused, never joins and never learns any data,
//! while the nodes of the cluster's own CA keep working.

use std::time::{Duration, Instant};

use opencloud_tests::api::kv_write_ok;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::tls_probe::{probe, Probe};
use opencloud_tests::workload::{assert_all_present, write_many};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_foreign_ca_never_joins() {
    // Node 3's certificates come from a second `certs init`: same ids, same
    // file names, another CA.
    let cluster = Cluster::start(ClusterOptions::default().foreign_ca(&[3]))
        .await
        .expect("nodes 1 and 2 form a cluster (a quorum of three)");
    let leader = cluster.wait_for_leader().await.expect("leader");
    assert!(
        leader == 1 || leader == 2,
        "the foreign node leads: {leader}"
    );

    let r = cluster
        .api(1)
        .create_tenant("umbrella", "Umbrella", None)
        .await
        .expect("POST tenant");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acked = write_many(&[cluster.api(1), cluster.api(2)], "trusted", 20, 2)
        .await
        .expect("the two trusted nodes keep committing");
    assert_all_present(&[cluster.api(1), cluster.api(2)], &acked).await;

    // Give node 3 every chance to be contacted by the leader's heartbeats
    // and to stand for election itself; it must learn nothing.
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let info = cluster
            .api(3)
            .cluster()
            .await
            .expect("node 3 serves its own view");
        assert!(
            info.leader != Some(1) && info.leader != Some(2),
            "node 3 follows a trusted leader: {info:?}"
        );
        assert_eq!(info.last_applied, 0, "node 3 applied entries: {info:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = cluster
        .api(3)
        .get_tenant("umbrella")
        .await
        .expect("GET via node 3");
    assert_ne!(
        r.status,
        StatusCode::OK,
        "node 3 served the tenant: {}",
        r.text()
    );
    let r = cluster
        .api(3)
        .put_kv("via-3", b"x", None)
        .await
        .expect("PUT via node 3");
    assert!(!kv_write_ok(r.status), "node 3 acknowledged a write");
    for id in [1, 2] {
        let r = cluster.api(id).get_kv("via-3").await.expect("GET");
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "a write through node 3 landed"
        );
        let info = cluster.api(id).cluster().await.expect("info");
        assert_ne!(info.leader, Some(3), "node {id} follows node 3");
    }
    // The trusted pair still commits after node 3's attempts.
    write_many(&[cluster.api(2)], "still", 5, 1)
        .await
        .expect("writes after node 3's attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_port_refuses_foreign_and_missing_client_certificates() {
    let cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let foreign = cluster.node(1).data_dir().join("../foreign-certs");
    let foreign_s = foreign.to_string_lossy().into_owned();
    cluster
        .cli_ok(&["certs", "init", "--dir", &foreign_s, "--nodes", "1,2,3"])
        .await
        .expect("a second CA");
    let own = cluster.node(2).certs_dir().to_path_buf();

    for target in cluster.ids() {
        let addr = cluster.node(target).raft_addr();
        // Control: a peer with a certificate of the cluster's CA is served.
        let ok = probe(
            addr,
            Some((&own.join("node-2.crt"), &own.join("node-2.key"))),
        )
        .await
        .expect("probe with the cluster's certificate");
        assert!(
            matches!(ok, Probe::Answered(_)),
            "node {target} did not serve a peer of its own CA: {ok:?}"
        );
        let bad = probe(
            addr,
            Some((&foreign.join("node-2.crt"), &foreign.join("node-2.key"))),
        )
        .await
        .expect("probe with a foreign certificate");
        assert!(
            matches!(bad, Probe::Refused(_)),
            "node {target} did not refuse a certificate of another CA: {bad:?}"
        );
        let none = probe(addr, None)
            .await
            .expect("probe without a certificate");
        assert!(
            matches!(none, Probe::Refused(_)),
            "node {target} did not refuse a peer without a certificate: {none:?}"
        );
    }
    // The refused attempts did not disturb the cluster.
    let leader = cluster.wait_for_leader().await.expect("leader");
    write_many(&[cluster.api(leader)], "after-probes", 5, 1)
        .await
        .expect("writes after the probes");
}
