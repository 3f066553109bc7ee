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
