//! `opencloud`: one binary for every node of the cluster and its operator tools.

mod spice_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "opencloud", version, about = "Opencloud: Desktop-as-a-Service on identical nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SPICE client tools for operators: snapshot a VM's screen, type into it.
    #[command(subcommand)]
    Spice(spice_cmd::SpiceCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        match cli.command {
            Command::Spice(cmd) => spice_cmd::run(cmd).await,
        }
    })
}
