//! The VM broker: pools kept warm, one VM per user, idle reaping, on QEMU
//! run by the nodes themselves or on OpenStack.

// The records and the provider interface serve the broker, which is not
// wired in yet; only `opencloud openstack` uses parts of them so far.
#[allow(dead_code)]
pub mod model;
pub mod openstack;
pub mod openstack_cmd;
#[allow(dead_code)]
pub mod provider;
