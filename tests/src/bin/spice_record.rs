//! Records a SPICE session for the replay server (`spice_replay`): boots the
//! test guest (or uses a running SPICE server), connects our SPICE client
//! through the recording proxy, types a workload and records the server's
//! messages for a while. The file format is described in
//! `opencloud_tests::spice_record`.
//!
//! `spice_record (--guest | --target HOST:PORT [--password PW]) --out FILE
//!  [--seconds N] [--idle | --no-input] [--compression off|lz|glz|quic|auto]`
//!
//! - `--guest`: boot the busybox test guest in QEMU (see `guest.rs`).
//! - `--target`: record a SPICE server that is already running.
//! - `--seconds N` (default 30): how long to record, counted from the
//!   moment the main channel links.
//! - workload (typed into the guest's shell through the session):
//!   `while true; do ls -lR /; done` by default; `--idle` clears the screen
//!   and shows the shell prompt with a blinking text cursor; `--no-input`
//!   types nothing.
//! - `--compression` (default `lz`): what the recording client asks the
//!   server for. LZ is stateless, so the replay is right for any client;
//!   a GLZ recording needs clients whose GLZ window is at least ours and
//!   cannot be looped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opencloud_spice::{Compression, Config, Session};
use opencloud_tests::guest::{Guest, GuestOptions};
use opencloud_tests::spice_record::{Recorder, Recording};

const TEXT_WORKLOAD: &str = "while true; do ls -lR /; done\n";
const IDLE_WORKLOAD: &str = "clear; printf '\\033[?25h'\n";

struct Options {
    guest: bool,
    target: Option<String>,
    password: String,
    out: PathBuf,
    seconds: u64,
    workload: Option<(&'static str, &'static str)>,
    compression: Compression,
    compression_name: String,
}

const USAGE: &str =
    "usage: spice_record (--guest | --target HOST:PORT [--password PW]) --out FILE \
    [--seconds N] [--idle | --no-input] [--compression off|lz|glz|quic|auto]";

fn parse_args() -> Result<Options> {
    let mut guest = false;
    let mut target = None;
    let mut password = String::new();
    let mut out = None;
    let mut seconds = 30;
    let mut workload = Some(("text", TEXT_WORKLOAD));
    let mut compression_name = "lz".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--guest" => guest = true,
            "--target" => target = Some(value("--target")?),
            "--password" => password = value("--password")?,
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--seconds" => {
                let v = value("--seconds")?;
                seconds = v
                    .parse()
                    .with_context(|| format!("--seconds: not a number: {v}"))?;
            }
            "--idle" => workload = Some(("idle", IDLE_WORKLOAD)),
            "--no-input" => workload = None,
            "--compression" => compression_name = value("--compression")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if guest == target.is_some() {
        bail!("give exactly one of --guest and --target\n{USAGE}");
    }
    let out = out.with_context(|| format!("--out is required\n{USAGE}"))?;
    let compression = compression_name
        .parse()
        .map_err(|_| anyhow::anyhow!("--compression must be off, lz, glz, quic or auto"))?;
    Ok(Options {
        guest,
        target,
        password,
        out,
        seconds,
        workload,
        compression,
        compression_name,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = parse_args()?;
    let started = Instant::now();
    let guest = if o.guest {
        eprintln!("booting the test guest (about 10 s under TCG)...");
        let g = Guest::boot(GuestOptions::default()).await?;
        eprintln!(
            "guest ready after {:.1} s, SPICE on {}",
            started.elapsed().as_secs_f64(),
            g.spice_addr()
        );
        Some(g)
    } else {
        None
    };
    let target = match (&guest, &o.target) {
        (Some(g), _) => g.spice_addr(),
        (None, Some(t)) => t.clone(),
        (None, None) => unreachable!("checked in parse_args"),
    };
    let target_addr = tokio::net::lookup_host(&target)
        .await
        .with_context(|| format!("resolving {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to nothing"))?;
    let recorder = Recorder::start(target_addr, &o.out).await?;
    let workload_name = o.workload.map_or("none", |(n, _)| n);
    recorder.note(&format!(
        "source={} workload={workload_name} compression={} seconds={}",
        if o.guest { "test-guest" } else { "target" },
        o.compression_name,
        o.seconds
    ));
    eprintln!(
        "recording {} through {} into {}",
        target,
        recorder.listen_addr(),
        o.out.display()
    );
    let config = Config {
        password: o.password.clone(),
        compression: o.compression,
        ..Config::default()
    };
    let session = Session::connect(&recorder.listen_addr().to_string(), config).await?;
    // A primary surface means the first frame has started to arrive.
    session
        .wait_settled(Duration::ZERO, Duration::from_secs(30))
        .await
        .context("no primary surface")?;
    if let Some((name, text)) = o.workload {
        // Let the first full frame land before the shell echoes anything.
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!("typing the {name} workload: {:?}", text.trim_end());
        session.type_text(text).await?;
    }
    let total = Duration::from_secs(o.seconds);
    let mut next_report = Duration::from_secs(5);
    loop {
        let elapsed = Duration::from_micros(recorder.elapsed_us());
        if elapsed >= total {
            break;
        }
        if let Some(f) = session.failure() {
            bail!("the recording session failed: {f}");
        }
        if elapsed >= next_report {
            let s = recorder.stats();
            eprintln!(
                "{:>4.0} s: {} messages, {:.1} MB",
                elapsed.as_secs_f64(),
                s.messages,
                s.bytes as f64 / 1e6
            );
            next_report += Duration::from_secs(5);
        }
        tokio::time::sleep((total - elapsed).min(Duration::from_millis(200))).await;
    }
    let stats = recorder.finish().await?;
    drop(session);
    eprintln!(
        "done: {} channels, {} messages, {:.1} MB of messages",
        stats.channels,
        stats.messages,
        stats.bytes as f64 / 1e6
    );
    let size = std::fs::metadata(&o.out)?.len();
    let rec = Recording::load(&o.out)?;
    eprintln!("{}: {size} bytes; {}", o.out.display(), rec.summary());
    Ok(())
}
