//! The client's side of the agent protocol: connection and capabilities,
//! tokens in both directions, the outgoing queue and clipboard ownership.

use std::collections::VecDeque;

use super::msg::{self, AgentMessage, ClipboardFraming, MonConfig};
use super::stream::{Event, Reassembler};
use crate::link::{caps, has_cap};
use crate::msg::main::MainMessage;
use crate::proto::main_msgc;
use crate::proto::vd_agent::{cap, clipboard, msg as vd, selection, REPLY_SUCCESS};
use crate::{Error, Result};

/// The largest clipboard text exchanged with the guest, in bytes of UTF-8.
/// The guest is told this limit (MAX_CLIPBOARD) when it understands it, so
/// it sends nothing larger; larger guest messages are skipped unread.
pub const MAX_CLIPBOARD_TEXT: usize = 1 << 20;

/// The data size of the largest guest message kept: clipboard text plus
/// the selection prefix and the data type.
const MAX_INCOMING: u32 = MAX_CLIPBOARD_TEXT as u32 + 8;

/// How many AGENT_DATA messages the server may send before waiting for
/// AGENT_TOKEN. With no tokens left the server simply stops reading the
/// guest's port, so a small window only costs throughput; 32 bodies
/// (64 KiB) per round trip moves a 1 MiB clipboard in 16 round trips.
pub const TOKEN_WINDOW: u32 = 32;

/// Tokens are granted back once this many bodies have been consumed, so
/// the server never runs dry while we keep up, with one AGENT_TOKEN per
/// batch instead of per body.
const GRANT_BATCH: u32 = TOKEN_WINDOW / 2;

/// Guest clipboard requests answered at most at once; a guest that asks
/// faster than the server takes our answers gets empty-handed waits rather
/// than a queue that grows.
const MAX_PENDING_ANSWERS: usize = 4;

/// The largest monitor side a resize may ask for. QXL and virtio-gpu stop
/// well below it; a bigger value is a caller's mistake.
const MAX_MONITOR_SIDE: u32 = 16384;

/// The capabilities this client announces: each is implemented in full.
/// MOUSE_STATE is the server's business, DISPLAY_CONFIG, file transfer and
/// audio are not implemented, and SPARSE_MONITORS_CONFIG and the line-end
/// bits only have meaning for a guest.
pub const CLIENT_CAPS: [u32; 6] = [
    cap::MONITORS_CONFIG,
    cap::REPLY,
    cap::CLIPBOARD_BY_DEMAND,
    cap::CLIPBOARD_SELECTION,
    // We never release before grabbing again; a grab simply replaces.
    cap::CLIPBOARD_NO_RELEASE_ON_REGRAB,
    cap::CLIPBOARD_GRAB_SERIAL,
];

/// A main channel message to send: (type, body).
type Out = (u16, Vec<u8>);

/// What one step of the state machine asks of its driver.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Main channel messages to send, in this order.
    pub send: Vec<Out>,
    /// Whether something observable changed: the agent came or went, its
    /// capabilities arrived, or new guest clipboard text did.
    pub changed: bool,
}

/// A message waiting to be encoded. Each kind is queued at most once (the
/// answers to requests at most [`MAX_PENDING_ANSWERS`] times) and encoded
/// only when tokens allow sending it, so a newer resize or clipboard text
/// replaces an older one instead of queueing behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Announce {
        request: bool,
    },
    MaxClipboard,
    MonitorsConfig {
        width: u32,
        height: u32,
    },
    /// Our grab of the CLIPBOARD selection for [`Agent::own_text`].
    Grab,
    /// Our request for the guest's CLIPBOARD text.
    Request,
    /// Our answer to a guest request.
    Answer {
        selection: u8,
        data_type: u32,
    },
}

/// The guest agent state of one session.
#[derive(Debug)]
pub struct Agent {
    connected: bool,
    /// AGENT_DATA messages the server lets us send now.
    tokens: u32,
    /// AGENT_DATA messages received since we last granted tokens back.
    consumed: u32,
    /// What the guest announced; None until it has, and until then only
    /// announces are exchanged, since the clipboard layout depends on it.
    guest_caps: Option<Vec<u32>>,
    reassembler: Reassembler,
    /// The AGENT_DATA bodies of the message being sent. A message once
    /// started is always finished, even after the agent goes away: the
    /// server's filter keeps counting its bytes across a reconnect, so a
    /// message cut short would shift every later one.
    in_flight: VecDeque<Vec<u8>>,
    pending: VecDeque<Pending>,
    /// The text we put on the guest's clipboard, while we own it.
    own_text: Option<String>,
    /// Whether the guest owns its clipboard with text we may request.
    guest_has_text: bool,
    /// The grab serial of the CLIPBOARD selection: both sides count every
    /// grab that either side has made, and a grab carrying a stale serial
    /// lost a race and is ignored.
    serial: u32,
    guest_text: Option<String>,
    generation: u64,
}

impl Default for Agent {
    fn default() -> Self {
        Agent::new()
    }
}

impl Agent {
    pub fn new() -> Self {
        Agent {
            connected: false,
            tokens: 0,
            consumed: 0,
            guest_caps: None,
            reassembler: Reassembler::new(MAX_INCOMING),
            in_flight: VecDeque::new(),
            pending: VecDeque::new(),
            own_text: None,
            guest_has_text: false,
            serial: 0,
            guest_text: None,
            generation: 0,
        }
    }

    /// Whether `m` is for [`Agent::on_main`]. MAIN_INIT is too, but the
    /// session feeds it explicitly since it also carries other state.
    pub fn concerns(m: &MainMessage<'_>) -> bool {
        matches!(
            m,
            MainMessage::AgentConnected
                | MainMessage::AgentConnectedTokens(_)
                | MainMessage::AgentDisconnected(_)
                | MainMessage::AgentData(_)
                | MainMessage::AgentToken(_)
        )
    }

    /// Handles a main channel message; anything not about the agent is
    /// ignored. Nothing the server or guest sends is fatal: a malformed
    /// agent message is dropped and the session goes on.
    pub fn on_main(&mut self, m: &MainMessage<'_>) -> Output {
        let mut out = Output::default();
        match m {
            MainMessage::Init(i) => {
                self.tokens = i.agent_tokens;
                if i.agent_connected != 0 {
                    self.start(&mut out);
                }
            }
            // An older server, or one that did not see our capability:
            // the token count stays what it was, as in spice-gtk.
            MainMessage::AgentConnected => self.start(&mut out),
            MainMessage::AgentConnectedTokens(n) => {
                self.tokens = *n;
                self.start(&mut out);
            }
            MainMessage::AgentDisconnected(code) => {
                tracing::debug!("agent: disconnected ({code})");
                self.reset_guest();
                self.connected = false;
                out.changed = true;
            }
            MainMessage::AgentToken(n) => self.tokens = self.tokens.saturating_add(*n),
            MainMessage::AgentData(body) => self.on_data(body, &mut out),
            _ => return out,
        }
        self.flush(&mut out.send);
        out
    }

    /// Asks the guest to make its (single) monitor `width` x `height`.
    /// Queued until the guest has announced its capabilities and tokens
    /// allow; a newer request replaces a queued one.
    pub fn request_resize(&mut self, width: u32, height: u32) -> Result<Vec<Out>> {
        if !self.connected {
            return Err(Error::AgentUnavailable("no agent is connected"));
        }
        if self.guest_caps.is_some() && !self.has_guest_cap(cap::MONITORS_CONFIG) {
            return Err(Error::AgentUnavailable(
                "the guest agent does not take monitor configurations",
            ));
        }
        if !(1..=MAX_MONITOR_SIDE).contains(&width) || !(1..=MAX_MONITOR_SIDE).contains(&height) {
            return Err(Error::malformed(
                "resize request",
                format!("{width}x{height} (sides are 1 to {MAX_MONITOR_SIDE})"),
            ));
        }
        let p = Pending::MonitorsConfig { width, height };
        match self
            .pending
            .iter_mut()
            .find(|q| matches!(q, Pending::MonitorsConfig { .. }))
        {
            Some(q) => *q = p,
            None => self.pending.push_back(p),
        }
        let mut send = Vec::new();
        self.flush(&mut send);
        Ok(send)
    }

    /// Puts `text` on the guest's clipboard: the client grabs the
    /// CLIPBOARD selection and answers the guest's requests with `text`
    /// until the guest grabs it back. A newer text replaces an older one,
    /// sent or not.
    pub fn set_clipboard_text(&mut self, text: &str) -> Result<Vec<Out>> {
        if !self.connected {
            return Err(Error::AgentUnavailable("no agent is connected"));
        }
        if self.guest_caps.is_some() && !self.has_guest_cap(cap::CLIPBOARD_BY_DEMAND) {
            return Err(Error::AgentUnavailable(
                "the guest agent does not share its clipboard",
            ));
        }
        if text.len() > MAX_CLIPBOARD_TEXT {
            return Err(Error::TooLarge {
                what: "clipboard text",
                size: text.len() as u64,
                limit: MAX_CLIPBOARD_TEXT as u64,
            });
        }
        if self.own_text.as_deref() == Some(text) {
            // Still ours and unchanged: a new grab would only make the
            // guest drop and re-announce the same clipboard.
            return Ok(Vec::new());
        }
        self.own_text = Some(text.to_owned());
        self.guest_has_text = false;
        self.push_once(Pending::Grab);
        let mut send = Vec::new();
        self.flush(&mut send);
        Ok(send)
    }

    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The capability words the guest announced, once it has.
    pub fn guest_caps(&self) -> Option<&[u32]> {
        self.guest_caps.as_deref()
    }

    /// Whether the guest announced capability `bit` (see
    /// [`crate::proto::vd_agent::cap`]).
    pub fn has_guest_cap(&self, bit: u32) -> bool {
        self.guest_caps.as_deref().is_some_and(|c| has_cap(c, bit))
    }

    /// The latest text the guest put on its clipboard, with a generation
    /// that grows by one with every new text. It stays after the guest
    /// releases its clipboard or the agent reconnects.
    pub fn guest_clipboard(&self) -> Option<(u64, &str)> {
        self.guest_text.as_deref().map(|t| (self.generation, t))
    }

    /// The generation of [`Agent::guest_clipboard`]; 0 before any text.
    pub fn guest_clipboard_generation(&self) -> u64 {
        self.generation
    }

    /// AGENT_DATA messages we may send now.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// AGENT_DATA bodies of a started message still waiting for tokens.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Messages queued but not started.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn start(&mut self, out: &mut Output) {
        self.reset_guest();
        self.connected = true;
        self.consumed = 0;
        out.send
            .push((main_msgc::AGENT_START, TOKEN_WINDOW.to_le_bytes().to_vec()));
        self.pending.push_back(Pending::Announce { request: true });
        out.changed = true;
    }

    /// Forgets everything about the guest agent instance; a new one knows
    /// nothing of our grabs or requests.
    fn reset_guest(&mut self) {
        self.guest_caps = None;
        self.reassembler.reset();
        self.pending.clear();
        self.own_text = None;
        self.guest_has_text = false;
        self.serial = 0;
    }

    fn push_once(&mut self, p: Pending) {
        if !self.pending.contains(&p) {
            self.pending.push_back(p);
        }
    }

    fn framing(&self) -> ClipboardFraming {
        let both = |bit| self.has_guest_cap(bit) && CLIENT_CAPS.contains(&bit);
        ClipboardFraming {
            selection: both(cap::CLIPBOARD_SELECTION),
            grab_serial: both(cap::CLIPBOARD_GRAB_SERIAL),
        }
    }

    fn on_data(&mut self, body: &[u8], out: &mut Output) {
        // Every body used one of the tokens granted in AGENT_START.
        self.consumed += 1;
        if self.consumed >= GRANT_BATCH {
            out.send
                .push((main_msgc::AGENT_TOKEN, self.consumed.to_le_bytes().to_vec()));
            self.consumed = 0;
        }
        if !self.connected {
            tracing::debug!("agent: data while no agent is connected");
            return;
        }
        // The reassembler is taken out so that the callback may borrow the
        // rest of the state; nothing in the callback touches it.
        let mut r = std::mem::replace(&mut self.reassembler, Reassembler::new(0));
        r.push(body, |e| match e {
            Event::Message(h, data) => self.on_message(h.msg_type, data, out),
            Event::TooLarge(h) => tracing::info!(
                "agent: skipped a message of type {} and {} bytes (limit {MAX_INCOMING})",
                h.msg_type,
                h.size
            ),
            Event::BadProtocol(h) => {
                tracing::debug!("agent: dropped data with protocol {}", h.protocol)
            }
        });
        self.reassembler = r;
    }

    fn on_message(&mut self, msg_type: u32, data: &[u8], out: &mut Output) {
        if self.guest_caps.is_none() && msg_type != vd::ANNOUNCE_CAPABILITIES {
            // Before the announce the layout of clipboard messages is
            // unknown, and nothing else is expected.
            tracing::debug!("agent: message {msg_type} before the guest's capabilities");
            return;
        }
        let m = match msg::decode(msg_type, data, self.framing()) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("agent: dropping message {msg_type}: {e}");
                return;
            }
        };
        match m {
            AgentMessage::AnnounceCapabilities { request, caps } => {
                self.guest_caps = Some(caps);
                out.changed = true;
                // A queued announce of ours answers as well as a new one.
                let queued = self
                    .pending
                    .iter()
                    .any(|p| matches!(p, Pending::Announce { .. }));
                if request && !queued {
                    self.pending
                        .push_front(Pending::Announce { request: false });
                }
                if self.has_guest_cap(cap::MAX_CLIPBOARD) {
                    self.push_once(Pending::MaxClipboard);
                }
            }
            AgentMessage::Reply { msg_type, error } => {
                let ok = if error == REPLY_SUCCESS {
                    "success"
                } else {
                    "error"
                };
                tracing::debug!("agent: reply to message {msg_type}: {ok}");
            }
            AgentMessage::ClipboardGrab {
                selection,
                serial,
                types,
            } => self.on_guest_grab(selection, serial, &types),
            AgentMessage::ClipboardRequest {
                selection,
                data_type,
            } => {
                let answers = self
                    .pending
                    .iter()
                    .filter(|p| matches!(p, Pending::Answer { .. }))
                    .count();
                if answers >= MAX_PENDING_ANSWERS {
                    tracing::debug!("agent: too many clipboard requests, dropping one");
                } else {
                    self.pending.push_back(Pending::Answer {
                        selection,
                        data_type,
                    });
                }
            }
            AgentMessage::Clipboard {
                selection,
                data_type,
                data,
            } => {
                let wanted = selection == selection::CLIPBOARD
                    && data_type == clipboard::UTF8_TEXT
                    && self.guest_has_text;
                if !wanted || data.is_empty() {
                    // Empty data is how the guest says it has nothing it
                    // may send (its text was over our limit, or gone).
                    tracing::debug!("agent: ignoring clipboard data ({} bytes)", data.len());
                    return;
                }
                self.guest_text = Some(self.text_from_guest(data));
                self.generation += 1;
                out.changed = true;
            }
            AgentMessage::ClipboardRelease { selection } => {
                if selection == selection::CLIPBOARD {
                    self.guest_has_text = false;
                }
            }
            AgentMessage::Other(t) => tracing::debug!("agent: ignoring message type {t}"),
        }
    }

    fn on_guest_grab(&mut self, sel: u8, serial: Option<u32>, types: &[u32]) {
        // Other selections (X11's PRIMARY) have no counterpart here.
        if sel != selection::CLIPBOARD {
            return;
        }
        if let Some(s) = serial {
            if s != self.serial {
                tracing::debug!("agent: stale guest grab (serial {s}, ours {})", self.serial);
                return;
            }
            self.serial = self.serial.wrapping_add(1);
        }
        if self.pending.contains(&Pending::Grab) {
            // Our caller set newer text than anything the guest had when
            // it grabbed; our grab, on its way, wins.
            return;
        }
        self.own_text = None;
        self.guest_has_text = types.contains(&clipboard::UTF8_TEXT);
        if self.guest_has_text {
            self.push_once(Pending::Request);
        }
    }

    /// Guest text to ours: invalid UTF-8 replaced, trailing NULs (which some
    /// agents count in the size) dropped, CRLF to LF for guests that use it.
    fn text_from_guest(&self, data: &[u8]) -> String {
        let text = String::from_utf8_lossy(data);
        let text = text.trim_end_matches('\0');
        if self.has_guest_cap(cap::GUEST_LINEEND_CRLF) {
            text.replace("\r\n", "\n")
        } else {
            text.to_owned()
        }
    }

    /// Our text to the guest's: LF to CRLF for guests that use it.
    fn text_to_guest(&self, text: &str) -> Vec<u8> {
        if !self.has_guest_cap(cap::GUEST_LINEEND_CRLF) {
            return text.as_bytes().to_vec();
        }
        let mut out = String::with_capacity(text.len() + text.len() / 16);
        let mut prev = '\0';
        for c in text.chars() {
            if c == '\n' && prev != '\r' {
                out.push('\r');
            }
            out.push(c);
            prev = c;
        }
        out.into_bytes()
    }

    /// Sends what tokens allow: the rest of the started message, then the
    /// next pending ones, each encoded only now.
    fn flush(&mut self, send: &mut Vec<Out>) {
        while self.tokens > 0 {
            if self.in_flight.is_empty() {
                match self.next_message() {
                    Some(m) => self.in_flight.extend(msg::split(&m)),
                    None => return,
                }
            }
            let Some(body) = self.in_flight.pop_front() else {
                return;
            };
            self.tokens -= 1;
            send.push((main_msgc::AGENT_DATA, body));
        }
    }

    fn next_message(&mut self) -> Option<Vec<u8>> {
        while self.connected {
            let head = *self.pending.front()?;
            let needs_caps = !matches!(head, Pending::Announce { .. });
            if needs_caps && self.guest_caps.is_none() {
                return None;
            }
            self.pending.pop_front();
            if let Some(m) = self.encode(head) {
                return Some(m);
            }
        }
        None
    }

    /// Encodes a pending message, or None if it no longer applies.
    fn encode(&mut self, p: Pending) -> Option<Vec<u8>> {
        let f = self.framing();
        let (t, data) = match p {
            Pending::Announce { request } => (
                vd::ANNOUNCE_CAPABILITIES,
                msg::announce_capabilities(request, &caps(&CLIENT_CAPS)),
            ),
            Pending::MaxClipboard => (
                vd::MAX_CLIPBOARD,
                msg::max_clipboard(MAX_CLIPBOARD_TEXT as i32),
            ),
            Pending::MonitorsConfig { width, height } => {
                if !self.has_guest_cap(cap::MONITORS_CONFIG) {
                    tracing::info!("agent: the guest takes no monitor configurations");
                    return None;
                }
                let mon = MonConfig {
                    width,
                    height,
                    depth: 32,
                    x: 0,
                    y: 0,
                };
                (vd::MONITORS_CONFIG, msg::monitors_config(0, &[mon]))
            }
            Pending::Grab => {
                if self.own_text.is_none() || !self.has_guest_cap(cap::CLIPBOARD_BY_DEMAND) {
                    return None;
                }
                let serial = self.serial;
                if f.grab_serial {
                    self.serial = self.serial.wrapping_add(1);
                }
                let grab =
                    msg::clipboard_grab(f, selection::CLIPBOARD, serial, &[clipboard::UTF8_TEXT]);
                (vd::CLIPBOARD_GRAB, grab)
            }
            Pending::Request => {
                if !self.guest_has_text {
                    return None;
                }
                let req = msg::clipboard_request(f, selection::CLIPBOARD, clipboard::UTF8_TEXT);
                (vd::CLIPBOARD_REQUEST, req)
            }
            Pending::Answer {
                selection: sel,
                data_type,
            } => {
                // What we do not own, or not as text, is answered empty so
                // that the guest application does not wait for a timeout.
                let text = match &self.own_text {
                    Some(t) if sel == selection::CLIPBOARD && data_type == clipboard::UTF8_TEXT => {
                        self.text_to_guest(t)
                    }
                    _ => Vec::new(),
                };
                (vd::CLIPBOARD, msg::clipboard(f, sel, data_type, &text))
            }
        };
        Some(msg::encode(t, &data))
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
