//! The guest agent on a [`Session`]: resize requests and clipboard text.
//!
//! The agent (spice-vdagent in the guest) comes and goes independently of
//! the session; [`Session::agent_connected`] tells whether it is there and
//! [`Session::wait_agent_ready`] waits until it has announced what it
//! supports. Agent events bump the same counter as display changes
//! ([`Session::subscribe`]), so a consumer that already waits for frames
//! only has to compare [`Session::guest_clipboard_generation`] on wake-up:
//!
//! ```no_run
//! # async fn f(session: opencloud_spice::Session) -> opencloud_spice::Result<()> {
//! use std::time::Duration;
//! session.wait_agent_ready(Duration::from_secs(30)).await?;
//! session.request_resize(1280, 720).await?;
//! session.set_clipboard_text("from the client").await?;
//! let mut changes = session.subscribe();
//! let mut seen = session.guest_clipboard_generation();
//! while changes.changed().await.is_ok() {
//!     if session.guest_clipboard_generation() != seen {
//!         if let Some((generation, text)) = session.guest_clipboard() {
//!             seen = generation;
//!             println!("the guest copied {text:?}");
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::{lock, Session, Shared, SharedWriter};
use crate::agent::{Agent, Output};
use crate::framing::encode;
use crate::msg::main::MainMessage;
use crate::proto::vd_agent::cap;
use crate::{Error, Result};

/// Writes main channel messages in one go.
pub(super) async fn send_all(w: &mut OwnedWriteHalf, msgs: &[(u16, Vec<u8>)]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::new();
    for (t, body) in msgs {
        buf.extend(encode(*t, body));
    }
    w.write_all(&buf).await?;
    Ok(())
}

/// Runs one agent step and sends what it produced. The writer is locked
/// before the agent state so that the messages of concurrent steps reach
/// the server in the order the state machine produced them: the bodies of
/// one agent message must not be interleaved with another's.
async fn step<T>(
    shared: &Shared,
    w: &SharedWriter,
    f: impl FnOnce(&mut Agent) -> Result<(Output, T)>,
) -> Result<T> {
    let mut w = w.lock().await;
    let (out, value) = f(&mut lock(&shared.agent))?;
    send_all(&mut w, &out.send).await?;
    drop(w);
    if out.changed {
        shared.changes.send_modify(|g| *g += 1);
    }
    Ok(value)
}

/// Handles an agent message of the main channel (see [`Agent::concerns`]).
pub(super) async fn on_main(shared: &Shared, w: &SharedWriter, m: &MainMessage<'_>) -> Result<()> {
    step(shared, w, |a| Ok((a.on_main(m), ()))).await
}

impl Session {
    /// Whether the guest agent is connected. It can be connected before it
    /// has announced its capabilities; see [`Session::wait_agent_ready`].
    pub fn agent_connected(&self) -> bool {
        lock(&self.shared.agent).connected()
    }

    /// The capability words the guest agent announced (bits of
    /// [`crate::proto::vd_agent::cap`]), or None while no agent is
    /// connected or it has not announced yet.
    pub fn agent_caps(&self) -> Option<Vec<u32>> {
        lock(&self.shared.agent).guest_caps().map(<[u32]>::to_vec)
    }

    /// Whether the guest agent announced capability `bit`.
    pub fn agent_has_cap(&self, bit: u32) -> bool {
        lock(&self.shared.agent).has_guest_cap(bit)
    }

    /// Whether the guest agent takes resize requests.
    pub fn supports_monitors_config(&self) -> bool {
        self.agent_has_cap(cap::MONITORS_CONFIG)
    }

    /// Whether the guest agent shares its clipboard.
    pub fn supports_clipboard(&self) -> bool {
        self.agent_has_cap(cap::CLIPBOARD_BY_DEMAND)
    }

    /// Waits until a guest agent is connected and has announced its
    /// capabilities, or fails after `timeout` or when a channel fails.
    pub async fn wait_agent_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.subscribe();
        loop {
            if let Some(f) = self.failure() {
                return Err(Error::Closed(f));
            }
            if lock(&self.shared.agent).guest_caps().is_some() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Closed("session dropped".into())),
                Err(_) => return Err(Error::Timeout("the guest agent")),
            }
        }
    }

    /// Asks the guest to resize its display to `width` x `height` (one
    /// monitor at 32 bits per pixel, at the origin). The guest answers, if
    /// at all, with a new primary surface on the display channel.
    ///
    /// Fails with [`Error::AgentUnavailable`] when no agent is connected or
    /// it announced no MONITORS_CONFIG support, and for sides of 0 or over
    /// 16384. A request made before the agent has announced its
    /// capabilities is sent once it has; a newer request not yet sent
    /// replaces an older one.
    pub async fn request_resize(&self, width: u32, height: u32) -> Result<()> {
        step(&self.shared, &self.main, |a| {
            let send = a.request_resize(width, height)?;
            Ok((send_only(send), ()))
        })
        .await
    }

    /// Puts `text` (lines ending in '\n') on the guest's clipboard: the
    /// client grabs the guest's CLIPBOARD selection and hands `text` to
    /// every guest application that pastes, until something in the guest
    /// is copied. Line ends are converted for guests that use CRLF.
    ///
    /// Fails with [`Error::AgentUnavailable`] when no agent is connected or
    /// it does not share its clipboard, and with [`Error::TooLarge`] above
    /// [`crate::agent::MAX_CLIPBOARD_TEXT`] bytes.
    pub async fn set_clipboard_text(&self, text: &str) -> Result<()> {
        step(&self.shared, &self.main, |a| {
            let send = a.set_clipboard_text(text)?;
            Ok((send_only(send), ()))
        })
        .await
    }

    /// The latest text copied in the guest, with its generation (1 for the
    /// first text, one more for each new one). When the guest copies text,
    /// the client fetches it at once and bumps [`Session::subscribe`]'s
    /// counter. The text stays after the guest copies something that is
    /// not text, and across agent reconnects. Lines end in '\n'.
    pub fn guest_clipboard(&self) -> Option<(u64, String)> {
        lock(&self.shared.agent)
            .guest_clipboard()
            .map(|(g, t)| (g, t.to_owned()))
    }

    /// The generation of [`Session::guest_clipboard`], 0 before any text:
    /// a cheap check before copying the text.
    pub fn guest_clipboard_generation(&self) -> u64 {
        lock(&self.shared.agent).guest_clipboard_generation()
    }
}

fn send_only(send: Vec<(u16, Vec<u8>)>) -> Output {
    Output {
        send,
        changed: false,
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
