//! What a test cluster starts with, and where its binary and ports come from.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes started, with ids 1..=nodes.
    pub nodes: u64,
    /// Extra ids (nodes+1..=nodes+spare_ids) that get certificates, for
    /// membership tests that add a node later.
    pub spare_ids: u64,
    /// Use `target/release/opencloud` (benchmarks).
    pub release: bool,
    /// `--snapshot-every N` for every node.
    pub snapshot_every: Option<u64>,
    /// Route inter-node traffic through one proxy per directed link.
    pub proxies: bool,
    /// Nodes whose certificates come from a second, unrelated CA.
    pub foreign_ca: Vec<u64>,
    /// Wait for a leader in `start` (off when no quorum is expected).
    pub wait_for_leader: bool,
    /// Extra environment for the node processes.
    pub env: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            spare_ids: 1,
            release: false,
            snapshot_every: None,
            proxies: false,
            foreign_ca: Vec::new(),
            wait_for_leader: true,
            env: Vec::new(),
        }
    }
}

impl ClusterOptions {
    pub fn nodes(mut self, n: u64) -> Self {
        self.nodes = n;
        self
    }
    pub fn release(mut self, yes: bool) -> Self {
        self.release = yes;
        self
    }
    pub fn snapshot_every(mut self, n: u64) -> Self {
        self.snapshot_every = Some(n);
        self
    }
    pub fn proxies(mut self, yes: bool) -> Self {
        self.proxies = yes;
        self
    }
    pub fn foreign_ca(mut self, ids: &[u64]) -> Self {
        self.foreign_ca = ids.to_vec();
        self
    }
    pub fn wait_for_leader(mut self, yes: bool) -> Self {
        self.wait_for_leader = yes;
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// The `opencloud` binary: `$OPENCLOUD_BIN`, else
/// `$CARGO_TARGET_DIR` (or the workspace's `target/`) `/{debug,release}/opencloud`.
pub fn opencloud_bin(release: bool) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("OPENCLOUD_BIN") {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "OPENCLOUD_BIN={} is not a file",
            path.display()
        );
        return Ok(path);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target"),
    };
    let profile = if release { "release" } else { "debug" };
    let path = target.join(profile).join("opencloud");
    if !path.is_file() {
        let flag = if release { " --release" } else { "" };
        bail!(
            "the opencloud binary is missing at {}: run `cargo build -p opencloud{flag}` first \
             (or set OPENCLOUD_BIN)",
            path.display()
        );
    }
    Ok(path)
}

/// `n` distinct free loopback ports. They are free when this returns; a
/// process started right after can still lose one to a race, which `start`
/// handles by retrying with new ports.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("binding a free port")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

pub(crate) fn build_client(token: &str, timeout: Duration) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))?;
    auth.set_sensitive(true);
    headers.insert(AUTHORIZATION, auth);
    Ok(reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(3))
        .build()?)
}
