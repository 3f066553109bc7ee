//! The viewer benchmark's figures and its section of docs/BENCHMARKS.md.

use anyhow::Result;
use opencloud_tests::doc_section::{write_section, Section};
use opencloud_tests::host::{machine, verdict};

use crate::Options;

#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub n: usize,
}

impl Latency {
    pub fn of(ms: &[f64]) -> Latency {
        let mut v: Vec<f64> = ms.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if v.is_empty() {
                f64::NAN
            } else {
                v[(((v.len() - 1) as f64) * p).round() as usize]
            }
        };
        Latency {
            p50: at(0.5),
            p95: at(0.95),
            n: v.len(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fanout {
    pub viewers: usize,
    pub frames: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The node's processing per frame (FRAME's processing_us).
    pub newest_p50_ms: f64,
    pub newest_p99_ms: f64,
    /// Cores the node used (CPU seconds per second).
    pub cpu_cores: f64,
    pub bytes_per_viewer_s: f64,
}

#[derive(Default)]
pub struct Figures {
    pub key_ours: Option<Latency>,
    pub key_stock: Option<Latency>,
    pub idle_bps_ours: Option<f64>,
    pub idle_bps_stock: Option<f64>,
    pub text_bps_ours: Option<f64>,
    pub text_bps_stock: Option<f64>,
    pub fanout: Vec<Fanout>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".into(),
    }
}

fn kb(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.1} KB/s", v / 1000.0))
}

pub fn render(f: &Figures, o: &Options) -> String {
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d %H:%M UTC")
        .env("TZ", "UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut s = format!(
        "Run {date} on {}; guest: the test guest under TCG (720×400 text console). \
         {} s per byte measure, {} key presses per viewer. \
         Bytes are websocket payload bytes received by the page (Chromium's own count).\n\n",
        machine(),
        o.seconds,
        o.presses
    );
    s += "| measure | translate (ours) | spice-html5 + websockify | ours/theirs |\n|---|---|---|---|\n";
    s += &format!(
        "| bytes/s, scrolling text (`ls -lR /` loop) | {} | {} | {} |\n",
        kb(f.text_bps_ours),
        kb(f.text_bps_stock),
        ratio(f.text_bps_ours, f.text_bps_stock)
    );
    s += &format!(
        "| bytes/s, idle shell (blinking cursor) | {} | {} | {} |\n",
        kb(f.idle_bps_ours),
        kb(f.idle_bps_stock),
        ratio(f.idle_bps_ours, f.idle_bps_stock)
    );
    let lat = |l: Option<Latency>| {
        l.map_or("n/a".into(), |l| {
            format!("p50 {:.0} ms, p95 {:.0} ms (n={})", l.p50, l.p95, l.n)
        })
    };
    s += &format!(
        "| key press → changed canvas pixel | {} | {} | {} |\n\n",
        lat(f.key_ours),
        lat(f.key_stock),
        ratio(f.key_ours.map(|l| l.p50), f.key_stock.map(|l| l.p50))
    );
    s += "Many viewers of one node: the text workload's SPICE traffic recorded from the \
          real guest and replayed (looping) by a replay server to N concurrent viewers \
          of one `opencloud spice serve` (release); each viewer acknowledges every frame \
          at once. Latency as the node stamps it in every FRAME: for the oldest SPICE \
          message in the frame, message in → websocket frame out (on this busy screen \
          it includes the deliberate merging of redraws, frames at most every 50 ms); \
          and the node's processing, from the moment the frame could go (its changes \
          read, pacing passed, the browser's window open) to websocket out.\n\n";
    s += "| viewers | frames | oldest msg p50 | p99 | processing p50 | p99 | node CPU | viewers per core | bytes/s per viewer |\n|---|---|---|---|---|---|---|---|---|\n";
    for x in &f.fanout {
        let per_core = if x.cpu_cores > 0.0 {
            format!("{:.0}", x.viewers as f64 / x.cpu_cores)
        } else {
            "n/a".into()
        };
        s += &format!(
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} % of a core | {} | {:.1} KB/s |\n",
            x.viewers,
            x.frames,
            x.p50_ms,
            x.p99_ms,
            x.newest_p50_ms,
            x.newest_p99_ms,
            x.cpu_cores * 100.0,
            per_core,
            x.bytes_per_viewer_s / 1000.0
        );
    }
    let at50 = f.fanout.iter().find(|x| x.viewers == 50);
    let per_core50 = at50
        .filter(|x| x.cpu_cores > 0.0)
        .map(|x| x.viewers as f64 / x.cpu_cores);
    s += "\n| target | result | |\n|---|---|---|\n";
    let text_ratio = match (f.text_bps_ours, f.text_bps_stock) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    s += &format!(
        "| bytes/s ≤ 0.5× spice-html5 (text) | {} | {} |\n",
        ratio(f.text_bps_ours, f.text_bps_stock),
        verdict(text_ratio.map(|r| r <= 0.5))
    );
    s += &format!(
        "| node p99 ≤ 2 ms at 50 viewers (processing) | {} | {} |\n",
        at50.map_or("n/a".into(), |x| format!(
            "{:.2} ms (oldest message, with merging: {:.2} ms)",
            x.newest_p99_ms, x.p99_ms
        )),
        verdict(at50.map(|x| x.newest_p99_ms <= 2.0))
    );
    let key_ratio = match (f.key_ours, f.key_stock) {
        (Some(a), Some(b)) if b.p50 > 0.0 => Some(a.p50 / b.p50),
        _ => None,
    };
    s += &format!(
        "| key → pixel ≤ 0.8× spice-html5 | {} | {} |\n",
        key_ratio.map_or("n/a".into(), |r| format!("{r:.2}×")),
        verdict(key_ratio.map(|r| r <= 0.8))
    );
    s += &format!(
        "| ≥ 100 viewers per core (text) | {} | {} |\n\n",
        per_core50.map_or("n/a".into(), |v| format!("{v:.0} at 50 viewers")),
        verdict(per_core50.map(|v| v >= 100.0))
    );
    s
}

pub fn write(doc: &std::path::Path, body: &str) -> Result<()> {
    let section = Section {
        heading: "## SPICE translator vs spice-html5",
        begin: "<!-- viewer-bench: generated by scripts/bench-viewer.sh; text outside these marks is kept -->",
        end: "<!-- viewer-bench: end -->",
    };
    write_section(doc, &section, body)
}
