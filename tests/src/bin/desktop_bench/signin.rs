//! Part 1: sign-in → desktop ready in headless Chromium on a 3-node release
//! cluster, timed in the page; and the argon2id verify cost in-process.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_tenant_admin::password::{self, HashParams};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::site::TenantAdmin;
use serde_json::{json, Value};

use opencloud_tests::host::{busy_secs, tree_cpu_secs, wait_quiet, Pcts};

use crate::Options;

/// Runs before every page script. On the sign-in page it keeps the submit
/// event's time and, when the page goes, the time the sign-in answer
/// arrived (Resource Timing) in sessionStorage. On the desktop page it
/// marks the first desktop icon render (all of ocDesktop's apps present)
/// and the first pong of the events socket, and publishes
/// `window.__ocBench` once both happened and `ocDesktop.connected` holds.
///
/// Each page measures with its own `performance.now()`; the two pages are
/// joined through the wall clock: each page finds its offset
/// `Date.now() - performance.now()` at a tick of `Date.now()` (a spin of at
/// most 1 ms: on the sign-in page before the submit, on the desktop page
/// after ready), so the join is good to about 0.1 ms. (Joining through
/// `performance.timeOrigin` was off by up to 30 ms in some runs on a busy
/// machine: Chromium converts it with a per-process estimate.)
/// `origin_total` is that second figure, for comparison.
const TIMING_JS: &str = r#"(() => {
  'use strict';
  let S;
  try { S = window.sessionStorage; } catch (e) { return; }
  if (!S) return;
  const wallOffset = () => {
    const d0 = Date.now();
    let d = d0;
    const limit = performance.now() + 5;
    while ((d = Date.now()) === d0 && performance.now() < limit) { /* spin to the tick */ }
    return d - performance.now();
  };
  const entry = (re) => performance.getEntriesByType('resource')
    .filter((e) => re.test(new URL(e.name).pathname)).pop();
  if (/\/login$/.test(location.pathname)) {
    const off = wallOffset();
    document.addEventListener('submit', (e) => {
      S.setItem('ocb.submit', String(off + e.timeStamp));
      S.setItem('ocb.origin', String(performance.timeOrigin + e.timeStamp));
    }, true);
    window.addEventListener('pagehide', () => {
      const r = entry(/\/api\/v1\/login$/);
      if (r) {
        S.setItem('ocb.login', String(off + r.responseEnd));
        S.setItem('ocb.login_srv', String(r.responseStart - r.requestStart));
      }
    });
    return;
  }
  const submit = Number(S.getItem('ocb.submit'));
  if (!submit) return;
  const origin = Number(S.getItem('ocb.origin'));
  const login = Number(S.getItem('ocb.login')) || null;
  const loginSrv = Number(S.getItem('ocb.login_srv'));
  ['ocb.submit', 'ocb.origin', 'ocb.login', 'ocb.login_srv'].forEach((k) => S.removeItem(k));
  const m = { nav: 0 };
  const now = () => performance.now();
  const W = window.WebSocket;
  window.WebSocket = class extends W {
    constructor(url, protocols) {
      super(url, protocols);
      if (m.ws === undefined) m.ws = now();
      this.addEventListener('open', () => { if (m.open === undefined) m.open = now(); });
      this.addEventListener('message', (ev) => {
        if (m.pong === undefined && typeof ev.data === 'string' && ev.data.indexOf('"pong"') >= 0) {
          m.pong = now();
          setTimeout(check, 0);
        }
      });
    }
  };
  new MutationObserver(() => {
    const d = window.ocDesktop;
    if (m.icons !== undefined || !d || !d.apps.length) return;
    if (document.querySelectorAll('#oc-icons [data-app]').length !== d.apps.length) return;
    m.icons = now();
    setTimeout(check, 0);
  }).observe(document, { childList: true, subtree: true });
  const safety = setInterval(check, 50);
  function check() {
    const d = window.ocDesktop;
    if (window.__ocBench || m.icons === undefined || m.pong === undefined || !d || !d.connected) return;
    clearInterval(safety);
    const off = wallOffset();
    const ready = Math.max(m.icons, m.pong);
    const nav = performance.getEntriesByType('navigation')[0];
    const me = entry(/\/api\/v1\/me$/);
    const js = entry(/\/desktop\.js$/);
    const round = (x) => Math.round(x * 100) / 100;
    const rel = (t) => (t === undefined || t === null ? null : round(off + t - submit));
    const srv = (e) => (e ? round(e.responseStart - e.requestStart) : null);
    window.__ocBench = {
      total: rel(ready), login: login === null ? null : round(login - submit), nav: rel(m.nav),
      html: rel(nav && nav.responseEnd), js: rel(js && js.responseEnd),
      me_sent: rel(me && me.startTime), me: rel(me && me.responseEnd),
      login_srv: loginSrv, html_srv: srv(nav), me_srv: srv(me),
      icons: rel(m.icons), ws: rel(m.ws), open: rel(m.open), pong: rel(m.pong),
      origin_total: round(performance.timeOrigin + ready - origin), path: location.pathname,
      apps: d.apps.length,
    };
  }
})();"#;

/// One run's times in ms after the submit event.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub leader: bool,
    pub total: f64,
    pub login: f64,
    pub nav: f64,
    pub html: f64,
    pub js: f64,
    pub me_sent: f64,
    pub me: f64,
    /// Request sent → first byte of the answer (Resource Timing).
    pub login_srv: f64,
    pub html_srv: f64,
    pub me_srv: f64,
    pub icons: f64,
    pub open: f64,
    pub pong: f64,
    /// The total joined through `performance.timeOrigin` instead.
    pub origin_total: f64,
}

#[derive(Clone, Debug)]
pub struct SignInFigures {
    pub runs: Vec<Run>,
    pub warmups: usize,
    pub argon2: Pcts,
    pub leader: u64,
    pub chromium: String,
    /// Cores used by processes outside this benchmark (not its cluster,
    /// browser or itself) while the runs went, on average.
    pub others_cores: f64,
    /// Runs whose total joined through `performance.timeOrigin` differs
    /// from the wall-clock join by more than 2 ms (warm-ups included).
    pub origin_off: usize,
}

fn num(v: &Value, k: &str) -> Result<f64> {
    v[k].as_f64()
        .with_context(|| format!("no `{k}` in the page's timing {v}"))
}

/// The argon2id verify of a sign-in, in this process: `HashParams::default()`
/// (what the node hashes new passwords with), `n` times, in ms.
pub fn argon2_verify_ms(n: usize) -> Result<Pcts> {
    let phc = password::hash("alice-password", &HashParams::default())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ensure!(password::verify(&phc, "alice-password"), "verify said no");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Pcts::of(&ms))
}

async fn one_run(b: &mut Browser, base: &str) -> Result<Value> {
    b.cmd(json!({"cmd": "new_context"})).await?;
    b.cmd(json!({"cmd": "init_script", "js": TIMING_JS}))
        .await?;
    b.cmd(
        json!({"cmd": "open", "url": format!("{base}/t/acme/login"), "wait": "load",
                 "timeout_ms": 30_000}),
    )
    .await?;
    b.submit_login("alice", "alice-password").await?;
    let r = b
        .cmd(json!({"cmd": "wait_js", "js": "window.__ocBench", "timeout_ms": 30_000}))
        .await
        .context("the desktop did not get ready")?;
    let v = r.get("value").cloned().unwrap_or(Value::Null);
    ensure!(v["path"] == json!("/t/acme/"), "ready on {}", v["path"]);
    ensure!(v["apps"] == json!(2), "apps: {}", v["apps"]);
    Ok(v)
}

pub async fn run(o: &Options) -> Result<SignInFigures> {
    let t = Instant::now();
    let c = Cluster::start(ClusterOptions::default().release(true))
        .await
        .context("starting the cluster (cargo build --release -p opencloud?)")?;
    let admin = TenantAdmin::new(c.client(), c.api(1).url(), "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    let leader = c.leader_id().await.context("no leader")?;
    eprintln!(
        "  3 release nodes up, tenant seeded in {:.1} s; node {leader} leads",
        t.elapsed().as_secs_f64()
    );
    let mut b = Browser::launch().await?;
    let chromium = b
        .cmd(json!({"cmd": "eval", "js": "navigator.userAgent"}))
        .await?["value"]
        .as_str()
        .and_then(|ua| {
            ua.split_whitespace()
                .find(|w| w.starts_with("Chrome/") || w.starts_with("HeadlessChrome/"))
        })
        .map_or("Chromium".to_string(), |v| {
            v.replace("HeadlessChrome/", "Chromium ")
                .replace("Chrome/", "Chromium ")
        });
    let ids = c.ids();
    let warmups = 3;
    let mut runs = Vec::new();
    let quiet = wait_quiet(0.25, Duration::from_secs(180)).await;
    eprintln!("  other processes use {quiet:.2} cores");
    let mut busy0 = (0.0, 0.0, Instant::now());
    let mut origin_off = 0;
    for i in 0..warmups + o.runs {
        if i == warmups {
            busy0 = (
                busy_secs(None),
                tree_cpu_secs(std::process::id()),
                Instant::now(),
            );
        }
        // Every node in turn, as a load balancer would spread sign-ins.
        let node = ids[i % ids.len()];
        let v = one_run(&mut b, &c.node(node).url())
            .await
            .with_context(|| format!("run {i} on node {node}"))?;
        let r = Run {
            leader: node == leader,
            total: num(&v, "total")?,
            login: num(&v, "login")?,
            nav: num(&v, "nav")?,
            html: num(&v, "html")?,
            js: num(&v, "js")?,
            me_sent: num(&v, "me_sent")?,
            me: num(&v, "me")?,
            login_srv: num(&v, "login_srv")?,
            html_srv: num(&v, "html_srv")?,
            me_srv: num(&v, "me_srv")?,
            icons: num(&v, "icons")?,
            open: num(&v, "open")?,
            pong: num(&v, "pong")?,
            origin_total: num(&v, "origin_total")?,
        };
        if (r.origin_total - r.total).abs() > 2.0 {
            origin_off += 1;
            eprintln!(
                "  note: through performance.timeOrigin this run took {:.1} ms",
                r.origin_total
            );
        }
        let kind = if i < warmups { "warm-up" } else { "run" };
        eprintln!(
            "  {kind} {}: node {node}{}: {:.1} ms (sign-in answer {:.1}, icons {:.1}, first pong {:.1})",
            if i < warmups { i + 1 } else { i - warmups + 1 },
            if r.leader { " (leader)" } else { "" },
            r.total,
            r.login,
            r.icons,
            r.pong
        );
        if i >= warmups {
            runs.push(r);
        }
    }
    let others_cores = ((busy_secs(None) - busy0.0)
        - (tree_cpu_secs(std::process::id()) - busy0.1))
        / busy0.2.elapsed().as_secs_f64();
    eprintln!("  other processes used {others_cores:.2} cores during the runs");
    b.close().await?;
    eprintln!("  argon2id verify, in-process, 60 times");
    let argon2 = argon2_verify_ms(60)?;
    eprintln!("  argon2id verify: p50 {:.1} ms", argon2.p50);
    if runs.is_empty() {
        bail!("no runs");
    }
    drop(c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(SignInFigures {
        runs,
        warmups,
        argon2,
        leader,
        chromium,
        others_cores: others_cores.max(0.0),
        origin_off,
    })
}
