//! Counters the store exposes beyond openraft's own metrics.

use std::sync::atomic::AtomicU64;

/// Snapshots this node has built from its own state.
pub static SNAPSHOTS_BUILT: AtomicU64 = AtomicU64::new(0);
/// Snapshots this node has received from a leader and installed.
pub static SNAPSHOTS_INSTALLED: AtomicU64 = AtomicU64::new(0);
