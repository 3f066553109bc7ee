//! Running the `opencloud` command line against a cluster: membership
//! changes (`cluster add|remove`) and certificates (`certs init`).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cluster::Cluster;

impl Cluster {
    /// Starts a new node `id` (one of the spare ids) with `--join`, then adds
    /// it with `opencloud cluster add` through the leader.
    pub async fn add_node(&mut self, id: u64) -> Result<Output> {
        anyhow::ensure!(!self.ids().contains(&id), "node {id} already exists");
        let certs = self.root().join("certs");
        self.add_node_entry(id, certs)?;
        self.spawn(id, true)?;
        self.wait_healthy(id).await?;
        let leader = self.wait_for_leader().await?;
        let url = self.node(leader).url();
        let raft = self.node(id).raft_addr().to_string();
        let id_s = id.to_string();
        let token = self.token.clone();
        let args = [
            "cluster",
            "add",
            "--id",
            &id_s,
            "--raft-addr",
            &raft,
            "--url",
            &url,
            "--token",
            &token,
        ];
        self.cli_ok(&args).await
    }

    /// Removes node `id` from the membership with `opencloud cluster remove`
    /// through the leader. The process keeps running.
    pub async fn remove_node(&self, id: u64) -> Result<Output> {
        let leader = self.wait_for_leader().await?;
        let url = self.node(leader).url();
        let id_s = id.to_string();
        let token = self.token.clone();
        let args = [
            "cluster", "remove", "--id", &id_s, "--url", &url, "--token", &token,
        ];
        self.cli_ok(&args).await
    }

    /// Runs `opencloud ARGS` (with the operator token in the environment)
    /// and returns its output, whatever its exit status.
    pub async fn cli(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .current_dir(self.root())
            .env("OPENCLOUD_OPERATOR_TOKEN", &self.token)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .with_context(|| format!("opencloud {args:?} did not finish in 120 s"))?
            .with_context(|| format!("running opencloud {args:?}"))
    }

    /// Like `cli`, but an error if the command does not exit 0.
    pub async fn cli_ok(&self, args: &[&str]) -> Result<Output> {
        let out = self.cli(args).await?;
        if !out.status.success() {
            bail!(
                "opencloud {args:?} failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    pub(crate) async fn certs_init(&self, dir: &Path, ids: &str) -> Result<()> {
        let dir_s = dir.to_string_lossy().into_owned();
        self.cli_ok(&["certs", "init", "--dir", &dir_s, "--nodes", ids])
            .await
            .map(|_| ())
    }
}
