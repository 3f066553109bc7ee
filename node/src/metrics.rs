//! Prometheus metrics of the node: HTTP requests and the store's Raft state.

use std::sync::atomic::Ordering;
use std::time::Duration;

use opencloud_raft::ClusterStatus;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    term: IntGauge,
    leader: IntGauge,
    is_leader: IntGauge,
    applied: IntGauge,
    last_log: IntGauge,
    snapshot_index: IntGauge,
    snapshots_built: IntGauge,
    snapshots_installed: IntGauge,
    members: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("opencloud".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
            &["method", "route"],
        )?;
        let gauge = |name: &str, help: &str| IntGauge::new(name, help);
        let m = Metrics {
            term: gauge("raft_term", "Current Raft term")?,
            leader: gauge(
                "raft_leader",
                "Id of the leader this node knows, 0 when none",
            )?,
            is_leader: gauge("raft_is_leader", "1 when this node leads")?,
            applied: gauge("raft_last_applied", "Index of the last applied log entry")?,
            last_log: gauge("raft_last_log_index", "Index of the last log entry")?,
            snapshot_index: gauge(
                "raft_snapshot_index",
                "Last log index in the latest snapshot",
            )?,
            snapshots_built: gauge("raft_snapshots_built", "Snapshots built by this node")?,
            snapshots_installed: gauge(
                "raft_snapshots_installed",
                "Snapshots received from a leader and installed",
            )?,
            members: gauge("raft_voters", "Number of voting members")?,
            requests,
            latency,
            registry,
        };
        m.registry.register(Box::new(m.requests.clone()))?;
        m.registry.register(Box::new(m.latency.clone()))?;
        for g in [
            &m.term,
            &m.leader,
            &m.is_leader,
            &m.applied,
            &m.last_log,
            &m.snapshot_index,
            &m.snapshots_built,
            &m.snapshots_installed,
            &m.members,
        ] {
            m.registry.register(Box::new(g.clone()))?;
        }
        Ok(m)
    }

    /// The registry, for metrics kept elsewhere (viewers).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition, with Raft gauges as of now.
    pub fn render(&self, status: &ClusterStatus) -> String {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.term.set(as_i64(status.term));
        self.leader.set(as_i64(status.leader.unwrap_or(0)));
        self.is_leader
            .set(i64::from(status.leader == Some(status.node_id)));
        self.applied.set(as_i64(status.last_applied));
        self.last_log.set(as_i64(status.last_log_index));
        self.snapshot_index
            .set(as_i64(status.snapshot_index.unwrap_or(0)));
        self.members.set(as_i64(status.members.len() as u64));
        let m = &opencloud_raft::metrics::SNAPSHOTS_BUILT;
        self.snapshots_built.set(as_i64(m.load(Ordering::Relaxed)));
        let m = &opencloud_raft::metrics::SNAPSHOTS_INSTALLED;
        self.snapshots_installed
            .set(as_i64(m.load(Ordering::Relaxed)));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("metrics encoding: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
