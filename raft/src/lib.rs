//! The replicated store: every record of the product lives here, replicated
//! by Raft (openraft) across the cluster's nodes and kept on disk with sled.
//!
//! - [`Store`] is the handle: linearizable reads and writes from any node
//!   (followers forward to the leader), membership changes, status.
//! - [`table`] gives typed, versioned records over the store's byte keys.
//! - Nothing is acknowledged before it is durable on a majority: the log and
//!   the vote are flushed before openraft is told they are written.
//! - Inter-node traffic is HTTP/2 over mutual TLS with a cluster CA ([`tls`]).
//!
//! This is the only crate that touches disk.

// openraft's `StorageError` is large by design and every storage trait method
// returns it; the helpers that feed those methods return it too rather than
// boxing and unboxing on every call.
#![allow(clippy::result_large_err)]

mod codec;
pub mod config;
pub mod error;
mod log_store;
pub mod metrics;
mod network;
mod server;
mod state_machine;
pub mod store;
pub mod table;
pub mod tls;
pub mod types;

pub use config::StoreConfig;
pub use error::{Error, Result};
pub use store::{ClusterStatus, MembershipChange, Store};
pub use types::{Command, NodeId, Outcome, Proposal, Query, QueryResult};

/// The storage halves, exposed so that openraft's storage test suite can run
/// against them. Not for use by the product.
#[doc(hidden)]
pub mod storage_for_tests {
    pub use crate::log_store::LogStore;
    pub use crate::state_machine::StateMachine;

    /// Opens both halves on a fresh database in `dir`.
    pub fn open(
        dir: &std::path::Path,
    ) -> Result<(LogStore, StateMachine), crate::types::StorageError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .open()
            .map_err(|e| openraft::StorageError::IO {
                source: openraft::StorageIOError::write(openraft::AnyError::new(&e)),
            })?;
        let log = LogStore::open(&db).map_err(|e| openraft::StorageError::IO {
            source: openraft::StorageIOError::write(openraft::AnyError::new(&e)),
        })?;
        let sm = StateMachine::open(&db, dir)?;
        Ok((log, sm))
    }
}
