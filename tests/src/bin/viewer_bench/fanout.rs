//! Many viewers of one node: the text workload's SPICE traffic, recorded
//! from the real guest, replayed to N concurrent viewers of one
//! `opencloud spice serve` (50 real VMs do not fit this machine).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::SinkExt;
use opencloud_spice::{Compression, Config, Session};
use opencloud_tests::spice_record::{Recorder, Recording};
use opencloud_tests::spice_replay::{ReplayOptions, ReplayServer};
use opencloud_tests::viewer::{next_msg, ws_connect, ServerMsg, SpiceServe};
use tokio_tungstenite::tungstenite::Message;

use crate::report::Fanout;

/// Records `secs` of the guest's display as our node's viewer would see it
/// (LZ, the translator's default compression).
pub async fn record(spice: &str, secs: u64) -> Result<Arc<Recording>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("text.rec");
    let rec = Recorder::start(spice.parse().context("spice address")?, &path).await?;
    rec.note("ls -lR / in a loop, 720x400 text console");
    let cfg = Config {
        compression: Compression::Lz,
        ..Config::default()
    };
    let session = Session::connect(&rec.listen_addr().to_string(), cfg).await?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    drop(session);
    let stats = rec.finish().await?;
    eprintln!("  recorded {stats:?}");
    Ok(Arc::new(Recording::load(Path::new(&path))?))
}

/// CPU time (user + system) of a process so far.
fn cpu_time(pid: u32) -> Result<Duration> {
    let secs = opencloud_tests::host::cpu_secs(pid).context("the node exited")?;
    Ok(Duration::from_secs_f64(secs))
}

struct ViewerResult {
    latencies_us: Vec<u32>,
    newest_us: Vec<u32>,
    frames: u64,
    bytes: u64,
}

/// One viewer that draws nothing and acknowledges every frame at once,
/// measuring from `start` for `secs`.
async fn viewer(url: String, warmup: Duration, secs: u64) -> Result<ViewerResult> {
    let mut ws = ws_connect(&url).await?;
    let begin = Instant::now() + warmup;
    let end = begin + Duration::from_secs(secs);
    let mut r = ViewerResult {
        latencies_us: Vec::new(),
        newest_us: Vec::new(),
        frames: 0,
        bytes: 0,
    };
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, next_msg(&mut ws, Duration::from_secs(30))).await
        {
            Err(_) => break,
            Ok(m) => m?,
        };
        let counting = Instant::now() >= begin;
        match msg {
            None => break,
            Some(ServerMsg::Frame {
                seq,
                latency_us,
                newest_us,
            }) => {
                ws.send(Message::Text(
                    format!("{{\"t\":\"ack\",\"seq\":{seq}}}").into(),
                ))
                .await?;
                if counting {
                    r.frames += 1;
                    r.latencies_us.push(latency_us);
                    r.newest_us.push(newest_us);
                    r.bytes += 13;
                }
            }
            Some(ServerMsg::Other { len, .. }) if counting => r.bytes += len as u64,
            Some(_) => {}
        }
    }
    Ok(r)
}

/// Replays `rec` to `n` viewers of one release `spice serve`.
pub async fn run(bin: &Path, rec: Arc<Recording>, n: usize, secs: u64) -> Result<Fanout> {
    let opts = ReplayOptions {
        loop_display: true,
        ..ReplayOptions::default()
    };
    let replay = ReplayServer::start(rec, "127.0.0.1:0", opts).await?;
    let serve =
        SpiceServe::start_with(bin.to_path_buf(), &replay.local_addr().to_string(), "").await?;
    let pid = serve.pid().context("no pid")?;
    let url = serve.url.replace("http://", "ws://") + "ws";
    let warmup = Duration::from_secs(3);
    let tasks: Vec<_> = (0..n)
        .map(|_| tokio::spawn(viewer(url.clone(), warmup, secs)))
        .collect();
    tokio::time::sleep(warmup).await;
    let cpu0 = cpu_time(pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_time(pid)?.saturating_sub(cpu0);
    let wall = t0.elapsed();
    let mut lat = Vec::new();
    let mut newest = Vec::new();
    let (mut frames, mut bytes) = (0, 0);
    for t in tasks {
        let r = t.await.context("viewer task")??;
        lat.extend(r.latencies_us);
        newest.extend(r.newest_us);
        frames += r.frames;
        bytes += r.bytes;
    }
    lat.sort_unstable();
    newest.sort_unstable();
    let pct = |v: &[u32], p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        f64::from(v[i.min(v.len() - 1)]) / 1000.0
    };
    let f = Fanout {
        viewers: n,
        frames,
        p50_ms: pct(&lat, 0.50),
        p99_ms: pct(&lat, 0.99),
        newest_p50_ms: pct(&newest, 0.50),
        newest_p99_ms: pct(&newest, 0.99),
        cpu_cores: cpu.as_secs_f64() / wall.as_secs_f64(),
        bytes_per_viewer_s: bytes as f64 / n as f64 / secs as f64,
    };
    eprintln!("  {f:?}");
    Ok(f)
}
