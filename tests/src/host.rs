//! What the benchmarks read off the machine they run on: the CPU time of
//! processes and of the whole machine, memory, a description of the machine
//! and the date for `docs/BENCHMARKS.md`, and percentiles of a sample.
//!
//! Every reading is best effort: a process may end between listing and
//! reading it, so a missing figure is `None` (or NaN for sums), never an
//! error that ends a long benchmark run.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use procfs::process::Process;
use procfs::{Current, CurrentSI};

fn ticks() -> f64 {
    procfs::ticks_per_second().max(1) as f64
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = Process::new(pid as i32).ok()?.stat().ok()?;
    Some((s.utime + s.stime) as f64 / ticks())
}

/// How long ago a process started.
pub fn process_age(pid: u32) -> Option<Duration> {
    let start = Process::new(pid as i32).ok()?.stat().ok()?.starttime as f64 / ticks();
    let up = procfs::Uptime::current().ok()?.uptime;
    Some(Duration::from_secs_f64((up - start).max(0.0)))
}

/// CPU seconds of `root` and every process under it, with the children they
/// have reaped (so a process that ended keeps counting through its parent).
pub fn tree_cpu_secs(root: u32) -> f64 {
    let Ok(all) = procfs::process::all_processes() else {
        return f64::NAN;
    };
    // (pid, parent, own and reaped children's ticks)
    let procs: Vec<(i32, i32, f64)> = all
        .flatten()
        .filter_map(|p| p.stat().ok())
        .map(|s| {
            let t = (s.utime + s.stime) as f64 + (s.cutime + s.cstime).max(0) as f64;
            (s.pid, s.ppid, t)
        })
        .collect();
    let mut tree = HashSet::from([root as i32]);
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _) in &procs {
            if tree.contains(ppid) && tree.insert(*pid) {
                grew = true;
            }
        }
    }
    procs
        .iter()
        .filter(|(pid, _, _)| tree.contains(pid))
        .map(|(_, _, t)| t)
        .sum::<f64>()
        / ticks()
}

/// Busy CPU seconds of the whole machine (`None`) or of one core, from
/// /proc/stat: everything but idle and iowait.
pub fn busy_secs(core: Option<usize>) -> f64 {
    let Ok(stats) = procfs::KernelStats::current() else {
        return f64::NAN;
    };
    let t = match core {
        None => &stats.total,
        Some(c) => match stats.cpu_time.get(c) {
            Some(t) => t,
            None => return f64::NAN,
        },
    };
    let extra = [t.irq, t.softirq, t.steal]
        .into_iter()
        .flatten()
        .sum::<u64>();
    (t.user + t.nice + t.system + extra) as f64 / ticks()
}

/// The cores that processes outside this benchmark's process tree use, from
/// the moment it is started: the benchmark reports it, so a figure taken
/// while something else loaded the machine shows as such.
pub struct OthersMeter {
    busy: f64,
    ours: f64,
    at: Instant,
}

impl OthersMeter {
    pub fn start() -> OthersMeter {
        OthersMeter {
            busy: busy_secs(None),
            ours: tree_cpu_secs(std::process::id()),
            at: Instant::now(),
        }
    }

    /// Average cores used by others since `start`.
    pub fn cores(&self) -> f64 {
        let secs = self.at.elapsed().as_secs_f64().max(0.001);
        let others =
            (busy_secs(None) - self.busy) - (tree_cpu_secs(std::process::id()) - self.ours);
        (others / secs).max(0.0)
    }
}

/// Waits (at most `limit`) until processes other than this one and its
/// children use less than `below` cores over 2 s; returns the last reading.
pub async fn wait_quiet(below: f64, limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let meter = OthersMeter::start();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let others = meter.cores();
        if others < below || Instant::now() >= deadline {
            return others;
        }
        eprintln!("  the machine is busy with other processes ({others:.2} cores); waiting");
    }
}

/// The machine's memory and what is available for new processes, in KiB.
pub fn mem_total_and_available_kib() -> (u64, u64) {
    match procfs::Meminfo::current() {
        Ok(m) => (m.mem_total / 1024, m.mem_available.unwrap_or(0) / 1024),
        Err(_) => (0, 0),
    }
}

/// MemAvailable, in KiB.
pub fn mem_available_kib() -> u64 {
    mem_total_and_available_kib().1
}

/// A process's resident set (VmRSS), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    Process::new(pid as i32).ok()?.status().ok()?.vmrss
}

/// Fields of a process's `/proc/PID/smaps_rollup` (`"Rss"`, `"Pss"`, ...),
/// in KiB, in the order asked; `None` when the process is gone or a field
/// is missing.
pub fn smaps_rollup_kib<const N: usize>(pid: u32, fields: [&str; N]) -> Option<[f64; N]> {
    let rollup = Process::new(pid as i32).ok()?.smaps_rollup().ok()?;
    let map = &rollup.memory_map_rollup.0.first()?.extension.map;
    let mut out = [0.0; N];
    for (slot, name) in out.iter_mut().zip(fields) {
        *slot = *map.get(name)? as f64 / 1024.0;
    }
    Some(out)
}

/// The pid of the process whose command line has `--data DIR` (a node).
pub fn pid_with_data_dir(dir: &Path) -> Option<u32> {
    let want = dir.to_str()?;
    procfs::process::all_processes()
        .ok()?
        .flatten()
        .find(|p| {
            p.cmdline()
                .is_ok_and(|args| args.windows(2).any(|w| w[0] == "--data" && w[1] == want))
        })
        .map(|p| p.pid as u32)
}

/// The CPUs online: the machine's, not this process's affinity, which a
/// benchmark may have narrowed.
pub fn cores() -> usize {
    procfs::CpuInfo::current().map_or(0, |info| info.num_cores())
}

/// The machine, as the benchmark sections name it: "2 vCPU AMD EPYC …, 24
/// GiB RAM".
pub fn machine() -> String {
    let cpu = procfs::CpuInfo::current()
        .ok()
        .and_then(|info| info.model_name(0).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".to_string());
    let gib = mem_total_and_available_kib().0 as f64 / 1048576.0;
    format!("{} vCPU {cpu}, {gib:.0} GiB RAM", cores())
}

/// Now, in UTC, to the minute: when a benchmark ran.
pub fn now_utc() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A target's verdict in a results table.
pub fn verdict(ok: impl Into<Option<bool>>) -> &'static str {
    match ok.into() {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// Percentiles of a sample: the value at rank round((n - 1) × p). NaNs are
/// left out; an empty sample gives NaNs and `n` 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pcts {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub n: usize,
}

impl Pcts {
    pub fn of(xs: &[f64]) -> Pcts {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let Some(&max) = v.last() else {
            return Pcts {
                p50: f64::NAN,
                p95: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
                n: 0,
            };
        };
        let at = |p: f64| v[(((v.len() - 1) as f64) * p).round() as usize];
        Pcts {
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max,
            mean: v.iter().sum::<f64>() / v.len() as f64,
            n: v.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Pcts::of(&xs);
        assert_eq!(
            (p.p50, p.p95, p.p99, p.max, p.n),
            (51.0, 95.0, 99.0, 100.0, 100)
        );
        assert_eq!(p.mean, 50.5);
        let e = Pcts::of(&[f64::NAN]);
        assert_eq!(e.n, 0);
        assert!(e.p50.is_nan());
    }

    #[test]
    fn readings_of_this_process() {
        assert!(cpu_secs(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
        let [rss, pss] = smaps_rollup_kib(std::process::id(), ["Rss", "Pss"]).expect("rollup");
        assert!(rss > 0.0 && pss > 0.0 && pss <= rss);
        assert!(tree_cpu_secs(std::process::id()) >= cpu_secs(std::process::id()).unwrap_or(0.0));
        let (total, avail) = mem_total_and_available_kib();
        assert!(total > 0 && avail > 0 && avail <= total);
        assert!(machine().contains("vCPU"));
        assert_eq!(cpu_secs(u32::MAX), None);
    }
}
