//! `opencloud spice …`: operator tools on top of the SPICE client library.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use opencloud_spice::{Compression, Config, Error as SpiceError, Session};

#[derive(Subcommand)]
pub enum SpiceCommand {
    /// Write the VM's primary surface as a PNG once the display has settled.
    Snapshot {
        /// SPICE server, HOST:PORT.
        #[arg(long)]
        addr: String,
        /// SPICE password (omit when the server has ticketing disabled).
        #[arg(long, env = "OPENCLOUD_SPICE_PASSWORD", default_value = "")]
        password: String,
        /// Image compression to ask the server for: off, lz, glz, quic or auto.
        #[arg(long, default_value = "auto")]
        compression: String,
        /// How long the display must stay unchanged before the snapshot.
        #[arg(long, default_value_t = 1000)]
        settle_ms: u64,
        /// Give up when the display has not settled after this long.
        #[arg(long, default_value_t = 60)]
        timeout_s: u64,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve a browser viewer for one VM: the page at `/`, its websocket at
    /// `/ws` (translate mode), metrics at `/metrics`. Plain HTTP, no
    /// accounts: an operator's debugging tool; keep it on loopback.
    Serve {
        /// SPICE server, HOST:PORT.
        #[arg(long)]
        addr: String,
        #[arg(long, env = "OPENCLOUD_SPICE_PASSWORD", default_value = "")]
        password: String,
        /// Where to listen for browsers.
        #[arg(long, default_value = "127.0.0.1:6080")]
        listen: std::net::SocketAddr,
        /// Image compression to ask the VM for: off, lz, glz, quic or auto.
        #[arg(long, default_value = "lz")]
        compression: String,
    },
    /// Type text into the VM through the SPICE inputs channel.
    Type {
        /// SPICE server, HOST:PORT.
        #[arg(long)]
        addr: String,
        #[arg(long, env = "OPENCLOUD_SPICE_PASSWORD", default_value = "")]
        password: String,
        /// The text; a newline presses Enter, shifted characters press Shift.
        #[arg(long)]
        text: String,
    },
}

pub async fn run(cmd: SpiceCommand) -> anyhow::Result<()> {
    match cmd {
        SpiceCommand::Snapshot {
            addr,
            password,
            compression,
            settle_ms,
            timeout_s,
            out,
        } => {
            let compression: Compression = compression
                .parse()
                .map_err(|_| anyhow::anyhow!("--compression must be off, lz, glz, quic or auto"))?;
            snapshot(&addr, password, compression, settle_ms, timeout_s, &out).await
        }
        SpiceCommand::Type {
            addr,
            password,
            text,
        } => type_text(&addr, password, &text).await,
        SpiceCommand::Serve {
            addr,
            password,
            listen,
            compression,
        } => {
            let compression: Compression = compression
                .parse()
                .map_err(|_| anyhow::anyhow!("--compression must be off, lz, glz, quic or auto"))?;
            let cfg = crate::viewer::ViewerConfig {
                compression,
                ..Default::default()
            };
            let target = crate::viewer::Target { addr, password };
            crate::viewer::serve::run(target, listen, cfg).await
        }
    }
}

async fn connect(addr: &str, config: Config) -> anyhow::Result<Session> {
    eprintln!("connecting to {addr} …");
    match Session::connect(addr, config).await {
        Ok(s) => Ok(s),
        Err(SpiceError::AuthFailed) => {
            anyhow::bail!(
                "{addr} rejected the password (use --password or OPENCLOUD_SPICE_PASSWORD)"
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot open a SPICE session with {addr}")),
    }
}

async fn snapshot(
    addr: &str,
    password: String,
    compression: Compression,
    settle_ms: u64,
    timeout_s: u64,
    out: &Path,
) -> anyhow::Result<()> {
    let config = Config {
        password,
        compression,
        ..Config::default()
    };
    let session = connect(addr, config).await?;
    eprintln!(
        "connected (session {}), waiting for the display to settle …",
        session.session_id()
    );
    session
        .wait_settled(
            Duration::from_millis(settle_ms),
            Duration::from_secs(timeout_s),
        )
        .await
        .context("the display did not settle")?;
    let image = session
        .primary_image()
        .context("the server created no primary surface")?;
    write_png(out, image.width, image.height, &image.pixels)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}: {}x{}", out.display(), image.width, image.height);
    for (format, s) in session.stats() {
        println!("  {format:<8} {:>6} images {:>12} bytes", s.images, s.bytes);
    }
    println!("  received {} bytes in total", session.bytes_received());
    Ok(())
}

async fn type_text(addr: &str, password: String, text: &str) -> anyhow::Result<()> {
    // Checking every character first means a typo in TEXT types nothing.
    opencloud_spice::keymap::text_to_key_events(text).context("cannot type this text")?;
    let config = Config {
        password,
        ..Config::default()
    };
    let session = connect(addr, config).await?;
    session.type_text(text).await.context("typing failed")?;
    // Give the server a moment to deliver the last keys before closing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(f) = session.failure() {
        anyhow::bail!("the session failed while typing: {f}");
    }
    println!("typed {} characters", text.chars().count());
    Ok(())
}

/// Writes 0x00RRGGBB pixels as an 8-bit RGB PNG.
fn write_png(path: &Path, width: u32, height: u32, pixels: &[u32]) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    let rgb: Vec<u8> = pixels
        .iter()
        .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
        .collect();
    w.write_image_data(&rgb)?;
    w.finish()?;
    Ok(())
}
