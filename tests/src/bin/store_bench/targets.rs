//! Our 3-node cluster as a benchmark target, through the shared harness
//! (`tests/src/cluster.rs`), and the etcd cluster likewise.

use std::time::Duration;

use anyhow::{Context, Result};
use opencloud_tests::cluster::{Cluster, ClusterOptions};
use opencloud_tests::etcd::EtcdCluster;
use opencloud_tests::host::pid_with_data_dir;
use opencloud_tests::loadgen::Api;

use crate::Target;

pub struct Ours(Option<Cluster>);

impl Ours {
    pub async fn start(snapshot_every: Option<u64>) -> Result<Ours> {
        let mut opts = ClusterOptions::default().release(true);
        opts.snapshot_every = snapshot_every;
        let c = Cluster::start(opts)
            .await
            .context("starting the Opencloud cluster (cargo build --release -p opencloud?)")?;
        Ok(Ours(Some(c)))
    }
    fn c(&self) -> Result<&Cluster> {
        self.0.as_ref().context("cluster stopped")
    }
    fn id(i: usize) -> u64 {
        i as u64 + 1
    }
    /// Kill every node.
    pub fn stop(&mut self) {
        self.0.take();
    }
}

impl Target for Ours {
    fn name(&self) -> &'static str {
        "Opencloud"
    }
    fn api(&self) -> Api {
        let token = self.c().map(|c| c.token().to_string()).unwrap_or_default();
        Api::Opencloud { token }
    }
    fn urls(&self) -> Vec<String> {
        let Ok(c) = self.c() else { return Vec::new() };
        c.ids().iter().map(|id| c.node(*id).url()).collect()
    }
    fn pids(&self) -> Vec<Option<u32>> {
        let Ok(c) = self.c() else { return Vec::new() };
        c.running_ids()
            .iter()
            .map(|id| pid_with_data_dir(c.node(*id).data_dir()))
            .collect()
    }
    async fn leader(&self) -> Result<usize> {
        let id = self.c()?.leader_id().await.context("no Opencloud leader")?;
        Ok(id as usize - 1)
    }
    fn kill(&mut self, i: usize) -> Result<()> {
        self.0
            .as_mut()
            .context("cluster stopped")?
            .kill(Self::id(i));
        Ok(())
    }
    async fn restart(&mut self, i: usize) -> Result<()> {
        let c = self.0.as_mut().context("cluster stopped")?;
        c.restart(Self::id(i)).await
    }
    async fn wait_caught_up(&self, i: usize) -> Result<()> {
        let c = self.c()?;
        c.wait_caught_up(Self::id(i), Duration::from_secs(60))
            .await
            .map(|_| ())
    }
}

/// The etcd cluster as a benchmark target.
pub struct EtcdTarget(pub EtcdCluster);

impl Target for EtcdTarget {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn api(&self) -> Api {
        Api::Etcd
    }
    fn urls(&self) -> Vec<String> {
        self.0.urls()
    }
    fn pids(&self) -> Vec<Option<u32>> {
        self.0.pids()
    }
    async fn leader(&self) -> Result<usize> {
        self.0.leader().await
    }
    fn kill(&mut self, i: usize) -> Result<()> {
        self.0.kill(i)
    }
    async fn restart(&mut self, i: usize) -> Result<()> {
        self.0.restart(i)
    }
    async fn wait_caught_up(&self, i: usize) -> Result<()> {
        self.0.wait_caught_up(i, Duration::from_secs(60)).await
    }
}
