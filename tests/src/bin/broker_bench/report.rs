//! The broker benchmark's figures and its section of docs/BENCHMARKS.md.

use std::collections::BTreeMap;

use anyhow::Result;
use opencloud_tests::doc_section::{write_section, Section};
use opencloud_tests::host::{machine, now_utc, verdict, Pcts};

use crate::capacity::{CapacityFigures, Step, GUEST_MB};
use crate::launch::{LaunchFigures, Run};

/// Warm launch → first frame p95 must stay under this.
const WARM_P95_TARGET_MS: f64 = 2000.0;

#[derive(Default)]
pub struct Figures {
    pub launch: Option<LaunchFigures>,
    pub capacity: Option<CapacityFigures>,
}

/// The commit the node was built from, as far as the work tree tells.
fn source() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&[
                "status",
                "--porcelain",
                "--",
                "../node",
                "../raft",
                "../spice",
            ])
            .is_some_and(|s| !s.is_empty());
            format!(
                "commit {head}{}",
                if dirty {
                    " with uncommitted changes in the node's sources"
                } else {
                    ""
                }
            )
        }
        None => "an unknown commit".into(),
    }
}

fn qemu_version() -> String {
    std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().next()?.to_string();
            line.split_whitespace().nth(3).map(str::to_string)
        })
        .unwrap_or_default()
}

fn ms(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

fn mib(kib: f64) -> String {
    if kib.is_finite() {
        format!("{:.0} MiB", kib / 1024.0)
    } else {
        "n/a".into()
    }
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / 1048576.0)
}

fn row(name: &str, p: &Pcts) -> String {
    format!(
        "| {name} | {} | {} | {} | {} |\n",
        ms(p.p50),
        ms(p.p95),
        ms(p.max),
        p.n
    )
}

type Col = fn(&Run) -> f64;

/// The steps of a launch, each from the one before.
const SPLIT: [(&str, Col); 7] = [
    ("dblclick → launch request sent", |r| r.sent),
    (
        "launch request → its answer in (`POST …/apps/shell/launch`: the VM taken by a \
         compare-and-swap, its runner sets a new SPICE password over QMP, a ticket)",
        |r| r.answer - r.sent,
    ),
    (
        "answer → viewer document starts (iframe navigation, `viewer.html`)",
        |r| r.doc - r.answer,
    ),
    (
        "viewer document → websocket created (`viewer.js` loads and runs)",
        |r| r.ws - r.doc,
    ),
    (
        "websocket created → open (TLS, upgrade; the node redeems the ticket and grants a \
         resume key first)",
        |r| r.open - r.ws,
    ),
    ("websocket open → first message (the node's hello)", |r| {
        r.msg - r.open
    }),
    (
        "hello → first frame drawn (SPICE connect to the VM, the first screen encoded, sent, \
         decoded, drawn)",
        |r| r.frame - r.msg,
    ),
];

fn warm_section(l: &LaunchFigures) -> (String, Pcts) {
    let col = |runs: &[&Run], f: Col| Pcts::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    let all: Vec<&Run> = l.warm.iter().collect();
    let total = col(&all, |r| r.frame);
    let mut t = format!(
        "**Warm launch → first frame.** 3 release nodes on loopback (node {} leads), the broker's \
         test settings (`tests/src/broker.rs::options()`: TCG, short timeouts), a tenant with a pool \
         of the test guest (256 MiB, 1 vCPU) kept at {} warm VMs, headless {} through \
         `tests/browser/viewer.mjs`. {} runs after {} warm-ups; each in a fresh browser context, \
         with a fresh user signed in to the next node in turn before the clock starts. The benchmark \
         waits until the pool has a ready VM, then dispatches a `dblclick` on the app's icon; the \
         clock runs in the desktop page (`performance.now()`) from that event to the moment the \
         viewer iframe's `ocViewer.frames` becomes 1 (the first update drawn). The iframe writes its \
         milestones on the desktop page's clock (`parent.performance.now()`, same origin), so there \
         is one clock; the launch request's times come from Resource Timing. Then the window is \
         closed and the user signs out, which releases the VM; the pool refills in the background, \
         so most launches ran while a replacement booted (TCG: a boot takes a core for seconds). \
         Other processes on the machine used {:.2} cores on average during the runs.\n\n",
        l.leader,
        l.warm_count,
        l.chromium,
        l.warm.len(),
        l.warmups,
        l.others_warm
    );
    let quiet: Vec<&Run> = l.quiet.iter().collect();
    t += &format!(
        "The last {} runs waited for the pool to be full again (no boot in flight) before the \
         click: the right-hand columns.\n\n",
        quiet.len()
    );
    t += "| measure | p50 | p95 | max | n | pool full: p50 | max | n |\n\
          |---|---:|---:|---:|---:|---:|---:|---:|\n";
    let line = |name: &str, f: Col| {
        let (p, q) = (col(&all, f), col(&quiet, f));
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
            ms(p.p50),
            ms(p.p95),
            ms(p.max),
            p.n,
            ms(q.p50),
            ms(q.max),
            q.n
        )
    };
    t += &line("**dblclick → first frame**", |r| r.frame);
    t += &line("dblclick → the animation frame after it", |r| r.paint);
    for (name, f) in SPLIT {
        t += &line(&format!("… {name}"), f);
    }
    t += &line(
        "(of the launch request: the node's part, sent → first byte)",
        |r| r.server,
    );
    t += "\nThe first frame by where the runs' VMs were (all runs but the pool-full ones):\n\n\
          | runs | p50 | p95 | max | n |\n|---|---:|---:|---:|---:|\n";
    let split = |name: &str, keep: &dyn Fn(&Run) -> bool| {
        let some: Vec<&Run> = l.warm.iter().filter(|r| keep(r)).collect();
        row(name, &col(&some, |r| r.frame))
    };
    t += &split("no boot in flight at the click", &|r| r.booting == 0);
    t += &split("one boot in flight", &|r| r.booting == 1);
    t += &split("two or more boots in flight", &|r| r.booting >= 2);
    t += &split("VM on the page's node", &|r| r.vm_node == r.node);
    t += &split("VM on another node", &|r| r.vm_node != r.node);
    let (big, share) = SPLIT
        .iter()
        .map(|(name, f)| (name, col(&all, *f).p50))
        .fold(("", 0.0), |a, (n, v)| if v > a.1 { (n, v) } else { a });
    t += &format!(
        "\nLargest step at the median: {big} ({}, {:.0} % of the p50).\n\n",
        ms(share),
        share / total.p50 * 100.0
    );
    (t, total)
}

fn cold_section(l: &LaunchFigures) -> String {
    let mut t = format!(
        "**Cold launch (TCG).** The same cluster, the warm pool removed first (its VMs stopped), \
         then a second tenant whose pool has `warm: 0`: each launch finds no VM, asks the planner \
         for one (a demand record) and waits while it boots. {} runs, one VM at a time, each after \
         the previous VM was gone. The page's clock as above; the VM's milestones on this \
         process's clock from just before the click (the page's click follows within a few ms): \
         its record first seen (the VM list polled every 100 ms), its QEMU process started \
         (`/proc/PID/stat` start time), and its record first seen ready or assigned (the node's \
         runner found the guest's ready line in QEMU's serial ring, read over QMP at each of its \
         passes, every 250 ms; the benchmark cannot read that ring itself without taking the line \
         from the runner). Other processes used {:.2} cores during these runs.\n\n\
         | run | VM record | QEMU started | seen ready | launch answer | first frame | boot (QEMU started → seen ready) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        l.cold.len(),
        l.others_cold
    );
    for (i, (r, b)) in l.cold.iter().enumerate() {
        t += &format!(
            "| {} | {} | {} | {} | {} | **{}** | {} |\n",
            i + 1,
            ms(b.record),
            ms(b.qemu),
            ms(b.marked),
            ms(r.answer),
            ms(r.frame),
            ms(b.marked - b.qemu)
        );
    }
    let p = |f: &dyn Fn(&(Run, crate::launch::Boot)) -> f64| {
        Pcts::of(&l.cold.iter().map(f).collect::<Vec<_>>())
    };
    let total = p(&|(r, _)| r.frame);
    let boot = p(&|(_, b)| b.marked - b.qemu);
    let before = p(&|(_, b)| b.qemu);
    let after = p(&|(r, b)| r.frame - b.marked);
    let recs: Vec<String> = l
        .cold
        .iter()
        .filter_map(|(_, b)| b.record_s.map(|s| format!("{s} s")))
        .collect();
    t += &format!(
        "\nMedians: dblclick → first frame {}, of which the boot (QEMU started → seen ready) {} \
         ({:.0} %), dblclick → QEMU started {} (the launch's demand, the planner's next pass, the \
         runner's next pass, the spawn), seen ready → first frame {} (the launch's next look, \
         the password, the ticket, the viewer).{}{}\n\n",
        ms(total.p50),
        ms(boot.p50),
        boot.p50 / total.p50 * 100.0,
        ms(before.p50),
        ms(after.p50),
        if recs.is_empty() {
            String::new()
        } else {
            format!(
                " The VM records' own `since − created_at` when seen ready (whole seconds): {}.",
                recs.join(", ")
            )
        },
        if l.surplus > 0 {
            format!(
                " **{} VM(s) were left in the `warm: 0` pool after the cold launches** (started \
                 for a demand the launch had already been served for; the benchmark made the pool \
                 anew each time).",
                l.surplus
            )
        } else {
            String::new()
        }
    );
    t
}

fn capacity_section(c: &CapacityFigures) -> String {
    let mut t = format!(
        "**Idle VMs on one node.** A single release node (`ClusterOptions::nodes(1)`, \
         `OPENCLOUD_MAX_VMS=1000`; a VM still starting after {} s is failed and replaced), one pool of the test guest ({GUEST_MB} MiB, \
         1 vCPU, TCG) whose warm count is raised step by step; each step ends when all its VMs are \
         ready, when MemAvailable falls under {}, or after {} s. {} s after a step fills, the QEMU \
         processes of the ready VMs (found by their `-name opencloud-<vm id>`) are read: RSS and \
         PSS from `/proc/PID/smaps_rollup`, their CPU over 10 s, and the host's MemAvailable (it \
         was {} with the node up and no VM, of {} in all). MemAvailable is the whole machine's: \
         other processes (builds, tests) move it too.\n\n\
         | warm count | ready | filled in | first new VM ready | QEMU RSS mean / max | QEMU PSS mean / max | PSS sum | MemAvailable after | its drop per VM added | idle VMs' CPU | node RSS | others' CPU while filling |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        c.start_timeout_s,
        gib(c.min_available_kib),
        c.fill_timeout_s,
        10,
        gib(c.avail_start_kib),
        gib(c.mem_total_kib)
    );
    let mut prev: Option<&Step> = None;
    for s in &c.steps {
        let rss = Pcts::of(&s.rss_kib);
        let pss = Pcts::of(&s.pss_kib);
        let added = s.ready.saturating_sub(prev.map_or(0, |p| p.ready)).max(1) as f64;
        // From just before the warm count was raised: what moved between
        // steps (other processes) stays out.
        let drop = (s.avail_before_kib as f64 - s.avail_after_kib as f64) / added;
        t += &format!(
            "| {} | {}{} | {} | {:.0} s | {} / {} | {} / {} | {} | {} | {} | {:.2} cores | {} | {:.2} cores |\n",
            s.target,
            s.ready,
            if s.failed > 0 {
                format!(" ({} failed and replaced)", s.failed)
            } else {
                String::new()
            },
            if s.filled { format!("{:.0} s", s.fill_s) } else { "not filled".into() },
            s.first_s,
            mib(rss.mean),
            mib(rss.max),
            mib(pss.mean),
            mib(pss.max),
            mib(s.pss_kib.iter().sum()),
            gib(s.avail_after_kib),
            mib(drop),
            s.idle_cores,
            mib(s.node_rss_kib as f64),
            s.others_cores
        );
        prev = Some(s);
    }
    t += &format!("\nThe steps ended because {}.", c.stop);
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &c.steps {
        for why in s.failures.values() {
            *reasons.entry(why.as_str()).or_default() += 1;
        }
    }
    if !reasons.is_empty() {
        let list: Vec<String> = reasons
            .iter()
            .map(|(why, n)| format!("{n} × “{why}”"))
            .collect();
        t += &format!(" VMs failed while the steps filled: {}.", list.join("; "));
    }
    t += "\n\n";
    if let Some(k) = c.steps.iter().find(|s| s.target == c.idle_k && s.filled) {
        let rss = Pcts::of(&k.rss_kib);
        let pss = Pcts::of(&k.pss_kib);
        let per = (c.avail_start_kib as f64 - k.avail_after_kib as f64) / k.ready.max(1) as f64;
        let cpu = k.idle_cores / k.ready.max(1) as f64;
        let by_mem = c.avail_start_kib as f64 / per;
        // All its RAM resident, plus what of the QEMU process is not
        // anonymous memory (libraries, the kernel and initramfs files).
        let anon = Pcts::of(&k.anon_kib).mean;
        let full = (GUEST_MB as f64 * 1024.0 + (pss.mean - anon).max(0.0)).max(per);
        t += &format!(
            "**Memory per idle VM ({} ready on one node).** QEMU RSS mean {} (max {}), PSS mean {} \
             (max {}); of the RSS, {} is anonymous (guest RAM, video RAM, TCG's code buffer), {} of \
             it in transparent huge pages. The host's MemAvailable dropped by {} per VM (from no VM \
             to {}). Each idle VM burns {:.1} % of a core under TCG.\n\n",
            k.ready,
            mib(rss.mean),
            mib(rss.max),
            mib(pss.mean),
            mib(pss.max),
            mib(anon),
            mib(Pcts::of(&k.thp_kib).mean),
            mib(per),
            k.ready,
            cpu * 100.0
        );
        let held = c.steps.iter().filter(|s| s.filled).max_by_key(|s| s.ready);
        let cores = opencloud_tests::host::cores();
        t += &format!(
            "**How many VMs one node holds.** The largest step held all ready at once: {}. \
             Projected from the figures above, this machine's {} of MemAvailable holds about {:.0} \
             such idle test guests by the MemAvailable drop per VM ({:.0} by PSS); if each guest \
             touched all its {GUEST_MB} MiB (a real desktop would), about {:.0}. By CPU, {:.0} idle \
             TCG guests would fill the machine's {cores} cores (booting ones take a whole core \
             each while they boot).\n\n",
            held.map_or("none".into(), |h| format!(
                "{} VMs, {} of QEMU PSS in all, MemAvailable {} below where it started",
                h.ready,
                mib(h.pss_kib.iter().sum()),
                gib(c.avail_start_kib.saturating_sub(h.avail_after_kib))
            )),
            gib(c.avail_start_kib),
            by_mem,
            c.avail_start_kib as f64 / pss.mean,
            c.avail_start_kib as f64 / full,
            cores as f64 / cpu.max(1e-6),
        );
    }
    t
}

pub fn render(f: &Figures) -> String {
    let mut s = format!(
        "Run {} on {}, by `scripts/bench-broker.sh` (release build of {}; QEMU {} with TCG, no \
         KVM; everything on 127.0.0.1). The machine is shared with other builds and tests: the \
         figures are noisy, and each part says how many cores other processes took.\n\n",
        now_utc(),
        machine(),
        source(),
        qemu_version()
    );
    let mut targets = String::from("| target | result | |\n|---|---|---|\n");
    if let Some(l) = &f.launch {
        let (text, total) = warm_section(l);
        s += &text;
        s += &cold_section(l);
        targets += &format!(
            "| warm launch → first frame p95 < {} | p95 {} (p50 {}, max {}) | {} |\n",
            ms(WARM_P95_TARGET_MS),
            ms(total.p95),
            ms(total.p50),
            ms(total.max),
            verdict(total.p95 < WARM_P95_TARGET_MS)
        );
    }
    if let Some(c) = &f.capacity {
        s += &capacity_section(c);
    }
    s += &targets;
    s += "\n";
    s
}

pub fn write(doc: &std::path::Path, body: &str) -> Result<()> {
    let section = Section {
        heading: "## VM broker",
        begin: "<!-- broker-bench: generated by scripts/bench-broker.sh; text outside these marks is kept -->",
        end: "<!-- broker-bench: end -->",
    };
    write_section(doc, &section, body)
}
