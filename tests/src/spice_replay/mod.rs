//! A SPICE server that replays a recording (see [`crate::spice_record`]) to
//! any number of clients at once, so a benchmark can run many viewers of
//! one guest's screen without running many guests.
//!
//! Every accepted connection is linked like spice-server does it: the
//! client's `REDQ` header and SpiceLinkMess are read (bounds-checked), the
//! reply carries a 1024-bit RSA public key generated when the server starts
//! and the capability words the real server sent, and whatever auth
//! mechanism and ticket follow are accepted (verdict 0). Then the
//! connection gets the recorded server→client stream of the first recorded
//! connection of the same channel type and id, from its start, with the
//! original time of each message relative to when that channel linked
//! (divided by [`ReplayOptions::speed`]):
//!
//! - main: MAIN_INIT and the rest; CHANNELS_LIST is held back until the
//!   client sends ATTACH_CHANNELS, and what follows it keeps its spacing
//!   from CHANNELS_LIST. MAIN_INIT carries the recorded session id; the
//!   other channels are accepted whatever connection id they link with.
//! - display, cursor, inputs: their streams as recorded. With
//!   [`ReplayOptions::loop_display`] the display stream then repeats
//!   forever from the message after the first SURFACE_CREATE (where QEMU
//!   repaints the whole screen) to the recording's end, each pass preceded
//!   by INVAL_ALL_PIXMAPS and INVAL_ALL_PALETTES so the client's caches
//!   start as empty as they were the first time. This assumes the surface
//!   at the end of the recording is the one created at its start (true
//!   unless the guest changed video mode), and it is not valid for GLZ
//!   recordings, whose dictionary cannot be reset.
//!
//! Whatever the clients send (ACKs, PONGs, inputs, display init) is read
//! and dropped, so their sockets never block; ACK windows are not
//! enforced, so a client that cannot keep up gets the late messages in a
//! burst when it can (TCP backpressure delays only its own connection).
//! The recorded stream is what the real server sent for the recording
//! client's DISPLAY_INIT and PREFERRED_COMPRESSION; clients get it whatever
//! they ask for. Use an LZ (or OFF or QUIC) recording for clients whose
//! GLZ window or pixmap cache may differ from the recording client's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use opencloud_spice::framing::{encode, read_message};
use opencloud_spice::link::{has_cap, parse_link_header, MAGIC, VERSION_MAJOR, VERSION_MINOR};
use opencloud_spice::proto::{channel, common_cap, display_msg, main_msg, main_msgc};
use opencloud_spice::wire::Writer;
use rsa::pkcs8::EncodePublicKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::spice_record::{
    channel_name, parse_link_mess, LinkMess, RecordedChannel, RecordedMessage, Recording,
};

/// SpiceLinkReply's pub_key field: the DER SubjectPublicKeyInfo of a
/// 1024-bit RSA key.
const PUB_KEY_LEN: usize = 162;
/// Offset of the caps in SpiceLinkReply: error, pub_key, 3 counts.
const REPLY_CAPS_OFFSET: u32 = 4 + PUB_KEY_LEN as u32 + 12;
const LINK_ERR_ERROR: u32 = 1;
const LINK_ERR_INVALID_DATA: u32 = 3;
const LINK_ERR_CHANNEL_NOT_AVAILABLE: u32 = 9;
const AUTH_MECHANISM_SPICE: u32 = 1;
const TICKET_LEN: usize = 128;
/// Shortest loop pass, so a recording of one instant cannot spin.
const MIN_PASS: Duration = Duration::from_millis(100);
/// How long a client may take over the link phase.
const LINK_TIMEOUT: Duration = Duration::from_secs(30);

/// How to replay.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Playback speed: 2.0 plays twice as fast. Must be positive.
    pub speed: f64,
    /// Repeat the display stream forever (see the module docs).
    pub loop_display: bool,
    /// Print a line to stderr for each link and each ended connection.
    pub log: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: 1.0,
            loop_display: false,
            log: false,
        }
    }
}

/// A fresh 1024-bit RSA key's public half, as SpiceLinkReply carries it.
/// The private half is thrown away: tickets are accepted unread.
pub fn generate_public_key() -> Result<Vec<u8>> {
    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 1024).context("generating an RSA key")?;
    let der = key
        .to_public_key()
        .to_public_key_der()
        .context("encoding the RSA public key")?
        .into_vec();
    ensure!(
        der.len() == PUB_KEY_LEN,
        "the public key is {} bytes, not {PUB_KEY_LEN}",
        der.len()
    );
    Ok(der)
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    linked: AtomicU64,
    /// Per channel type: connections whose stream (its first pass, when
    /// looping) has been sent whole.
    finished: Mutex<BTreeMap<u8, u64>>,
    errors: Mutex<Vec<String>>,
}

struct Shared {
    rec: Arc<Recording>,
    pub_key: Vec<u8>,
    opts: ReplayOptions,
    counters: Counters,
}

/// What a replay server has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub accepted: u64,
    pub linked: u64,
    /// Per channel type: streams sent whole (first pass when looping).
    pub finished: BTreeMap<u8, u64>,
}

/// A running replay server; dropping it closes the listener and every
/// connection.
pub struct ReplayServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl ReplayServer {
    /// Generates the RSA key, binds `listen` (e.g. "127.0.0.1:0") and
    /// starts serving `rec`.
    pub async fn start(rec: Arc<Recording>, listen: &str, opts: ReplayOptions) -> Result<Self> {
        ensure!(
            opts.speed.is_finite() && opts.speed > 0.0,
            "speed must be a positive number, not {}",
            opts.speed
        );
        ensure!(
            rec.channel(channel::MAIN, 0).is_some(),
            "the recording has no main channel"
        );
        let pub_key = tokio::task::spawn_blocking(generate_public_key).await??;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rec,
            pub_key,
            opts,
            counters: Counters::default(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(ReplayServer {
            addr,
            shared,
            accept_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn recording(&self) -> &Recording {
        &self.shared.rec
    }

    pub fn stats(&self) -> ReplayStats {
        let c = &self.shared.counters;
        ReplayStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            linked: c.linked.load(Ordering::Relaxed),
            finished: c.finished.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Why connections ended with an error so far (clients that simply
    /// disconnect are not errors).
    pub fn errors(&self) -> Vec<String> {
        self.shared
            .counters
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `n` streams of `channel_type` have been sent whole.
    pub async fn wait_finished(&self, channel_type: u8, n: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let done = self
                .stats()
                .finished
                .get(&channel_type)
                .copied()
                .unwrap_or(0);
            if done >= n {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{done} of {n} {} streams replayed within {timeout:?}; errors: {:?}",
                    channel_name(channel_type),
                    self.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the set (when this task is aborted) ends every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                conns.spawn(async move {
                    let res = serve(stream, &shared).await;
                    if let Err(e) = res {
                        if shared.opts.log {
                            eprintln!("{peer}: {e:#}");
                        }
                        shared
                            .counters
                            .errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("{peer}: {e:#}"));
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn link_error(code: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(MAGIC)
        .u32(VERSION_MAJOR)
        .u32(VERSION_MINOR)
        .u32(4)
        .u32(code);
    w.finish()
}

fn link_reply(pub_key: &[u8], ch: &RecordedChannel) -> Vec<u8> {
    let mut body = Writer::new();
    body.u32(0)
        .bytes(pub_key)
        .u32(ch.common_caps.len() as u32)
        .u32(ch.channel_caps.len() as u32)
        .u32(REPLY_CAPS_OFFSET);
    for c in ch.common_caps.iter().chain(&ch.channel_caps) {
        body.u32(*c);
    }
    let body = body.finish();
    let mut w = Writer::new();
    w.bytes(MAGIC)
        .u32(VERSION_MAJOR)
        .u32(VERSION_MINOR)
        .u32(body.len() as u32)
        .bytes(&body);
    w.finish()
}

/// Links one connection and replays its channel's stream to it.
async fn serve(stream: TcpStream, shared: &Shared) -> Result<()> {
    stream.set_nodelay(true)?;
    let (mut r, mut w) = stream.into_split();
    let (mess, ch) = tokio::time::timeout(LINK_TIMEOUT, link(&mut r, &mut w, shared))
        .await
        .context("the client did not finish linking in time")??;
    let linked = Instant::now();
    shared.counters.linked.fetch_add(1, Ordering::Relaxed);
    if shared.opts.log {
        eprintln!(
            "{} {} linked (connection id {:#x})",
            channel_name(mess.channel_type),
            mess.channel_id,
            mess.connection_id
        );
    }

    let (attach_tx, attach_rx) = watch::channel(false);
    let is_main = mess.channel_type == channel::MAIN;
    let reader = drain(r, is_main.then_some(attach_tx));
    tokio::pin!(reader);
    let attach = is_main.then_some(attach_rx);
    let looping = shared.opts.loop_display && mess.channel_type == channel::DISPLAY;
    tokio::select! {
        res = &mut reader => return res,
        res = play(&mut w, ch, shared, linked, attach, looping) => res?,
    }
    // Only reached without looping: the stream is over but the client
    // stays connected until it leaves.
    reader.await
}

/// The link phase of one connection: returns what the client asked for and
/// the recorded channel that answers it.
async fn link<'a>(
    r: &mut OwnedReadHalf,
    w: &mut OwnedWriteHalf,
    shared: &'a Shared,
) -> Result<(LinkMess, &'a RecordedChannel)> {
    let mut header = [0u8; 16];
    r.read_exact(&mut header).await.context("link header")?;
    let size = parse_link_header(&header).context("link header")?;
    let mut body = vec![0u8; size as usize];
    r.read_exact(&mut body).await.context("link message")?;
    let mess = parse_link_mess(&body).context("link message")?;
    let Some(ch) = shared.rec.channel(mess.channel_type, mess.channel_id) else {
        w.write_all(&link_error(LINK_ERR_CHANNEL_NOT_AVAILABLE))
            .await?;
        bail!(
            "{} {} is not in the recording",
            channel_name(mess.channel_type),
            mess.channel_id
        );
    };
    if !has_cap(&mess.common_caps, common_cap::MINI_HEADER) {
        w.write_all(&link_error(LINK_ERR_ERROR)).await?;
        bail!("the client does not support the mini header");
    }
    w.write_all(&link_reply(&shared.pub_key, ch)).await?;
    if mess.auth_selection() {
        let mechanism = r.read_u32_le().await.context("auth mechanism")?;
        if mechanism != AUTH_MECHANISM_SPICE {
            w.write_all(&LINK_ERR_INVALID_DATA.to_le_bytes()).await?;
            bail!("auth mechanism {mechanism} (only SPICE tickets are served)");
        }
    }
    let mut ticket = [0u8; TICKET_LEN];
    r.read_exact(&mut ticket).await.context("ticket")?;
    w.write_all(&0u32.to_le_bytes()).await?;
    Ok((mess, ch))
}

/// Reads and drops what the client sends; on the main channel, flags
/// ATTACH_CHANNELS. Returns when the client closes.
async fn drain(mut r: OwnedReadHalf, attach: Option<watch::Sender<bool>>) -> Result<()> {
    loop {
        let msg = match read_message(&mut r).await {
            Ok(m) => m,
            Err(opencloud_spice::Error::Closed(_)) => return Ok(()),
            Err(e) => return Err(anyhow::Error::new(e).context("client message")),
        };
        if let Some(tx) = &attach {
            if msg.msg_type == main_msgc::ATTACH_CHANNELS {
                tx.send_replace(true);
            }
        }
    }
}

fn scaled(us: u64, speed: f64) -> Duration {
    Duration::from_secs_f64(us as f64 / 1e6 / speed)
}

/// Most bytes merged into one write.
const MAX_BATCH: usize = 256 << 10;

/// Sends `msgs` in order, none before its `due` time. Messages that are
/// due together (QEMU sends dozens within a millisecond while the screen
/// scrolls) go out in one write, which keeps many viewers cheap.
async fn send_scheduled(
    w: &mut OwnedWriteHalf,
    msgs: &[RecordedMessage],
    due: impl Fn(&RecordedMessage) -> Instant,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let mut rest = msgs;
    while let Some((first, _)) = rest.split_first() {
        tokio::time::sleep_until(due(first)).await;
        let now = Instant::now();
        buf.clear();
        let mut n = 0;
        for m in rest {
            if n > 0 && (due(m) > now || buf.len() >= MAX_BATCH) {
                break;
            }
            buf.extend_from_slice(&m.wire);
            n += 1;
        }
        w.write_all(buf).await?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Sends `ch`'s messages on their schedule: `linked` corresponds to the
/// recorded link time. Returns after the stream (its first pass when
/// looping, which never returns).
async fn play(
    w: &mut OwnedWriteHalf,
    ch: &RecordedChannel,
    shared: &Shared,
    linked: Instant,
    attach: Option<watch::Receiver<bool>>,
    looping: bool,
) -> Result<()> {
    let speed = shared.opts.speed;
    let mut buf = Vec::new();
    let mut base = linked;
    let at = |base: Instant, m: &RecordedMessage| {
        base + scaled(m.t_us.saturating_sub(ch.link_us), speed)
    };
    // On the main channel CHANNELS_LIST waits for ATTACH_CHANNELS.
    let split = match attach {
        Some(_) => ch
            .messages
            .iter()
            .position(|m| m.msg_type == main_msg::CHANNELS_LIST),
        None => None,
    };
    let (before, after) = ch.messages.split_at(split.unwrap_or(ch.messages.len()));
    send_scheduled(w, before, |m| at(base, m), &mut buf).await?;
    if let (Some(mut rx), Some(list)) = (attach, after.first()) {
        rx.wait_for(|seen| *seen)
            .await
            .context("the client left before ATTACH_CHANNELS")?;
        // What follows keeps its spacing from CHANNELS_LIST.
        let now = Instant::now();
        let due = at(base, list);
        if now > due {
            base += now - due;
        }
    }
    send_scheduled(w, after, |m| at(base, m), &mut buf).await?;
    let end = base + scaled(shared.rec.end_us.saturating_sub(ch.link_us), speed);
    {
        let mut finished = shared
            .counters
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *finished.entry(ch.channel_type).or_default() += 1;
    }
    if !looping {
        return Ok(());
    }
    let start = ch
        .messages
        .iter()
        .position(|m| m.msg_type == display_msg::SURFACE_CREATE)
        .map_or(0, |i| i + 1);
    let body = &ch.messages[start.min(ch.messages.len())..];
    let Some(first) = body.first() else {
        return Ok(());
    };
    let last = body.last().map_or(first.t_us, |m| m.t_us);
    let pass = scaled(
        shared.rec.end_us.max(last).saturating_sub(first.t_us),
        speed,
    )
    .max(MIN_PASS);
    let mut inval = encode(display_msg::INVAL_ALL_PIXMAPS, &[0]);
    inval.extend_from_slice(&encode(display_msg::INVAL_ALL_PALETTES, &[]));
    let mut pass_base = end.max(Instant::now());
    loop {
        tokio::time::sleep_until(pass_base).await;
        w.write_all(&inval).await?;
        let due =
            |m: &RecordedMessage| pass_base + scaled(m.t_us.saturating_sub(first.t_us), speed);
        send_scheduled(w, body, due, &mut buf).await?;
        pass_base += pass;
    }
}

#[cfg(test)]
mod tests;
