//! Parts 3 and 4: idle VMs on one node. A single release node with room
//! for many VMs; the pool's warm count is stepped up, and at each step,
//! once every VM is ready and the machine has settled, the memory of each
//! QEMU process (RSS and PSS from `/proc/PID/smaps_rollup`), the host's
//! MemAvailable, and the CPU the idle VMs burn.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use opencloud_tests::broker::{qemu_pid, seed, shell_pool};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use reqwest::{Method, StatusCode};

use opencloud_tests::host::{
    cpu_secs, mem_available_kib, mem_total_and_available_kib, pid_with_data_dir, rss_kib,
    smaps_rollup_kib, OthersMeter, Pcts,
};

use crate::{broker_cluster, Options};

/// The test guest's memory (`shell_pool`): what each VM may touch at most.
pub const GUEST_MB: u32 = 256;
/// How long the machine settles after a step fills, before measuring.
const SETTLE: Duration = Duration::from_secs(10);
/// The window over which idle VMs' CPU is measured.
const CPU_WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub struct Step {
    pub target: u32,
    /// Ready when the step ended (filled or not).
    pub ready: u32,
    /// VMs that failed while the step filled, with the broker's reasons.
    pub failed: u32,
    pub failures: BTreeMap<String, String>,
    pub filled: bool,
    /// Warm count raised → every VM ready.
    pub fill_s: f64,
    /// Warm count raised → the first new VM ready.
    pub first_s: f64,
    pub avail_before_kib: u64,
    pub avail_after_kib: u64,
    /// Per QEMU process, KiB.
    pub rss_kib: Vec<f64>,
    pub pss_kib: Vec<f64>,
    /// Anonymous memory, and the part of it in transparent huge pages.
    pub anon_kib: Vec<f64>,
    pub thp_kib: Vec<f64>,
    /// CPU of all the idle VMs' QEMU processes together, in cores.
    pub idle_cores: f64,
    pub node_rss_kib: u64,
    /// Cores other processes used while the step filled.
    pub others_cores: f64,
}

#[derive(Clone, Debug, Default)]
pub struct CapacityFigures {
    pub steps: Vec<Step>,
    /// The step whose memory part 3 reports.
    pub idle_k: u32,
    pub mem_total_kib: u64,
    /// MemAvailable with the node up and no VM.
    pub avail_start_kib: u64,
    pub min_available_kib: u64,
    pub fill_timeout_s: u64,
    pub start_timeout_s: u64,
    /// Why the steps ended.
    pub stop: String,
}

/// The QEMU pids of the tenant's ready VMs.
async fn ready_qemus(admin: &TenantAdmin) -> Result<Vec<u32>> {
    let list = opencloud_tests::broker::vms(admin).await?;
    Ok(list
        .iter()
        .filter(|v| v.state == "ready")
        .filter_map(|v| qemu_pid(&v.id))
        .collect())
}

async fn measure(admin: &TenantAdmin, node_pid: Option<u32>, step: &mut Step) -> Result<()> {
    tokio::time::sleep(SETTLE).await;
    let pids = ready_qemus(admin).await?;
    let before: Vec<Option<f64>> = pids.iter().map(|&p| cpu_secs(p)).collect();
    let t = Instant::now();
    tokio::time::sleep(CPU_WINDOW).await;
    let secs = t.elapsed().as_secs_f64();
    step.idle_cores = pids
        .iter()
        .zip(&before)
        .filter_map(|(&p, b)| Some(cpu_secs(p)? - (*b)?))
        .sum::<f64>()
        / secs;
    for &p in &pids {
        if let Some([rss, pss, anon, thp]) =
            smaps_rollup_kib(p, ["Rss", "Pss", "Anonymous", "AnonHugePages"])
        {
            step.rss_kib.push(rss);
            step.pss_kib.push(pss);
            step.anon_kib.push(anon);
            step.thp_kib.push(thp);
        }
    }
    step.avail_after_kib = mem_available_kib();
    step.node_rss_kib = node_pid.map_or(0, |p| rss_kib(p).unwrap_or(0));
    Ok(())
}

pub async fn run(o: &Options) -> Result<CapacityFigures> {
    let max = o.steps.iter().copied().max().unwrap_or(o.idle);
    // The start timeout stays the tests' (240 s): a VM whose guest never
    // gets ready is failed and replaced then, as in production.
    let c = Cluster::start(broker_cluster(1, &[("OPENCLOUD_MAX_VMS", "1000")]))
        .await
        .context("starting the node")?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "capco");
    seed(
        &c.api(1),
        &admin,
        "capco",
        shell_pool("shell", 0, max, 600)?,
        0,
    )
    .await?;
    let node_pid = pid_with_data_dir(c.node(1).data_dir());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut f = CapacityFigures {
        idle_k: o.idle,
        mem_total_kib: mem_total_and_available_kib().0,
        avail_start_kib: mem_available_kib(),
        min_available_kib: o.min_available_kib,
        fill_timeout_s: o.fill_timeout.as_secs(),
        start_timeout_s: 240,
        stop: format!("the last step ({max}) filled"),
        ..CapacityFigures::default()
    };
    eprintln!(
        "  1 release node up, MemAvailable {:.1} GiB",
        f.avail_start_kib as f64 / 1048576.0
    );
    let mut prev_ready = 0;
    for &k in &o.steps {
        let mut step = Step {
            target: k,
            avail_before_kib: mem_available_kib(),
            ..Step::default()
        };
        let body = shell_pool("shell", k, max, 600)?;
        let r = admin.call(Method::PUT, "pools/shell", Some(body)).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "PUT pool: {}", r.text());
        let t = Instant::now();
        let meter = OthersMeter::start();
        let mut said = Instant::now();
        let mut low = false;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(list) = opencloud_tests::broker::vms(&admin).await else {
                continue;
            };
            let state = |s: &str| list.iter().filter(|v| v.state == s).count() as u32;
            let (ready, starting) = (state("ready"), state("starting"));
            for v in list.iter().filter(|v| v.state == "failed") {
                let why = v.reason.clone().unwrap_or_default();
                step.failures.entry(v.id.clone()).or_insert(why);
            }
            step.ready = ready;
            step.failed = step.failures.len() as u32;
            if step.first_s == 0.0 && ready > prev_ready {
                step.first_s = t.elapsed().as_secs_f64();
            }
            let avail = mem_available_kib();
            if ready >= k {
                step.filled = true;
                step.fill_s = t.elapsed().as_secs_f64();
                break;
            }
            if avail < o.min_available_kib {
                low = true;
                f.stop = format!(
                    "MemAvailable fell to {:.1} GiB while filling {k}",
                    avail as f64 / 1048576.0
                );
                break;
            }
            if t.elapsed() > o.fill_timeout {
                f.stop = format!(
                    "{k} VMs were not all ready within {} s ({ready} ready, {starting} starting, \
                     {} failed)",
                    o.fill_timeout.as_secs(),
                    step.failed
                );
                break;
            }
            if said.elapsed() > Duration::from_secs(15) {
                said = Instant::now();
                eprintln!(
                    "    {k}: {:.0} s: {ready} ready, {starting} starting, {} failed so far; \
                     MemAvailable {:.1} GiB",
                    t.elapsed().as_secs_f64(),
                    step.failed,
                    avail as f64 / 1048576.0
                );
            }
        }
        step.others_cores = meter.cores();
        if step.filled {
            measure(&admin, node_pid, &mut step).await?;
            let rss = Pcts::of(&step.rss_kib);
            let pss = Pcts::of(&step.pss_kib);
            eprintln!(
                "  {k} VMs ready in {:.0} s (first new one after {:.0} s; others used {:.2} cores): \
                 QEMU RSS mean {:.0} MiB, PSS mean {:.0} MiB; MemAvailable {:.1} GiB; idle VMs use {:.2} cores",
                step.fill_s,
                step.first_s,
                step.others_cores,
                rss.mean / 1024.0,
                pss.mean / 1024.0,
                step.avail_after_kib as f64 / 1048576.0,
                step.idle_cores
            );
        } else {
            step.avail_after_kib = mem_available_kib();
            eprintln!("  step {k} stopped: {}", f.stop);
        }
        prev_ready = step.ready;
        let filled = step.filled;
        f.steps.push(step);
        if !filled || low {
            break;
        }
    }
    // Dropping the cluster kills the node, and its VMs with it (QEMU runs
    // with a parent-death signal). Check that none was left behind.
    let ids: Vec<String> = opencloud_tests::broker::vms(&admin)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.id)
        .collect();
    drop(c);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let left: Vec<u32> = ids.iter().filter_map(|id| qemu_pid(id)).collect();
    if !left.is_empty() {
        eprintln!(
            "  {} QEMU processes outlived their node; killing them by pid",
            left.len()
        );
        for pid in left {
            // SAFETY: plain syscall; these are the VMs of our own node.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
    Ok(f)
}
