//! Parts 1 and 2: a VM app's launch as a user sees it, in headless Chromium
//! on a 3-node release cluster, from the icon's `dblclick` to the viewer
//! iframe's first frame, timed in the page; warm (a ready VM waits) and
//! cold (`warm: 0`: the launch waits for a boot).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opencloud_tests::broker::{qemu_pid, seed, shell_pool, wait_counts};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use opencloud_tests::host::{process_age, OthersMeter};

use crate::{broker_cluster, Options};

/// Runs before every document's scripts, in the desktop page and in its
/// frames. The desktop page keeps the time of the `dblclick` (its
/// `performance.now()`). The viewer iframe (same origin) writes its
/// milestones into the desktop page's `window.__ocViewerTimes` on the
/// desktop page's own clock (`parent.performance.now()`), so there is one
/// clock and no join: document start, websocket created / open / first
/// message, the first frame (the moment `ocViewer.frames` becomes 1, after
/// the first update's drawing ran) and the animation frame after it.
const TIMING_JS: &str = r#"(() => {
  'use strict';
  if (window.parent !== window) {
    if (location.pathname.indexOf('/viewer/') !== 0) return;
    let P;
    try { P = window.parent; if (!P.performance) return; } catch (e) { return; }
    const now = () => P.performance.now();
    const m = { doc: now() };
    P.__ocViewerTimes = m;
    const W = window.WebSocket;
    window.WebSocket = class extends W {
      constructor(url, protocols) {
        super(url, protocols);
        if (m.ws === undefined) m.ws = now();
        this.addEventListener('open', () => { if (m.open === undefined) m.open = now(); });
        this.addEventListener('message', () => { if (m.msg === undefined) m.msg = now(); });
      }
    };
    let viewer;
    Object.defineProperty(window, 'ocViewer', {
      configurable: true,
      get() { return viewer; },
      set(v) {
        viewer = v;
        let frames = v.frames;
        Object.defineProperty(v, 'frames', {
          configurable: true, enumerable: true,
          get() { return frames; },
          set(n) {
            if (m.frame === undefined && n > 0) {
              m.frame = now();
              requestAnimationFrame(() => { m.paint = now(); });
            }
            frames = n;
          }
        });
      }
    });
    return;
  }
  document.addEventListener('dblclick', () => {
    window.__ocViewerTimes = null;
    window.__ocClick = performance.now();
  }, true);
})();"#;

/// Done (the viewer painted its first frame) or the launch's error text.
const DONE_JS: &str = "(window.__ocViewerTimes && window.__ocViewerTimes.paint !== undefined) || \
    ((document.querySelector('.oc-launch-error') || {}).textContent || false)";

/// The milestones, in ms after the dblclick (Resource Timing for the
/// launch request).
const COLLECT_JS: &str = r#"(() => {
  const c = window.__ocClick, v = window.__ocViewerTimes;
  const e = performance.getEntriesByType('resource')
    .filter((r) => /\/apps\/[^/]+\/launch$/.test(new URL(r.name).pathname)).pop();
  if (c === undefined || !v || !e) return null;
  const r = (x) => (x === undefined ? null : Math.round((x - c) * 100) / 100);
  return { sent: r(e.startTime), req: r(e.requestStart), first: r(e.responseStart),
           end: r(e.responseEnd), doc: r(v.doc), ws: r(v.ws), open: r(v.open),
           msg: r(v.msg), frame: r(v.frame), paint: r(v.paint) };
})()"#;

/// One launch's milestones, ms after the dblclick.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The node the desktop was signed in to, and the one running the VM.
    pub node: u64,
    pub vm_node: u64,
    /// The pool's VMs ready and booting when the icon was clicked.
    pub ready: u32,
    pub booting: u32,
    pub sent: f64,
    /// Launch request sent → first byte of its answer (the node's time).
    pub server: f64,
    pub answer: f64,
    pub doc: f64,
    pub ws: f64,
    pub open: f64,
    pub msg: f64,
    pub frame: f64,
    pub paint: f64,
}

/// A cold launch's VM, ms after the dblclick (this process's clock).
#[derive(Clone, Debug, Default)]
pub struct Boot {
    /// Its record first seen (polled every 100 ms).
    pub record: f64,
    /// Its QEMU process started (`/proc/PID/stat` start time).
    pub qemu: f64,
    /// The record first seen ready or assigned (the runner saw the
    /// guest's ready line).
    pub marked: f64,
    /// `since - created_at` of the record seen ready (whole seconds), if
    /// it was seen ready before the launch took it.
    pub record_s: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct LaunchFigures {
    pub warm: Vec<Run>,
    /// Warm launches after the pool was full again (no boot in flight).
    pub quiet: Vec<Run>,
    pub warmups: usize,
    pub warm_count: u32,
    pub cold: Vec<(Run, Boot)>,
    /// VMs the warm: 0 pool was left with after cold launches.
    pub surplus: u32,
    pub chromium: String,
    pub others_warm: f64,
    pub others_cold: f64,
    pub leader: u64,
}

fn ms(v: &Value, k: &str) -> Result<f64> {
    v[k].as_f64()
        .with_context(|| format!("no `{k}` in the page's timing {v}"))
}

async fn sign_in(b: &mut Browser, base: &str, slug: &str, n: usize) -> Result<()> {
    b.cmd(json!({"cmd": "new_context"})).await?;
    b.cmd(json!({"cmd": "init_script", "js": TIMING_JS}))
        .await?;
    let url = format!("{base}/t/{slug}/login");
    b.cmd(json!({"cmd": "open", "url": url, "wait": "load", "timeout_ms": 30_000}))
        .await?;
    let user = format!("u{n}");
    let pw = format!("password-{n}");
    b.submit_login(&user, &pw).await?;
    let ready =
        "window.ocDesktop && window.ocDesktop.apps.length === 1 && window.ocDesktop.connected";
    b.cmd(json!({"cmd": "wait_js", "js": ready, "timeout_ms": 30_000}))
        .await
        .context("the desktop did not get ready")?;
    Ok(())
}

/// Double-clicks the app's icon and waits for the viewer's first frame.
async fn open_app(b: &mut Browser, timeout_ms: u64) -> Result<Value> {
    let click = "document.querySelector('#oc-icons [data-app=\"shell\"]')\
        .dispatchEvent(new MouseEvent('dblclick', {bubbles: true})), true";
    b.cmd(json!({"cmd": "eval", "js": click})).await?;
    let done = b
        .cmd(json!({"cmd": "wait_js", "js": DONE_JS, "timeout_ms": timeout_ms}))
        .await
        .context("no first frame in the app window")?;
    if let Some(err) = done["value"].as_str() {
        bail!("the launch failed in the page: {err}");
    }
    let v = b.cmd(json!({"cmd": "eval", "js": COLLECT_JS})).await?["value"].clone();
    if v.is_null() {
        bail!("the page has no timing for the launch");
    }
    Ok(v)
}

async fn close_and_sign_out(b: &mut Browser) -> Result<()> {
    let close = ".oc-window[data-app=\"shell\"] .oc-wbtn-close";
    b.cmd(json!({"cmd": "click", "selector": close})).await?;
    b.cmd(json!({"cmd": "click", "selector": "#oc-user"}))
        .await?;
    b.cmd(json!({"cmd": "click", "selector": "#oc-signout"}))
        .await?;
    let out = "location.pathname.endsWith('/login')";
    b.cmd(json!({"cmd": "wait_js", "js": out, "timeout_ms": 15_000}))
        .await
        .context("sign-out did not reach the login page")?;
    Ok(())
}

fn run_of(v: &Value, node: u64) -> Result<Run> {
    let answer_first = ms(v, "first")?;
    Ok(Run {
        node,
        sent: ms(v, "sent")?,
        server: answer_first - ms(v, "req")?,
        answer: ms(v, "end")?,
        doc: ms(v, "doc")?,
        ws: ms(v, "ws")?,
        open: ms(v, "open")?,
        msg: ms(v, "msg")?,
        frame: ms(v, "frame")?,
        paint: ms(v, "paint")?,
        ..Run::default()
    })
}

/// The VMs of a tenant as the admin API lists them (raw, for the times).
async fn vm_list(admin: &TenantAdmin) -> Result<Vec<Value>> {
    let r = admin.call(Method::GET, "vms", None).await?;
    if r.status != StatusCode::OK {
        bail!("GET vms: {} {}", r.status, r.text());
    }
    Ok(r.json()?.as_array().cloned().unwrap_or_default())
}

async fn user_vm_node(admin: &TenantAdmin, n: usize) -> u64 {
    let login = format!("u{n}");
    vm_list(admin)
        .await
        .unwrap_or_default()
        .iter()
        .find(|v| v["user"] == json!(login))
        .and_then(|v| v["node"].as_u64())
        .unwrap_or(0)
}

async fn wait_no_vms(admin: &TenantAdmin, limit: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let left = vm_list(admin).await.map(|l| l.len()).unwrap_or(usize::MAX);
        if left == 0 {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("{left} VMs still there after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run(o: &Options) -> Result<LaunchFigures> {
    let t = Instant::now();
    let c = Cluster::start(broker_cluster(3, &[]))
        .await
        .context("starting the cluster (cargo build --release -p opencloud?)")?;
    let base = c.api(1).url().to_string();
    let leader = c.leader_id().await.context("no leader")?;
    let admin = TenantAdmin::new(c.client(), &base, "warmco");
    let pool = shell_pool("shell", o.warm, o.warm + 2, 600)?;
    seed(
        &c.api(1),
        &admin,
        "warmco",
        pool,
        o.warmups + o.runs + o.quiet,
    )
    .await?;
    eprintln!(
        "  3 release nodes up (node {leader} leads), tenant seeded in {:.1} s; {} warm VMs booting",
        t.elapsed().as_secs_f64(),
        o.warm
    );
    let t = Instant::now();
    wait_counts(&admin, "shell", Duration::from_secs(600), |n| {
        n.ready >= o.warm
    })
    .await?;
    eprintln!("  pool full after {:.1} s", t.elapsed().as_secs_f64());
    let mut b = Browser::launch().await?;
    let ua = b
        .cmd(json!({"cmd": "eval", "js": "navigator.userAgent"}))
        .await?;
    let chromium = ua["value"]
        .as_str()
        .and_then(|ua| ua.split_whitespace().find(|w| w.contains("Chrome/")))
        .map_or("Chromium".to_string(), |v| {
            format!("Chromium {}", v.rsplit('/').next().unwrap_or(""))
        });
    let ids = c.ids();

    let mut others_warm = 0.0;
    let mut warm = Vec::new();
    let mut quiet = Vec::new();
    let mut meter = OthersMeter::start();
    for i in 0..o.warmups + o.runs + o.quiet {
        if i == o.warmups {
            meter = OthersMeter::start();
        }
        // The last runs wait for a full pool: no boot in flight.
        let calm = i >= o.warmups + o.runs;
        let node = ids[i % ids.len()];
        let url = c.node(node).url();
        let n = i + 1;
        sign_in(&mut b, &url, "warmco", n)
            .await
            .with_context(|| format!("signing in u{n} on node {node}"))?;
        let at = wait_counts(&admin, "shell", Duration::from_secs(600), |n| {
            if calm {
                n.ready >= o.warm && n.starting == 0
            } else {
                n.ready >= 1
            }
        })
        .await?;
        let v = open_app(&mut b, 60_000)
            .await
            .with_context(|| format!("warm launch {n} on node {node}"))?;
        let mut r = run_of(&v, node)?;
        r.ready = at.ready;
        r.booting = at.starting;
        r.vm_node = user_vm_node(&admin, n).await;
        close_and_sign_out(&mut b).await?;
        let kind = if i < o.warmups {
            "warm-up"
        } else if calm {
            "run, pool full"
        } else {
            "run"
        };
        eprintln!(
            "  {kind} {n}: page on node {node}, VM on node {}, {} ready / {} booting: first frame {:.0} ms \
             (launch answer {:.0}, node {:.0}; viewer ws open {:.0})",
            r.vm_node, r.ready, r.booting, r.frame, r.answer, r.server, r.open
        );
        if calm {
            quiet.push(r);
        } else if i >= o.warmups {
            warm.push(r);
        }
        if i + 1 == o.warmups + o.runs {
            others_warm = meter.cores();
        }
    }
    eprintln!("  other processes used {others_warm:.2} cores during the warm runs");

    // The warm pool goes (its idle VMs stop), so the cold boots have the
    // machine to themselves.
    admin.call(Method::DELETE, "pools/shell", None).await?;
    wait_no_vms(&admin, Duration::from_secs(120)).await?;
    let meter = OthersMeter::start();
    let (cold, surplus) = cold_runs(o, &c, &mut b).await?;
    let others_cold = meter.cores();
    eprintln!("  other processes used {others_cold:.2} cores during the cold runs");
    b.close().await?;
    drop(c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(LaunchFigures {
        warm,
        quiet,
        warmups: o.warmups,
        warm_count: o.warm,
        cold,
        surplus,
        chromium,
        others_warm,
        others_cold,
        leader,
    })
}

/// Cold launches, one VM at a time; with how many VMs beyond the launched
/// one the pool was left with (started for a demand already served).
async fn cold_runs(o: &Options, c: &Cluster, b: &mut Browser) -> Result<(Vec<(Run, Boot)>, u32)> {
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "coldco");
    let pool = || shell_pool("shell", 0, 2, 600);
    seed(&c.api(1), &admin, "coldco", pool()?, o.cold).await?;
    let ids = c.ids();
    let mut cold = Vec::new();
    let mut surplus = 0;
    for i in 0..o.cold {
        let node = ids[i % ids.len()];
        let n = i + 1;
        sign_in(b, &c.node(node).url(), "coldco", n).await?;
        let timeline = Arc::new(Mutex::new(Boot::default()));
        let watcher = tokio::spawn(watch_boot(
            TenantAdmin::new(c.client(), &base, "coldco"),
            timeline.clone(),
            Instant::now(),
        ));
        let v = open_app(b, 200_000)
            .await
            .with_context(|| format!("cold launch {n} on node {node}"))?;
        watcher.abort();
        let mut r = run_of(&v, node)?;
        r.vm_node = user_vm_node(&admin, n).await;
        let boot = lock(&timeline).clone();
        close_and_sign_out(b).await?;
        eprintln!(
            "  cold {n}: page on node {node}, VM on node {}: first frame {:.0} ms; VM record at {:.0}, \
             QEMU started at {:.0}, seen ready at {:.0} (boot {:.0} ms), launch answer at {:.0}",
            r.vm_node,
            r.frame,
            boot.record,
            boot.qemu,
            boot.marked,
            boot.marked - boot.qemu,
            r.answer
        );
        cold.push((r, boot));
        // Wait for the released VM to go; a VM still there after that was
        // started beyond the demand: the pool is made anew so that the next
        // launch is cold again.
        let start = Instant::now();
        let left = loop {
            let list = vm_list(&admin).await?;
            let assigned = list
                .iter()
                .any(|v| v["state"] != json!("ready") && v["state"] != json!("starting"));
            if !assigned || start.elapsed() > Duration::from_secs(120) {
                break list.len() as u32;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        if left > 0 {
            eprintln!("  note: {left} VM(s) left in the warm: 0 pool after the launch; making the pool anew");
            surplus += left;
            admin.call(Method::DELETE, "pools/shell", None).await?;
            wait_no_vms(&admin, Duration::from_secs(120)).await?;
            admin.create("pools", pool()?).await?;
        }
    }
    Ok((cold, surplus))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Polls the cold tenant's VMs every 100 ms from `t0` (just before the
/// click; the page's click follows within a few ms) and fills in the boot's
/// milestones. (The guest's ready line is not read here: the node reads it
/// from QEMU's serial ring over QMP, and a read there consumes it.)
async fn watch_boot(admin: TenantAdmin, out: Arc<Mutex<Boot>>, t0: Instant) {
    let since_t0 = |at: Instant| at.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let mut first: Option<String> = None;
    loop {
        let raw = vm_list(&admin).await.unwrap_or_default();
        let now = Instant::now();
        if let Some(vm) = raw.first() {
            let id = vm["id"].as_str().unwrap_or_default().to_string();
            let state = vm["state"].as_str().unwrap_or_default();
            let mut w = lock(&out);
            if first.is_none() {
                first = Some(id.clone());
                w.record = since_t0(now);
            }
            if w.qemu == 0.0 {
                if let Some(age) = qemu_pid(&id).and_then(process_age) {
                    w.qemu = since_t0(now.checked_sub(age).unwrap_or(t0));
                }
            }
            if w.marked == 0.0 && (state == "ready" || state == "assigned") {
                w.marked = since_t0(now);
                if state == "ready" {
                    let (a, b) = (vm["created_at"].as_u64(), vm["since"].as_u64());
                    w.record_s = a.zip(b).map(|(a, b)| b.saturating_sub(a));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
