//! The OpenStack provider: every VM is a Nova server booted from a Glance
//! image with a flavor, on a Neutron network; its display is a
//! `spice-direct` remote console (Nova 2025.1, compute API 2.99) that the
//! translator reaches on the compute host. Nothing is kept here but the
//! session: a server id is enough to find a VM again, and the servers of
//! the cluster are recognised by their name prefix and metadata.
//!
//! The `openstack` crate authenticates, finds endpoints and resolves images,
//! flavors and networks; what it has no API for (remote consoles, a
//! server's fault) goes through its session as raw requests (`api.rs`).

mod api;
mod console;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use openstack::compute::ServerStatus;

use super::model::ImageSource;
use super::provider::{Provider, ProviderError, ProviderResult, SpiceConsole, VmSpec, VmStatus};

/// Metadata keys set on every server (for people looking at the cloud, and
/// for [`Provider::list`]).
pub const META_VM: &str = "opencloud_vm";
pub const META_TENANT: &str = "opencloud_tenant";
pub const META_POOL: &str = "opencloud_pool";

/// How to reach the cloud.
#[derive(Clone, Debug)]
pub struct OpenStackSettings {
    /// The `clouds.yaml` entry to use (searched as `./clouds.yaml`,
    /// `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`);
    /// `None`: the `OS_*` environment variables (or `OS_CLOUD`).
    pub cloud: Option<String>,
    /// The longest any one provider call may take, authentication and
    /// endpoint discovery included.
    pub api_timeout: Duration,
    /// Servers are named `{name_prefix}{tenant}-{vm_id}`; servers with
    /// another prefix (and no Opencloud metadata) are not the cluster's.
    pub name_prefix: String,
}

impl Default for OpenStackSettings {
    /// The `OS_*` environment variables, 30 s per call (Nova can take a few
    /// seconds to accept a server on a busy cloud), and the prefix `oc-`.
    fn default() -> Self {
        OpenStackSettings {
            cloud: None,
            api_timeout: Duration::from_secs(30),
            name_prefix: "oc-".to_string(),
        }
    }
}

/// What `opencloud openstack check` shows: what the account can boot.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// (id, name) of each image, flavor and network the account sees.
    pub images: Vec<(String, String)>,
    pub flavors: Vec<(String, String)>,
    pub networks: Vec<(String, String)>,
    /// The compute API's microversions (minimum, maximum), when it says.
    pub compute_versions: Option<(String, String)>,
    /// Whether it can hand out `spice-direct` consoles (microversion 2.99).
    pub spice_direct: bool,
}

/// Servers in one OpenStack project.
#[derive(Clone)]
pub struct OpenStackProvider {
    cloud: openstack::Cloud,
    /// The same session as `cloud`'s (clones share the token and the
    /// endpoint cache), for raw requests.
    session: osauth::Session,
    settings: OpenStackSettings,
}

impl OpenStackProvider {
    /// Authenticates (Keystone v3) with the configured credentials.
    pub async fn connect(settings: OpenStackSettings) -> ProviderResult<OpenStackProvider> {
        let source = match &settings.cloud {
            Some(name) => format!("the clouds.yaml entry {name:?}"),
            None => "the OS_* environment variables".to_string(),
        };
        // What `openstack::Cloud::from_config` / `from_env` do, keeping the
        // session: the Cloud does not give its own out.
        let login = async {
            match &settings.cloud {
                Some(name) => osauth::Session::from_config(name).await,
                None => osauth::Session::from_env().await,
            }
        };
        let session = match tokio::time::timeout(settings.api_timeout, login).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => return Err(api::login_error(&source, &e)),
            Err(_) => {
                return Err(ProviderError::Unavailable(format!(
                    "Keystone did not answer within {} s (credentials from {source})",
                    settings.api_timeout.as_secs_f64()
                )))
            }
        };
        Ok(OpenStackProvider {
            cloud: openstack::Cloud::from(session.clone()),
            session,
            settings,
        })
    }

    /// The name a VM's server gets.
    pub fn server_name(&self, tenant: &str, vm_id: &str) -> String {
        format!("{}{tenant}-{vm_id}", self.settings.name_prefix)
    }

    /// The images, flavors and networks the account sees, and whether
    /// Nova is recent enough for `spice-direct` consoles.
    pub async fn inventory(&self) -> ProviderResult<Inventory> {
        self.bounded("listing images, flavors and networks", async {
            let images = self
                .cloud
                .list_images()
                .await
                .map_err(|e| api::map_error("listing Glance images", &e))?
                .into_iter()
                .map(|i| (i.id().clone(), i.name().clone()))
                .collect();
            let flavors = self
                .cloud
                .list_flavors()
                .await
                .map_err(|e| api::map_error("listing Nova flavors", &e))?
                .into_iter()
                .map(|f| (f.id().clone(), f.name().clone()))
                .collect();
            let networks = self
                .cloud
                .list_networks()
                .await
                .map_err(|e| api::map_error("listing Neutron networks", &e))?
                .into_iter()
                .map(|n| (n.id().clone(), n.name().clone().unwrap_or_default()))
                .collect();
            let (compute_versions, spice_direct) = console::compute_versions(&self.session).await?;
            Ok(Inventory {
                images,
                flavors,
                networks,
                compute_versions,
                spice_direct,
            })
        })
        .await
    }

    /// Runs one provider call within `api_timeout`; dropping the future on
    /// expiry abandons its HTTP request.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = ProviderResult<T>>,
    ) -> ProviderResult<T> {
        match tokio::time::timeout(self.settings.api_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::Unavailable(format!(
                "OpenStack did not finish {what} within {} s",
                self.settings.api_timeout.as_secs_f64()
            ))),
        }
    }

    /// Resolves a pool's image, flavor and network (names or ids) to ids,
    /// so that a missing one is named in the error (Nova's own answer would
    /// only say "Can not find requested image").
    async fn resolve(
        &self,
        image: &str,
        flavor: &str,
        network: Option<&str>,
    ) -> ProviderResult<(String, String, Option<String>)> {
        let image_id = self
            .cloud
            .get_image(image)
            .await
            .map_err(|e| api::lookup_error("image", "Glance", image, &e))?
            .id()
            .clone();
        let flavor_id = self
            .cloud
            .get_flavor(flavor)
            .await
            .map_err(|e| api::lookup_error("flavor", "Nova", flavor, &e))?
            .id()
            .clone();
        let network_id = match network {
            Some(network) => Some(
                self.cloud
                    .get_network(network)
                    .await
                    .map_err(|e| api::lookup_error("network", "Neutron", network, &e))?
                    .id()
                    .clone(),
            ),
            None => None,
        };
        Ok((image_id, flavor_id, network_id))
    }
}

/// Maps a Nova status to the broker's view. Transitional states of a
/// working server (reboot, migration, resize) count as booting: it is not
/// usable now and will be again; stopped, shelved or paused servers were
/// changed outside Opencloud and will not come back by themselves.
fn vm_status(status: &str, fault: Option<String>) -> VmStatus {
    match status {
        "BUILD" | "REBUILD" | "REBOOT" | "HARD_REBOOT" | "MIGRATING" | "RESIZE"
        | "VERIFY_RESIZE" | "REVERT_RESIZE" | "PASSWORD" => VmStatus::Booting,
        "ACTIVE" => VmStatus::Running,
        "DELETED" | "SOFT_DELETED" => VmStatus::Gone,
        "ERROR" => VmStatus::Error(
            fault.unwrap_or_else(|| "Nova put the server in ERROR and gave no reason".to_string()),
        ),
        "UNKNOWN" => VmStatus::Error(
            "Nova lost track of the server (status UNKNOWN: its compute host is unreachable)"
                .to_string(),
        ),
        other => VmStatus::Error(format!(
            "the server is {other}: it was changed outside Opencloud"
        )),
    }
}

impl Provider for OpenStackProvider {
    async fn create(&self, spec: &VmSpec) -> ProviderResult<String> {
        let ImageSource::Cloud {
            cloud_image,
            flavor,
            network,
        } = &spec.image
        else {
            return Err(ProviderError::Invalid(
                "the OpenStack provider boots cloud images ({\"cloud_image\", \"flavor\", \
                 \"network\"}), not kernels or disks on the nodes"
                    .to_string(),
            ));
        };
        // memory_mb and vcpus are the flavor's to decide; the SPICE password
        // cannot be set through Nova (see set_password).
        let name = self.server_name(&spec.tenant, &spec.vm_id);
        let metadata = HashMap::from([
            (META_VM, spec.vm_id.as_str()),
            (META_TENANT, spec.tenant.as_str()),
            (META_POOL, spec.pool.as_str()),
        ]);
        self.bounded("creating a server", async {
            let (image_id, flavor_id, network_id) = self
                .resolve(cloud_image, flavor, network.as_deref())
                .await?;
            api::create_server(
                &self.session,
                &name,
                &image_id,
                &flavor_id,
                network_id.as_deref(),
                &metadata,
            )
            .await
        })
        .await
    }

    async fn status(&self, provider_id: &str) -> ProviderResult<VmStatus> {
        self.bounded("reading a server", async {
            Ok(
                match api::server_status(&self.session, provider_id).await? {
                    None => VmStatus::Gone,
                    Some((status, fault)) => vm_status(&status, fault),
                },
            )
        })
        .await
    }

    async fn console(&self, provider_id: &str) -> ProviderResult<SpiceConsole> {
        self.bounded(
            "getting a SPICE console",
            console::spice_direct(&self.session, provider_id),
        )
        .await
    }

    /// Nova has no API to set a console password (libvirt's SPICE server
    /// on the compute host runs without one). Access goes instead through
    /// Nova's console tokens, short-lived and handed out per request to
    /// this account only, and through the network: only the nodes should
    /// reach the compute hosts' SPICE ports (docs/OPENSTACK.md).
    async fn set_password(&self, _provider_id: &str, _password: &str) -> ProviderResult<bool> {
        Ok(false)
    }

    async fn destroy(&self, provider_id: &str) -> ProviderResult<()> {
        self.bounded(
            "deleting a server",
            api::delete_server(&self.session, provider_id),
        )
        .await
    }

    async fn list(&self) -> ProviderResult<Vec<String>> {
        self.bounded("listing servers", async {
            let servers = self
                .cloud
                .find_servers()
                .detailed()
                .all()
                .await
                .map_err(|e| api::map_error("listing Nova servers", &e))?;
            Ok(servers
                .into_iter()
                .filter(|s| {
                    s.name().starts_with(&self.settings.name_prefix)
                        || s.metadata().contains_key(META_VM)
                })
                // Soft-deleted servers were destroyed already; Nova reclaims
                // them by itself.
                .filter(|s| {
                    !matches!(
                        s.status(),
                        ServerStatus::SoftDeleted | ServerStatus::Deleted
                    )
                })
                .map(|s| s.id().clone())
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_statuses() {
        assert_eq!(vm_status("BUILD", None), VmStatus::Booting);
        assert_eq!(vm_status("ACTIVE", None), VmStatus::Running);
        assert_eq!(vm_status("SOFT_DELETED", None), VmStatus::Gone);
        assert_eq!(vm_status("DELETED", None), VmStatus::Gone);
        assert_eq!(
            vm_status("ERROR", Some("No valid host was found.".into())),
            VmStatus::Error("No valid host was found.".into())
        );
        assert!(matches!(vm_status("ERROR", None), VmStatus::Error(_)));
        assert!(matches!(vm_status("SHUTOFF", None), VmStatus::Error(m) if m.contains("SHUTOFF")));
    }
}
