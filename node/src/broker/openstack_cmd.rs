//! `opencloud openstack …`: the operator's view of the OpenStack provider,
//! to try a cloud's credentials, images and consoles before pools use them.
//! Every command goes through [`OpenStackProvider`], as the broker does.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};
use rand::RngCore;

use super::model::ImageSource;
use super::openstack::{OpenStackProvider, OpenStackSettings};
use super::provider::{Provider, VmSpec, VmStatus};

#[derive(Args)]
pub struct OpenStackArgs {
    /// The clouds.yaml entry to use (./clouds.yaml,
    /// ~/.config/openstack/clouds.yaml or /etc/openstack/clouds.yaml);
    /// without it, the OS_* environment variables.
    #[arg(long, global = true)]
    cloud: Option<String>,
    /// The longest one OpenStack call may take.
    #[arg(long, global = true, default_value_t = 30)]
    api_timeout_s: u64,
    /// The name prefix of the cluster's servers.
    #[arg(long, global = true, default_value = "oc-")]
    name_prefix: String,
    #[command(subcommand)]
    command: OpenStackCommand,
}

#[derive(Subcommand)]
enum OpenStackCommand {
    /// Authenticate, and print the images, flavors and networks the account
    /// sees and whether Nova hands out spice-direct consoles.
    Check,
    /// Boot a server as a pool would (tenant "operator", pool "cli"); print
    /// its id on stdout.
    Boot {
        /// Glance image, name or id.
        #[arg(long)]
        image: String,
        /// Nova flavor, name or id.
        #[arg(long)]
        flavor: String,
        /// Neutron network, name or id (default: the project's only one).
        #[arg(long)]
        network: Option<String>,
        /// Wait this long for ACTIVE, printing progress on stderr; fail
        /// when the server is still building or goes to ERROR.
        #[arg(long)]
        wait_s: Option<u64>,
    },
    /// Print a server's state as the broker sees it: booting, running,
    /// gone, or error and Nova's reason.
    Status { id: String },
    /// Print HOST:PORT of a server's SPICE display (spice-direct console).
    Console { id: String },
    /// Delete a server (one that is gone already is not an error).
    Delete { id: String },
    /// Print the ids of the cluster's servers (name prefix or Opencloud
    /// metadata).
    List,
}

pub async fn run(args: OpenStackArgs) -> anyhow::Result<()> {
    let settings = OpenStackSettings {
        cloud: args.cloud,
        api_timeout: Duration::from_secs(args.api_timeout_s.max(1)),
        name_prefix: args.name_prefix,
    };
    let source = match &settings.cloud {
        Some(name) => format!("clouds.yaml entry {name:?}"),
        None => "OS_* environment variables".to_string(),
    };
    let provider = OpenStackProvider::connect(settings).await?;
    match args.command {
        OpenStackCommand::Check => check(&provider, &source).await,
        OpenStackCommand::Boot {
            image,
            flavor,
            network,
            wait_s,
        } => boot(&provider, image, flavor, network, wait_s).await,
        OpenStackCommand::Status { id } => {
            match provider.status(&id).await? {
                VmStatus::Booting => println!("booting"),
                VmStatus::Running => println!("running"),
                VmStatus::Gone => println!("gone"),
                VmStatus::Error(reason) => println!("error: {reason}"),
            }
            Ok(())
        }
        OpenStackCommand::Console { id } => {
            println!("{}", provider.console(&id).await?.addr);
            Ok(())
        }
        OpenStackCommand::Delete { id } => {
            provider.destroy(&id).await?;
            println!("deleted {id}");
            Ok(())
        }
        OpenStackCommand::List => {
            for id in provider.list().await? {
                println!("{id}");
            }
            Ok(())
        }
    }
}

async fn check(provider: &OpenStackProvider, source: &str) -> anyhow::Result<()> {
    let inventory = provider.inventory().await?;
    println!("authenticated with the {source}");
    match &inventory.compute_versions {
        Some((min, max)) => println!("compute API microversions {min} to {max}"),
        None => println!("compute API without microversions"),
    }
    if inventory.spice_direct {
        println!("spice-direct consoles: available (microversion 2.99)");
    } else {
        println!(
            "spice-direct consoles: NOT available: Nova 2025.1 or later (microversion 2.99) \
             is needed"
        );
    }
    for (what, items) in [
        ("images", &inventory.images),
        ("flavors", &inventory.flavors),
        ("networks", &inventory.networks),
    ] {
        println!("{what} ({}):", items.len());
        for (id, name) in items {
            println!("  {id}  {name}");
        }
    }
    Ok(())
}

async fn boot(
    provider: &OpenStackProvider,
    image: String,
    flavor: String,
    network: Option<String>,
    wait_s: Option<u64>,
) -> anyhow::Result<()> {
    let mut raw = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut raw);
    let spec = VmSpec {
        vm_id: hex::encode(raw),
        tenant: "operator".to_string(),
        pool: "cli".to_string(),
        image: ImageSource::Cloud {
            cloud_image: image,
            flavor,
            network,
        },
        // The flavor decides; the provider ignores these.
        memory_mb: 0,
        vcpus: 0,
        password: String::new(),
    };
    let id = provider.create(&spec).await?;
    println!("{id}");
    let Some(wait_s) = wait_s else {
        return Ok(());
    };
    let name = provider.server_name(&spec.tenant, &spec.vm_id);
    let left = format!("it is left in place: `opencloud openstack delete {id}` removes it");
    let start = Instant::now();
    let deadline = start + Duration::from_secs(wait_s);
    let mut next_report = start;
    loop {
        let status = provider.status(&id).await?;
        let waited = start.elapsed().as_secs();
        match status {
            VmStatus::Running => {
                eprintln!("server {id} ({name}): ACTIVE after {waited} s");
                return Ok(());
            }
            VmStatus::Error(reason) => {
                bail!("server {id} ({name}) went to ERROR: {reason}; {left}")
            }
            VmStatus::Gone => bail!("server {id} ({name}) disappeared while booting"),
            VmStatus::Booting => {
                if Instant::now() >= deadline {
                    bail!(
                        "server {id} ({name}) did not become ACTIVE within {wait_s} s (still \
                         building); {left}"
                    );
                }
                if Instant::now() >= next_report {
                    eprintln!("server {id} ({name}): building, {waited} s");
                    next_report = Instant::now() + Duration::from_secs(5);
                }
            }
        }
        let pause = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        tokio::time::sleep(pause).await;
    }
}
