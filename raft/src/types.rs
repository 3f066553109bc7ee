//! The Raft type configuration and the one command language of the state
//! machine. Everything replicated is a [`Proposal`]; everything the state
//! machine answers is an [`Outcome`].

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A node's identity in the cluster. Node ids are small positive integers
/// chosen by the operator (`--id N`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The type configuration of Opencloud's Raft group.
    pub TypeConfig:
        D = Batch,
        R = Vec<Outcome>,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type Vote = openraft::Vote<NodeId>;

/// What one Raft log entry carries: the client requests that were waiting
/// when the entry was cut. Batching many requests into one entry is what
/// lets the store serve many clients at once: openraft pays its per-entry
/// costs (channels, bookkeeping, replication messages) once per batch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Batch(pub Vec<Proposal>);

/// One client request as it travels through the log.
///
/// `request_id` makes writes idempotent: the state machine remembers the
/// outcome of every request id it has applied (for a bounded window of log
/// entries), and a retried proposal with the same id is answered from that
/// memory instead of being applied twice. A client that times out and retries
/// through another node therefore cannot double-apply its write.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proposal {
    pub request_id: String,
    pub command: Command,
}

/// Changes to the store. Keys and values are the encoded forms produced by
/// [`crate::table`]; the state machine does not interpret them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Command {
    /// Sets `key` to `value`, whatever it was.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Sets `key` to `value` only if `key` is absent.
    Insert { key: Vec<u8>, value: Vec<u8> },
    /// Removes `key`.
    Delete { key: Vec<u8> },
    /// Sets `key` to `new` (or removes it when `new` is `None`) only if its
    /// current value is `expected` (`None` meaning absent). The broker's
    /// atomic assignments are built on this.
    CompareAndSwap {
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    },
}

/// What applying a [`Command`] did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Outcome {
    /// The command changed the store as asked.
    #[default]
    Done,
    /// `Insert` found the key already present.
    Exists,
    /// `Delete` found no such key.
    NotFound,
    /// `CompareAndSwap` found another value; it carries the current one.
    Conflict { current: Option<Vec<u8>> },
    /// The request id was used before for a different command: nothing was
    /// applied, and the earlier command's outcome is not this one's answer.
    /// [`crate::Store::write`] turns this into [`crate::Error::RequestIdReused`].
    RequestIdReused,
}

/// What a forwarded or local linearizable read asks for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Query {
    Get {
        key: Vec<u8>,
    },
    /// All pairs whose key starts with `prefix`, in key order, at most `limit`.
    Scan {
        prefix: Vec<u8>,
        limit: usize,
    },
}

/// The answer to a [`Query`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum QueryResult {
    Value(Option<Vec<u8>>),
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
}
