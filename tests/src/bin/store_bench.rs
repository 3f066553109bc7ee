//! The store benchmark (issue 2): a fresh 3-node Opencloud cluster and then a
//! 3-member etcd cluster on loopback, driven by the same load generator;
//! failover after kill -9 of the leader; idle RSS. Prints a table and writes
//! the "Replicated store vs etcd" section of docs/BENCHMARKS.md.
//!
//! `store_bench [--warmup S] [--duration S] [--kills N] [--etcd-kills N]
//!  [--skip-ours] [--skip-etcd] [--no-doc] [--doc PATH]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opencloud_tests::etcd::{etcd_version, EtcdCluster};
use opencloud_tests::loadgen::{self, Api, ContinuousWriter, RunResult};

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
    doc: Option<PathBuf>,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        warmup: Duration::from_secs(3),
        duration: Duration::from_secs(12),
        kills: 10,
        etcd_kills: 10,
        ours: true,
        etcd: true,
        doc: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64> {
            let v = args
                .next()
                .with_context(|| format!("{name} needs a value"))?;
            v.parse()
                .with_context(|| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "--warmup" => o.warmup = Duration::from_secs(num("--warmup")?),
            "--duration" => o.duration = Duration::from_secs(num("--duration")?.max(1)),
            "--kills" => o.kills = num("--kills")? as usize,
            "--etcd-kills" => o.etcd_kills = num("--etcd-kills")? as usize,
            "--skip-ours" => o.ours = false,
            "--skip-etcd" => o.etcd = false,
            "--no-doc" => o.doc = None,
            "--doc" => o.doc = Some(PathBuf::from(args.next().context("--doc needs a path")?)),
            "-h" | "--help" => {
                println!(
                    "store_bench [--warmup S] [--duration S] [--kills N] [--etcd-kills N] \
                     [--skip-ours] [--skip-etcd] [--no-doc] [--doc PATH]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = parse_args()?;
    // On Ctrl-C the benchmark future is dropped, and with it every cluster,
    // whose Drop kills the processes it started.
    tokio::select! {
        r = run(&opts) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("store_bench: interrupted; stopping the clusters");
            bail!("interrupted")
        }
    }
}

async fn run(opts: &Options) -> Result<()> {
    let machine = Machine::detect();
    println!("store_bench: {}", machine.describe());
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
        let mut c = ours::Ours::start().await?;
        fig.ours = Some(measure(&mut c, opts, opts.kills).await?);
        c.stop();
    }
    if opts.etcd {
        println!("== etcd: starting a fresh 3-member cluster");
        let mut c = EtcdTarget(EtcdCluster::start(3).await?);
        fig.etcd = Some(measure(&mut c, opts, opts.etcd_kills).await?);
        c.0.stop();
    }
    let text = render(&fig);
    println!("\n{text}");
    if let Some(doc) = &opts.doc {
        write_section(doc, &text)?;
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
        let r = loadgen::run(&t.api(), &url, clients, opts.warmup, opts.duration).await?;
        let wall = before.elapsed().as_secs_f64();
        let node_cores: Vec<f64> = (pids.iter().zip(&cpu0))
            .map(|(p, c0)| (cpu_secs(*p).unwrap_or(*c0) - c0) / wall)
            .collect();
        let bench_cores = (cpu_secs(std::process::id()).unwrap_or(self0) - self0) / wall;
        print_run(t.name(), &r);
        println!(
            "   CPU (cores, whole run): nodes {:?} (leader = node {}), load generator {bench_cores:.2}",
            node_cores.iter().map(|c| (c * 100.0).round() / 100.0).collect::<Vec<_>>(),
            leader + 1
        );
        cpu.push(Cpu {
            clients,
            nodes: node_cores.iter().sum(),
            leader: node_cores.get(leader).copied().unwrap_or(0.0),
            bench: bench_cores,
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
        match w.ack_sent_after(t_kill, Duration::from_secs(30)).await {
            Some(a) => {
                let d = a.acked.duration_since(t_kill);
                println!(
                    "   kill {k}: node {} killed, next write acknowledged after {d:.2?}",
                    leader + 1
                );
                samples.push(d);
            }
            None => println!(
                "   kill {k}: node {} killed, no acknowledged write within 30 s",
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

/// CPU time (user + system) a process has used, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at "state".
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0) // USER_HZ is 100 on Linux
}

/// CPU use during one load run, in cores (1.0 = one core busy).
struct Cpu {
    clients: usize,
    nodes: f64,
    leader: f64,
    bench: f64,
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Our 3-node cluster, through the shared harness (`tests/src/cluster.rs`).
mod ours {
    use super::*;
    use opencloud_tests::cluster::{Cluster, ClusterOptions};

    pub struct Ours(Option<Cluster>);

    impl Ours {
        pub async fn start() -> Result<Ours> {
            let opts = ClusterOptions::default().release(true);
            let c = Cluster::start(opts)
                .await
                .context("starting the Opencloud cluster (cargo build --release -p opencloud?)")?;
            Ok(Ours(Some(c)))
        }
        fn c(&self) -> Result<&Cluster> {
            self.0.as_ref().context("cluster stopped")
        }
        fn id(i: usize) -> u64 {
            i as u64 + 1
        }
        /// Kill every node.
        pub fn stop(&mut self) {
            self.0.take();
        }
    }

    /// The pid of the process whose command line has `--data DIR`.
    fn pid_with_data_dir(dir: &std::path::Path) -> Option<u32> {
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

    impl Target for Ours {
        fn name(&self) -> &'static str {
            "Opencloud"
        }
        fn api(&self) -> Api {
            let token = self.c().map(|c| c.token().to_string()).unwrap_or_default();
            Api::Opencloud { token }
        }
        fn urls(&self) -> Vec<String> {
            let Ok(c) = self.c() else { return Vec::new() };
            c.ids().iter().map(|id| c.node(*id).url()).collect()
        }
        fn pids(&self) -> Vec<Option<u32>> {
            let Ok(c) = self.c() else { return Vec::new() };
            c.running_ids()
                .iter()
                .map(|id| pid_with_data_dir(c.node(*id).data_dir()))
                .collect()
        }
        async fn leader(&self) -> Result<usize> {
            let id = self.c()?.leader_id().await.context("no Opencloud leader")?;
            Ok(id as usize - 1)
        }
        fn kill(&mut self, i: usize) -> Result<()> {
            self.0
                .as_mut()
                .context("cluster stopped")?
                .kill(Self::id(i));
            Ok(())
        }
        async fn restart(&mut self, i: usize) -> Result<()> {
            let c = self.0.as_mut().context("cluster stopped")?;
            c.restart(Self::id(i)).await
        }
        async fn wait_caught_up(&self, i: usize) -> Result<()> {
            let c = self.c()?;
            c.wait_caught_up(Self::id(i), Duration::from_secs(60))
                .await
                .map(|_| ())
        }
    }
}

struct EtcdTarget(EtcdCluster);

impl Target for EtcdTarget {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn api(&self) -> Api {
        Api::Etcd
    }
    fn urls(&self) -> Vec<String> {
        self.0.urls()
    }
    fn pids(&self) -> Vec<Option<u32>> {
        self.0.pids()
    }
    async fn leader(&self) -> Result<usize> {
        self.0.leader().await
    }
    fn kill(&mut self, i: usize) -> Result<()> {
        self.0.kill(i)
    }
    async fn restart(&mut self, i: usize) -> Result<()> {
        self.0.restart(i)
    }
    async fn wait_caught_up(&self, i: usize) -> Result<()> {
        self.0.wait_caught_up(i, Duration::from_secs(60)).await
    }
}

// ---------------------------------------------------------------- report --

struct Machine {
    cores: usize,
    cpu: String,
    ram_gib: f64,
}

impl Machine {
    fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            ram_gib: kib / 1024.0 / 1024.0,
        }
    }
    fn describe(&self) -> String {
        format!(
            "{} cores ({}), {:.0} GiB RAM",
            self.cores, self.cpu, self.ram_gib
        )
    }
}

/// The figures of one system.
struct Side {
    runs: Vec<RunResult>,
    cpu: Vec<Cpu>,
    failover: Vec<Duration>,
    kills_planned: usize,
    rss_kib: Vec<u64>,
}

impl Side {
    fn run(&self, clients: usize) -> Option<&RunResult> {
        self.runs.iter().find(|r| r.clients == clients)
    }
    /// Failover quantile (nearest rank), in seconds.
    fn failover_q(&self, q: f64) -> Option<f64> {
        let mut v: Vec<f64> = self.failover.iter().map(|d| d.as_secs_f64()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
    /// Largest idle RSS of a node, in MB (10^6 bytes).
    fn max_rss_mb(&self) -> Option<f64> {
        self.rss_kib.iter().max().map(|k| *k as f64 * 1024.0 / 1e6)
    }
}

struct Figures {
    machine: Machine,
    etcd_version: Option<String>,
    warmup: Duration,
    duration: Duration,
    ours: Option<Side>,
    etcd: Option<Side>,
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "pass",
        Some(false) => "**miss**",
        None => "not measured",
    }
}

/// The generated part of the docs section (Markdown); also printed.
fn render(f: &Figures) -> String {
    let mut s = String::new();
    let etcd_v = f.etcd_version.clone().unwrap_or_else(|| "etcd".into());
    s += &format!(
        "Measured {} on {}, by `scripts/bench-store.sh` ({etcd_v}).\n\n",
        today(),
        f.machine.describe()
    );
    s += &format!(
        "Each system: 3 nodes on loopback, fresh data dirs, writes durable before they are \
         acknowledged (ours: sled flushed; etcd: defaults, fsync on). One load generator \
         (`tests/src/loadgen.rs`) drives both: closed loop, one HTTP/1.1 keep-alive connection \
         per client, {}-byte keys, {}-byte values, every write sent to the leader, {} s warm-up \
         then {} s measured. Ours: `PUT /api/v1/kv/{{key}}` over HTTPS with the operator token; \
         etcd: `POST /v3/kv/put` on its JSON gateway (plain HTTP).\n\n",
        loadgen::KEY_LEN,
        loadgen::VALUE_LEN,
        f.warmup.as_secs(),
        f.duration.as_secs()
    );
    s += "| system | clients | writes/s | p50 ms | p99 ms | p99.9 ms | errors |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|\n";
    for clients in [1usize, 64] {
        for (name, side) in [("Opencloud", &f.ours), ("etcd", &f.etcd)] {
            if let Some(r) = side.as_ref().and_then(|x| x.run(clients)) {
                s += &format!(
                    "| {name} | {clients} | {:.0} | {:.2} | {:.2} | {:.2} | {} |\n",
                    r.writes_per_sec(),
                    r.ms(0.5),
                    r.ms(0.99),
                    r.ms(0.999),
                    r.errors
                );
            }
        }
        let o = f.ours.as_ref().and_then(|x| x.run(clients));
        let e = f.etcd.as_ref().and_then(|x| x.run(clients));
        if let (Some(o), Some(e)) = (o, e) {
            s += &format!(
                "| ours/etcd | {clients} | {:.2}× | {:.2}× | {:.2}× | {:.2}× | |\n",
                o.writes_per_sec() / e.writes_per_sec(),
                o.ms(0.5) / e.ms(0.5),
                o.ms(0.99) / e.ms(0.99),
                o.ms(0.999) / e.ms(0.999)
            );
        }
    }
    s += &format!(
        "\nCPU during each load run (warm-up included), in cores of the {} the machine has; \
         the load generator shares them:\n\n",
        f.machine.cores
    );
    s +=
        "| system | clients | all nodes | leader | load generator | writes per node CPU-second |\n";
    s += "|---|---:|---:|---:|---:|---:|\n";
    for (name, side) in [("Opencloud", &f.ours), ("etcd", &f.etcd)] {
        for c in side.iter().flat_map(|x| x.cpu.iter()) {
            let wps = side
                .as_ref()
                .and_then(|x| x.run(c.clients))
                .map(|r| r.writes_per_sec());
            s += &format!(
                "| {name} | {} | {:.2} | {:.2} | {:.2} | {} |\n",
                c.clients,
                c.nodes,
                c.leader,
                c.bench,
                opt(wps.filter(|_| c.nodes > 0.0), |w| format!(
                    "{:.0}",
                    w / c.nodes
                ))
            );
        }
    }
    s += &format!(
        "\nFailover: kill -9 of the leader while one client writes continuously → the first \
         acknowledged write that was sent after the kill. The client moves to the next node on \
         an error, and when a write is unanswered for {} ms it also sends the next write to the \
         next node (each write times out after 2 s, at most 64 in flight), so the figure has that \
         resolution. The killed node \
         is restarted and caught up between kills.\n\n",
        loadgen::HEDGE_AFTER.as_millis()
    );
    s += "| system | kills | measured | p50 s | p99 s | max s |\n|---|---:|---:|---:|---:|---:|\n";
    for (name, side) in [("Opencloud", &f.ours), ("etcd", &f.etcd)] {
        if let Some(x) = side {
            s += &format!(
                "| {name} | {} | {} | {} | {} | {} |\n",
                x.kills_planned,
                x.failover.len(),
                opt(x.failover_q(0.5), |v| format!("{v:.2}")),
                opt(x.failover_q(0.99), |v| format!("{v:.2}")),
                opt(x.failover_q(1.0), |v| format!("{v:.2}"))
            );
        }
    }
    s += "\nIdle RSS (VmRSS) of each node, 10 s after the load:\n\n";
    for (name, side) in [("Opencloud", &f.ours), ("etcd", &f.etcd)] {
        if let Some(x) = side {
            let mb: Vec<String> = x
                .rss_kib
                .iter()
                .map(|k| format!("{:.0} MB", *k as f64 * 1024.0 / 1e6))
                .collect();
            s += &format!("- {name}: {}\n", mb.join(", "));
        }
    }
    s += &targets(f);
    s
}

fn targets(f: &Figures) -> String {
    let o = f.ours.as_ref();
    let e = f.etcd.as_ref();
    let (o64, e64) = (o.and_then(|x| x.run(64)), e.and_then(|x| x.run(64)));
    let (o1, e1) = (o.and_then(|x| x.run(1)), e.and_then(|x| x.run(1)));
    let mut s = String::from("\n| target | figure | result |\n|---|---|---|\n");
    let (fig, pass) = match (o64, e64) {
        (Some(o), Some(e)) => {
            let ratio = o.writes_per_sec() / e.writes_per_sec();
            (
                format!(
                    "{ratio:.2}× etcd's writes/s; p99 {:.1} ms vs {:.1} ms",
                    o.ms(0.99),
                    e.ms(0.99)
                ),
                Some(ratio >= 1.5 && o.ms(0.99) <= e.ms(0.99)),
            )
        }
        _ => ("–".into(), None),
    };
    s += &format!(
        "| 64 clients: writes/s ≥ 1.5× etcd, p99 ≤ etcd | {fig} | {} |\n",
        verdict(pass)
    );
    let (fig, pass) = match (o1, e1) {
        (Some(o), Some(e)) => (
            format!(
                "p50 {:.2} ms vs {:.2} ms ({:.2}×)",
                o.ms(0.5),
                e.ms(0.5),
                o.ms(0.5) / e.ms(0.5)
            ),
            Some(o.ms(0.5) <= e.ms(0.5)),
        ),
        _ => ("–".into(), None),
    };
    s += &format!("| 1 client: p50 ≤ etcd | {fig} | {} |\n", verdict(pass));
    let p99 = o.and_then(|x| x.failover_q(0.99));
    let complete = o.is_some_and(|x| x.failover.len() == x.kills_planned && x.kills_planned >= 10);
    s += &format!(
        "| failover p99 ≤ 1.5 s (≥ 10 kills) | {} | {} |\n",
        opt(p99, |v| format!("{v:.2} s")),
        verdict(p99.map(|v| v <= 1.5 && complete))
    );
    let rss = o.and_then(|x| x.max_rss_mb());
    s += &format!(
        "| idle node RSS < 150 MB | {} | {} |\n",
        opt(rss, |v| format!("largest node {v:.0} MB")),
        verdict(rss.map(|v| v < 150.0))
    );
    s
}

const SECTION: &str = "## Replicated store vs etcd";
const BEGIN: &str =
    "<!-- store-bench: generated by scripts/bench-store.sh; text outside these marks is kept -->";
const END: &str = "<!-- store-bench: end -->";

/// Replace the generated part of our section of `doc`, keeping everything else.
fn write_section(doc: &std::path::Path, body: &str) -> Result<()> {
    let old = match std::fs::read_to_string(doc) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", doc.display())),
    };
    let block = format!("{BEGIN}\n{body}{END}\n");
    let new = match (old.find(SECTION), old.find(BEGIN), old.find(END)) {
        (Some(_), Some(b), Some(e)) if e > b => {
            let rest = &old[e + END.len()..];
            format!(
                "{}{block}{}",
                &old[..b],
                rest.strip_prefix('\n').unwrap_or(rest)
            )
        }
        (Some(h), _, _) => {
            let eol = old[h..].find('\n').map_or(old.len(), |i| h + i + 1);
            format!("{}\n{block}{}", &old[..eol], &old[eol..])
        }
        _ => format!("{}\n{SECTION}\n\n{block}", old.trim_end()),
    };
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))
}
