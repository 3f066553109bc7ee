//! What the broker asks of a VM provider. The local provider
//! ([`super::local`]) runs QEMU on this node; the OpenStack provider
//! ([`super::openstack`]) boots servers through Nova. Neither keeps state the
//! store does not have: a provider id is enough to find a VM again.

use std::future::Future;

use super::model::ImageSource;

/// One VM to create.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// The broker's id for it (unique across the cluster and over time).
    pub vm_id: String,
    pub tenant: String,
    pub pool: String,
    pub image: ImageSource,
    pub memory_mb: u32,
    pub vcpus: u32,
    /// The SPICE password it starts with (replaced on assignment where the
    /// provider can).
    pub password: String,
}

/// What the provider says of a VM it was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmStatus {
    /// Created, not usable yet.
    Booting,
    /// Usable: its SPICE console answers.
    Running,
    /// The provider has no such VM (any more).
    Gone,
    /// The provider gave up on it, with its reason.
    Error(String),
}

/// Where the translator reaches a VM's display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpiceConsole {
    /// HOST:PORT of a SPICE server.
    pub addr: String,
    /// The password to present; empty when the provider sets none.
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused for lack of room (a quota, no capacity):
    /// asking again later may work.
    #[error("{0}")]
    Capacity(String),
    /// The request cannot work as asked (missing image, bad flavor).
    #[error("{0}")]
    Invalid(String),
    /// The provider could not be reached or answered nonsense.
    #[error("{0}")]
    Unavailable(String),
    /// No such VM.
    #[error("no such VM: {0}")]
    NotFound(String),
}

pub type ProviderResult<T> = Result<T, ProviderError>;

/// A VM provider. Every call is bounded in time by the provider itself.
pub trait Provider: Send + Sync + 'static {
    /// Starts creating a VM; returns the provider's id for it at once
    /// (booting continues; see [`Provider::status`]).
    fn create(&self, spec: &VmSpec) -> impl Future<Output = ProviderResult<String>> + Send;

    /// Where a VM is in its boot.
    fn status(&self, provider_id: &str) -> impl Future<Output = ProviderResult<VmStatus>> + Send;

    /// How the translator reaches its display, once running.
    fn console(
        &self,
        provider_id: &str,
    ) -> impl Future<Output = ProviderResult<SpiceConsole>> + Send;

    /// Replaces its SPICE password; `Ok(false)` when the provider has no way
    /// to (the console's own access control then stands in).
    fn set_password(
        &self,
        provider_id: &str,
        password: &str,
    ) -> impl Future<Output = ProviderResult<bool>> + Send;

    /// Destroys it and everything it wrote. Destroying a VM that is gone
    /// already is not an error.
    fn destroy(&self, provider_id: &str) -> impl Future<Output = ProviderResult<()>> + Send;

    /// The ids of every VM this provider runs for the cluster (for
    /// reconciliation: what it has that the store does not know is
    /// destroyed).
    fn list(&self) -> impl Future<Output = ProviderResult<Vec<String>>> + Send;
}
