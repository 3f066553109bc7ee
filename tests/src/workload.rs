//! Writes that the store tests drive through a cluster, and the checks that
//! nothing acknowledged was lost.
//!
//! Every write carries an `X-Request-Id`, so a write retried on another node
//! after an error or a timeout is applied at most once; only writes that a
//! node acknowledged are recorded, and only those are checked afterwards.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use tokio::task::JoinHandle;

use crate::api::{kv_write_ok, Api};

/// A write a node acknowledged: the key and the value it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acked {
    pub key: String,
    pub value: Vec<u8>,
}

/// Puts `key=value` with `request_id`, trying the nodes in turn from
/// `start` until one acknowledges it or `timeout` passes. Returns the index
/// (into `apis`) of the node that acknowledged.
pub async fn put_with_retry(
    apis: &[Api],
    start: usize,
    key: &str,
    value: &[u8],
    request_id: &str,
    timeout: Duration,
) -> Result<usize> {
    anyhow::ensure!(!apis.is_empty(), "no node to write to");
    let deadline = Instant::now() + timeout;
    let mut i = start % apis.len();
    loop {
        let last = match apis[i].put_kv(key, value, Some(request_id)).await {
            Ok(r) if kv_write_ok(r.status) => return Ok(i),
            Ok(r) => format!("{} from {}: {}", r.status, apis[i].url(), r.text()),
            Err(e) => format!("{}: {e:#}", apis[i].url()),
        };
        if Instant::now() > deadline {
            bail!("PUT {key} not acknowledged within {timeout:?}; last answer: {last}");
        }
        i = (i + 1) % apis.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `n` keys `{prefix}-{i}` with up to `concurrency` in flight, each
/// retried across `apis`. Returns what was acknowledged (all of it, or an
/// error naming the first key that could not be written).
pub async fn write_many(
    apis: &[Api],
    prefix: &str,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Acked>> {
    let results: Vec<Result<Acked>> = stream::iter(0..n)
        .map(|i| async move {
            let key = format!("{prefix}-{i:06}");
            let value = format!("value of {key}").into_bytes();
            let id = format!("req-{key}");
            put_with_retry(apis, i, &key, &value, &id, Duration::from_secs(60)).await?;
            Ok(Acked { key, value })
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Reads every acknowledged key through `api` and returns a description of
/// each key that is missing or holds another value (empty when all is well).
/// Reads that fail outright are retried for a while, since a node may be
/// between leaders; a 404 or a wrong value is reported at once.
pub async fn missing_or_wrong(api: &Api, acked: &[Acked]) -> Vec<String> {
    let mut problems = Vec::new();
    for a in acked {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match api.get_kv(&a.key).await {
                Ok(r) if r.status == StatusCode::OK => {
                    if r.body != a.value {
                        problems.push(format!(
                            "{}: {} = {:?}, acknowledged {:?}",
                            api.url(),
                            a.key,
                            r.text(),
                            String::from_utf8_lossy(&a.value)
                        ));
                    }
                    break;
                }
                Ok(r) if r.status == StatusCode::NOT_FOUND => {
                    problems.push(format!(
                        "{}: acknowledged {} is missing (404)",
                        api.url(),
                        a.key
                    ));
                    break;
                }
                other => {
                    if Instant::now() > deadline {
                        let what = match other {
                            Ok(r) => format!("{} {}", r.status, r.text()),
                            Err(e) => format!("{e:#}"),
                        };
                        problems.push(format!("{}: GET {} kept failing: {what}", api.url(), a.key));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if problems.len() > 20 {
            problems.push("... (stopped after 20 problems)".to_string());
            break;
        }
    }
    problems
}

/// Panics with every problem if any acknowledged key is missing or wrong on
/// any of `apis`.
pub async fn assert_all_present(apis: &[Api], acked: &[Acked]) {
    let mut problems = Vec::new();
    for api in apis {
        problems.extend(missing_or_wrong(api, acked).await);
    }
    assert!(
        problems.is_empty(),
        "{} acknowledged writes checked; problems:\n{}",
        acked.len(),
        problems.join("\n")
    );
}

/// A task that writes `{prefix}-{i}` keys one after another until stopped,
/// retrying each on the other nodes after an error, and records every
/// acknowledged write.
pub struct Writer {
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
    acked: Arc<Mutex<Vec<Acked>>>,
    task: JoinHandle<Result<()>>,
}

impl Writer {
    /// Starts writing through `apis`; a single key that no node acknowledges
    /// within `per_key_timeout` ends the writer with an error.
    pub fn start(apis: Vec<Api>, prefix: &str, per_key_timeout: Duration) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked_count = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, c, a, prefix) = (
            stop.clone(),
            acked_count.clone(),
            acked.clone(),
            prefix.to_string(),
        );
        let task = tokio::spawn(async move {
            let mut node = 0;
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let key = format!("{prefix}-{i:06}");
                let value = format!("value {i} of {prefix}").into_bytes();
                let id = format!("writer-{key}");
                node = put_with_retry(&apis, node, &key, &value, &id, per_key_timeout).await?;
                if let Ok(mut list) = a.lock() {
                    list.push(Acked { key, value });
                }
                c.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok(())
        });
        Writer {
            stop,
            acked_count,
            acked,
            task,
        }
    }

    /// How many writes have been acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked_count.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` writes are acknowledged in all.
    pub async fn wait_acked(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.acked() < n {
            if self.task.is_finished() {
                bail!(
                    "the writer stopped after {} acknowledged writes",
                    self.acked()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} writes acknowledged within {timeout:?}",
                    self.acked()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops the writer and returns every acknowledged write, or the error
    /// that stopped it early.
    pub async fn finish(self) -> Result<Vec<Acked>> {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => bail!("writer task failed: {e}"),
        }
        let list = self
            .acked
            .lock()
            .map_err(|_| anyhow::anyhow!("writer list poisoned"))?
            .clone();
        Ok(list)
    }
}
