//! The node's configuration, built in one place from flags and environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use opencloud_raft::NodeId;

/// `opencloud up` flags. Without any, the node runs the embedded default: a
/// single-node cluster with its data in `./data`, serving HTTPS on
/// 127.0.0.1:8443 with a self-signed certificate.
#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// This node's id, unique in the cluster.
    #[arg(long, default_value_t = 1)]
    pub id: NodeId,
    /// Data directory (database, snapshots, this node's HTTPS certificate).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Public HTTPS address (web desktop, APIs).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// The cluster's nodes and their Raft addresses as this node reaches
    /// them: `1=HOST:PORT,2=HOST:PORT,3=HOST:PORT`. This node listens on its
    /// own entry unless `--raft-listen` says otherwise. Empty: a single node
    /// whose Raft port is the HTTPS port + 1000.
    #[arg(long, value_parser = parse_peers, default_value = "")]
    pub peers: Peers,
    /// Address to listen on for Raft traffic, when it differs from this
    /// node's entry in `--peers` (e.g. behind a proxy or NAT).
    #[arg(long)]
    pub raft_listen: Option<SocketAddr>,
    /// Directory written by `opencloud certs init`. Default: `DATA/certs`,
    /// created on first start for a single node.
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Never initialise a new cluster: wait to be added (`opencloud cluster
    /// add`), or to be caught up after a rebuild from an empty data dir.
    #[arg(long)]
    pub join: bool,
    /// Build a snapshot and compact the log every N applied entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Seconds a write or read may wait for a quorum before it fails with 503.
    #[arg(long, default_value_t = 5)]
    pub request_timeout_secs: u64,
    /// The operator's bearer token. Identical on all nodes when set; when not
    /// set, one is generated on first start, printed once and stored hashed.
    #[arg(long, env = "OPENCLOUD_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,
    /// Serve tenant `acme` at `https://acme.DOMAIN/` as well as at
    /// `/t/acme/` on any host name.
    #[arg(long, env = "OPENCLOUD_BASE_DOMAIN")]
    pub base_domain: Option<String>,
    /// A session ends this many seconds after sign-in.
    #[arg(long, env = "OPENCLOUD_SESSION_TTL_S", default_value_t = 12 * 3600)]
    pub session_ttl_s: u64,
    /// A session ends after this many seconds without presence from its
    /// desktop (which pings every 10 s while it is open).
    #[arg(long, env = "OPENCLOUD_SESSION_IDLE_S", default_value_t = 30 * 60)]
    pub session_idle_s: u64,
    /// Create the demo tenant on a fresh single node (default) or never.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
    /// A desktop's presence reaches the store at most this often (seconds);
    /// idle reaping is this coarse.
    #[arg(long, env = "OPENCLOUD_PRESENCE_WRITE_EVERY_S", default_value_t = 60)]
    pub presence_write_every_s: u64,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// The VM broker's and local provider's flags.
#[derive(Args, Debug, Clone)]
pub struct BrokerArgs {
    /// QEMU's accelerator for this node's VMs: `auto` (KVM when usable,
    /// else TCG), `kvm` or `tcg`.
    #[arg(long, env = "OPENCLOUD_QEMU_ACCEL", default_value = "auto")]
    pub qemu_accel: crate::broker::local::Accel,
    /// The QEMU binary.
    #[arg(long, env = "OPENCLOUD_QEMU", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// Run no VMs on this node (it still serves and brokers).
    #[arg(long)]
    pub no_local_vms: bool,
    /// Address this node's VMs serve SPICE on. The translators of the other
    /// nodes connect to it: in a multi-host cluster, an address on the
    /// nodes' private network.
    #[arg(long, env = "OPENCLOUD_VM_SPICE_IP", default_value = "127.0.0.1")]
    pub vm_spice_ip: std::net::IpAddr,
    /// VMs this node runs at most.
    #[arg(long, env = "OPENCLOUD_MAX_VMS", default_value_t = 32)]
    pub max_vms: u32,
    /// VMs this node boots at once at most (default: its CPU count).
    #[arg(long, env = "OPENCLOUD_MAX_BOOTING")]
    pub max_booting: Option<u32>,
    /// A VM still starting after this many seconds is replaced.
    #[arg(long, env = "OPENCLOUD_VM_START_TIMEOUT_S", default_value_t = 180)]
    pub vm_start_timeout_s: u64,
    /// A node whose sign of life stopped this many seconds ago is dead to
    /// the broker, which replaces its VMs.
    #[arg(long, env = "OPENCLOUD_NODE_DEAD_AFTER_S", default_value_t = 10)]
    pub node_dead_after_s: u64,
    /// How long a launch waits for a VM to become free.
    #[arg(long, env = "OPENCLOUD_LAUNCH_WAIT_S", default_value_t = 120)]
    pub launch_wait_s: u64,
    /// Failed VMs stay listed (with their reasons) this many seconds.
    #[arg(long, env = "OPENCLOUD_FAILED_KEEP_S", default_value_t = 60)]
    pub failed_keep_s: u64,
    /// A running VM assignment's usage is recorded in periods this many
    /// seconds long (0: only when it ends). The same on every node.
    #[arg(long, env = "OPENCLOUD_USAGE_CHECKPOINT_S", default_value_t = 3600)]
    pub usage_checkpoint_s: u64,
    /// Boot the VMs of `openstack` pools on an OpenStack cloud (credentials
    /// from `--openstack-cloud` or the `OS_*` variables; docs/OPENSTACK.md).
    #[arg(long, env = "OPENCLOUD_OPENSTACK")]
    pub openstack: bool,
    /// The `clouds.yaml` entry to use; without it, the `OS_*` variables.
    #[arg(long, env = "OPENCLOUD_OPENSTACK_CLOUD")]
    pub openstack_cloud: Option<String>,
    /// The longest one OpenStack API call may take.
    #[arg(long, env = "OPENCLOUD_OPENSTACK_API_TIMEOUT_S", default_value_t = 30)]
    pub openstack_api_timeout_s: u64,
}

/// `OPENCLOUD_TEST_CAPTCHA_ANSWER`: a fixed captcha for automated tests,
/// with a warning, since it turns the captcha off for anyone who knows it.
fn test_captcha() -> Option<String> {
    let v = std::env::var("OPENCLOUD_TEST_CAPTCHA_ANSWER").ok()?;
    let v = v.trim().to_lowercase();
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        eprintln!("opencloud: ignoring OPENCLOUD_TEST_CAPTCHA_ANSWER (1 to 12 letters or digits)");
        return None;
    }
    eprintln!("opencloud: WARNING: every captcha is `{v}` (OPENCLOUD_TEST_CAPTCHA_ANSWER); never set this in production");
    Some(v)
}

/// The parsed `--peers` map.
#[derive(Debug, Clone, Default)]
pub struct Peers(pub BTreeMap<NodeId, String>);

fn parse_peers(s: &str) -> anyhow::Result<Peers> {
    let mut map = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((id, addr)) = part.split_once('=') else {
            bail!("`{part}`: expected ID=HOST:PORT");
        };
        let id: NodeId = id
            .trim()
            .parse()
            .with_context(|| format!("`{id}` is not a node id"))?;
        if id == 0 {
            bail!("node ids start at 1");
        }
        if addr.trim().is_empty() {
            bail!("node {id}: empty address");
        }
        if map.insert(id, addr.trim().to_string()).is_some() {
            bail!("node {id} is listed twice");
        }
    }
    Ok(Peers(map))
}

/// The settled configuration of a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub data_dir: PathBuf,
    pub https_listen: SocketAddr,
    pub raft_listen: SocketAddr,
    pub peers: BTreeMap<NodeId, String>,
    pub certs_dir: PathBuf,
    /// Single node with no `--peers`: certificates are made on first start.
    pub standalone: bool,
    pub join: bool,
    pub snapshot_every: u64,
    pub request_timeout: std::time::Duration,
    pub operator_token: Option<String>,
    /// The tenants' sites: sessions, sign-in limits, host names.
    pub site: crate::desktop::SiteConfig,
    /// Whether a standalone node creates the demo tenant.
    pub demo: bool,
    pub broker: crate::broker::BrokerConfig,
    /// `None`: this node runs no VMs.
    pub local_vms: Option<crate::broker::local::LocalSettings>,
    /// `None`: no OpenStack pools.
    pub openstack: Option<crate::broker::openstack::OpenStackSettings>,
}

impl NodeConfig {
    pub fn from_args(args: UpArgs) -> anyhow::Result<Self> {
        if args.id == 0 {
            bail!("--id must be at least 1");
        }
        let standalone = args.peers.0.is_empty();
        let mut peers = args.peers.0;
        let raft_listen = match (args.raft_listen, peers.get(&args.id)) {
            (Some(addr), _) => addr,
            (None, Some(own)) => own
                .parse()
                .with_context(|| format!("--peers entry {}={own} is not HOST:PORT", args.id))?,
            (None, None) if standalone => {
                let mut a = args.listen;
                a.set_port(args.listen.port().checked_add(1000).unwrap_or(9443));
                a
            }
            (None, None) => bail!("--peers has no entry for this node ({})", args.id),
        };
        peers
            .entry(args.id)
            .or_insert_with(|| raft_listen.to_string());
        let certs_dir = args
            .certs
            .clone()
            .unwrap_or_else(|| args.data.join("certs"));
        if !standalone && args.certs.is_none() {
            bail!("a cluster node needs --certs DIR (see `opencloud certs init`)");
        }
        if let Some(t) = &args.operator_token {
            if t.len() < 16 {
                bail!("OPENCLOUD_OPERATOR_TOKEN must be at least 16 characters");
            }
        }
        Ok(NodeConfig {
            id: args.id,
            data_dir: args.data.clone(),
            https_listen: args.listen,
            raft_listen,
            peers,
            certs_dir,
            standalone,
            join: args.join,
            snapshot_every: args.snapshot_every,
            request_timeout: std::time::Duration::from_secs(args.request_timeout_secs.max(1)),
            operator_token: args.operator_token,
            site: crate::desktop::SiteConfig {
                base_domain: args
                    .base_domain
                    .map(|d| d.trim_matches('.').to_ascii_lowercase())
                    .filter(|d| !d.is_empty()),
                fixed_captcha: test_captcha(),
                session_ttl_s: args.session_ttl_s.max(1),
                session_idle_s: args.session_idle_s.max(1),
                presence_write_every_s: args.presence_write_every_s.max(1),
                ..crate::desktop::SiteConfig::default()
            },
            demo: args.demo,
            broker: broker_config(&args.broker),
            openstack: (args.broker.openstack || args.broker.openstack_cloud.is_some()).then(
                || crate::broker::openstack::OpenStackSettings {
                    cloud: args.broker.openstack_cloud.clone(),
                    api_timeout: std::time::Duration::from_secs(
                        args.broker.openstack_api_timeout_s.max(1),
                    ),
                    ..Default::default()
                },
            ),
            local_vms: (!args.broker.no_local_vms).then(|| crate::broker::local::LocalSettings {
                qemu_img: args
                    .broker
                    .qemu
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|p| p.join("qemu-img"))
                    .unwrap_or_else(|| PathBuf::from("qemu-img")),
                qemu: args.broker.qemu.clone(),
                accel: args.broker.qemu_accel,
                dir: args.data.join("vms"),
                spice_ip: args.broker.vm_spice_ip,
                qmp_timeout: std::time::Duration::from_secs(5),
            }),
        })
    }

    /// The store's settings derived from the node's.
    pub fn store_config(&self) -> opencloud_raft::StoreConfig {
        let mut c = opencloud_raft::StoreConfig::new(
            self.id,
            self.data_dir.join("raft"),
            self.raft_listen,
            self.certs_dir.clone(),
        );
        c.raft_advertise = self
            .peers
            .get(&self.id)
            .cloned()
            .unwrap_or_else(|| self.raft_listen.to_string());
        c.peers = self.peers.clone();
        c.snapshot_every = self.snapshot_every;
        c.request_timeout = self.request_timeout;
        c
    }
}

fn broker_config(a: &BrokerArgs) -> crate::broker::BrokerConfig {
    use std::time::Duration;
    crate::broker::BrokerConfig {
        start_timeout_s: a.vm_start_timeout_s.max(1),
        node_dead_after: Duration::from_secs(a.node_dead_after_s.max(2)),
        launch_wait: Duration::from_secs(a.launch_wait_s),
        failed_keep_s: a.failed_keep_s,
        usage_checkpoint_s: a.usage_checkpoint_s,
        max_vms: a.max_vms,
        max_booting: a
            .max_booting
            .unwrap_or(crate::broker::BrokerConfig::default().max_booting)
            .max(1),
        ..crate::broker::BrokerConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_reject_nonsense() {
        let p = parse_peers("1=127.0.0.1:1, 2=127.0.0.1:2").unwrap();
        assert_eq!(p.0.len(), 2);
        assert!(parse_peers("1").is_err());
        assert!(parse_peers("x=a:1").is_err());
        assert!(parse_peers("0=a:1").is_err());
        assert!(parse_peers("1=a:1,1=b:2").is_err());
        assert!(parse_peers("").unwrap().0.is_empty());
    }
}
