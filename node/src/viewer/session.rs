//! One translate-mode viewer: a SPICE session to the VM on one side, a
//! websocket to the browser on the other.
//!
//! The loop sends a frame whenever the display changed and the browser has
//! drawn all but a small window of earlier frames. While the window is full
//! nothing is encoded: changes keep landing in the SPICE framebuffer, their
//! dirty rectangles merge, and the browser gets the latest screen once it
//! catches up. Memory per viewer is therefore its framebuffers plus at most
//! the window of encoded frames, however slowly the browser reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use opencloud_spice::cursor::CursorImage;
use opencloud_spice::msg::display::Rect;
use opencloud_spice::proto::mouse_mode;
use opencloud_spice::{Config as SpiceConfig, Session};
use serde_json::json;

use super::encode::{Encoded, Encoder};
use super::input::{self, ClientMessage, Effect, Held};
use super::metrics::ViewerHandle;
use super::pacing::Pacing;
use super::{wire, Target, ViewerConfig};

type Sink = SplitSink<WebSocket, Message>;

/// What the page is told at the start of a session.
pub struct Hello {
    /// The key to reconnect with, when the node keeps grants.
    pub resume: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("the browser went away")]
    Browser,
    #[error("the VM's display ended: {0}")]
    Spice(String),
}

impl From<axum::Error> for SessionEnd {
    fn from(_: axum::Error) -> Self {
        SessionEnd::Browser
    }
}

impl From<opencloud_spice::Error> for SessionEnd {
    fn from(e: opencloud_spice::Error) -> Self {
        SessionEnd::Spice(e.to_string())
    }
}

/// Sends a CONTROL error and closes; `retry` tells the page whether
/// reconnecting can help.
pub async fn refuse(socket: WebSocket, message: &str, retry: bool) {
    let (mut sink, _) = socket.split();
    let body = wire::control(&json!({"kind": "error", "message": message, "retry": retry}));
    let _ = sink.send(Message::Binary(body.into())).await;
    let code = if retry { 1013 } else { 4001 };
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: "refused".into(),
        })))
        .await;
}

/// Runs a viewer until either side ends.
pub async fn run(
    mut socket: WebSocket,
    target: Target,
    hello: Hello,
    cfg: Arc<ViewerConfig>,
    metrics: ViewerHandle,
) {
    // The hello (with the resume key) goes first, before the VM is reached:
    // a page whose VM is not answering yet (still booting, or its node is
    // restarting) must be able to come back, and its ticket is spent.
    let body = wire::control(&json!({
        "kind": "hello",
        "version": 1,
        "resume": hello.resume,
        "mouse": mouse_name(mouse_mode::SERVER),
        "agent": false,
    }));
    metrics.sent("control", body.len());
    if socket.send(Message::Binary(body.into())).await.is_err() {
        return;
    }
    let spice_cfg = SpiceConfig {
        password: target.password.clone(),
        compression: cfg.compression,
        link_timeout: cfg.connect_timeout,
        ..SpiceConfig::default()
    };
    let spice = match Session::connect(&target.addr, spice_cfg).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!("viewer: cannot reach the VM's display: {e}");
            refuse(socket, "the VM's display cannot be reached; retrying", true).await;
            return;
        }
    };
    let (sink, stream) = socket.split();
    let mut v = Viewer {
        spice,
        sink,
        encoder: Encoder::new(cfg.encoder.clone()),
        fb: Vec::new(),
        size: (0, 0),
        seq: 0,
        acked: 0,
        cursor: None,
        // The hello said server mode; a client-mode VM is announced by the
        // first sync.
        mouse: Some(mouse_mode::SERVER),
        held: Held::default(),
        metrics,
        cfg,
        out: Vec::new(),
        window_opened: Instant::now(),
        // The hello said no agent.
        agent: AgentOffer::default(),
        clipboard_seen: 0,
    };
    let end = v.serve(stream).await;
    let _ = v.held.release_all(&v.spice).await;
    match end {
        Err(SessionEnd::Spice(why)) => {
            tracing::info!("viewer: {why}");
            let body = wire::control(
                &json!({"kind": "error", "message": "the VM's display was lost", "retry": true}),
            );
            let _ = v.sink.send(Message::Binary(body.into())).await;
            let _ = v.sink.close().await;
        }
        Err(SessionEnd::Browser) | Ok(()) => {}
    }
}

struct Viewer {
    spice: Session,
    sink: Sink,
    encoder: Encoder,
    /// The viewer's own copy of the primary surface, refreshed under the
    /// display lock from the dirty rectangles only, so that encoding runs
    /// without holding up the SPICE channel.
    fb: Vec<u32>,
    size: (u32, u32),
    seq: u32,
    acked: u32,
    /// The cursor shape the browser has (pointer identity of the decoded
    /// image) and whether it is shown.
    cursor: Option<(Option<Arc<CursorImage>>, bool)>,
    mouse: Option<u16>,
    held: Held,
    metrics: ViewerHandle,
    cfg: Arc<ViewerConfig>,
    out: Vec<Encoded>,
    /// When the browser last acknowledged its way out of a full window.
    window_opened: Instant,
    /// What the page was last told of the guest agent.
    agent: AgentOffer,
    /// The guest clipboard generation the page has.
    clipboard_seen: u64,
}

/// What the guest agent offers, as the page is told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AgentOffer {
    connected: bool,
    resize: bool,
    clipboard: bool,
}

impl Viewer {
    fn in_flight(&self) -> u32 {
        self.seq.wrapping_sub(self.acked)
    }

    async fn send(&mut self, kind: &str, body: Vec<u8>) -> Result<(), SessionEnd> {
        self.metrics.sent(kind, body.len());
        self.sink.send(Message::Binary(body.into())).await?;
        Ok(())
    }

    async fn serve(&mut self, mut stream: SplitStream<WebSocket>) -> Result<(), SessionEnd> {
        let mut changes = self.spice.subscribe();
        let mut dirty = true;
        let mut pacing = Pacing::default();
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(self.cfg.ping_every);
        loop {
            if let Some(f) = self.spice.failure() {
                return Err(SessionEnd::Spice(f));
            }
            self.sync_state().await?;
            let now = Instant::now();
            let frame_at =
                (dirty && self.in_flight() < self.cfg.window).then(|| pacing.due(&self.cfg, now));
            if frame_at.is_some_and(|at| at <= now) {
                // Seen before the pull: a change that lands after it wakes
                // the loop again.
                changes.borrow_and_update();
                self.frame(frame_at.unwrap_or(now)).await?;
                pacing.sent(&self.cfg, Instant::now());
                dirty = false;
                continue;
            }
            let refine_at = self
                .encoder
                .next_refine_at()
                .filter(|_| self.in_flight() < self.cfg.window);
            let wake_at = match (frame_at, refine_at) {
                (Some(f), Some(r)) => Some(f.min(r)),
                (f, r) => f.or(r),
            };
            let timer = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = stream.next() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(t))) => self.on_input(t.as_str()).await?,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                        Some(Ok(_)) => {}
                    }
                }
                // Once a frame is pending, more changes only join it: the
                // loop sleeps until the frame is due instead of waking for
                // every SPICE message of a busy screen.
                r = changes.changed(), if !dirty => {
                    if r.is_err() {
                        return Err(SessionEnd::Spice("session dropped".into()));
                    }
                    dirty = true;
                }
                _ = timer => {
                    // A frame that has become due goes first; refining
                    // waits for a moment with nothing newer to send.
                    let due = frame_at.is_some_and(|at| at <= Instant::now());
                    if !due && refine_at.is_some_and(|at| at <= Instant::now()) {
                        self.refine().await?;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.cfg.ping_every * 3 {
                        tracing::info!("viewer: the browser stopped answering");
                        return Ok(());
                    }
                    self.sink.send(Message::Ping(Vec::new().into())).await?;
                }
            }
        }
    }

    async fn on_input(&mut self, text: &str) -> Result<(), SessionEnd> {
        let Some(msg) = input::parse(text) else {
            tracing::debug!("viewer: dropping a malformed input message");
            return Ok(());
        };
        if !matches!(msg, ClientMessage::Ack { .. }) {
            self.metrics.input();
        }
        match input::apply(msg, &self.spice, &mut self.held, self.size).await? {
            Effect::Ack(seq) => {
                // Acks are cumulative; one for a frame never sent is a
                // broken or hostile page and is ignored.
                if seq.wrapping_sub(self.acked) <= self.in_flight() {
                    if self.in_flight() >= self.cfg.window {
                        self.window_opened = Instant::now();
                    }
                    self.acked = seq;
                    self.metrics.unacknowledged(self.in_flight());
                }
            }
            Effect::Unsupported(what) => {
                let body = wire::control(&json!({"kind": "notice", "message": what}));
                self.send("control", body).await?;
            }
            Effect::None => {}
        }
        Ok(())
    }

    /// Copies what changed into the viewer's framebuffer; returns the dirty
    /// rectangles, or `None` without a primary surface.
    fn pull(&mut self) -> Option<Vec<Rect>> {
        let fb = &mut self.fb;
        let size = &mut self.size;
        self.spice.with_display(|d| {
            let s = d.primary_mut()?;
            let dirty = s.take_dirty();
            if (s.width, s.height) != *size || fb.len() != s.pixels.len() {
                *size = (s.width, s.height);
                fb.clear();
                fb.extend_from_slice(&s.pixels);
                return Some(vec![s.bounds()]);
            }
            let w = s.width as usize;
            for r in &dirty {
                let r = r.intersect(&s.bounds());
                if r.is_empty() {
                    continue;
                }
                let (l, rt) = (r.left as usize, r.right as usize);
                for y in r.top as usize..r.bottom as usize {
                    let row = y * w;
                    fb[row + l..row + rt].copy_from_slice(&s.pixels[row + l..row + rt]);
                }
            }
            Some(dirty)
        })
    }

    /// Sends a frame of what changed. `due` is when pacing allowed it.
    async fn frame(&mut self, due: Instant) -> Result<(), SessionEnd> {
        // The node's own share of the latency starts once the frame could
        // go: its changes announced, pacing passed, the browser's window
        // open. Waking up late and encoding count; merging on purpose and
        // waiting for the browser do not.
        let ready = due.max(self.spice.last_announced()).max(self.window_opened);
        let Some(dirty) = self.pull() else {
            return Ok(());
        };
        let since = self
            .spice
            .take_pending_since()
            .map(|oldest| (oldest, ready.max(oldest)));
        let mut out = std::mem::take(&mut self.out);
        let res = self.encoder.encode(
            &self.fb,
            self.size.0,
            self.size.1,
            &dirty,
            self.in_flight(),
            Instant::now(),
            &mut out,
        );
        if let Err(e) = res {
            return Err(SessionEnd::Spice(format!("cannot encode the screen: {e}")));
        }
        self.flush(out, since).await
    }

    async fn refine(&mut self) -> Result<(), SessionEnd> {
        let mut out = std::mem::take(&mut self.out);
        let res = self
            .encoder
            .refine(&self.fb, self.size.0, self.size.1, Instant::now(), &mut out);
        if let Err(e) = res {
            return Err(SessionEnd::Spice(format!("cannot encode the screen: {e}")));
        }
        self.flush(out, None).await
    }

    /// Sends encoded messages and the FRAME that closes them; `since` is
    /// when the oldest SPICE message in the frame arrived and when the
    /// frame was ready to go (see `frame`).
    async fn flush(
        &mut self,
        mut out: Vec<Encoded>,
        since: Option<(Instant, Instant)>,
    ) -> Result<(), SessionEnd> {
        if out.is_empty() {
            self.out = out;
            return Ok(());
        }
        // The parts of a frame are queued and leave with its FRAME in one
        // flush: fewer writes (and TLS records) per frame.
        for e in out.drain(..) {
            self.metrics.sent(e.kind.as_str(), e.bytes.len());
            self.sink.feed(Message::Binary(e.bytes.into())).await?;
        }
        self.out = out;
        self.seq = self.seq.wrapping_add(1);
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let (latency, processing) = since.map_or((Duration::ZERO, Duration::ZERO), |(old, new)| {
            (old.elapsed(), new.elapsed())
        });
        if processing > Duration::from_millis(15) {
            tracing::debug!(
                "viewer: late frame {}: oldest {latency:?} newest {processing:?} in flight {}",
                self.seq,
                self.in_flight()
            );
        }
        let frame = wire::frame(self.seq, micros(latency), micros(processing));
        self.send("frame", frame).await?;
        self.metrics.frame(latency);
        self.metrics.unacknowledged(self.in_flight());
        Ok(())
    }

    /// Sends the cursor shape when it changed, the mouse mode and the
    /// agent's state.
    async fn sync_state(&mut self) -> Result<(), SessionEnd> {
        let now = self.spice.with_cursor(|c| (c.image.clone(), c.visible));
        let same = match (&self.cursor, &now) {
            (Some((Some(a), va)), (Some(b), vb)) => Arc::ptr_eq(a, b) && va == vb,
            (Some((None, va)), (None, vb)) => va == vb,
            _ => false,
        };
        if !same {
            let body = match (&now.0, now.1) {
                (Some(img), true) => match wire::cursor_message(img) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!("viewer: cursor not sent: {e}");
                        wire::hide_cursor()
                    }
                },
                _ => wire::hide_cursor(),
            };
            self.cursor = Some(now);
            self.send("cursor", body).await?;
        }
        let mode = self.spice.mouse_mode();
        if self.mouse != Some(mode) {
            self.mouse = Some(mode);
            let body = wire::control(&json!({"kind": "mouse", "mode": mouse_name(mode)}));
            self.send("control", body).await?;
        }
        self.sync_agent().await
    }

    /// Tells the page what the guest agent offers when that changes, and
    /// hands it what the guest copied.
    async fn sync_agent(&mut self) -> Result<(), SessionEnd> {
        let agent = AgentOffer {
            connected: self.spice.agent_connected(),
            resize: self.spice.supports_monitors_config(),
            clipboard: self.spice.supports_clipboard(),
        };
        if self.agent != agent {
            self.agent = agent;
            let body = wire::control(&json!({
                "kind": "agent",
                "connected": agent.connected,
                "resize": agent.resize,
                "clipboard": agent.clipboard,
            }));
            self.send("control", body).await?;
        }
        if self.spice.guest_clipboard_generation() != self.clipboard_seen {
            if let Some((generation, text)) = self.spice.guest_clipboard() {
                self.clipboard_seen = generation;
                let body = wire::control(&json!({"kind": "clipboard", "text": text}));
                self.send("control", body).await?;
            }
        }
        Ok(())
    }
}

fn mouse_name(mode: u16) -> &'static str {
    if mode == mouse_mode::CLIENT {
        "client"
    } else {
        "server"
    }
}
