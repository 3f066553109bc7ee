//! The sign-in and desktop benchmark, in one run:
//!
//! 1. sign-in → desktop ready in headless Chromium on a 3-node release
//!    cluster: each run in a fresh browser context, from the submit click to
//!    the moment `window.ocDesktop` has its apps on the desktop as icons and
//!    its events socket answered its first ping, timed in the page
//!    (`performance.timeOrigin + performance.now()` across the navigation);
//!    the argon2id verify cost the sign-in pays on purpose is measured in
//!    this process and reported beside it;
//! 2. presence pings one node absorbs on one core: a single release node
//!    pinned to core 0 (`taskset`), this process on core 1, K signed-in
//!    sessions each with its own events websocket pinging in a closed loop,
//!    K ramped; then an open loop at the target rate.
//!
//! `desktop_bench [--runs N] [--sessions LIST] [--seconds S] [--rate R]
//!  [--no-doc] [--doc PATH] [--skip-browser] [--skip-presence] [--perf PREFIX]`
//!
//! `--perf PREFIX` records the node with `perf record -g` during each
//! presence window, into `PREFIX-<n>.data`.
//!
//! Prints the figures and writes the "Sign-in and presence" section of
//! docs/BENCHMARKS.md (not when a part is skipped). Run through
//! scripts/bench-desktop.sh.

use std::path::PathBuf;

use anyhow::{bail, Result};

#[path = "desktop_bench/presence.rs"]
mod presence;
#[path = "desktop_bench/report.rs"]
mod report;
#[path = "desktop_bench/signin.rs"]
mod signin;

pub struct Options {
    pub runs: usize,
    pub sessions: Vec<usize>,
    pub seconds: u64,
    /// Pings per second offered in the open-loop step.
    pub rate: u64,
    pub doc: Option<PathBuf>,
    pub browser: bool,
    pub presence: bool,
    /// `perf record -g` the node during each presence window, into
    /// `<prefix>-<step>.data`.
    pub perf: Option<PathBuf>,
}

/// The sign-in and desktop benchmark: sign-in → desktop ready in headless
/// Chromium on a 3-node cluster, then the presence pings one node absorbs
/// on one core. Writes the "Sign-in and presence" section of
/// docs/BENCHMARKS.md when both parts ran.
#[derive(clap::Parser)]
#[command(name = "desktop_bench")]
struct Cli {
    /// Measured sign-ins.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    runs: u64,
    /// Events websockets of each presence step.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 500, 1000, 2000], value_parser = clap::value_parser!(u64).range(1..=15_000))]
    sessions: Vec<u64>,
    /// Seconds each presence step measures.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=600))]
    seconds: u64,
    /// Pings per second offered in the open-loop step.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: u64,
    #[command(flatten)]
    doc: opencloud_tests::doc_section::DocArgs,
    /// Skip the browser part (and leave the docs alone).
    #[arg(long)]
    skip_browser: bool,
    /// Skip the presence part (and leave the docs alone).
    #[arg(long)]
    skip_presence: bool,
    /// Record the node with `perf record -g` during each presence window,
    /// into `PREFIX-<n>.data`.
    #[arg(long, value_name = "PREFIX")]
    perf: Option<PathBuf>,
}

fn parse_args() -> Options {
    let cli = <Cli as clap::Parser>::parse();
    let (browser, presence) = (!cli.skip_browser, !cli.skip_presence);
    Options {
        runs: cli.runs as usize,
        sessions: cli.sessions.iter().map(|&k| k as usize).collect(),
        seconds: cli.seconds,
        rate: cli.rate,
        doc: cli.doc.target().filter(|_| browser && presence),
        browser,
        presence,
        perf: cli.perf,
    }
}

/// Raises this process's open-file limit to its hard limit: thousands of
/// websockets here, and the nodes (which inherit it) hold as many.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
    r.rlim_cur
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = parse_args();
    let nofile = raise_nofile();
    let need = o.sessions.iter().max().copied().unwrap_or(0) as u64 + 200;
    if o.presence && nofile < need {
        bail!("the open-file limit is {nofile}; {need} are needed (ulimit -n)");
    }
    let mut f = report::Figures::default();
    if o.browser {
        eprintln!("desktop-bench: part 1, sign-in → desktop ready in Chromium");
        f.signin = Some(signin::run(&o).await?);
    }
    if o.presence {
        eprintln!("desktop-bench: part 2, presence pings on one core");
        f.presence = Some(presence::run(&o).await?);
    }
    let body = report::render(&f);
    println!("{body}");
    if let Some(doc) = &o.doc {
        report::write(doc, &body)?;
        eprintln!("desktop-bench: wrote {}", doc.display());
    }
    Ok(())
}
