//! A SPICE session over TCP: links the main channel, learns the session id
//! and channel list, links display, inputs and cursor, and runs one task per
//! channel that answers the base messages and applies the rest to the
//! shared display and cursor state. The guest agent's part of the main
//! channel is in `client/agent.rs`, keys and the pointer in
//! `client/input.rs`, the connection settings in `client/config.rs`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::agent::Agent;
use crate::cursor::Cursor;
use crate::display::{Display, Dumper, Stats};
use crate::framing::{
    encode, parse_header, read_message, write_message, AckState, BaseAction, Message,
};
use crate::image::Image;
use crate::inputs::MotionThrottle;
use crate::link::{caps, handshake, LinkRequest};
use crate::msg::main::MainMessage;
use crate::msg::{self, InputsMessage, ServerMessage};
use crate::proto::{channel, display_cap, display_msgc, main_cap, main_msgc, mouse_mode};
use crate::wire::Writer;
use crate::{Error, Result};

mod agent;
mod config;
mod input;

use input::motion_msg;

pub use config::{Compression, Config};

type SharedWriter = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

/// Connection-wide state shared by the channel tasks and the session.
#[derive(Debug)]
struct Shared {
    display: Mutex<Display>,
    cursor: Mutex<Cursor>,
    state: Mutex<State>,
    agent: Mutex<Agent>,
    /// Bumped after every display or cursor change, every guest agent
    /// event, and when a channel fails, so consumers wake up instead of
    /// polling.
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct State {
    session_id: u32,
    supported_mouse_modes: u16,
    mouse_mode: u16,
    buttons: u16,
    /// Where this session last put the pointer.
    pointer: (u32, u32),
    throttle: MotionThrottle,
    last_display_change: Instant,
    /// When display changes were last announced on `changes`: the end of
    /// the latest burst.
    announced_at: Instant,
    /// When the oldest display or cursor message not yet consumed by
    /// [`Session::take_pending_since`] arrived: the start of a frame's
    /// latency.
    pending_since: Option<Instant>,
    bytes_received: u64,
    failure: Option<String>,
}

/// Locks a std mutex; a panicked holder cannot leave these plain-data
/// states half-updated in a way worse than losing the session, so poisoning
/// is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected SPICE session. Dropping it stops its channel tasks.
pub struct Session {
    shared: Arc<Shared>,
    main: SharedWriter,
    inputs: Option<SharedWriter>,
    key_delay: Duration,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn link(
    addr: &str,
    req: LinkRequest,
    cfg: &Config,
) -> Result<(OwnedReadHalf, OwnedWriteHalf)> {
    let fut = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let reply = handshake(&mut stream, &req, &cfg.password).await?;
        Ok::<_, Error>((stream, reply))
    };
    let (stream, reply) = tokio::time::timeout(cfg.link_timeout, fut)
        .await
        .map_err(|_| Error::Timeout("channel link"))??;
    let (r, mut w) = stream.into_split();
    if req.channel_type == channel::DISPLAY {
        // The preference must precede DISPLAY_INIT: sent after it, the
        // first full frame is already compressed the server's way.
        if reply.has_channel_cap(display_cap::PREF_COMPRESSION) {
            write_message(
                &mut w,
                display_msgc::PREFERRED_COMPRESSION,
                &[cfg.compression.wire()],
            )
            .await?;
        }
        let mut init = Writer::new();
        init.u8(1)
            .i64(i64::try_from(cfg.cache.pixmap_cache_pixels).unwrap_or(i64::MAX))
            .u8(1)
            .i32(i32::try_from(cfg.cache.glz_window_pixels).unwrap_or(i32::MAX));
        write_message(&mut w, display_msgc::INIT, &init.finish()).await?;
    }
    Ok((r, w))
}

/// Answers base messages and ACKs into `out` (encoded client messages, for
/// the caller to send); returns the message if it is not a base message.
fn base(ack: &mut AckState, out: &mut Vec<u8>, msg: Message) -> Result<Option<Message>> {
    if ack.on_message() {
        let (t, body) = AckState::ack();
        out.extend(encode(t, &body));
    }
    Ok(match ack.handle_base(msg.msg_type, &msg.body)? {
        Some(BaseAction::Reply(r)) => {
            for (t, body) in r {
                out.extend(encode(t, &body));
            }
            None
        }
        Some(BaseAction::Disconnecting(code)) => {
            return Err(Error::Closed(format!("server disconnecting ({code})")))
        }
        Some(BaseAction::None) => None,
        None => Some(msg),
    })
}

/// Sends and clears what `base` gathered.
async fn flush_replies(w: &SharedWriter, out: &mut Vec<u8>) -> Result<()> {
    if !out.is_empty() {
        w.lock().await.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

impl Session {
    /// Connects to the SPICE server at `addr` ("host:port").
    pub async fn connect(addr: &str, cfg: Config) -> Result<Session> {
        let main_req = LinkRequest {
            connection_id: 0,
            channel_type: channel::MAIN,
            channel_id: 0,
            channel_caps: caps(&[main_cap::AGENT_CONNECTED_TOKENS]),
        };
        let (mut main_r, main_w) = link(addr, main_req, &cfg).await?;
        let main_w: SharedWriter = Arc::new(tokio::sync::Mutex::new(main_w));
        let mut ack = AckState::default();
        let mut init = None;
        let mut channels = None;
        let mut agent_state = Agent::new();
        // Until CHANNELS_LIST arrives the main channel is driven here;
        // afterwards its task takes over.
        let setup = async {
            while channels.is_none() {
                let msg = read_message(&mut main_r).await?;
                let mut replies = Vec::new();
                let rest = base(&mut ack, &mut replies, msg)?;
                flush_replies(&main_w, &mut replies).await?;
                let Some(msg) = rest else {
                    continue;
                };
                match msg::main::parse(msg.msg_type, &msg.body) {
                    Ok(MainMessage::ChannelsList(l)) => channels = Some(l),
                    Ok(m) => {
                        // MAIN_INIT says whether a guest agent is connected,
                        // and agent messages may come before CHANNELS_LIST.
                        let out = agent_state.on_main(&m);
                        let mut w = main_w.lock().await;
                        agent::send_all(&mut w, &out.send).await?;
                        if let MainMessage::Init(i) = m {
                            let modes =
                                (i.supported_mouse_modes as u16, i.current_mouse_mode as u16);
                            init = Some(i);
                            write_message(&mut *w, main_msgc::ATTACH_CHANNELS, &[]).await?;
                            if let Some(req) = client_mouse_request(modes.0, modes.1) {
                                write_message(&mut *w, req.0, &req.1).await?;
                            }
                        }
                    }
                    Err(Error::Unsupported { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, Error>(())
        };
        tokio::time::timeout(cfg.link_timeout, setup)
            .await
            .map_err(|_| Error::Timeout("main channel init"))??;
        let init = init.ok_or_else(|| Error::malformed("main channel", "no MAIN_INIT"))?;
        let channels = channels.unwrap_or_default();
        let dumper = match &cfg.dump_dir {
            Some(dir) => Some(Dumper::new(dir.clone())?),
            None => Dumper::from_env()?,
        };
        let shared = Arc::new(Shared {
            display: Mutex::new(Display::new(cfg.cache, dumper)),
            cursor: Mutex::new(Cursor::default()),
            state: Mutex::new(State {
                session_id: init.session_id,
                supported_mouse_modes: init.supported_mouse_modes as u16,
                mouse_mode: init.current_mouse_mode as u16,
                buttons: 0,
                pointer: (0, 0),
                throttle: MotionThrottle::default(),
                last_display_change: Instant::now(),
                announced_at: Instant::now(),
                pending_since: None,
                bytes_received: 0,
                failure: None,
            }),
            agent: Mutex::new(agent_state),
            changes: tokio::sync::watch::Sender::new(0),
        });
        let mut session = Session {
            shared: shared.clone(),
            main: main_w.clone(),
            inputs: None,
            key_delay: cfg.key_delay,
            tasks: Vec::new(),
        };
        session.spawn(channel::MAIN, main_r, main_w, ack);
        for (kind, id) in channels {
            // One display is all a single-head guest has; extra display
            // channels (multi-monitor QXL) are not linked.
            let wanted = matches!(kind, channel::DISPLAY | channel::INPUTS | channel::CURSOR);
            if !wanted || id != 0 {
                continue;
            }
            let req = LinkRequest {
                connection_id: init.session_id,
                channel_type: kind,
                channel_id: id,
                channel_caps: if kind == channel::DISPLAY {
                    caps(&[display_cap::PREF_COMPRESSION])
                } else {
                    Vec::new()
                },
            };
            let (r, w) = link(addr, req, &cfg).await?;
            let w: SharedWriter = Arc::new(tokio::sync::Mutex::new(w));
            if kind == channel::INPUTS {
                session.inputs = Some(w.clone());
            }
            session.spawn(kind, r, w, AckState::default());
        }
        Ok(session)
    }

    fn spawn(&mut self, kind: u8, r: OwnedReadHalf, w: SharedWriter, ack: AckState) {
        let shared = self.shared.clone();
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = run_channel(kind, r, w, ack, &shared).await {
                let mut st = lock(&shared.state);
                if st.failure.is_none() {
                    st.failure = Some(format!("channel {kind}: {e}"));
                }
                drop(st);
                shared.changes.send_modify(|g| *g += 1);
            }
        }));
    }

    /// The first fatal error of any channel, if one has failed.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.state).failure.clone()
    }

    pub fn session_id(&self) -> u32 {
        lock(&self.shared.state).session_id
    }

    /// Runs `f` on the display state (surfaces, dirty lists, stats).
    pub fn with_display<R>(&self, f: impl FnOnce(&mut Display) -> R) -> R {
        f(&mut lock(&self.shared.display))
    }

    /// Runs `f` on the cursor state.
    pub fn with_cursor<R>(&self, f: impl FnOnce(&mut Cursor) -> R) -> R {
        f(&mut lock(&self.shared.cursor))
    }

    /// A copy of the primary surface.
    pub fn primary_image(&self) -> Option<Image> {
        self.with_display(|d| {
            d.primary().map(|s| Image {
                width: s.width,
                height: s.height,
                pixels: s.pixels.clone(),
            })
        })
    }

    /// Images and bytes received per image format.
    pub fn stats(&self) -> Stats {
        self.with_display(|d| d.stats().clone())
    }

    /// A receiver that is marked changed after display or cursor changes,
    /// agent events and when a channel fails. Display changes are announced
    /// once the channel has applied everything that had arrived, so a burst
    /// of drawing messages wakes a consumer once, at its end.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// When the oldest change not yet taken arrived, without taking it.
    pub fn pending_since(&self) -> Option<Instant> {
        lock(&self.shared.state).pending_since
    }

    /// When the last display message arrived.
    pub fn last_display_change(&self) -> Instant {
        lock(&self.shared.state).last_display_change
    }

    /// When display changes were last announced to [`Session::subscribe`]
    /// receivers: the end of the latest burst of drawing messages.
    pub fn last_announced(&self) -> Instant {
        lock(&self.shared.state).announced_at
    }

    /// When the oldest change not yet taken arrived, and forgets it: a
    /// consumer that sends a frame calls this to measure its latency.
    pub fn take_pending_since(&self) -> Option<Instant> {
        lock(&self.shared.state).pending_since.take()
    }

    /// Bytes received on all channels.
    pub fn bytes_received(&self) -> u64 {
        lock(&self.shared.state).bytes_received
    }

    /// Waits until a primary surface exists and the display has not changed
    /// for `quiet`, or fails after `timeout` or when a channel fails.
    pub async fn wait_settled(&self, quiet: Duration, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.failure() {
                return Err(Error::Closed(f));
            }
            let since = lock(&self.shared.state).last_display_change.elapsed();
            let has_primary = self.with_display(|d| d.primary().is_some());
            if has_primary && since >= quiet {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout("the display to settle"));
            }
            let wait = quiet.saturating_sub(since).max(Duration::from_millis(10));
            tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
        }
    }
}

/// One channel's receive loop.
async fn run_channel(
    kind: u8,
    r: OwnedReadHalf,
    w: SharedWriter,
    mut ack: AckState,
    shared: &Shared,
) -> Result<()> {
    // Buffered: QEMU sends a screen update as hundreds of small messages in
    // one burst, and reading each with its own syscalls cost more than
    // decoding it.
    let mut r = BufReader::with_capacity(READ_BUFFER, r);
    // Display and cursor changes read but not yet announced to consumers.
    let mut unannounced = false;
    // ACKs and PONGs not yet sent.
    let mut replies = Vec::new();
    loop {
        if !holds_a_message(r.buffer()) {
            // Everything that arrived so far is applied: this is the end of
            // the server's burst as far as anyone can tell. The replies it
            // earned leave in one write (an ACK is due every 20 display
            // messages, and one send each cost more than decoding them),
            // and consumers wake once, not once per message. They always
            // leave before this task waits for the network, so a server
            // waiting for an ACK cannot wait for ever.
            flush_replies(&w, &mut replies).await?;
            if unannounced {
                unannounced = false;
                lock(&shared.state).announced_at = Instant::now();
                shared.changes.send_modify(|g| *g += 1);
            }
        }
        let msg = read_message(&mut r).await?;
        let received = Instant::now();
        lock(&shared.state).bytes_received += msg.body.len() as u64 + 6;
        let Some(msg) = base(&mut ack, &mut replies, msg)? else {
            continue;
        };
        let parsed = match msg::parse(kind, msg.msg_type, &msg.body) {
            Ok(p) => p,
            Err(e @ Error::Unsupported { .. }) => {
                // Messages for features we do not use end nothing.
                tracing::debug!("channel {kind}: ignoring message {}: {e}", msg.msg_type);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let ServerMessage::Main(m) = &parsed {
            if Agent::concerns(m) {
                agent::on_main(shared, &w, m).await?;
                continue;
            }
        }
        let visible = matches!(parsed, ServerMessage::Display(_) | ServerMessage::Cursor(_));
        let reply = apply(parsed, shared)?;
        if visible {
            lock(&shared.state).pending_since.get_or_insert(received);
            unannounced = true;
        }
        if let Some((t, body)) = reply {
            let mut w = w.lock().await;
            write_message(&mut *w, t, &body).await?;
        }
    }
}

/// The request for client (absolute) mouse mode when the server offers it
/// and is not in it, as spice-gtk does: the pointer then goes where the
/// user points instead of being moved by differences, and no pointer lock
/// is needed. The server offers it once a guest agent (or a tablet) can
/// place the pointer; a refused request draws no answer, so this cannot
/// loop.
fn client_mouse_request(supported: u16, current: u16) -> Option<(u16, Vec<u8>)> {
    (supported & mouse_mode::CLIENT != 0 && current != mouse_mode::CLIENT).then(|| {
        (
            main_msgc::MOUSE_MODE_REQUEST,
            mouse_mode::CLIENT.to_le_bytes().to_vec(),
        )
    })
}

/// Read buffer per channel.
const READ_BUFFER: usize = 64 << 10;

/// Whether `buf` starts with a whole message, so that reading it needs no
/// wait for the network.
fn holds_a_message(buf: &[u8]) -> bool {
    let Some(header) = buf.get(..6).and_then(|h| <&[u8; 6]>::try_from(h).ok()) else {
        return false;
    };
    match parse_header(header) {
        Ok((_, size)) => buf.len() - 6 >= size as usize,
        // A bad header fails the next read at once.
        Err(_) => true,
    }
}

/// Applies a parsed message; returns a message to send back, if any.
fn apply(msg: ServerMessage<'_>, shared: &Shared) -> Result<Option<(u16, Vec<u8>)>> {
    match msg {
        ServerMessage::Display(m) => {
            let res = lock(&shared.display).handle(&m);
            lock(&shared.state).last_display_change = Instant::now();
            match res {
                Err(e @ Error::Unsupported { .. }) => {
                    tracing::debug!("display: skipping a command: {e}");
                }
                other => other?,
            }
        }
        ServerMessage::Cursor(m) => lock(&shared.cursor).handle(&m)?,
        ServerMessage::Main(MainMessage::MouseMode { supported, current }) => {
            let mut st = lock(&shared.state);
            st.supported_mouse_modes = supported;
            st.mouse_mode = current;
            return Ok(client_mouse_request(supported, current));
        }
        ServerMessage::Main(MainMessage::Init(i)) => {
            lock(&shared.state).session_id = i.session_id;
        }
        ServerMessage::Main(_) => {}
        ServerMessage::Inputs(InputsMessage::MouseMotionAck) => {
            let mut st = lock(&shared.state);
            let buttons = st.buttons;
            return Ok(st.throttle.on_ack().map(|m| motion_msg(m, buttons)));
        }
        ServerMessage::Inputs(_) => {}
    }
    Ok(None)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
