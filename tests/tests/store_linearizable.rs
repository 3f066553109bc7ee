//! Linearizability of one register under faults: a sequential writer
//! increments a key while readers read it through every node, and the
//! leader is killed, or cut off by the proxies. The history must pass
//! `register_check` (no stale read, no read from the future, no going back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opencloud_tests::api::Api;
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::register_check::{violations, Read, Write};
use opencloud_tests::workload::put_with_retry;
use reqwest::StatusCode;
use tokio::task::JoinHandle;

/// The shortest history worth judging.
const MIN_READS: usize = 50;
const MIN_WRITES: usize = 20;

const KEY: &str = "register";

/// Writers and readers running against the cluster, recording a history.
struct History {
    stop: Arc<AtomicBool>,
    writes: Arc<Mutex<Vec<Write>>>,
    reads: Arc<Mutex<Vec<Read>>>,
    tasks: Vec<JoinHandle<()>>,
    writer: JoinHandle<anyhow::Result<()>>,
}

impl History {
    fn start(cluster: &Cluster) -> History {
        // Readers use the short-timeout client, so a node that hangs
        // (paused, cut off) holds a reader for seconds, not half a minute.
        let nodes: Vec<(u64, Api)> = cluster
            .ids()
            .into_iter()
            .map(|id| (id, cluster.probe(id)))
            .collect();
        let writer_apis: Vec<Api> = cluster.apis();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(Mutex::new(Vec::new()));
        let reads = Arc::new(Mutex::new(Vec::new()));

        let apis = writer_apis;
        let (s, w) = (stop.clone(), writes.clone());
        let writer = tokio::spawn(async move {
            let mut node = 0;
            let mut value = 1u64;
            while !s.load(Ordering::Relaxed) {
                let start = Instant::now();
                let body = value.to_string();
                let id = format!("register-{value}");
                node = put_with_retry(
                    &apis,
                    node,
                    KEY,
                    body.as_bytes(),
                    &id,
                    Duration::from_secs(60),
                )
                .await?;
                let end = Instant::now();
                w.lock().expect("writes").push(Write { value, start, end });
                value += 1;
            }
            Ok(())
        });

        let mut tasks = Vec::new();
        for reader in 0..3usize {
            let (s, r, nodes) = (stop.clone(), reads.clone(), nodes.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = reader;
                while !s.load(Ordering::Relaxed) {
                    let (node, api) = &nodes[i % nodes.len()];
                    i += 1;
                    let start = Instant::now();
                    let Ok(reply) = api.get_kv(KEY).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let end = Instant::now();
                    let value = match reply.status {
                        StatusCode::OK => match reply.text().parse::<u64>() {
                            Ok(v) => v,
                            Err(_) => panic!("register holds {:?}", reply.text()),
                        },
                        StatusCode::NOT_FOUND => 0,
                        // A refused read (no quorum, no leader) constrains nothing.
                        _ => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    r.lock().expect("reads").push(Read {
                        value,
                        start,
                        end,
                        node: *node,
                    });
                }
            }));
        }
        History {
            stop,
            writes,
            reads,
            tasks,
            writer,
        }
    }

    fn writes_so_far(&self) -> usize {
        self.writes.lock().expect("writes").len()
    }

    async fn wait_writes(&self, more: usize) {
        let target = self.writes_so_far() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.writes_so_far() < target {
            assert!(!self.writer.is_finished(), "the writer stopped");
            assert!(
                Instant::now() < deadline,
                "writes stalled at {}",
                self.writes_so_far()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops everything and checks the history. A loaded machine (the
    /// suite runs QEMU guests and browsers beside this test) completes fewer
    /// operations per second, so the history runs on until it is long
    /// enough to judge, rather than for a fixed time.
    async fn check(self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.reads.lock().expect("reads").len() < MIN_READS
            || self.writes_so_far() < MIN_WRITES
        {
            assert!(!self.writer.is_finished(), "the writer stopped");
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        self.writer
            .await
            .expect("writer task")
            .expect("every write is acknowledged in the end");
        for t in self.tasks {
            t.await.expect("reader task");
        }
        let writes = self.writes.lock().expect("writes").clone();
        let reads = self.reads.lock().expect("reads").clone();
        assert!(
            writes.len() >= MIN_WRITES,
            "too few writes to judge: {}",
            writes.len()
        );
        assert!(
            reads.len() >= MIN_READS,
            "too few reads to judge: {}",
            reads.len()
        );
        let v = violations(&writes, &reads);
        assert!(
            v.is_empty(),
            "{} writes, {} reads; not linearizable:\n{}",
            writes.len(),
            reads.len(),
            v.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
        eprintln!(
            "{} writes, {} reads: linearizable",
            writes.len(),
            reads.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_linearizable_when_the_leader_is_killed() {
    let mut cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let history = History::start(&cluster);
    history.wait_writes(15).await;
    let old = cluster.wait_for_leader().await.expect("leader");
    cluster.kill(old);
    cluster
        .wait_for_new_leader(old)
        .await
        .expect("a new leader");
    history.wait_writes(15).await;
    cluster.restart(old).await.expect("restart");
    history.wait_writes(15).await;
    history.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_linearizable_when_the_leader_is_cut_off() {
    let cluster = Cluster::start(ClusterOptions::default().proxies(true))
        .await
        .expect("a 3-node cluster behind proxies starts");
    let history = History::start(&cluster);
    history.wait_writes(15).await;
    let old = cluster.wait_for_leader().await.expect("leader");
    // The cut-off leader keeps its HTTP port: readers still ask it, and it
    // must not answer from its own, now stale, state.
    cluster.isolate(old);
    cluster
        .wait_for_new_leader(old)
        .await
        .expect("a new leader");
    history.wait_writes(15).await;
    cluster.heal_all();
    history.wait_writes(15).await;
    history.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_linearizable_when_the_leader_is_paused() {
    let cluster = Cluster::start(ClusterOptions::default())
        .await
        .expect("a 3-node cluster starts");
    let history = History::start(&cluster);
    history.wait_writes(15).await;
    let old = cluster.wait_for_leader().await.expect("leader");
    cluster.pause(old).expect("SIGSTOP");
    cluster
        .wait_for_new_leader(old)
        .await
        .expect("a new leader");
    history.wait_writes(15).await;
    cluster.resume(old).expect("SIGCONT");
    history.wait_writes(15).await;
    history.check().await;
}
