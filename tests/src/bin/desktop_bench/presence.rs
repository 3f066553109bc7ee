//! Part 2: presence pings one node absorbs on one core. A single release
//! node pinned to core 0, this process (the load) on core 1; K signed-in
//! sessions, each with its own events websocket (wss, the session cookie)
//! sending `{"t":"ping"}` and reading `{"t":"pong"}`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::{SinkExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::site::TenantAdmin;
use opencloud_tests::viewer::{metric_sum, rss_kib, Ws};
use serde_json::json;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use opencloud_tests::host::{busy_secs, cpu_secs, pid_with_data_dir, tree_cpu_secs, wait_quiet};

use crate::Options;

/// How each socket pings.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// The next ping as soon as the pong is in.
    Closed,
    /// `rate` pings per second over all sockets, each on its own schedule
    /// whatever the answers; latency from the scheduled time.
    Open { rate: u64 },
}

/// One step of the ramp.
#[derive(Clone, Debug)]
pub struct Step {
    pub mode: Mode,
    pub sessions: usize,
    pub connect_s: f64,
    pub pongs_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Node CPU, in cores (CPU seconds per second).
    pub node_cores: f64,
    /// This process (the load generator), in cores.
    pub load_cores: f64,
    pub rss_kib: u64,
    /// Node RSS growth from before connecting, per socket.
    pub kib_per_socket: f64,
    /// Cores other processes took on core 0 (the node's) and core 1 (the
    /// load's) during the window.
    pub others_core0: f64,
    pub others_core1: f64,
    /// Store log entries appended during the measured window.
    pub log_entries: f64,
    /// Store log entries from the first connect to the window's end.
    pub log_entries_step: f64,
    pub errors: u64,
}

#[derive(Clone, Debug)]
pub struct PresenceFigures {
    pub steps: Vec<Step>,
    pub signins: usize,
    pub signin_s: f64,
    pub signin_concurrency: usize,
    pub idle_rss_kib: u64,
    /// Node RSS before the sign-ins.
    pub fresh_rss_kib: u64,
    pub warmup_s: u64,
    pub seconds: u64,
}

const WARMUP: Duration = Duration::from_secs(3);
const SIGNIN_CONCURRENCY: usize = 4;
pub const CONNECT_CONCURRENCY: usize = 64;

/// Signs in `n` sessions of alice through the JSON API; their cookies.
async fn sign_in_many(base: &str, n: usize) -> Result<Vec<String>> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{base}/t/acme/api/v1/login");
    let done = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|_| async {
            let r = client
                .post(&url)
                .json(&json!({"username": "alice", "password": "alice-password"}))
                .send()
                .await?;
            let status = r.status();
            let cookie = r
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| c.split(';').next()?.strip_prefix("oc_session="))
                .map(str::to_string);
            let Some(cookie) = cookie.filter(|_| status == reqwest::StatusCode::OK) else {
                bail!("sign-in: {status} {}", r.text().await.unwrap_or_default());
            };
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if k.is_multiple_of(250) {
                eprintln!(
                    "    {k} sessions signed in ({:.0} s)",
                    t.elapsed().as_secs_f64()
                );
            }
            Ok(cookie)
        })
        .buffer_unordered(SIGNIN_CONCURRENCY)
        .try_collect()
        .await
}

/// `taskset -a -c -p CPU PID`: every thread of `pid` on `cpu`.
fn pin(pid: u32, cpu: u32) -> Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-c", "-p", &cpu.to_string(), &pid.to_string()])
        .output()
        .context("running taskset (util-linux)")?;
    ensure!(
        out.status.success(),
        "taskset -p {cpu} {pid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every thread must say so.
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .unwrap_or("");
        ensure!(
            allowed == cpu.to_string(),
            "thread {:?} of {pid} may run on {allowed:?}",
            t.file_name()
        );
    }
    Ok(())
}

async fn connect(url: &str, cookie: &str, tls: &tokio_tungstenite::Connector) -> Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(&format!("oc_session={cookie}"))?,
    );
    // tungstenite zero-fills its whole read buffer (128 KiB by default)
    // before every read; the load generator reads 20-byte pongs.
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(cfg), true, Some(tls.clone()))
            .await
            .context("events websocket")?;
    Ok(ws)
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    from: Instant,
    until: Instant,
}

struct Tally {
    hist: Histogram<u64>,
    pongs_in_window: u64,
    errors: u64,
}

fn is_pong(m: &Message) -> bool {
    matches!(m, Message::Text(t) if t.as_str().contains("\"pong\""))
}

/// One socket's pings until the window closes (and, open loop, until the
/// answers to the pings it sent are in, 10 s at most). `slot` in [0, 1)
/// spreads the sockets' first pings.
async fn pinger(mut ws: Ws, mode: Mode, slot: f64, sockets: usize, w: Window) -> Result<Tally> {
    let mut t = Tally {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        pongs_in_window: 0,
        errors: 0,
    };
    let ping = || Message::Text(r#"{"t":"ping"}"#.into());
    let in_window = |at: Instant| at >= w.from && at <= w.until;
    match mode {
        Mode::Closed => {
            let limit = Duration::from_secs(30);
            sleep_until((w.start + Duration::from_secs_f64(slot * 0.1)).into()).await;
            loop {
                let sent = Instant::now();
                if sent >= w.until {
                    break;
                }
                ws.send(ping()).await?;
                loop {
                    match tokio::time::timeout(limit, ws.next()).await {
                        Ok(Some(Ok(m))) if is_pong(&m) => break,
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(e))) => return Err(e).context("events websocket"),
                        Ok(None) => bail!("the node closed the events websocket"),
                        Err(_) => bail!("no pong in {limit:?}"),
                    }
                }
                let got = Instant::now();
                t.pongs_in_window += u64::from(in_window(got));
                if sent >= w.from {
                    t.hist.saturating_record((got - sent).as_micros() as u64);
                }
            }
        }
        Mode::Open { rate } => {
            let every = Duration::from_secs_f64(sockets as f64 / rate as f64);
            let mut next = w.start + every.mul_f64(slot);
            let mut due: VecDeque<Instant> = VecDeque::new();
            let drain_end = w.until + Duration::from_secs(10);
            loop {
                let sending = next < w.until;
                if !sending && due.is_empty() {
                    break;
                }
                tokio::select! {
                    _ = sleep_until(next.into()), if sending => {
                        ws.send(ping()).await?;
                        due.push_back(next);
                        next += every;
                    }
                    m = tokio::time::timeout_at(drain_end.into(), ws.next()) => match m {
                        Err(_) => {
                            t.errors += due.len() as u64;
                            break;
                        }
                        Ok(Some(Ok(m))) if is_pong(&m) => {
                            let got = Instant::now();
                            let scheduled = due.pop_front().context("a pong for no ping")?;
                            t.pongs_in_window += u64::from(in_window(got));
                            if scheduled >= w.from {
                                t.hist.saturating_record((got - scheduled).as_micros() as u64);
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(e))) => return Err(e).context("events websocket"),
                        Ok(None) => bail!("the node closed the events websocket"),
                    }
                }
            }
        }
    }
    let _ = ws.close(None).await;
    Ok(t)
}

/// The load of one step, on its own single-threaded runtime: connects
/// `k` sockets, tells `ready` the measuring window and the time connecting
/// took, pings, and returns every socket's tally.
fn load(
    url: String,
    cookies: Arc<Vec<String>>,
    k: usize,
    mode: Mode,
    secs: u64,
    ready: tokio::sync::oneshot::Sender<(Window, f64)>,
) -> Result<Vec<Tally>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tls = tokio_tungstenite::Connector::Rustls(opencloud_tests::tls_probe::trust_any()?);
        let t = Instant::now();
        let socks: Vec<Ws> = futures::stream::iter(cookies.iter().take(k))
            .map(|c| connect(&url, c, &tls))
            .buffer_unordered(CONNECT_CONCURRENCY)
            .try_collect()
            .await?;
        let connect_s = t.elapsed().as_secs_f64();
        let start = Instant::now() + Duration::from_millis(100);
        let w = Window {
            start,
            from: start + WARMUP,
            until: start + WARMUP + Duration::from_secs(secs),
        };
        let _ = ready.send((w, connect_s));
        let tasks: Vec<_> = socks
            .into_iter()
            .enumerate()
            .map(|(i, ws)| tokio::spawn(pinger(ws, mode, i as f64 / k as f64, k, w)))
            .collect();
        let mut out = Vec::with_capacity(k);
        for h in tasks {
            out.push(h.await.context("a pinger panicked")??);
        }
        Ok(out)
    })
}

async fn log_index(c: &Cluster) -> f64 {
    match c.api(1).metrics().await {
        Ok(m) => metric_sum(&m, "opencloud_raft_last_log_index"),
        Err(_) => f64::NAN,
    }
}

/// Starts `perf record -g` on `pid` for `secs` into `out`.
fn perf_record(pid: u32, secs: u64, out: &std::path::Path) -> Option<std::process::Child> {
    std::process::Command::new("perf")
        .args([
            "record",
            "-F",
            "999",
            "-g",
            "-q",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(out)
        .args(["--", "sleep", &secs.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| eprintln!("    perf record: {e}"))
        .ok()
}

async fn step(
    c: &Cluster,
    pid: u32,
    cookies: &Arc<Vec<String>>,
    k: usize,
    mode: Mode,
    secs: u64,
    perf: Option<PathBuf>,
) -> Result<Step> {
    let url = format!("{}/t/acme/api/v1/events", c.node(1).url()).replace("https://", "wss://");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cookies2 = cookies.clone();
    let h = tokio::task::spawn_blocking(move || load(url, cookies2, k, mode, secs, tx));
    let log_before = log_index(c).await;
    let rss_before = rss_kib(pid).unwrap_or(0);
    let Ok((w, connect_s)) = rx.await else {
        h.await.context("the load thread panicked")??;
        bail!("the load thread ended before measuring");
    };
    sleep_until(w.from.into()).await;
    let (node0, self0, t0) = (
        cpu_secs(pid).context("the node exited")?,
        tree_cpu_secs(std::process::id()),
        Instant::now(),
    );
    let (core0_0, core1_0) = (busy_secs(Some(0)), busy_secs(Some(1)));
    let log0 = log_index(c).await;
    let mut recorder = perf.and_then(|p| perf_record(pid, secs, &p));
    sleep_until(w.until.into()).await;
    let (node1, self1, t1) = (
        cpu_secs(pid).context("the node exited")?,
        tree_cpu_secs(std::process::id()),
        Instant::now(),
    );
    let (core0_1, core1_1) = (busy_secs(Some(0)), busy_secs(Some(1)));
    let log1 = log_index(c).await;
    let rss = rss_kib(pid).unwrap_or(0);
    let tallies = h.await.context("the load thread panicked")??;
    if let Some(r) = recorder.as_mut() {
        let _ = r.wait();
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut pongs, mut errors) = (0, 0);
    for t in &tallies {
        hist.add(&t.hist)?;
        pongs += t.pongs_in_window;
        errors += t.errors;
    }
    let wall = (t1 - t0).as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let s = Step {
        mode,
        sessions: k,
        connect_s,
        pongs_per_s: pongs as f64 / secs as f64,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: hist.max() as f64 / 1000.0,
        node_cores: (node1 - node0) / wall,
        load_cores: ((self1 - self0) - (node1 - node0)) / wall,
        rss_kib: rss,
        kib_per_socket: rss.saturating_sub(rss_before) as f64 / k as f64,
        others_core0: ((core0_1 - core0_0) - (node1 - node0)).max(0.0) / wall,
        others_core1: ((core1_1 - core1_0) - (self1 - self0 - (node1 - node0))).max(0.0) / wall,
        log_entries: log1 - log0,
        log_entries_step: log1 - log_before,
        errors,
    };
    eprintln!(
        "    {} sockets ({:?}): {:.0} pongs/s, p50 {:.2} ms, p99 {:.2} ms; node {:.0} % of a core, \
         load {:.0} %; others on cores 0/1 {:.0} %/{:.0} %; RSS {} MiB ({:.0} KiB per socket); \
         {} log entries in the window ({} in the step); connected in {:.1} s",
        k,
        mode,
        s.pongs_per_s,
        s.p50_ms,
        s.p99_ms,
        s.node_cores * 100.0,
        s.load_cores * 100.0,
        s.others_core0 * 100.0,
        s.others_core1 * 100.0,
        rss / 1024,
        s.kib_per_socket,
        s.log_entries,
        s.log_entries_step,
        connect_s
    );
    // Let the node see the closes before the next step.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(s)
}

pub async fn run(o: &Options) -> Result<PresenceFigures> {
    let c = Cluster::start(ClusterOptions::default().nodes(1).release(true))
        .await
        .context("starting the node")?;
    let admin = TenantAdmin::new(c.client(), c.api(1).url(), "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    let pid = pid_with_data_dir(c.node(1).data_dir()).context("no pid for the node")?;
    let kmax = o.sessions.iter().copied().max().unwrap_or(1);
    let fresh_rss_kib = rss_kib(pid).unwrap_or(0);
    eprintln!("  one release node up (pid {pid}); signing in {kmax} sessions, {SIGNIN_CONCURRENCY} at a time, on both cores");
    let t = Instant::now();
    let cookies = Arc::new(sign_in_many(&c.node(1).url(), kmax).await?);
    let signin_s = t.elapsed().as_secs_f64();
    eprintln!(
        "  {kmax} sessions in {signin_s:.1} s ({:.0} sign-ins/s)",
        kmax as f64 / signin_s
    );
    pin(pid, 0)?;
    pin(std::process::id(), 1)?;
    eprintln!("  node pinned to core 0, load generator to core 1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kib = rss_kib(pid).unwrap_or(0);
    let mut steps = Vec::new();
    let perf = |n: usize| {
        o.perf.as_ref().map(|p| {
            let mut s = p.clone().into_os_string();
            s.push(format!("-{n}.data"));
            PathBuf::from(s)
        })
    };
    for (n, &k) in o.sessions.iter().enumerate() {
        eprintln!("  closed loop, {k} sockets");
        wait_quiet(0.25, Duration::from_secs(60)).await;
        steps.push(step(&c, pid, &cookies, k, Mode::Closed, o.seconds, perf(n)).await?);
    }
    let mode = Mode::Open { rate: o.rate };
    eprintln!(
        "  open loop, {} pings/s over {kmax} sockets (one every {:.0} ms each)",
        o.rate,
        kmax as f64 * 1000.0 / o.rate as f64
    );
    wait_quiet(0.25, Duration::from_secs(60)).await;
    let n = o.sessions.len();
    steps.push(step(&c, pid, &cookies, kmax, mode, o.seconds, perf(n)).await?);
    Ok(PresenceFigures {
        steps,
        signins: kmax,
        signin_s,
        signin_concurrency: SIGNIN_CONCURRENCY,
        idle_rss_kib,
        fresh_rss_kib,
        warmup_s: WARMUP.as_secs(),
        seconds: o.seconds,
    })
}
