//! Serves a SPICE recording (made with `spice_record`) to any number of
//! SPICE clients at once; see `opencloud_tests::spice_replay`.
//!
//! `spice_replay --recording FILE [--listen ADDR] [--loop] [--speed X]
//!  [--verbose]`
//!
//! - `--listen` (default `127.0.0.1:0`): where to listen. The chosen
//!   address is printed on stdout as `listening on ADDR`.
//! - `--loop`: repeat the display stream forever (from its first full
//!   repaint) instead of stopping at the end of the recording.
//! - `--speed X` (default 1): play X times as fast.
//! - `--verbose`: one line on stderr per linked channel and per failed
//!   connection.
//!
//! Serves until killed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use opencloud_tests::spice_record::Recording;
use opencloud_tests::spice_replay::{ReplayOptions, ReplayServer};

const USAGE: &str =
    "usage: spice_replay --recording FILE [--listen ADDR] [--loop] [--speed X] [--verbose]";

#[tokio::main]
async fn main() -> Result<()> {
    let mut recording = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut opts = ReplayOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--recording" => recording = Some(PathBuf::from(value("--recording")?)),
            "--listen" => listen = value("--listen")?,
            "--loop" => opts.loop_display = true,
            "--speed" => {
                let v = value("--speed")?;
                opts.speed = v
                    .parse()
                    .with_context(|| format!("--speed: not a number: {v}"))?;
            }
            "--verbose" => opts.log = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let path = recording.with_context(|| format!("--recording is required\n{USAGE}"))?;
    let rec = Recording::load(&path)?;
    eprintln!("{}: {}", path.display(), rec.summary());
    let server = ReplayServer::start(Arc::new(rec), &listen, opts).await?;
    println!("listening on {}", server.local_addr());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    let s = server.stats();
    eprintln!(
        "served {} connections ({} linked); streams finished per channel type: {:?}",
        s.accepted, s.linked, s.finished
    );
    Ok(())
}
