//! `opencloud spice …`: operator tools on top of the SPICE client library.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum SpiceCommand {
    /// Write the VM's primary surface as a PNG once the display has settled.
    Snapshot {
        #[arg(long)]
        addr: String,
    },
}

pub async fn run(cmd: SpiceCommand) -> anyhow::Result<()> {
    match cmd {
        SpiceCommand::Snapshot { addr } => anyhow::bail!("snapshot of {addr}: not implemented yet"),
    }
}
