//! The VM broker benchmark, in one run (real TCG guests: the test guest's
//! kernel and busybox initramfs, `tests/src/guest.rs`):
//!
//! 1. warm launch → first frame in headless Chromium on a 3-node release
//!    cluster: a signed-in desktop (a fresh user per run), a pool with ready
//!    VMs; from the app icon's `dblclick` to the viewer iframe's first frame
//!    (`ocViewer.frames > 0`), timed in the page, with the split; then a
//!    few more launches, each once the pool is full again (no boot in
//!    flight);
//! 2. cold launch: a pool with `warm: 0`, so the launch waits while a VM
//!    boots; the same clock, plus the boot alone (QEMU started → the
//!    guest's ready line on its serial port);
//! 3. memory per idle VM: K ready VMs on one node, RSS and PSS of each QEMU
//!    (`/proc/PID/smaps_rollup`) and the host's MemAvailable drop per VM;
//! 4. how many VMs one node holds: the pool's warm count stepped up on a
//!    single node until a step does not fill, memory runs low, or the list
//!    ends.
//!
//! `broker_bench [--runs N] [--quiet-runs N] [--warmups N] [--warm W] [--cold N] [--idle K]
//!  [--steps LIST] [--fill-timeout S] [--no-doc] [--doc PATH]
//!  [--skip-launch] [--skip-capacity]`
//!
//! Prints progress and the figures, and writes the "VM broker" section of
//! docs/BENCHMARKS.md (not when a part is skipped). Run through
//! scripts/bench-broker.sh.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_tests::cluster_options::ClusterOptions;

#[path = "broker_bench/capacity.rs"]
mod capacity;
#[path = "broker_bench/launch.rs"]
mod launch;
#[path = "broker_bench/report.rs"]
mod report;

pub struct Options {
    /// Measured warm launches.
    pub runs: usize,
    /// Warm launches after those that wait for a full pool (no boot in
    /// flight).
    pub quiet: usize,
    /// Warm launches before those, not counted.
    pub warmups: usize,
    /// The warm pool's warm count (part 1).
    pub warm: u32,
    /// Cold launches (part 2).
    pub cold: usize,
    /// Ready VMs whose memory part 3 measures.
    pub idle: u32,
    /// Warm counts part 4 steps through.
    pub steps: Vec<u32>,
    /// A step that is not all ready within this long ends part 4.
    pub fill_timeout: Duration,
    /// Part 4 stops when MemAvailable falls below this (KiB).
    pub min_available_kib: u64,
    pub doc: Option<PathBuf>,
    pub launch: bool,
    pub capacity: bool,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        runs: 20,
        warmups: 2,
        quiet: 5,
        warm: 3,
        cold: 3,
        idle: 8,
        steps: vec![8, 16, 32, 48],
        fill_timeout: Duration::from_secs(900),
        min_available_kib: 4 << 20,
        doc: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md")),
        launch: true,
        capacity: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        let num = |v: String, name: &str| -> Result<u64> {
            v.parse().with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--runs" => o.runs = num(value("--runs")?, "--runs")?.clamp(1, 1000) as usize,
            "--quiet-runs" => {
                o.quiet = num(value("--quiet-runs")?, "--quiet-runs")?.min(1000) as usize
            }
            "--warmups" => o.warmups = num(value("--warmups")?, "--warmups")?.min(100) as usize,
            "--warm" => o.warm = num(value("--warm")?, "--warm")?.clamp(1, 32) as u32,
            "--cold" => o.cold = num(value("--cold")?, "--cold")?.clamp(1, 100) as usize,
            "--idle" => o.idle = num(value("--idle")?, "--idle")?.clamp(1, 500) as u32,
            "--fill-timeout" => {
                let s = num(value("--fill-timeout")?, "--fill-timeout")?.clamp(30, 7200);
                o.fill_timeout = Duration::from_secs(s);
            }
            "--steps" => {
                o.steps = value("--steps")?
                    .split(',')
                    .map(|n| n.trim().parse::<u32>().context("--steps takes numbers"))
                    .collect::<Result<_>>()?;
                if o.steps.is_empty() || o.steps.iter().any(|&k| k == 0 || k > 500) {
                    bail!("--steps takes numbers from 1 to 500");
                }
            }
            "--no-doc" => o.doc = None,
            "--doc" => o.doc = Some(PathBuf::from(value("--doc")?)),
            "--skip-launch" => o.launch = false,
            "--skip-capacity" => o.capacity = false,
            other => bail!("unknown argument {other}"),
        }
    }
    // Part 3 is the step of K VMs: make sure there is one.
    o.steps.push(o.idle);
    o.steps.sort_unstable();
    o.steps.dedup();
    if !(o.launch && o.capacity) {
        o.doc = None;
    }
    Ok(o)
}

/// The nodes' environment: what `tests/src/broker.rs::options()` gives the
/// broker tests (test-sized timeouts), with TCG always (nested KVM hangs on
/// this kind of machine) and `extra` on top.
pub fn broker_cluster(nodes: u64, extra: &[(&str, &str)]) -> ClusterOptions {
    let mut o = ClusterOptions::default()
        .nodes(nodes)
        .release(true)
        .env(
            "OPENCLOUD_TEST_CAPTCHA_ANSWER",
            opencloud_tests::site::TEST_CAPTCHA,
        )
        .env("OPENCLOUD_QEMU_ACCEL", "tcg")
        .env("OPENCLOUD_PRESENCE_WRITE_EVERY_S", "1")
        .env(
            "OPENCLOUD_NODE_DEAD_AFTER_S",
            &opencloud_tests::broker::NODE_DEAD_AFTER_S.to_string(),
        )
        .env("OPENCLOUD_VM_START_TIMEOUT_S", "240")
        .env("OPENCLOUD_FAILED_KEEP_S", "5")
        .env("OPENCLOUD_LAUNCH_WAIT_S", "60");
    for (k, v) in extra {
        // Later entries win: the node's Command takes the last value.
        o = o.env(k, v);
    }
    o
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = parse_args()?;
    let image = opencloud_tests::guest::ensure_guest_image()?;
    eprintln!("broker-bench: test guest in {}", image.display());
    let mut f = report::Figures::default();
    if o.launch {
        eprintln!("broker-bench: parts 1 and 2, launch → first frame in Chromium (3 nodes)");
        f.launch = Some(launch::run(&o).await?);
    }
    if o.capacity {
        eprintln!("broker-bench: parts 3 and 4, idle VMs on one node");
        f.capacity = Some(capacity::run(&o).await?);
    }
    let body = report::render(&f);
    println!("{body}");
    if let Some(doc) = &o.doc {
        report::write(doc, &body)?;
        eprintln!("broker-bench: wrote {}", doc.display());
    }
    Ok(())
}
