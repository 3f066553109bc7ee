//! The recording proxy: passes a SPICE session through unchanged and writes
//! the server's messages into a recording (the format is in the parent
//! module).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use opencloud_spice::framing::read_message;
use opencloud_spice::link::{has_cap, parse_link_header, parse_link_reply};
use opencloud_spice::proto::{channel, common_cap};
use opencloud_spice::wire::Writer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::*;

/// What a recorder has written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Channel connections recorded.
    pub channels: u64,
    pub messages: u64,
    /// Message bytes, mini headers included.
    pub bytes: u64,
}

enum Cmd {
    Record(Vec<u8>),
    Finish(Vec<u8>, oneshot::Sender<std::io::Result<()>>),
}

struct Inner {
    tx: mpsc::UnboundedSender<Cmd>,
    /// When the first main channel linked: time zero of the recording.
    t0: OnceLock<Instant>,
    next_conn: AtomicU64,
    channels: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    /// Why connections ended abnormally, for the caller's diagnostics.
    errors: Mutex<Vec<String>>,
}

impl Inner {
    fn us_since_t0(&self, at: Instant) -> u64 {
        let t0 = *self.t0.get_or_init(|| at);
        u64::try_from(at.saturating_duration_since(t0).as_micros()).unwrap_or(u64::MAX)
    }

    fn record(&self, bytes: Vec<u8>) {
        // After finish the writer is gone and late records are dropped.
        let _ = self.tx.send(Cmd::Record(bytes));
    }
}

/// A running recording proxy; see the module docs. Dropping it without
/// [`Recorder::finish`] ends its connections and leaves a file without END.
pub struct Recorder {
    listen: SocketAddr,
    target: SocketAddr,
    path: PathBuf,
    inner: Arc<Inner>,
    accept_task: JoinHandle<()>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Recorder {
    /// Starts a proxy on a free loopback port that forwards to the SPICE
    /// server at `target` and records into a new file at `out`.
    pub async fn start(target: SocketAddr, out: &Path) -> Result<Recorder> {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut file = GzEncoder::new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            flate2::Compression::default(),
        );
        file.write_all(MAGIC)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = std::thread::Builder::new()
            .name("spice-record-writer".into())
            .spawn(move || write_loop(file, rx))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let inner = Arc::new(Inner {
            tx,
            t0: OnceLock::new(),
            next_conn: AtomicU64::new(0),
            channels: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
        });
        let accept_task = tokio::spawn(accept_loop(listener, target, inner.clone()));
        Ok(Recorder {
            listen,
            target,
            path: out.to_path_buf(),
            inner,
            accept_task,
            writer: Some(writer),
        })
    }

    /// Where SPICE clients connect.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn target_addr(&self) -> SocketAddr {
        self.target
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a NOTE record (free text, e.g. the workload).
    pub fn note(&self, text: &str) {
        let mut w = Writer::new();
        w.u8(KIND_NOTE)
            .u32(text.len() as u32)
            .bytes(text.as_bytes());
        self.inner.record(w.finish());
    }

    /// Microseconds since the main channel linked (0 before it has).
    pub fn elapsed_us(&self) -> u64 {
        self.inner
            .t0
            .get()
            .map_or(0, |t0| t0.elapsed().as_micros() as u64)
    }

    pub fn stats(&self) -> RecordStats {
        RecordStats {
            channels: self.inner.channels.load(Ordering::Relaxed),
            messages: self.inner.messages.load(Ordering::Relaxed),
            bytes: self.inner.bytes.load(Ordering::Relaxed),
        }
    }

    /// Why proxied connections ended with an error so far.
    pub fn errors(&self) -> Vec<String> {
        self.inner
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops recording: closes every proxied connection, writes END and
    /// flushes the file.
    pub async fn finish(mut self) -> Result<RecordStats> {
        self.accept_task.abort();
        let end = self.elapsed_us();
        let mut w = Writer::new();
        w.u8(KIND_END).u64(end);
        let (done_tx, done_rx) = oneshot::channel();
        self.inner
            .tx
            .send(Cmd::Finish(w.finish(), done_tx))
            .map_err(|_| anyhow::anyhow!("the recording writer has stopped"))?;
        done_rx
            .await
            .context("the recording writer has stopped")?
            .with_context(|| format!("writing {}", self.path.display()))?;
        if let Some(h) = self.writer.take() {
            // The thread ends once every sender is gone; it does not need
            // to be waited for.
            drop(h);
        }
        Ok(self.stats())
    }
}

type Output = GzEncoder<std::io::BufWriter<std::fs::File>>;

fn write_loop(mut file: Output, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut failed: Option<std::io::Error> = None;
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Cmd::Record(bytes) => {
                if failed.is_none() {
                    if let Err(e) = file.write_all(&bytes) {
                        failed = Some(e);
                    }
                }
            }
            Cmd::Finish(end, done) => {
                let res = match failed.take() {
                    Some(e) => Err(e),
                    None => file
                        .write_all(&end)
                        .and_then(|()| file.try_finish())
                        .and_then(|()| file.get_mut().flush()),
                };
                let _ = done.send(res);
                // Anything sent after END is dropped.
                while rx.blocking_recv().is_some() {}
                return;
            }
        }
    }
    // Dropped without finish: close the gzip stream anyway.
    let _ = file.try_finish();
    let _ = file.get_mut().flush();
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, inner: Arc<Inner>) {
    // Dropping the set (when this task is aborted) ends every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
                let inner = inner.clone();
                conns.spawn(async move {
                    if let Err(e) = proxy_conn(client, target, &inner, conn).await {
                        inner
                            .errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("connection {conn}: {e:#}"));
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Proxies one channel connection, recording the server's messages after
/// the link phase.
async fn proxy_conn(client: TcpStream, target: SocketAddr, inner: &Inner, conn: u64) -> Result<()> {
    let conn = u16::try_from(conn).context("more than 65535 connections")?;
    client.set_nodelay(true)?;
    let server = TcpStream::connect(target)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();

    // Client: link header and SpiceLinkMess.
    let mut header = [0u8; 16];
    cr.read_exact(&mut header)
        .await
        .context("client link header")?;
    let size = parse_link_header(&header).context("client link header")?;
    let mut body = vec![0u8; size as usize];
    cr.read_exact(&mut body)
        .await
        .context("client link message")?;
    let mess = parse_link_mess(&body).context("client link message")?;
    sw.write_all(&header).await?;
    sw.write_all(&body).await?;

    // Server: link header and SpiceLinkReply.
    sr.read_exact(&mut header)
        .await
        .context("server link header")?;
    let size = parse_link_header(&header).context("server link header")?;
    let mut body = vec![0u8; size as usize];
    sr.read_exact(&mut body)
        .await
        .context("server link reply")?;
    let reply = parse_link_reply(&body).context("server link reply")?;
    cw.write_all(&header).await?;
    cw.write_all(&body).await?;
    if reply.error != 0 {
        // The server refused; it closes the connection.
        return Ok(());
    }

    // Client: auth mechanism (with AUTH_SELECTION) and the 128-byte ticket.
    let ticket_len = if mess.auth_selection() { 4 + 128 } else { 128 };
    let mut ticket = vec![0u8; ticket_len];
    cr.read_exact(&mut ticket).await.context("client ticket")?;
    if mess.auth_selection() && ticket[..4] != 1u32.to_le_bytes() {
        bail!("the client chose an auth mechanism other than SPICE tickets");
    }
    sw.write_all(&ticket).await?;

    // Server: the verdict.
    let mut verdict = [0u8; 4];
    sr.read_exact(&mut verdict).await.context("auth verdict")?;
    cw.write_all(&verdict).await?;
    let linked = Instant::now();
    if verdict != [0; 4] {
        return Ok(());
    }
    let mini = has_cap(&mess.common_caps, common_cap::MINI_HEADER)
        && reply.has_common_cap(common_cap::MINI_HEADER);
    if !mini {
        // Not recordable; just pass the bytes on.
        let up = tokio::io::copy(&mut cr, &mut sw);
        let down = tokio::io::copy(&mut sr, &mut cw);
        tokio::select! { _ = up => {}, _ = down => {} }
        bail!("linked without the mini header: passed through, not recorded");
    }
    if mess.channel_type == channel::MAIN {
        let _ = inner.t0.set(linked);
    }
    let link_us = inner.us_since_t0(linked);
    let mut w = Writer::new();
    w.u8(KIND_CHANNEL)
        .u16(conn)
        .u8(mess.channel_type)
        .u8(mess.channel_id)
        .u64(link_us)
        .u32(reply.common_caps.len() as u32)
        .u32(reply.channel_caps.len() as u32);
    for c in reply.common_caps.iter().chain(&reply.channel_caps) {
        w.u32(*c);
    }
    inner.record(w.finish());
    inner.channels.fetch_add(1, Ordering::Relaxed);

    let up = async {
        tokio::io::copy(&mut cr, &mut sw).await?;
        Ok::<_, anyhow::Error>(())
    };
    let down = async {
        loop {
            let msg = match read_message(&mut sr).await {
                Ok(m) => m,
                Err(opencloud_spice::Error::Closed(_)) => return Ok(()),
                Err(e) => return Err(anyhow::Error::new(e).context("server message")),
            };
            let t = inner.us_since_t0(Instant::now());
            let mut rec = Writer::new();
            rec.u8(KIND_MESSAGE)
                .u16(conn)
                .u64(t)
                .u16(msg.msg_type)
                .u32(msg.body.len() as u32)
                .bytes(&msg.body);
            let rec = rec.finish();
            // The message as on the wire is the record's tail.
            let wire = &rec[11..];
            cw.write_all(wire).await?;
            inner.messages.fetch_add(1, Ordering::Relaxed);
            inner.bytes.fetch_add(wire.len() as u64, Ordering::Relaxed);
            inner.record(rec);
        }
    };
    tokio::select! {
        r = up => r,
        r = down => r,
    }
}
