//! The store benchmark (issue 2): a fresh 3-node Opencloud cluster and then a
//! 3-member etcd cluster on loopback, driven by the same load generator;
//! failover after kill -9 of the leader; idle RSS. Prints a table and writes
//! the "Replicated store vs etcd" section of docs/BENCHMARKS.md.
//!
//! `store_bench [--warmup S] [--duration S] [--kills N] [--etcd-kills N]
//!  [--skip-ours] [--skip-etcd] [--no-doc] [--doc PATH] [--snapshot-every N]`
//!
//! `--snapshot-every N` passes `--snapshot-every N` to our nodes (a knob for
//! diagnosis; the published figures use the node's default).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use opencloud_tests::etcd::{etcd_version, EtcdCluster};
use opencloud_tests::host::{busy_secs, cpu_secs, machine, rss_kib};
use opencloud_tests::loadgen::{self, Api, ContinuousWriter, RunResult};

#[path = "store_bench/report.rs"]
mod report;
#[path = "store_bench/targets.rs"]
mod targets;

use report::{Cpu, Figures, Side};
use targets::{EtcdTarget, Ours};

/// What the benchmark needs of a running 3-node cluster.
trait Target {
    fn name(&self) -> &'static str;
    fn api(&self) -> Api;
    fn urls(&self) -> Vec<String>;
    fn pids(&self) -> Vec<Option<u32>>;
    async fn leader(&self) -> Result<usize>;
    fn kill(&mut self, i: usize) -> Result<()>;
    async fn restart(&mut self, i: usize) -> Result<()>;
    async fn wait_caught_up(&self, i: usize) -> Result<()>;
}

struct Options {
    warmup: Duration,
    duration: Duration,
    kills: usize,
    etcd_kills: usize,
    ours: bool,
    etcd: bool,
    snapshot_every: Option<u64>,
    doc: Option<PathBuf>,
}

/// The replicated store against etcd: write latency and throughput at 1 to
/// 64 clients on 3-node clusters of each, then leader failovers under load.
/// Writes the "Replicated store vs etcd" section of docs/BENCHMARKS.md.
#[derive(clap::Parser)]
#[command(name = "store_bench")]
struct Cli {
    /// Seconds of warm-up before each load run.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds each load run measures.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Leader kills of our cluster.
    #[arg(long, default_value_t = 10)]
    kills: u64,
    /// Leader kills of etcd's cluster.
    #[arg(long, default_value_t = 10)]
    etcd_kills: u64,
    /// Skip our cluster.
    #[arg(long)]
    skip_ours: bool,
    /// Skip etcd.
    #[arg(long)]
    skip_etcd: bool,
    /// A diagnostic run: the nodes snapshot every N log entries (leaves the
    /// docs alone).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: Option<u64>,
    #[command(flatten)]
    doc: opencloud_tests::doc_section::DocArgs,
}

fn parse_args() -> Options {
    let cli = <Cli as clap::Parser>::parse();
    let mut doc = cli.doc.target();
    if cli.snapshot_every.is_some() && doc.is_some() {
        println!(
            "store_bench: --snapshot-every is a diagnostic run; docs/BENCHMARKS.md is left alone"
        );
        doc = None;
    }
    Options {
        warmup: Duration::from_secs(cli.warmup),
        duration: Duration::from_secs(cli.duration),
        kills: cli.kills as usize,
        etcd_kills: cli.etcd_kills as usize,
        ours: !cli.skip_ours,
        etcd: !cli.skip_etcd,
        snapshot_every: cli.snapshot_every,
        doc,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = parse_args();
    // On Ctrl-C the benchmark future is dropped, and with it every cluster,
    // whose Drop kills the processes it started.
    let finished = tokio::select! {
        r = run(&opts) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    match finished {
        Some(r) => r,
        None => {
            eprintln!("store_bench: interrupted; every node it started has been stopped");
            std::process::exit(130)
        }
    }
}

async fn run(opts: &Options) -> Result<()> {
    let machine = machine();
    println!("store_bench: {machine}");
    let mut fig = Figures {
        machine,
        etcd_version: etcd_version(),
        warmup: opts.warmup,
        duration: opts.duration,
        ours: None,
        etcd: None,
    };
    if opts.ours {
        println!("== Opencloud: starting a fresh 3-node cluster (release build)");
        let mut c = Ours::start(opts.snapshot_every).await?;
        fig.ours = Some(measure(&mut c, opts, opts.kills).await?);
        c.stop();
    }
    if opts.etcd {
        println!("== etcd: starting a fresh 3-member cluster");
        let mut c = EtcdTarget(EtcdCluster::start(3).await?);
        fig.etcd = Some(measure(&mut c, opts, opts.etcd_kills).await?);
        c.0.stop();
    }
    let text = report::render(&fig);
    println!("\n{text}");
    if let Some(doc) = &opts.doc {
        report::write_section(doc, &text)?;
        println!("store_bench: wrote {}", doc.display());
    }
    Ok(())
}

async fn measure<T: Target>(t: &mut T, opts: &Options, kills: usize) -> Result<Side> {
    let mut runs = Vec::new();
    let mut cpu = Vec::new();
    for clients in [1usize, 64] {
        let leader = t.leader().await?;
        let url = t.urls()[leader].clone();
        println!(
            "-- {}: {clients} client(s) writing to the leader (node {}) at {url} for {:?} after {:?} warm-up",
            t.name(),
            leader + 1,
            opts.duration,
            opts.warmup
        );
        let pids: Vec<u32> = t.pids().into_iter().flatten().collect();
        let before = Instant::now();
        let cpu0: Vec<f64> = pids.iter().map(|p| cpu_secs(*p).unwrap_or(0.0)).collect();
        let self0 = cpu_secs(std::process::id()).unwrap_or(0.0);
        let busy0 = busy_secs(None);
        let r = loadgen::run(&t.api(), &url, clients, opts.warmup, opts.duration).await?;
        let wall = before.elapsed().as_secs_f64();
        let node_cores: Vec<f64> = (pids.iter().zip(&cpu0))
            .map(|(p, c0)| (cpu_secs(*p).unwrap_or(*c0) - c0) / wall)
            .collect();
        let bench_cores = (cpu_secs(std::process::id()).unwrap_or(self0) - self0) / wall;
        let busy = (busy_secs(None) - busy0) / wall;
        let other = (busy - bench_cores - node_cores.iter().sum::<f64>()).max(0.0);
        print_run(t.name(), &r);
        println!(
            "   CPU (cores, whole run): nodes {:?} (leader = node {}), load generator {bench_cores:.2}, \
             other processes {other:.2}",
            node_cores.iter().map(|c| (c * 100.0).round() / 100.0).collect::<Vec<_>>(),
            leader + 1
        );
        cpu.push(Cpu {
            clients,
            nodes: node_cores.iter().sum(),
            leader: node_cores.get(leader).copied().unwrap_or(0.0),
            bench: bench_cores,
            other,
        });
        runs.push(r);
    }
    let failover = if kills > 0 {
        failover(t, kills).await?
    } else {
        Vec::new()
    };
    println!(
        "-- {}: letting the nodes settle for 10 s before reading RSS",
        t.name()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss: Vec<u64> = t
        .pids()
        .iter()
        .flatten()
        .filter_map(|p| rss_kib(*p))
        .collect();
    println!(
        "   idle RSS (MiB): {:?}",
        rss.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    Ok(Side {
        runs,
        cpu,
        failover,
        kills_planned: kills,
        rss_kib: rss,
    })
}

fn print_run(name: &str, r: &RunResult) {
    println!(
        "   {name} x{}: {:.0} writes/s  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  ({} ok, {} errors)",
        r.clients,
        r.writes_per_sec(),
        r.ms(0.5),
        r.ms(0.99),
        r.ms(0.999),
        r.ok,
        r.errors
    );
    if let Some(e) = &r.first_error {
        println!("   first error: {e}");
    }
}

/// kill -9 the leader `kills` times while one client writes continuously;
/// each sample is the time from the kill to the next acknowledged write sent
/// after it. The killed node is restarted and caught up between kills.
async fn failover<T: Target>(t: &mut T, kills: usize) -> Result<Vec<Duration>> {
    println!("-- {}: failover, {kills} kills of the leader", t.name());
    let limit = Duration::from_secs(30 + 30 * kills as u64);
    let mut w = ContinuousWriter::start(t.api(), t.urls(), Duration::from_secs(2), limit)?;
    let mut samples = Vec::new();
    for k in 1..=kills {
        let leader = wait_leader(t).await?;
        if w.ack_sent_after(Instant::now(), Duration::from_secs(15))
            .await
            .is_none()
        {
            bail!(
                "{}: the writer got no acknowledgement before kill {k}",
                t.name()
            );
        }
        let t_kill = Instant::now();
        t.kill(leader)?;
        // Alongside, poll who leads, to tell the election from the write path.
        let watch = async {
            for _ in 0..1500 {
                if let Ok(l) = t.leader().await {
                    if l != leader {
                        return Some((l, t_kill.elapsed()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None
        };
        let (ack, elected) = tokio::join!(w.ack_sent_after(t_kill, Duration::from_secs(30)), watch);
        let elected = elected.map_or("no new leader seen".into(), |(l, d)| {
            format!("node {} seen leading after {d:.2?}", l + 1)
        });
        match ack {
            Some(a) => {
                let d = a.acked.duration_since(t_kill);
                println!(
                    "   kill {k}: node {} killed; next write acknowledged after {d:.2?}; {elected}",
                    leader + 1
                );
                samples.push(d);
            }
            None => println!(
                "   kill {k}: node {} killed; no acknowledged write within 30 s; {elected}",
                leader + 1
            ),
        }
        t.restart(leader).await?;
        t.wait_caught_up(leader).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (ok, errors) = w.stop().await;
    println!("   writer: {ok} acknowledged, {errors} failed attempts");
    Ok(samples)
}

async fn wait_leader<T: Target>(t: &T) -> Result<usize> {
    let start = Instant::now();
    loop {
        match t.leader().await {
            Ok(l) => return Ok(l),
            Err(e) if start.elapsed() > Duration::from_secs(30) => {
                return Err(e.context(format!("{}: no leader within 30 s", t.name())))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
