//! The VM broker: pools kept warm, one VM per user, idle reaping, on QEMU
//! run by the nodes themselves or on OpenStack.

pub mod model;
pub mod provider;
