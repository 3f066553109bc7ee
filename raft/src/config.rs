//! The store's settings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::NodeId;

/// Everything the replicated store needs to run one member.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// This node's id (a small positive integer, unique in the cluster).
    pub id: NodeId,
    /// Directory for the database and snapshots. Only this crate writes here.
    pub data_dir: PathBuf,
    /// Address the peer (Raft) server listens on.
    pub raft_listen: SocketAddr,
    /// Address other nodes use to reach this one; recorded in the membership.
    pub raft_advertise: String,
    /// Peer addresses as this node reaches them (its own entry included).
    pub peers: BTreeMap<NodeId, String>,
    /// Directory written by `opencloud certs init` (CA + this node's cert).
    pub certs_dir: PathBuf,
    /// Leader heartbeat period. Followers expect one per period.
    pub heartbeat: Duration,
    /// A follower stands for election after hearing nothing from the leader
    /// for the leader's lease plus a random wait in this range. openraft 0.9
    /// sets the lease to the range's upper bound, so with 300–650 ms a
    /// follower stands after 0.95–1.3 s of silence: about ten heartbeats
    /// missed, as with etcd's defaults, inside the 1.5 s failover budget.
    /// The wide spread matters because 0.9 draws each node's wait once per
    /// process: followers whose waits fall close together split the vote.
    pub election_timeout: (Duration, Duration),
    /// Build a snapshot and compact the log every this many applied entries.
    pub snapshot_every: u64,
    /// How long a client write or read may wait for a commit before the
    /// client is told the cluster is unavailable.
    pub request_timeout: Duration,
    /// sled's page cache, in bytes. sled defaults to 1 GiB; a node does not
    /// need that much to be fast, and RSS is a product figure.
    pub cache_bytes: u64,
}

impl StoreConfig {
    /// Sensible settings for 2-core machines with fsync on every commit:
    /// heartbeat 100 ms, elections after 0.95–1.3 s of silence.
    pub fn new(id: NodeId, data_dir: PathBuf, raft_listen: SocketAddr, certs_dir: PathBuf) -> Self {
        StoreConfig {
            id,
            data_dir,
            raft_listen,
            raft_advertise: raft_listen.to_string(),
            peers: BTreeMap::new(),
            certs_dir,
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(300), Duration::from_millis(650)),
            snapshot_every: 50_000,
            request_timeout: Duration::from_secs(5),
            cache_bytes: 64 * 1024 * 1024,
        }
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, crate::Error> {
        let every = self.snapshot_every.max(1);
        let config = openraft::Config {
            cluster_name: "opencloud".to_string(),
            heartbeat_interval: self.heartbeat.as_millis() as u64,
            election_timeout_min: self.election_timeout.0.as_millis() as u64,
            election_timeout_max: self.election_timeout.1.as_millis() as u64,
            install_snapshot_timeout: 10_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(every),
            // Keep some log after a snapshot so that a follower a little behind
            // catches up by log rather than by a whole snapshot, and so that a
            // follower installing a snapshot is not left behind by a purge.
            max_in_snapshot_log_to_keep: every.min(1000),
            replication_lag_threshold: (2 * every).max(5000),
            snapshot_max_chunk_size: 4 * 1024 * 1024,
            max_payload_entries: 512,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| crate::Error::Fatal(format!("raft settings: {e}")))
    }
}
