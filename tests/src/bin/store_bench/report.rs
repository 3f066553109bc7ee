//! The benchmark's figures, the Markdown it prints and writes into
//! docs/BENCHMARKS.md, and the met/missed verdicts on issue 2's targets.

use std::time::Duration;

use anyhow::Result;
use opencloud_tests::host::{cores, now_utc, verdict};
use opencloud_tests::loadgen::{self, RunResult};

/// CPU use during one load run, in cores (1.0 = one core busy).
pub struct Cpu {
    pub clients: usize,
    pub nodes: f64,
    pub leader: f64,
    pub bench: f64,
    /// Every other process of the machine (builds, other tests).
    pub other: f64,
}

/// The figures of one system.
pub struct Side {
    pub runs: Vec<RunResult>,
    pub cpu: Vec<Cpu>,
    pub failover: Vec<Duration>,
    pub kills_planned: usize,
    pub rss_kib: Vec<u64>,
}

impl Side {
    pub fn run(&self, clients: usize) -> Option<&RunResult> {
        self.runs.iter().find(|r| r.clients == clients)
    }
    /// Failover quantile (nearest rank), in seconds.
    pub fn failover_q(&self, q: f64) -> Option<f64> {
        let mut v: Vec<f64> = self.failover.iter().map(|d| d.as_secs_f64()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
    /// Largest idle RSS of a node, in MB (10^6 bytes).
    pub fn max_rss_mb(&self) -> Option<f64> {
        self.rss_kib.iter().max().map(|k| *k as f64 * 1024.0 / 1e6)
    }
}

pub struct Figures {
    pub machine: String,
    pub etcd_version: Option<String>,
    pub warmup: Duration,
    pub duration: Duration,
    pub ours: Option<Side>,
    pub etcd: Option<Side>,
}

pub fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

/// The generated part of the docs section (Markdown); also printed.
pub fn render(f: &Figures) -> String {
    let mut s = String::new();
    let etcd_v = f.etcd_version.clone().unwrap_or_else(|| "etcd".into());
    s += &format!(
        "Measured {} on {}, by `scripts/bench-store.sh` ({etcd_v}).\n\n",
        now_utc(),
        f.machine
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
        "\nCPU during each load run (warm-up included), in cores of the {} the machine has, which the \
         nodes share with the load generator and with any other process running then:\n\n",
        cores()
    );
    s +=
        "| system | clients | all nodes | leader | load generator | other processes | writes per node CPU-second |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|\n";
    for (name, side) in [("Opencloud", &f.ours), ("etcd", &f.etcd)] {
        for c in side.iter().flat_map(|x| x.cpu.iter()) {
            let wps = side
                .as_ref()
                .and_then(|x| x.run(c.clients))
                .map(|r| r.writes_per_sec());
            s += &format!(
                "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |\n",
                c.clients,
                c.nodes,
                c.leader,
                c.bench,
                c.other,
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
    s += "With fewer than 100 samples, p99 is the largest one.\n\n";
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

pub fn targets(f: &Figures) -> String {
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

pub const SECTION: &str = "## Replicated store vs etcd";
pub const BEGIN: &str =
    "<!-- store-bench: generated by scripts/bench-store.sh; text outside these marks is kept -->";
pub const END: &str = "<!-- store-bench: end -->";

/// Replace the generated part of our section of `doc`, keeping everything else.
pub fn write_section(doc: &std::path::Path, body: &str) -> Result<()> {
    let section = opencloud_tests::doc_section::Section {
        heading: SECTION,
        begin: BEGIN,
        end: END,
    };
    opencloud_tests::doc_section::write_section(doc, &section, body)
}
