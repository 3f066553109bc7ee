//! A cluster of real `opencloud` node processes on loopback, for end-to-end
//! tests and benchmarks (the command line is docs/NODE-CLI.md).
//!
//! `Cluster::start` makes a temp dir, writes certificates with `opencloud
//! certs init`, picks free ports, starts the nodes and waits until every node
//! answers `/healthz` and a leader is known. Each node's stdout and stderr go
//! to `node-N.log` in the temp dir; when a test panics the tails are printed
//! and the temp dir is kept. Every process is killed when the `Cluster` is
//! dropped, and also (through `PR_SET_PDEATHSIG`) if the test process dies.
//!
//! Use it from a multi-threaded runtime, e.g.
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`: the
//! optional fault-injecting proxies run as tasks on the test's runtime.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::Rng;
use reqwest::StatusCode;

use crate::api::Api;
use crate::proxy::Proxy;

use crate::cluster_options::build_client;
pub use crate::cluster_options::{free_ports, opencloud_bin, ClusterOptions};

/// How long a node may take to answer `/healthz` after it is spawned.
pub const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an election may take (several rounds on a loaded 2-core box).
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// One node process of the cluster.
pub struct Node {
    id: u64,
    api_addr: SocketAddr,
    raft_addr: SocketAddr,
    data_dir: PathBuf,
    certs_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The HTTPS base URL, e.g. `https://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("https://{}", self.api_addr)
    }
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }
    /// Where the node itself accepts Raft (mutual TLS) connections.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn certs_dir(&self) -> &Path {
        &self.certs_dir
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    /// True while the harness has a process for this node (it may still
    /// have crashed: see `Cluster::exit_status`).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A running cluster. Dropping it kills every node.
pub struct Cluster {
    dir: Option<tempfile::TempDir>,
    pub(crate) bin: PathBuf,
    pub(crate) token: String,
    opts: ClusterOptions,
    nodes: BTreeMap<u64, Node>,
    proxies: HashMap<(u64, u64), Proxy>,
    client: reqwest::Client,
    probe: reqwest::Client,
}

impl Cluster {
    /// Starts `opts.nodes` nodes and waits until they are healthy and (unless
    /// disabled) a leader is elected.
    pub async fn start(opts: ClusterOptions) -> Result<Cluster> {
        let mut last_err = None;
        for _attempt in 0..3 {
            match Self::try_start(opts.clone()).await {
                Ok(c) => return Ok(c),
                // Another process took one of our ports between the probe
                // and the node's bind: pick new ports and try again.
                Err(e) if format!("{e:#}").contains("os error 98") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("cluster did not start")))
    }

    async fn try_start(opts: ClusterOptions) -> Result<Cluster> {
        let bin = opencloud_bin(opts.release)?;
        let dir = tempfile::Builder::new()
            .prefix("opencloud-cluster-")
            .tempdir()
            .context("creating the cluster temp dir")?;
        let token: String = {
            let mut rng = rand::thread_rng();
            (0..32)
                .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
                .collect()
        };
        let client = build_client(&token, Duration::from_secs(30))?;
        let probe = build_client(&token, Duration::from_secs(3))?;
        let mut cluster = Cluster {
            dir: None,
            bin,
            token,
            opts: opts.clone(),
            nodes: BTreeMap::new(),
            proxies: HashMap::new(),
            client,
            probe,
        };
        let root = dir.path().to_path_buf();
        cluster.dir = Some(dir);

        let all_ids: Vec<String> = (1..=opts.nodes + opts.spare_ids)
            .map(|i| i.to_string())
            .collect();
        let certs = root.join("certs");
        cluster.certs_init(&certs, &all_ids.join(",")).await?;
        let foreign = root.join("foreign-certs");
        if !opts.foreign_ca.is_empty() {
            cluster.certs_init(&foreign, &all_ids.join(",")).await?;
        }

        for id in 1..=opts.nodes {
            let node_certs = if opts.foreign_ca.contains(&id) {
                foreign.clone()
            } else {
                certs.clone()
            };
            cluster.add_node_entry(id, node_certs)?;
        }
        if opts.proxies {
            for i in 1..=opts.nodes {
                for j in 1..=opts.nodes {
                    if i != j {
                        let target = cluster.node(j).raft_addr;
                        let proxy = Proxy::start(target).await.context("starting a proxy")?;
                        cluster.proxies.insert((i, j), proxy);
                    }
                }
            }
        }
        for id in 1..=opts.nodes {
            cluster.spawn(id, false)?;
        }
        for id in 1..=opts.nodes {
            cluster.wait_healthy(id).await?;
        }
        if opts.wait_for_leader {
            cluster.wait_for_leader().await?;
        }
        Ok(cluster)
    }

    pub(crate) fn root(&self) -> &Path {
        match &self.dir {
            Some(d) => d.path(),
            None => Path::new("."),
        }
    }

    /// The operator token every node was started with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A client that accepts the nodes' certificates and sends the bearer token.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The options the cluster was started with.
    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// The ids of every node the harness knows, running or not.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The ids of the nodes that have a process.
    pub fn running_ids(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.is_running())
            .map(|n| n.id)
            .collect()
    }

    /// The node with this id; panics on an id the cluster does not have.
    pub fn node(&self, id: u64) -> &Node {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("the cluster has no node {id}"))
    }

    /// The API of node `id`, with the normal (30 s) request timeout.
    pub fn api(&self, id: u64) -> Api {
        Api::new(self.client.clone(), self.node(id).url())
    }

    /// The APIs of every node.
    pub fn apis(&self) -> Vec<Api> {
        self.ids().into_iter().map(|id| self.api(id)).collect()
    }

    /// The APIs of every node but `excluded`.
    pub fn apis_except(&self, excluded: u64) -> Vec<Api> {
        self.ids()
            .into_iter()
            .filter(|&id| id != excluded)
            .map(|id| self.api(id))
            .collect()
    }

    /// Some node other than `leader`.
    pub fn follower_of(&self, leader: u64) -> u64 {
        self.ids()
            .into_iter()
            .find(|&id| id != leader)
            .unwrap_or(leader)
    }

    /// The API of node `id` with a short (3 s) request timeout, for polling.
    pub fn probe(&self, id: u64) -> Api {
        Api::new(self.probe.clone(), self.node(id).url())
    }

    /// The proxy carrying traffic from node `from` to node `to`.
    pub fn proxy(&self, from: u64, to: u64) -> &Proxy {
        self.proxies
            .get(&(from, to))
            .unwrap_or_else(|| panic!("no proxy {from}->{to} (start with proxies(true))"))
    }

    /// Cuts every link into and out of node `id`.
    pub fn isolate(&self, id: u64) {
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.cut();
            }
        }
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        for proxy in self.proxies.values() {
            proxy.heal();
        }
    }

    pub(crate) fn add_node_entry(&mut self, id: u64, certs_dir: PathBuf) -> Result<()> {
        // Each pick releases its ports before the next node's pick, so the
        // kernel may hand the same free port out twice: skip any port that
        // another node of this cluster already has.
        let taken: Vec<u16> = self
            .nodes
            .values()
            .flat_map(|n| [n.api_addr.port(), n.raft_addr.port()])
            .collect();
        let mut ports = free_ports(2)?;
        for _ in 0..50 {
            if !ports.iter().any(|p| taken.contains(p)) {
                break;
            }
            ports = free_ports(2)?;
        }
        anyhow::ensure!(
            !ports.iter().any(|p| taken.contains(p)),
            "no free ports distinct from the cluster's own"
        );
        let data_dir = self.root().join(format!("node-{id}"));
        fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let node = Node {
            id,
            api_addr: SocketAddr::from(([127, 0, 0, 1], ports[0])),
            raft_addr: SocketAddr::from(([127, 0, 0, 1], ports[1])),
            log_path: self.root().join(format!("node-{id}.log")),
            data_dir,
            certs_dir,
            child: None,
            starts: 0,
        };
        self.nodes.insert(id, node);
        Ok(())
    }

    /// How node `from` reaches node `to`: through the proxy when there is one.
    fn peer_addr(&self, from: u64, to: u64) -> SocketAddr {
        match self.proxies.get(&(from, to)) {
            Some(p) if from != to => p.listen_addr(),
            _ => self.node(to).raft_addr,
        }
    }

    pub(crate) fn spawn(&mut self, id: u64, join: bool) -> Result<()> {
        let peers = self
            .nodes
            .keys()
            .map(|&j| format!("{j}={}", self.peer_addr(id, j)))
            .collect::<Vec<_>>()
            .join(",");
        let proxied = !self.proxies.is_empty();
        let node = self.node(id);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("up")
            .arg("--id")
            .arg(id.to_string())
            .arg("--data")
            .arg(&node.data_dir)
            .arg("--listen")
            .arg(node.api_addr.to_string())
            .arg("--peers")
            .arg(&peers)
            .arg("--certs")
            .arg(&node.certs_dir);
        if proxied {
            cmd.arg("--raft-listen").arg(node.raft_addr.to_string());
        }
        if let Some(n) = self.opts.snapshot_every {
            cmd.arg("--snapshot-every").arg(n.to_string());
        }
        if join {
            cmd.arg("--join");
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .with_context(|| format!("opening {}", node.log_path.display()))?;
        writeln!(
            log,
            "=== harness: start #{} of node {id}: {:?}",
            node.starts + 1,
            cmd
        )?;
        let log_err = log.try_clone()?;
        cmd.current_dir(self.root())
            .env("OPENCLOUD_OPERATOR_TOKEN", &self.token)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                // The node dies with the thread that started it, so a test
                // process that is killed leaks no node.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        let node = self.nodes.get_mut(&id).context("unknown node")?;
        node.child = Some(child);
        node.starts += 1;
        Ok(())
    }

    /// The exit status of node `id` if its process has ended by itself.
    pub fn exit_status(&mut self, id: u64) -> Option<ExitStatus> {
        let node = self.nodes.get_mut(&id)?;
        node.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits until node `id` answers `/healthz` with 200 `ok`.
    pub async fn wait_healthy(&mut self, id: u64) -> Result<()> {
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status(id) {
                self.nodes.get_mut(&id).map(|n| n.child.take());
                bail!(
                    "node {id} exited ({status}) before it became healthy; log:\n{}",
                    self.log_tail(id, 60)
                );
            }
            if let Ok(r) = self.probe(id).healthz().await {
                if r.status == StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "node {id} not healthy after {HEALTHY_TIMEOUT:?}; log:\n{}",
                    self.log_tail(id, 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL node `id` and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.nodes.get_mut(&id).and_then(|n| n.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An error naming every node whose process exited by itself or whose
    /// log shows a panic (a panicking task need not end the process).
    pub fn check_no_crash(&mut self) -> Result<()> {
        let mut problems = Vec::new();
        for id in self.ids() {
            if let Some(status) = self.exit_status(id) {
                problems.push(format!("node {id} exited by itself ({status})"));
            }
            let log = fs::read_to_string(self.node(id).log_path()).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("panicked at")) {
                problems.push(format!("node {id} panicked: {line}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("; "))
        }
    }

    fn signal(&self, id: u64, signal: i32) -> Result<()> {
        let child = self.node(id).child.as_ref();
        let pid = child
            .with_context(|| format!("node {id} is not running"))?
            .id();
        let pid = i32::try_from(pid).context("pid out of range")?;
        // SAFETY: plain syscall on a child we own and have not reaped.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// SIGSTOP node `id`: it freezes mid-flight, as under a long GC pause or
    /// a stalled VM, and its sockets stay open.
    pub fn pause(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGSTOP)
    }

    /// SIGCONT a paused node.
    pub fn resume(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGCONT)
    }

    /// SIGTERM node `id` and wait for it to exit; SIGKILL and an error if it
    /// does not exit within `STOP_TIMEOUT`.
    pub async fn stop(&mut self, id: u64) -> Result<ExitStatus> {
        let Some(mut child) = self.nodes.get_mut(&id).and_then(|n| n.child.take()) else {
            bail!("node {id} is not running");
        };
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        // SAFETY: plain syscall on a child we own and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("node {id} did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts node `id` again on the same data dir (stopping it first if it
    /// runs) and waits until it is healthy.
    pub async fn restart(&mut self, id: u64) -> Result<()> {
        if self.node(id).is_running() {
            self.stop(id).await?;
        }
        self.spawn(id, false)?;
        self.wait_healthy(id).await
    }

    /// Starts every node that is not running (all at once, since a node may
    /// need a quorum before it is fully up) and waits until they are healthy.
    pub async fn start_stopped(&mut self) -> Result<()> {
        let stopped: Vec<u64> = self
            .nodes
            .values()
            .filter(|n| !n.is_running())
            .map(|n| n.id)
            .collect();
        for &id in &stopped {
            self.spawn(id, false)?;
        }
        for &id in &stopped {
            self.wait_healthy(id).await?;
        }
        Ok(())
    }

    /// Kills node `id`, empties its data dir and starts it with `--join`.
    pub async fn wipe_and_restart(&mut self, id: u64) -> Result<()> {
        self.kill(id);
        let dir = self.node(id).data_dir.clone();
        fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
        fs::create_dir_all(&dir)?;
        self.spawn(id, true)?;
        self.wait_healthy(id).await
    }

    /// The last `lines` lines of node `id`'s log.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let Some(node) = self.nodes.get(&id) else {
            return String::new();
        };
        let text = fs::read_to_string(&node.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Prints the tail of every node's log to stderr (the test's output).
    pub fn print_logs(&self, lines: usize) {
        for id in self.nodes.keys() {
            eprintln!("----- node {id} log (last {lines} lines) -----");
            eprintln!("{}", self.log_tail(*id, lines));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A node that died by itself or logged a panic fails the test even
        // when every assertion passed: nothing a test does may crash a node.
        let verdict = if std::thread::panicking() {
            Ok(())
        } else {
            self.check_no_crash()
        };
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() || verdict.is_err() {
            self.print_logs(150);
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("cluster files kept in {}", kept.display());
            }
        }
        if let Err(e) = verdict {
            panic!("{e:#}");
        }
    }
}
