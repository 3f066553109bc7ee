//! The broker's records in the store: images (platform), pools, VMs and
//! usage events (per tenant). All VM state lives here, so any node can take
//! over brokering from what it reads.

use std::path::PathBuf;

use opencloud_raft::table::{json_decode, json_encode, Scope, Table};
use serde::{Deserialize, Serialize};

macro_rules! json_table {
    ($table:ident, $name:literal, $scope:expr, $value:ty) => {
        pub struct $table;

        impl Table for $table {
            const NAME: &'static str = $name;
            const SCOPE: Scope = $scope;
            type Value = $value;
            fn encode_value(v: &$value) -> opencloud_raft::Result<Vec<u8>> {
                json_encode(Self::NAME, v)
            }
            fn decode_value(b: &[u8]) -> opencloud_raft::Result<$value> {
                json_decode(Self::NAME, b)
            }
        }
    };
}

/// What a VM boots. Host paths and cloud names are the operator's to give:
/// tenant admins only pick among registered [`Image`]s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged, deny_unknown_fields)]
pub enum ImageSource {
    /// A kernel and initramfs on every node (local provider).
    Kernel {
        kernel: PathBuf,
        initrd: PathBuf,
        #[serde(default)]
        append: String,
        /// A line the guest writes to its first serial port once it is
        /// usable; without it, a VM is ready as soon as its SPICE server
        /// answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ready_line: Option<String>,
    },
    /// A qcow2 base disk on every node (local provider); each VM boots a
    /// throw-away overlay on it.
    Disk {
        disk: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ready_line: Option<String>,
    },
    /// A Glance image booted with a Nova flavor (OpenStack provider).
    Cloud {
        cloud_image: String,
        flavor: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        network: Option<String>,
    },
}

impl ImageSource {
    pub fn ready_line(&self) -> Option<&str> {
        match self {
            ImageSource::Kernel { ready_line, .. } | ImageSource::Disk { ready_line, .. } => {
                ready_line.as_deref()
            }
            ImageSource::Cloud { .. } => None,
        }
    }
}

/// Which kind of machine runs a pool's VMs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// QEMU processes on the cluster's own nodes.
    Local,
    /// Servers in an OpenStack cloud.
    Openstack,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Local => "local",
            ProviderKind::Openstack => "openstack",
        }
    }
}

/// An image the operator registered (`/api/v1/images`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub provider: ProviderKind,
    pub source: ImageSource,
}

json_table!(Images, "images", Scope::Platform, Image);

/// A tenant's pool of identical, stateless VMs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pool {
    pub id: String,
    pub provider: ProviderKind,
    /// The registered image it was made from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// What its VMs boot (copied from the image when the pool was made).
    pub image: ImageSource,
    pub memory_mb: u32,
    pub vcpus: u32,
    /// VMs kept ready for the next launches.
    pub warm: u32,
    /// VMs of this pool in any state but failed, at most.
    pub max: u32,
    /// An assigned VM whose user shows no presence this long is reaped.
    pub idle_timeout_s: u64,
}

impl Pool {
    /// What its VMs are made of (image, size): a VM of another version is
    /// retired while nobody uses it.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let made_of = serde_json::json!([self.provider, self.image, self.memory_mb, self.vcpus]);
        hex::encode(&Sha256::digest(made_of.to_string().as_bytes())[..8])
    }
}

json_table!(Pools, "pools", Scope::Tenant, Pool);

/// Where a VM is in its life.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    /// Asked of its provider; not usable yet.
    Starting,
    /// Booted and waiting for a user.
    Ready,
    /// One user's, until reaped or released.
    Assigned,
    /// Being destroyed.
    Stopping,
    /// Lost, refused or timed out; replaced, and removed after a while.
    Failed,
}

/// Who a VM is assigned to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Assignment {
    pub login: String,
    /// The store key of the session that launched it: signing out of that
    /// session releases the VM, and its presence keeps the VM.
    pub session: String,
    pub at: u64,
    /// Where the usage already recorded for this assignment ends: the
    /// broker records long assignments in whole periods as they run
    /// (`--usage-checkpoint-s`), and the rest when the VM goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metered_to: Option<u64>,
}

/// One VM. Keyed by its id in the tenant's `vms` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Vm {
    pub id: String,
    pub pool: String,
    pub provider: ProviderKind,
    /// The node running it (local provider); `None` for cloud VMs, which
    /// the broker drives wherever it runs.
    pub node: Option<u64>,
    pub state: VmState,
    /// [`Pool::version`] of its pool when it was made.
    #[serde(default)]
    pub pool_version: String,
    /// The provider's name for it, once it has one.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// HOST:PORT of its SPICE server, once known.
    #[serde(default)]
    pub spice_addr: Option<String>,
    /// Its current SPICE password (the node's secret; browsers only ever
    /// get single-use tickets).
    #[serde(default)]
    pub spice_password: String,
    /// Raised on every new password; `password_applied` catches up once the
    /// VM's runner has set it through QMP.
    #[serde(default)]
    pub password_gen: u64,
    #[serde(default)]
    pub password_applied: u64,
    #[serde(default)]
    pub assigned: Option<Assignment>,
    pub created_at: u64,
    /// When it last changed state.
    pub since: u64,
    /// When its assignment ended (for metering).
    #[serde(default)]
    pub released_at: Option<u64>,
    /// Why it failed or stopped, for people.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Vm {
    /// Whether it counts against its pool's maximum and the tenant's quota.
    pub fn counts(&self) -> bool {
        self.state != VmState::Failed
    }
}

json_table!(Vms, "vms", Scope::Tenant, Vm);

/// One ended assignment: VM-seconds for billing, idempotent by id (the VM's
/// id: a VM is assigned at most once, then destroyed).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageEvent {
    pub id: String,
    pub kind: String,
    pub tenant: String,
    pub login: String,
    pub pool: String,
    pub start: u64,
    pub end: u64,
    pub vm_seconds: u64,
}

json_table!(Usage, "usage", Scope::Tenant, UsageEvent);

/// A tenant's limits, set by the operator.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// VMs in any state but failed, across the tenant's pools. `None`: no
    /// limit beyond each pool's maximum.
    pub max_vms: Option<u32>,
}

json_table!(Quotas, "quota", Scope::Tenant, Quota);

/// Each node's sign of life, written by its runner every few seconds; the
/// broker calls a node dead when its beat stops changing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeBeat {
    pub seq: u64,
    /// The writer's clock when written: launches avoid VMs of nodes whose
    /// beat is old (clocks of a cluster agree within seconds; the planner's
    /// verdict of death does not depend on them).
    #[serde(default)]
    pub at: u64,
    /// VMs it will run at most.
    pub max_vms: u32,
    /// VMs it boots at once at most (0: no limit, from older nodes).
    #[serde(default)]
    pub max_booting: u32,
    /// Whether it has QEMU and runs local VMs at all.
    pub local_vms: bool,
}

json_table!(NodeBeats, "node_beats", Scope::Platform, NodeBeat);

/// A launch waiting for a VM of `pool`: the planner starts one for each,
/// beyond the warm count, so pools with few or no warm VMs still serve.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Demand {
    pub pool: String,
    /// It lapses then even if its launch never removed it (a crash).
    pub until: u64,
}

json_table!(Demands, "vm_demand", Scope::Tenant, Demand);
