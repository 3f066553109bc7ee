//! The VM broker: pools kept warm, one VM per user, idle reaping, on QEMU
//! run by the nodes themselves or on OpenStack.
//!
//! Three kinds of work, all reading and writing the store only:
//! - the **planner** ([`planner`]) runs on the Raft leader: it keeps each
//!   pool at its warm count within its maximum and the tenant's quota,
//!   places new VMs on live nodes, reaps idle and orphaned assignments, and
//!   fails what is stuck or lost. A deposed leader's writes cannot commit,
//!   so at most one planner changes anything at a time.
//! - a **runner** ([`runner`]) per provider drives the VMs it owns through
//!   their life: every node runs one for its own QEMU processes, and the
//!   leader runs one for cloud VMs.
//! - **launches** ([`launch`]) assign a ready VM to a user with a
//!   compare-and-swap on its record, so no VM is ever handed to two users.

pub mod api;
pub mod launch;
pub mod local;
pub mod metering;
pub mod model;
pub mod openstack;
pub mod openstack_cmd;
pub mod planner;
pub mod provider;
pub mod runner;
pub mod vms;

use std::sync::Arc;
use std::time::Duration;

use opencloud_raft::Store;

use crate::clock::SharedClock;

/// How the broker behaves. Every duration has a flag on `opencloud up`.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// How often the planner looks at every pool (on the leader).
    pub plan_every: Duration,
    /// How often a runner looks at its VMs.
    pub run_every: Duration,
    /// How often the cloud runner looks at its VMs (each look is API calls).
    pub cloud_run_every: Duration,
    /// How often each node writes its sign of life.
    pub beat_every: Duration,
    /// A node whose sign of life has not changed this long is dead: its VMs
    /// are marked failed and replaced elsewhere.
    pub node_dead_after: Duration,
    /// A VM still starting after this long is failed and replaced.
    pub start_timeout_s: u64,
    /// Failed VMs stay visible (pool counts, reasons) this long.
    pub failed_keep_s: u64,
    /// How long a launch waits for a VM to become ready.
    pub launch_wait: Duration,
    /// An assignment's usage is recorded in periods this long while it
    /// runs (so a bill can cut a long one), and the rest when it ends; 0
    /// records it only at the end. Every node should have the same.
    pub usage_checkpoint_s: u64,
    /// How long a launch waits for the VM's runner to set its new password.
    pub password_wait: Duration,
    /// A VM the provider has and the store does not know is destroyed once
    /// unknown this long (a create's record may trail the VM by a moment).
    pub orphan_grace: Duration,
    /// VMs this node runs at most.
    pub max_vms: u32,
    /// VMs this node boots at once at most: boots are CPU-bound (very much
    /// so under TCG), and a burst of them delays every one.
    pub max_booting: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            plan_every: Duration::from_secs(1),
            run_every: Duration::from_millis(100),
            cloud_run_every: Duration::from_secs(2),
            beat_every: Duration::from_secs(2),
            node_dead_after: Duration::from_secs(10),
            start_timeout_s: 180,
            failed_keep_s: 60,
            launch_wait: Duration::from_secs(120),
            usage_checkpoint_s: 3600,
            password_wait: Duration::from_secs(10),
            orphan_grace: Duration::from_secs(10),
            max_vms: 32,
            max_booting: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
        }
    }
}

/// What the broker's parts share.
pub struct Broker {
    pub cfg: BrokerConfig,
    pub store: Arc<Store>,
    pub clock: SharedClock,
    /// This node's QEMU processes; `None` when QEMU is not installed.
    pub local: Option<Arc<local::LocalProvider>>,
    /// How to reach the OpenStack cloud; `None`: openstack pools get no VMs.
    pub openstack: Option<openstack::OpenStackSettings>,
}

impl Broker {
    /// Starts this node's runner and, while it leads, the planner.
    pub fn spawn(self: &Arc<Broker>) {
        if let Some(local) = &self.local {
            let me = self.store.id();
            runner::spawn(
                self.clone(),
                local.clone(),
                runner::Owner::Node(me),
                self.cfg.run_every,
            );
        }
        if let Some(settings) = self.openstack.clone() {
            spawn_cloud(self.clone(), settings);
        }
        runner::spawn_beats(self.clone());
        planner::spawn(self.clone());
    }
}

/// Connects to the cloud (retrying while it cannot), then runs the runner
/// of cloud VMs, which acts only while this node leads.
fn spawn_cloud(broker: Arc<Broker>, settings: openstack::OpenStackSettings) {
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(1);
        let provider = loop {
            match openstack::OpenStackProvider::connect(settings.clone()).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!("OpenStack not reachable yet (retrying in {wait:?}): {e}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        };
        tracing::info!("connected to OpenStack");
        let every = broker.cfg.cloud_run_every;
        runner::spawn(
            broker,
            Arc::new(provider),
            runner::Owner::Cloud(model::ProviderKind::Openstack),
            every,
        );
    });
}
