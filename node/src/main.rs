//! `opencloud`: one binary for every node of the cluster and its operator tools.

// The broker's runner spawns one future that drives a provider's calls
// (the `openstack` crate's are deeply nested): computing its layout needs
// more than rustc's default query depth of 128 in a clean build.
#![recursion_limit = "256"]

mod admin_cmd;
mod broker;
mod clock;
mod config;
mod db;
mod desktop;
mod dev_cluster;
mod http;
mod metrics;
mod records;
mod spice_cmd;
mod token;
mod up;
mod viewer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "opencloud",
    version,
    about = "Opencloud: Desktop-as-a-Service on identical nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. Without flags: the embedded default, one node with its data
    /// in ./data, serving https://127.0.0.1:8443.
    Up(Box<config::UpArgs>),
    /// Run a local 3-node cluster as child processes (demos, manual tests).
    DevCluster(dev_cluster::DevClusterArgs),
    /// Cluster certificates.
    #[command(subcommand)]
    Certs(admin_cmd::CertsCommand),
    /// Change the membership of a running cluster.
    #[command(subcommand)]
    Cluster(admin_cmd::ClusterCommand),
    /// SPICE client tools for operators: snapshot a VM's screen, type into it.
    #[command(subcommand)]
    Spice(spice_cmd::SpiceCommand),
    /// The OpenStack provider, for operators: check a cloud, boot, inspect
    /// and delete servers, get a server's SPICE console.
    Openstack(broker::openstack_cmd::OpenStackArgs),
}

/// Big allocations (argon2id's 19 MiB per sign-in) get their own mappings,
/// returned to the system when freed: glibc's arenas otherwise keep them,
/// and a node that served a burst of sign-ins stayed at ~700 MiB.
fn return_big_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning value of the allocator; it is
    // called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> std::process::ExitCode {
    return_big_allocations();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPENCLOUD_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,openraft=off,opencloud=info")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("opencloud: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Up(args) => up::run(*args).await,
            Command::DevCluster(args) => dev_cluster::run(args).await,
            Command::Certs(cmd) => admin_cmd::certs(cmd),
            Command::Cluster(cmd) => admin_cmd::cluster(cmd).await,
            Command::Spice(cmd) => spice_cmd::run(cmd).await,
            Command::Openstack(args) => broker::openstack_cmd::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("opencloud: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
