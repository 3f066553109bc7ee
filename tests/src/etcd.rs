//! A 3-member etcd cluster (Debian's `etcd-server`) on loopback, for the
//! store benchmark's comparison. Fresh data dirs, etcd's defaults (fsync on,
//! heartbeat 100 ms, election 1000 ms). Every member is killed on drop.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// One etcd member: its name, ports and (while running) its process.
pub struct EtcdMember {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

/// A running 3-member etcd cluster.
pub struct EtcdCluster {
    pub members: Vec<EtcdMember>,
    initial_cluster: String,
    token: String,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// Status of one member as its JSON gateway reports it.
#[derive(Debug, Clone, Copy)]
pub struct EtcdStatus {
    pub member_id: u64,
    pub leader: u64,
    pub raft_index: u64,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The etcd binary: `ETCD_BIN` when set, otherwise `etcd` on the PATH.
pub fn etcd_binary() -> String {
    std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".to_string())
}

/// etcd's version string (`etcd --version`, first line), if it runs.
pub fn etcd_version() -> Option<String> {
    let out = Command::new(etcd_binary()).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let first = text.lines().next()?.trim();
    Some(match first.strip_prefix("etcd Version:") {
        Some(v) => format!("etcd {}", v.trim()),
        None => first.to_string(),
    })
}

fn parse_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl EtcdCluster {
    /// Start `n` members in a fresh temporary directory and wait until they
    /// have elected a leader.
    pub async fn start(n: usize) -> Result<EtcdCluster> {
        let dir = tempfile::Builder::new()
            .prefix("opencloud-bench-etcd-")
            .tempdir()
            .context("creating etcd temp dir")?;
        let mut members = Vec::new();
        for i in 1..=n {
            let name = format!("e{i}");
            members.push(EtcdMember {
                client_url: format!("http://127.0.0.1:{}", free_port()?),
                peer_url: format!("http://127.0.0.1:{}", free_port()?),
                data_dir: dir.path().join(&name),
                log_path: dir.path().join(format!("{name}.log")),
                name,
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bench-{}", std::process::id());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building HTTP client")?;
        let mut cluster = EtcdCluster {
            members,
            initial_cluster,
            token,
            _dir: dir,
            http,
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        cluster.wait_leader(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let m = &mut self.members[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log_path)
            .with_context(|| format!("opening {}", m.log_path.display()))?;
        let log2 = log.try_clone().context("cloning log handle")?;
        let mut cmd = Command::new(etcd_binary());
        // SAFETY: prctl is async-signal-safe and the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                // The member dies with the thread that started it, so a
                // benchmark that is killed leaks no etcd.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(&m.data_dir)
            .arg("--listen-client-urls")
            .arg(&m.client_url)
            .arg("--advertise-client-urls")
            .arg(&m.client_url)
            .arg("--listen-peer-urls")
            .arg(&m.peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&m.peer_url)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--initial-cluster-token")
            .arg(&self.token)
            .arg("--initial-cluster-state")
            .arg("new")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .with_context(|| format!("starting {} (is etcd-server installed?)", etcd_binary()))?;
        m.child = Some(child);
        Ok(())
    }

    /// The client (gateway) URLs of all members, in member order.
    pub fn urls(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Process ids of the running members.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.members
            .iter()
            .map(|m| m.child.as_ref().map(|c| c.id()))
            .collect()
    }

    /// `POST /v3/maintenance/status` on member `i`.
    pub async fn status(&self, i: usize) -> Result<EtcdStatus> {
        let url = format!("{}/v3/maintenance/status", self.members[i].client_url);
        let v: Value = self
            .http
            .post(&url)
            .body("{}")
            .send()
            .await
            .with_context(|| format!("POST {url}"))?
            .error_for_status()?
            .json()
            .await
            .context("decoding status")?;
        let member_id =
            parse_u64(&v["header"]["member_id"]).ok_or_else(|| anyhow!("no member_id"))?;
        let leader = parse_u64(&v["leader"]).unwrap_or(0);
        let raft_index = parse_u64(&v["raftIndex"]).unwrap_or(0);
        Ok(EtcdStatus {
            member_id,
            leader,
            raft_index,
        })
    }

    /// Index of the member that currently leads, as the running members agree.
    pub async fn leader(&self) -> Result<usize> {
        let mut ids = Vec::new();
        let mut leader = None;
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                ids.push(None);
                continue;
            }
            match self.status(i).await {
                Ok(s) => {
                    ids.push(Some(s.member_id));
                    if s.leader != 0 {
                        leader = Some(s.leader);
                    }
                }
                Err(_) => ids.push(None),
            }
        }
        let leader = leader.ok_or_else(|| anyhow!("no etcd leader yet"))?;
        ids.iter()
            .position(|id| *id == Some(leader))
            .ok_or_else(|| anyhow!("etcd leader {leader:x} is not a running member"))
    }

    /// Wait (bounded) until a leader is known.
    pub async fn wait_leader(&self, limit: Duration) -> Result<usize> {
        let start = Instant::now();
        loop {
            match self.leader().await {
                Ok(i) => return Ok(i),
                Err(e) if start.elapsed() > limit => {
                    bail!("etcd elected no leader within {limit:?}: {e:#}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// kill -9 member `i`.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut c) = self.members[i].child.take() {
            c.kill().context("killing etcd member")?;
            let _ = c.wait();
        }
        Ok(())
    }

    /// Start member `i` again on its data dir.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        if self.members[i].child.is_some() {
            return Ok(());
        }
        self.spawn(i)
    }

    /// Wait (bounded) until member `i` has applied at least what the leader
    /// had when the wait began.
    pub async fn wait_caught_up(&self, i: usize, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let mut target = None;
        loop {
            if start.elapsed() > limit {
                bail!("etcd member {i} did not catch up within {limit:?}");
            }
            if target.is_none() {
                if let Ok(l) = self.leader().await {
                    if l != i {
                        target = self.status(l).await.ok().map(|s| s.raft_index);
                    }
                }
            }
            if let (Some(t), Ok(s)) = (target, self.status(i).await) {
                if s.raft_index >= t && s.leader != 0 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop every member.
    pub fn stop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
