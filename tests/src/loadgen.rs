//! A small closed-loop HTTP write load generator: N clients, each with its own
//! keep-alive HTTP/1.1 connection, each sending one write at a time for a
//! fixed duration after a warm-up. Latencies go into an HDR histogram.
//!
//! The same generator drives the Opencloud node (`PUT /api/v1/kv/{key}`) and
//! etcd's JSON gateway (`POST /v3/kv/put`), so both are measured alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hdrhistogram::Histogram;

/// Size of every key, in bytes (ASCII hex).
pub const KEY_LEN: usize = 8;
/// Size of every value, in bytes.
pub const VALUE_LEN: usize = 256;
/// Upper bound on requests per client in one run (loops stay bounded).
const MAX_REQUESTS_PER_CLIENT: u64 = 5_000_000;

/// Which write API to call.
#[derive(Clone, Debug)]
pub enum Api {
    /// Opencloud: `PUT {base}/api/v1/kv/{key}` with the operator token.
    Opencloud { token: String },
    /// etcd v3 JSON gateway: `POST {base}/v3/kv/put`.
    Etcd,
}

/// An HTTP client for one load-generating connection.
pub fn client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(timeout)
        // The nodes' HTTPS certificates are self-signed; the traffic stays on loopback.
        .danger_accept_invalid_certs(true)
        .build()
        .context("building HTTP client")
}

/// The 256-byte value every write carries.
pub fn value() -> Vec<u8> {
    (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

/// An 8-byte key from a 32-bit number.
pub fn key(n: u32) -> String {
    format!("{n:08x}")
}

impl Api {
    /// Send one write of `key` = `value` to `base`, and succeed only on a 2xx
    /// answer whose body was read completely.
    pub async fn write(
        &self,
        http: &reqwest::Client,
        base: &str,
        key: &str,
        value: &[u8],
    ) -> Result<()> {
        let req = match self {
            Api::Opencloud { token } => http
                .put(format!("{base}/api/v1/kv/{key}"))
                .bearer_auth(token)
                .body(value.to_vec()),
            Api::Etcd => {
                let body = format!(
                    "{{\"key\":\"{}\",\"value\":\"{}\"}}",
                    B64.encode(key),
                    B64.encode(value)
                );
                http.post(format!("{base}/v3/kv/put")).body(body)
            }
        };
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        if let Api::Etcd = self {
            // The gateway answers 200 with {"error": ...} on some failures.
            if body.starts_with(b"{\"error\"") {
                anyhow::bail!("etcd: {}", String::from_utf8_lossy(&body));
            }
        }
        Ok(())
    }
}

/// The outcome of one load run.
pub struct RunResult {
    pub clients: usize,
    pub duration: Duration,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub hist: Histogram<u64>,
}

impl RunResult {
    pub fn writes_per_sec(&self) -> f64 {
        self.ok as f64 / self.duration.as_secs_f64()
    }
    /// Latency at quantile `q` in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

fn new_hist() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 120_000_000, 3).context("creating histogram")
}

/// Drive `base` with `clients` concurrent writers: `warmup` unmeasured, then
/// `duration` measured. Progress is printed every few seconds.
pub async fn run(
    api: &Api,
    base: &str,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<RunResult> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let api = api.clone();
        let base = base.to_string();
        let done = done.clone();
        let http = client(Duration::from_secs(10))?;
        tasks.push(tokio::spawn(async move {
            client_loop(c as u32, api, http, base, measure_from, end, done).await
        }));
    }
    let ticker = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = done.load(Ordering::Relaxed);
                let phase = if Instant::now() < measure_from {
                    "warm-up"
                } else {
                    "measuring"
                };
                println!(
                    "    .. {phase}: {:.0} writes/s over the last 5 s",
                    (now - last) as f64 / 5.0
                );
                last = now;
            }
        })
    };
    let mut hist = new_hist()?;
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let r = t.await.context("load client task")??;
        hist.add(&r.hist).context("merging histograms")?;
        ok += r.ok;
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    ticker.abort();
    Ok(RunResult {
        clients,
        duration,
        ok,
        errors,
        first_error,
        hist,
    })
}

struct ClientResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
}

async fn client_loop(
    id: u32,
    api: Api,
    http: reqwest::Client,
    base: String,
    measure_from: Instant,
    end: Instant,
    done: Arc<AtomicU64>,
) -> Result<ClientResult> {
    let value = value();
    let mut hist = new_hist()?;
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    // xorshift32: a different key sequence per client, no shared state.
    let mut x: u32 = 0x9e37_79b9 ^ (id.wrapping_mul(0x85eb_ca6b) | 1);
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let r = api.write(&http, &base, &key(x), &value).await;
        let t1 = Instant::now();
        let measured = t0 >= measure_from && t1 <= end;
        match r {
            Ok(()) => {
                done.fetch_add(1, Ordering::Relaxed);
                if measured {
                    ok += 1;
                    let us = t1.duration_since(t0).as_micros().max(1) as u64;
                    hist.saturating_record(us);
                }
            }
            Err(e) => {
                if measured {
                    errors += 1;
                }
                if first_error.is_none() {
                    first_error = Some(format!("{e:#}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(ClientResult {
        ok,
        errors,
        first_error,
        hist,
    })
}

/// One acknowledged write of the continuous writer.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    /// When the request that was acknowledged was sent.
    pub sent: Instant,
    /// When its acknowledgement arrived.
    pub acked: Instant,
}

/// How long a write may stay unanswered before the continuous writer also
/// sends the next write to the next node (the failover figure's resolution).
pub const HEDGE_AFTER: Duration = Duration::from_millis(50);
/// Writes the continuous writer keeps in flight at most.
const MAX_IN_FLIGHT: usize = 64;

/// A client that writes continuously to `urls`, one write at a time while
/// writes are answered. When a write fails it moves on to the next node; when
/// one stays unanswered for `HEDGE_AFTER` it also sends the next write to the
/// next node (at most `MAX_IN_FLIGHT` in flight, each bounded by `timeout`),
/// so a write stuck on a dead or leaderless node neither hides nor delays the
/// first write the cluster can take again. Every acknowledged write is
/// published on `acks`. It stops on `stop()` or after `limit`.
pub struct ContinuousWriter {
    pub acks: tokio::sync::watch::Receiver<Option<Ack>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl ContinuousWriter {
    pub fn start(api: Api, urls: Vec<String>, timeout: Duration, limit: Duration) -> Result<Self> {
        use futures::stream::{FuturesUnordered, StreamExt};
        anyhow::ensure!(!urls.is_empty(), "no node to write to");
        let (ack_tx, acks) = tokio::sync::watch::channel(None);
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .timeout(timeout)
            .danger_accept_invalid_certs(true)
            .build()
            .context("building HTTP client")?;
        let task = tokio::spawn(async move {
            let value = value();
            let deadline = Instant::now() + limit;
            let (mut ok, mut errors, mut cur, mut n) = (0u64, 0u64, 0usize, 0u32);
            let mut in_flight = FuturesUnordered::new();
            let mut last_sent = Instant::now();
            // Whether the most recently sent write has been answered.
            let mut newest_done = true;
            while Instant::now() < deadline && !*stop_rx.borrow_and_update() {
                let now = Instant::now();
                let hedge = !newest_done;
                if in_flight.len() < MAX_IN_FLIGHT
                    && (newest_done || now >= last_sent + HEDGE_AFTER)
                {
                    if hedge {
                        cur = (cur + 1) % urls.len();
                    }
                    n = n.wrapping_add(1);
                    let (api, http, url, k, v) = (
                        api.clone(),
                        http.clone(),
                        urls[cur].clone(),
                        key(n),
                        value.clone(),
                    );
                    last_sent = now;
                    newest_done = false;
                    in_flight.push(async move {
                        let r = api.write(&http, &url, &k, &v).await;
                        (now, cur, n, r)
                    });
                }
                let next_hedge = if in_flight.len() < MAX_IN_FLIGHT {
                    last_sent + HEDGE_AFTER
                } else {
                    Instant::now() + timeout
                };
                let next_hedge = tokio::time::Instant::from_std(next_hedge);
                tokio::select! {
                    Some((sent, node, seq, r)) = in_flight.next() => match r {
                        Ok(()) => {
                            ok += 1;
                            cur = node;
                            newest_done |= seq == n;
                            ack_tx.send_replace(Some(Ack { sent, acked: Instant::now() }));
                        }
                        Err(_) => {
                            errors += 1;
                            newest_done |= seq == n;
                            if node == cur {
                                cur = (cur + 1) % urls.len();
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    },
                    _ = tokio::time::sleep_until(next_hedge) => {}
                    _ = stop_rx.changed() => {}
                }
            }
            (ok, errors)
        });
        Ok(ContinuousWriter { acks, stop, task })
    }

    /// Wait (bounded) for a write that was sent at or after `after` to be
    /// acknowledged, and return it.
    pub async fn ack_sent_after(&mut self, after: Instant, limit: Duration) -> Option<Ack> {
        let wait = async {
            loop {
                if let Some(a) = *self.acks.borrow_and_update() {
                    if a.sent >= after {
                        return Some(a);
                    }
                }
                if self.acks.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.ok().flatten()
    }

    /// Stop the writer; returns (acknowledged, failed) write counts.
    pub async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or((0, 0))
    }
}
