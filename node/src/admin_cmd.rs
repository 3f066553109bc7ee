//! Operator commands: `certs init` and `cluster add|remove`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use opencloud_raft::NodeId;

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Write a cluster CA (or reuse the one in DIR) and node certificates.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Node ids, comma-separated: `1,2,3`.
        #[arg(long, value_delimiter = ',', required = true)]
        nodes: Vec<NodeId>,
    },
}

pub fn certs(cmd: CertsCommand) -> anyhow::Result<()> {
    match cmd {
        CertsCommand::Init { dir, nodes } => {
            if nodes.contains(&0) {
                bail!("node ids start at 1");
            }
            let written = opencloud_raft::tls::init_certs(&dir, &nodes)?;
            for path in written {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Add a node to the running cluster: it catches up as a learner, then
    /// becomes a voter. Start it first with `opencloud up --join`.
    Add {
        #[arg(long)]
        id: NodeId,
        /// The new node's Raft address, as the other nodes reach it.
        #[arg(long)]
        raft_addr: String,
        #[command(flatten)]
        target: Target,
    },
    /// Ask the node at --url to stand for election now, to move leadership
    /// to it (for example before restarting the current leader's machine).
    Elect {
        #[command(flatten)]
        target: Target,
    },
    /// Remove a node from the cluster.
    Remove {
        #[arg(long)]
        id: NodeId,
        #[command(flatten)]
        target: Target,
    },
}

/// Which node to ask, and how.
#[derive(clap::Args)]
pub struct Target {
    /// Any node's HTTPS URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    #[arg(long, env = "OPENCLOUD_OPERATOR_TOKEN", hide_env_values = true)]
    token: String,
    /// Trust this CA for the node's HTTPS certificate. Without it, a
    /// self-signed certificate is accepted.
    #[arg(long)]
    ca: Option<PathBuf>,
}

impl Target {
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        b = match &self.ca {
            Some(ca) => {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                b.add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            }
            None => b.danger_accept_invalid_certs(true),
        };
        Ok(b.build()?)
    }
}

pub async fn cluster(cmd: ClusterCommand) -> anyhow::Result<()> {
    let (req, what) = match &cmd {
        ClusterCommand::Add {
            id,
            raft_addr,
            target,
        } => {
            println!(
                "adding node {id} at {raft_addr} (it catches up first; this can take a while)"
            );
            let url = format!("{}/api/v1/cluster/nodes", target.url.trim_end_matches('/'));
            let body = serde_json::json!({ "id": id, "raft_addr": raft_addr });
            (
                target
                    .client()?
                    .post(url)
                    .bearer_auth(&target.token)
                    .json(&body),
                format!("added node {id}"),
            )
        }
        ClusterCommand::Elect { target } => {
            let url = format!("{}/api/v1/cluster/elect", target.url.trim_end_matches('/'));
            (
                target.client()?.post(url).bearer_auth(&target.token),
                format!(
                    "{} is standing for election; check /api/v1/cluster",
                    target.url
                ),
            )
        }
        ClusterCommand::Remove { id, target } => {
            let url = format!(
                "{}/api/v1/cluster/nodes/{id}",
                target.url.trim_end_matches('/')
            );
            (
                target.client()?.delete(url).bearer_auth(&target.token),
                format!("removed node {id}"),
            )
        }
    };
    let resp = req.send().await.context("reaching the node")?;
    let status = resp.status();
    if status.is_success() {
        println!("{what}");
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text);
    bail!("{status}: {msg}")
}
