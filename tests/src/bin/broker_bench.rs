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

use anyhow::Result;
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

/// The VM broker benchmark: warm and cold launches to the first frame in
/// Chromium on a 3-node cluster, then memory and capacity of idle VMs on one
/// node. Writes the "VM broker" section of docs/BENCHMARKS.md when both
/// parts ran.
#[derive(clap::Parser)]
#[command(name = "broker_bench")]
struct Cli {
    /// Measured warm launches.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    runs: u64,
    /// Warm launches after those, each waiting for a full pool first (no
    /// boot in flight).
    #[arg(long = "quiet-runs", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=1000))]
    quiet: u64,
    /// Warm launches before the measured ones, not counted.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmups: u64,
    /// The warm pool's warm count.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=32))]
    warm: u32,
    /// Cold launches (`warm: 0`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    cold: u64,
    /// Ready VMs whose memory is measured.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=500))]
    idle: u32,
    /// Warm counts the capacity part steps through.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 16, 32, 48], value_parser = clap::value_parser!(u32).range(1..=500))]
    steps: Vec<u32>,
    /// Seconds a capacity step may take to be all ready before the part ends.
    #[arg(long = "fill-timeout", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=7200))]
    fill_timeout_s: u64,
    #[command(flatten)]
    doc: opencloud_tests::doc_section::DocArgs,
    /// Skip the launch parts (and leave the docs alone).
    #[arg(long)]
    skip_launch: bool,
    /// Skip the memory and capacity parts (and leave the docs alone).
    #[arg(long)]
    skip_capacity: bool,
}

fn parse_args() -> Options {
    let cli = <Cli as clap::Parser>::parse();
    let mut steps = cli.steps;
    // Part 3 is the step of K VMs: make sure there is one.
    steps.push(cli.idle);
    steps.sort_unstable();
    steps.dedup();
    let (launch, capacity) = (!cli.skip_launch, !cli.skip_capacity);
    Options {
        runs: cli.runs as usize,
        quiet: cli.quiet as usize,
        warmups: cli.warmups as usize,
        warm: cli.warm,
        cold: cli.cold as usize,
        idle: cli.idle,
        steps,
        fill_timeout: Duration::from_secs(cli.fill_timeout_s),
        min_available_kib: 4 << 20,
        doc: cli.doc.target().filter(|_| launch && capacity),
        launch,
        capacity,
    }
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
    let o = parse_args();
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
