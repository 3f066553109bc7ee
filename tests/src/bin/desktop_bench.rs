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

use anyhow::{bail, Context, Result};

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

fn parse_args() -> Result<Options> {
    let mut o = Options {
        runs: 40,
        sessions: vec![100, 500, 1000, 2000],
        seconds: 10,
        rate: 5000,
        doc: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md")),
        browser: true,
        presence: true,
        perf: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--runs" => o.runs = num("--runs")?.clamp(1, 10_000) as usize,
            "--seconds" => o.seconds = num("--seconds")?.clamp(2, 600),
            "--rate" => o.rate = num("--rate")?.clamp(1, 1_000_000),
            "--sessions" => {
                o.sessions = args
                    .next()
                    .context("--sessions needs a list")?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<usize>()
                            .context("--sessions takes numbers")
                    })
                    .collect::<Result<_>>()?;
                if o.sessions.is_empty() || o.sessions.iter().any(|&k| k == 0 || k > 15_000) {
                    bail!("--sessions takes numbers from 1 to 15000");
                }
            }
            "--no-doc" => o.doc = None,
            "--doc" => o.doc = Some(PathBuf::from(args.next().context("--doc needs a path")?)),
            "--skip-browser" => o.browser = false,
            "--skip-presence" => o.presence = false,
            "--perf" => o.perf = Some(PathBuf::from(args.next().context("--perf needs a prefix")?)),
            other => bail!("unknown argument {other}"),
        }
    }
    if !(o.browser && o.presence) {
        o.doc = None;
    }
    Ok(o)
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
    let o = parse_args()?;
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

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// A process's stat fields after the command name (which is in
/// parentheses and may hold spaces): field 3 (state) is index 0.
fn stat_fields(pid: u32) -> Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    let f = stat_fields(pid)?;
    let t = |i: usize| -> Result<f64> { Ok(f.get(i).context("short stat")?.parse::<f64>()?) };
    Ok((t(11)? + t(12)?) / clock_ticks())
}

/// CPU seconds of `root` and every process under it, with the children they
/// have reaped (so a process that ended keeps counting through its parent).
pub fn tree_cpu_secs(root: u32) -> f64 {
    let mut procs = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(f) = stat_fields(pid) else { continue };
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            let ppid = n(1) as u32;
            procs.push((pid, ppid, n(11) + n(12) + n(13) + n(14)));
        }
    }
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _) in &procs {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    procs
        .iter()
        .filter(|(pid, _, _)| tree.contains(pid))
        .map(|(_, _, t)| t)
        .sum::<f64>()
        / clock_ticks()
}

/// Busy CPU seconds of the whole machine (`None`) or of one core, from
/// /proc/stat (everything but idle and iowait).
pub fn busy_secs(core: Option<usize>) -> f64 {
    let name = core.map_or("cpu".to_string(), |c| format!("cpu{c}"));
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    stat.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name.as_str())).then(|| {
                let v: Vec<f64> = w.filter_map(|x| x.parse().ok()).collect();
                // user nice system idle iowait irq softirq steal
                [0, 1, 2, 5, 6, 7]
                    .iter()
                    .filter_map(|&i| v.get(i))
                    .sum::<f64>()
            })
        })
        .unwrap_or(f64::NAN)
        / clock_ticks()
}

/// Waits (at most `limit`) until processes other than this one and its
/// children use less than `below` cores over 2 s; returns the last reading.
pub async fn wait_quiet(below: f64, limit: std::time::Duration) -> f64 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let (b0, o0) = (busy_secs(None), tree_cpu_secs(std::process::id()));
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let others = ((busy_secs(None) - b0) - (tree_cpu_secs(std::process::id()) - o0)) / 2.0;
        if others < below || std::time::Instant::now() >= deadline {
            return others.max(0.0);
        }
        eprintln!("  the machine is busy with other processes ({others:.2} cores); waiting");
    }
}

/// The pid of the process whose command line has `--data DIR` (a node).
pub fn pid_with_data_dir(dir: &std::path::Path) -> Option<u32> {
    let want = dir.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.windows(2).any(|w| w[0] == b"--data" && w[1] == want) {
            return Some(pid);
        }
    }
    None
}

/// Percentiles of a sample: the value at rank round((n - 1) × p).
#[derive(Clone, Copy, Debug, Default)]
pub struct Pcts {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

impl Pcts {
    pub fn of(xs: &[f64]) -> Pcts {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Pcts {
                p50: f64::NAN,
                p95: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let at = |p: f64| v[(((v.len() - 1) as f64) * p).round() as usize];
        Pcts {
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: v[v.len() - 1],
            n: v.len(),
        }
    }
}
