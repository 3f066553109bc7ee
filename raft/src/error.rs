//! The store's one error type.

use crate::types::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No leader could be reached, or the leader could not reach a quorum,
    /// before the deadline. The write may or may not be applied later.
    #[error("the cluster has no quorum right now: {0}")]
    Unavailable(String),
    /// The request timed out waiting for a commit.
    #[error("timed out waiting for the cluster to commit")]
    Timeout,
    /// Talking to a peer failed.
    #[error("peer {node}: {reason}")]
    Peer { node: NodeId, reason: String },
    /// Disk or database failure on this node.
    #[error("storage: {0}")]
    Storage(String),
    /// A stored value could not be decoded.
    #[error("corrupt record in table {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// Certificates or keys are missing or invalid.
    #[error("tls: {0}")]
    Tls(String),
    /// A membership change was refused.
    #[error("membership: {0}")]
    Membership(String),
    /// A client reused a request id for a different write.
    #[error("this request id was already used for a different request")]
    RequestIdReused,
    /// The Raft core stopped; the node must be restarted.
    #[error("raft stopped: {0}")]
    Fatal(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
