//! Typed helpers over one node's HTTP API (docs/NODE-CLI.md), so the tests
//! read as behaviour rather than as request plumbing.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Deserializer};

/// The JSON of `GET /api/v1/cluster`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ClusterInfo {
    pub node_id: u64,
    /// The leader's id as this node sees it; `None` while it knows none.
    pub leader: Option<u64>,
    pub term: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub last_applied: u64,
    #[serde(default)]
    pub members: Vec<u64>,
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

/// A response reduced to what the tests look at.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// How long [`retry_busy`] keeps retrying.
pub const BUSY_RETRY: Duration = Duration::from_secs(30);

/// Sends what `attempt` makes again while the answer is
/// [`Reply::cluster_busy`], for at most [`BUSY_RETRY`], as a client of the
/// product should. The setup steps of tests use it: on a loaded 2-core
/// machine an election or a slow leader can outlast a node's request
/// timeout, and that is not what those tests are about. Every attempt must
/// be the same request (writes with the same `X-Request-Id`), so that one
/// applied before its answer was lost is not applied twice.
pub async fn retry_busy<F, Fut>(what: &str, mut attempt: F) -> Result<Reply>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Reply>>,
{
    let start = std::time::Instant::now();
    loop {
        let r = attempt().await?;
        if !r.cluster_busy() || start.elapsed() >= BUSY_RETRY {
            return Ok(r);
        }
        eprintln!("{what}: the cluster is busy ({}); retrying", r.text());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A fresh `X-Request-Id` for a write that [`retry_busy`] may send again.
pub fn fresh_request_id() -> String {
    format!("test-{:032x}", rand::random::<u128>())
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The node's answer when the store cannot serve for the moment (no
    /// leader yet, or the leader did not answer within the node's request
    /// timeout): a 503 whose message ends in "retry", as clients should.
    pub fn cluster_busy(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
            && self
                .json()
                .is_ok_and(|v| v["error"].as_str().is_some_and(|e| e.ends_with("; retry")))
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON (status {}): {}", self.status, self.text()))
    }

    /// True when the body is the API's error shape `{"error": "..."}` with a
    /// non-empty message.
    pub fn is_json_error(&self) -> bool {
        self.json()
            .ok()
            .and_then(|v| {
                v.get("error")
                    .and_then(|e| e.as_str())
                    .map(|s| !s.is_empty())
            })
            .unwrap_or(false)
    }
}

/// One node's API, as seen through the harness's client.
#[derive(Clone, Debug)]
pub struct Api {
    client: Client,
    base: String,
}

impl Api {
    pub fn new(client: Client, base_url: impl Into<String>) -> Api {
        Api {
            client,
            base: base_url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply> {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }

    fn with_id(req: reqwest::RequestBuilder, request_id: Option<&str>) -> reqwest::RequestBuilder {
        match request_id {
            Some(id) => req.header("X-Request-Id", id),
            None => req,
        }
    }

    pub async fn healthz(&self) -> Result<Reply> {
        self.send(self.client.get(format!("{}/healthz", self.base)))
            .await
    }

    pub async fn metrics(&self) -> Result<String> {
        let r = self
            .send(self.client.get(format!("{}/metrics", self.base)))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "GET /metrics: {}", r.status);
        Ok(r.text())
    }

    pub async fn cluster(&self) -> Result<ClusterInfo> {
        let r = self
            .send(self.client.get(format!("{}/api/v1/cluster", self.base)))
            .await?;
        anyhow::ensure!(
            r.status == StatusCode::OK,
            "GET /api/v1/cluster on {}: {} {}",
            self.base,
            r.status,
            r.text()
        );
        serde_json::from_slice(&r.body)
            .with_context(|| format!("bad /api/v1/cluster JSON from {}: {}", self.base, r.text()))
    }

    /// Asks this node to stand for election (`POST /api/v1/cluster/elect`).
    pub async fn elect(&self) -> Result<Reply> {
        self.send(
            self.client
                .post(format!("{}/api/v1/cluster/elect", self.base)),
        )
        .await
    }

    pub async fn put_kv(&self, key: &str, value: &[u8], request_id: Option<&str>) -> Result<Reply> {
        let req = self
            .client
            .put(format!("{}/api/v1/kv/{key}", self.base))
            .body(value.to_vec());
        self.send(Self::with_id(req, request_id)).await
    }

    pub async fn get_kv(&self, key: &str) -> Result<Reply> {
        self.send(self.client.get(format!("{}/api/v1/kv/{key}", self.base)))
            .await
    }

    pub async fn delete_kv(&self, key: &str, request_id: Option<&str>) -> Result<Reply> {
        let req = self.client.delete(format!("{}/api/v1/kv/{key}", self.base));
        self.send(Self::with_id(req, request_id)).await
    }

    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        request_id: Option<&str>,
    ) -> Result<Reply> {
        let req = self
            .client
            .post(format!("{}/api/v1/tenants", self.base))
            .json(&serde_json::json!({ "slug": slug, "name": name }));
        self.send(Self::with_id(req, request_id)).await
    }

    pub async fn get_tenant(&self, slug: &str) -> Result<Reply> {
        self.send(
            self.client
                .get(format!("{}/api/v1/tenants/{slug}", self.base)),
        )
        .await
    }

    pub async fn list_tenants(&self) -> Result<Reply> {
        self.send(self.client.get(format!("{}/api/v1/tenants", self.base)))
            .await
    }

    pub async fn delete_tenant(&self, slug: &str, request_id: Option<&str>) -> Result<Reply> {
        let req = self
            .client
            .delete(format!("{}/api/v1/tenants/{slug}", self.base));
        self.send(Self::with_id(req, request_id)).await
    }
}

/// True for the statuses the API uses to acknowledge a kv write.
pub fn kv_write_ok(status: StatusCode) -> bool {
    status == StatusCode::NO_CONTENT || status == StatusCode::OK
}

/// The sum of the Prometheus samples in `text` whose metric name satisfies
/// `wanted`, or `None` when no sample matches (the metric is not exposed).
pub fn metric_sum(text: &str, wanted: impl Fn(&str) -> bool) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted(name) {
            continue;
        }
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        *found.get_or_insert(0.0) += value;
    }
    found
}

/// Snapshots this node installed from a leader, if `/metrics` says: the
/// samples whose name mentions both "snapshot" and "install".
pub fn snapshot_installs(metrics: &str) -> Option<f64> {
    metric_sum(metrics, |name| {
        let n = name.to_ascii_lowercase();
        n.contains("snapshot") && n.contains("install")
    })
}
