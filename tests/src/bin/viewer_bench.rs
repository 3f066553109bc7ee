//! The viewer benchmark (issue 4), in one run on one test guest:
//!
//! 1. key press → changed canvas pixel in headless Chromium, our translate
//!    viewer (`opencloud spice serve`) vs Debian's spice-html5 through
//!    Debian's websockify, on the idle shell;
//! 2. bytes to the browser per second, both ways, on the idle screen (a
//!    blinking cursor) and on a scrolling text screen (`ls -lR /` looping);
//! 3. the text workload's SPICE traffic is recorded, the guest stopped, and
//!    the recording replayed to 1, 10 and 50 concurrent viewers of one node:
//!    the latency the node adds per frame (from the FRAME messages) and the
//!    node's CPU per viewer.
//!
//! `viewer_bench [--seconds S] [--presses N] [--no-doc] [--doc PATH]
//!  [--fanout-only RECORDING] [--viewers N,N,..]`
//!
//! `--fanout-only` skips the guest and the browser and replays a recording
//! made by `spice_record` (for profiling the node; writes no doc).
//! Prints the figures and writes the "SPICE translator" section of
//! docs/BENCHMARKS.md. Run through scripts/bench-viewer.sh.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster_options::{free_ports, opencloud_bin};
use opencloud_tests::guest::{Guest, GuestOptions};
use opencloud_tests::viewer::SpiceServe;
use serde_json::json;
use tokio::process::{Child, Command};

#[path = "viewer_bench/fanout.rs"]
mod fanout;
#[path = "viewer_bench/report.rs"]
mod report;

use report::{Figures, Latency};

pub struct Options {
    pub seconds: u64,
    pub presses: usize,
    pub doc: Option<PathBuf>,
    pub fanout_only: Option<PathBuf>,
    pub viewers: Vec<usize>,
}

/// The SPICE translator benchmark against spice-html5: key → screen
/// latency and bytes in Chromium, and one VM's frames fanned out to many
/// viewers. Writes the "SPICE translator vs spice-html5" section of
/// docs/BENCHMARKS.md.
#[derive(clap::Parser)]
#[command(name = "viewer_bench")]
struct Cli {
    /// Seconds each throughput measurement runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(3..))]
    seconds: u64,
    /// Key presses timed per viewer.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=10_000))]
    presses: u64,
    /// Viewer counts of the fan-out part.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 50], value_parser = clap::value_parser!(u64).range(1..=1000))]
    viewers: Vec<u64>,
    /// Only the fan-out part, replaying this recording (leaves the docs
    /// alone).
    #[arg(long, value_name = "FILE")]
    fanout_only: Option<PathBuf>,
    #[command(flatten)]
    doc: opencloud_tests::doc_section::DocArgs,
}

fn parse_args() -> Options {
    let cli = <Cli as clap::Parser>::parse();
    Options {
        seconds: cli.seconds,
        presses: cli.presses as usize,
        doc: cli.doc.target().filter(|_| cli.fanout_only.is_none()),
        fanout_only: cli.fanout_only,
        viewers: cli.viewers.iter().map(|&n| n as usize).collect(),
    }
}

/// Debian's websockify serving Debian's spice-html5 for one SPICE port.
struct Websockify {
    _child: Child,
    url: String,
}

async fn websockify(spice_addr: &str) -> Result<Websockify> {
    let port = free_ports(1)?[0];
    let child = Command::new("websockify")
        .args(["--web", "/usr/share/spice-html5"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(spice_addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting websockify (apt install websockify spice-html5)")?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Websockify {
                _child: child,
                url: format!("http://127.0.0.1:{port}/spice_auto.html"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("websockify did not listen on port {port}")
}

/// One viewer kind under test in the browser.
struct Kind {
    name: &'static str,
    url: String,
    selector: &'static str,
    /// What `open` waits for.
    wait: &'static str,
}

async fn open(b: &mut Browser, k: &Kind) -> Result<()> {
    b.cmd(
        json!({"cmd": "open", "url": k.url, "wait": k.wait, "selector": k.selector,
                 "timeout_ms": 60_000}),
    )
    .await?;
    b.cmd(
        json!({"cmd": "wait_settled", "quiet_ms": 1500, "timeout_ms": 60_000,
                 "selector": k.selector}),
    )
    .await?;
    Ok(())
}

/// Key press → first changed canvas pixel, `n` times (each 'a' is erased
/// again with Backspace so the screen stays the same).
async fn key_latency(b: &mut Browser, k: &Kind, n: usize) -> Result<Latency> {
    let mut ms = Vec::new();
    for i in 0..n {
        let a = b
            .cmd(
                json!({"cmd": "key_latency", "key": "a", "selector": k.selector,
                        "timeout_ms": 10_000}),
            )
            .await
            .with_context(|| format!("{}: key press {i}", k.name))?;
        ms.push(a["ms"].as_f64().context("no ms")?);
        b.cmd(json!({"cmd": "press", "key": "Backspace"})).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    eprintln!("  {}: key → pixel {:?} ms", k.name, ms);
    Ok(Latency::of(&ms))
}

/// Websocket payload bytes per second the page receives over `secs`.
async fn bytes_per_s(b: &mut Browser, secs: u64) -> Result<f64> {
    b.cmd(json!({"cmd": "ws_bytes", "reset": true})).await?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let a = b.cmd(json!({"cmd": "ws_bytes"})).await?;
    Ok(a["bytes"].as_f64().unwrap_or(0.0) / secs as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = parse_args();
    let bin = opencloud_bin(true)?;
    let mut f = Figures::default();
    if let Some(path) = &o.fanout_only {
        let rec = std::sync::Arc::new(opencloud_tests::spice_record::Recording::load(path)?);
        for &n in &o.viewers {
            eprintln!("viewer-bench: replaying to {n} viewers");
            f.fanout
                .push(fanout::run(&bin, rec.clone(), n, o.seconds).await?);
        }
        println!("{}", report::render(&f, &o));
        return Ok(());
    }
    eprintln!("viewer-bench: booting the test guest (TCG)");
    let guest = Guest::boot(GuestOptions::default()).await?;
    let spice = guest.spice_addr();
    let serve = SpiceServe::start_with(bin.clone(), &spice, "").await?;
    let ws = websockify(&spice).await?;
    let ours = Kind {
        name: "translate",
        url: serve.url.clone(),
        selector: "canvas",
        wait: "frames",
    };
    let stock = Kind {
        name: "spice-html5",
        url: ws.url.clone(),
        selector: "#spice-area canvas",
        wait: "canvas",
    };
    // A SPICE server takes one client at a time: each kind gets the guest
    // to itself, one after the other, in a fresh page.
    eprintln!("viewer-bench: key press → pixel on the still shell");
    for (k, lat) in [(&ours, &mut f.key_ours), (&stock, &mut f.key_stock)] {
        let mut b = Browser::launch().await?;
        open(&mut b, k).await?;
        *lat = Some(key_latency(&mut b, k, o.presses).await?);
        b.close().await?;
    }
    // The guest's init hides the text cursor (so that tests see a still
    // screen); the idle workload is the shell with a blinking cursor.
    eprintln!("viewer-bench: idle shell with a blinking cursor, bytes");
    guest.sendkeys("clear; printf '\\033[?25h'\n").await?;
    for (k, idle) in [
        (&ours, &mut f.idle_bps_ours),
        (&stock, &mut f.idle_bps_stock),
    ] {
        let mut b = Browser::launch().await?;
        open_busy(&mut b, k).await?;
        *idle = Some(bytes_per_s(&mut b, o.seconds).await?);
        eprintln!("  {}: idle {:.0} B/s", k.name, idle.unwrap_or(0.0));
        b.close().await?;
    }
    eprintln!("viewer-bench: starting the text workload (ls -lR / in a loop)");
    guest
        .sendkeys("clear; while true; do ls -lR /; done\n")
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (k, text) in [
        (&ours, &mut f.text_bps_ours),
        (&stock, &mut f.text_bps_stock),
    ] {
        let mut b = Browser::launch().await?;
        open_busy(&mut b, k).await?;
        *text = Some(bytes_per_s(&mut b, o.seconds).await?);
        eprintln!("  {}: text {:.0} B/s", k.name, text.unwrap_or(0.0));
        b.close().await?;
    }
    drop(serve);
    drop(ws);

    eprintln!("viewer-bench: recording the text workload's SPICE traffic");
    let rec = fanout::record(&spice, o.seconds.max(20)).await?;
    drop(guest);
    for &n in &o.viewers {
        eprintln!("viewer-bench: replaying to {n} viewers");
        f.fanout
            .push(fanout::run(&bin, rec.clone(), n, o.seconds).await?);
    }

    let body = report::render(&f, &o);
    println!("{body}");
    if let Some(doc) = &o.doc {
        report::write(doc, &body)?;
        eprintln!("viewer-bench: wrote {}", doc.display());
    }
    Ok(())
}

/// Opens a viewer on a screen that never settles.
async fn open_busy(b: &mut Browser, k: &Kind) -> Result<()> {
    b.cmd(
        json!({"cmd": "open", "url": k.url, "wait": k.wait, "selector": k.selector,
                 "timeout_ms": 60_000}),
    )
    .await?;
    // Let the first full screen arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}
