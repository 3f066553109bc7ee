//! What the browser sends: JSON text messages (docs/VIEWER-PROTOCOL.md),
//! parsed strictly and applied to the SPICE session.

use std::collections::BTreeSet;

use opencloud_spice::inputs::Button;
use opencloud_spice::keymap::{self, Scancode};
use opencloud_spice::Session;
use serde::Deserialize;

/// The largest input message accepted, but for clipboard text.
pub const MAX_INPUT: usize = 4 * 1024;
/// The largest clipboard text accepted.
pub const MAX_CLIPBOARD: usize = 64 * 1024;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientMessage {
    Ack {
        seq: u32,
    },
    Key {
        code: String,
        down: bool,
    },
    Release,
    Move {
        x: i64,
        y: i64,
    },
    Button {
        button: u8,
        down: bool,
    },
    Wheel {
        dy: i32,
    },
    Resize {
        w: u32,
        h: u32,
    },
    Clipboard {
        text: String,
    },
    /// Newer pages may send kinds this node does not know; they are ignored.
    #[serde(other)]
    Unknown,
}

/// Parses one text message; `None` for anything malformed or oversized.
pub fn parse(text: &str) -> Option<ClientMessage> {
    if text.len() > MAX_CLIPBOARD + 256 {
        return None;
    }
    let msg: ClientMessage = serde_json::from_str(text).ok()?;
    match &msg {
        ClientMessage::Clipboard { text } if text.len() > MAX_CLIPBOARD => None,
        ClientMessage::Clipboard { .. } => Some(msg),
        _ if text.len() > MAX_INPUT => None,
        _ => Some(msg),
    }
}

fn button(n: u8) -> Option<Button> {
    match n {
        1 => Some(Button::Left),
        2 => Some(Button::Middle),
        3 => Some(Button::Right),
        _ => None,
    }
}

/// Keys and buttons held down through this viewer, so that they can be
/// released when the page loses focus or the viewer goes away: a key left
/// down in the guest would repeat forever.
#[derive(Default)]
pub struct Held {
    keys: BTreeSet<u32>,
    keys_sc: Vec<Scancode>,
    buttons: Vec<Button>,
}

impl Held {
    fn press_key(&mut self, sc: Scancode) {
        if self.keys.insert(sc.down()) {
            self.keys_sc.push(sc);
        }
    }

    fn release_key(&mut self, sc: Scancode) {
        if self.keys.remove(&sc.down()) {
            self.keys_sc.retain(|k| k.down() != sc.down());
        }
    }

    /// Releases everything still held.
    pub async fn release_all(&mut self, spice: &Session) -> opencloud_spice::Result<()> {
        self.keys.clear();
        for sc in std::mem::take(&mut self.keys_sc) {
            spice.key_up(sc).await?;
        }
        for b in std::mem::take(&mut self.buttons) {
            spice.mouse_release(b).await?;
        }
        Ok(())
    }
}

/// What the session must do beyond forwarding input.
#[derive(Debug, PartialEq)]
pub enum Effect {
    None,
    Ack(u32),
    /// A request the VM cannot serve (no guest agent, or one without the
    /// feature): the page is told.
    Unsupported(&'static str),
}

/// Applies one input message to the VM. Input naming unknown keys or
/// buttons is dropped: a page of a newer version, or a hostile one, must not
/// end the session.
pub async fn apply(
    msg: ClientMessage,
    spice: &Session,
    held: &mut Held,
    size: (u32, u32),
) -> opencloud_spice::Result<Effect> {
    match msg {
        ClientMessage::Ack { seq } => return Ok(Effect::Ack(seq)),
        ClientMessage::Key { code, down } => {
            let Ok(sc) = keymap::scancode_for_code(&code) else {
                tracing::debug!("viewer: unknown key code {code:?}");
                return Ok(Effect::None);
            };
            if down {
                held.press_key(sc);
                spice.key_down(sc).await?;
            } else {
                held.release_key(sc);
                spice.key_up(sc).await?;
            }
        }
        ClientMessage::Release => held.release_all(spice).await?,
        ClientMessage::Move { x, y } => {
            let clamp = |v: i64, max: u32| v.clamp(0, i64::from(max.saturating_sub(1))) as u32;
            spice.pointer_to(clamp(x, size.0), clamp(y, size.1)).await?;
        }
        ClientMessage::Button { button: n, down } => {
            let Some(b) = button(n) else {
                return Ok(Effect::None);
            };
            if down {
                if !held.buttons.contains(&b) {
                    held.buttons.push(b);
                }
                spice.mouse_press(b).await?;
            } else {
                held.buttons.retain(|h| *h != b);
                spice.mouse_release(b).await?;
            }
        }
        ClientMessage::Wheel { dy } => {
            let b = if dy < 0 {
                Button::WheelUp
            } else {
                Button::WheelDown
            };
            // A fast flick is many notches; more than a screenful per
            // message is an abuse, not a gesture.
            for _ in 0..dy.unsigned_abs().min(20) {
                spice.mouse_press(b).await?;
                spice.mouse_release(b).await?;
            }
        }
        ClientMessage::Resize { w, h } => {
            if !spice.supports_monitors_config() {
                return Ok(Effect::Unsupported(
                    "resizing needs the SPICE guest agent in the VM",
                ));
            }
            return agent_effect(spice.request_resize(w, h).await);
        }
        ClientMessage::Clipboard { text } => {
            if !spice.supports_clipboard() {
                return Ok(Effect::Unsupported(
                    "clipboard sharing needs the SPICE guest agent in the VM",
                ));
            }
            return agent_effect(spice.set_clipboard_text(&text).await);
        }
        ClientMessage::Unknown => {}
    }
    Ok(Effect::None)
}

/// An agent request's outcome: the agent going away or refusing a size is
/// the page's business (a notice), not the end of the session; only the
/// SPICE connection failing is.
fn agent_effect(r: opencloud_spice::Result<()>) -> opencloud_spice::Result<Effect> {
    match r {
        Ok(()) => Ok(Effect::None),
        Err(opencloud_spice::Error::AgentUnavailable(why)) => Ok(Effect::Unsupported(why)),
        Err(e @ opencloud_spice::Error::Malformed { .. }) => {
            tracing::debug!("viewer: agent request refused: {e}");
            Ok(Effect::None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_refuses_junk() {
        assert_eq!(
            parse(r#"{"t":"key","code":"KeyA","down":true}"#),
            Some(ClientMessage::Key {
                code: "KeyA".into(),
                down: true
            })
        );
        assert_eq!(
            parse(r#"{"t":"ack","seq":7}"#),
            Some(ClientMessage::Ack { seq: 7 })
        );
        assert_eq!(
            parse(r#"{"t":"move","x":-5,"y":99999999999}"#),
            Some(ClientMessage::Move {
                x: -5,
                y: 99999999999
            })
        );
        assert_eq!(parse(r#"{"t":"release"}"#), Some(ClientMessage::Release));
        assert_eq!(parse(r#"{"t":"future"}"#), Some(ClientMessage::Unknown));
        for junk in [
            "",
            "null",
            "[]",
            r#"{"t":"ack"}"#,
            r#"{"t":"ack","seq":-1}"#,
            r#"{"t":"key","code":5,"down":true}"#,
            r#"{"code":"KeyA"}"#,
            "{\"t\":\"key\"",
        ] {
            assert_eq!(parse(junk), None, "{junk}");
        }
        let long_code = format!(r#"{{"t":"key","code":"{}","down":true}}"#, "A".repeat(5000));
        assert_eq!(parse(&long_code), None);
        let clip = format!(r#"{{"t":"clipboard","text":"{}"}}"#, "x".repeat(10_000));
        assert!(matches!(
            parse(&clip),
            Some(ClientMessage::Clipboard { .. })
        ));
        let huge = format!(r#"{{"t":"clipboard","text":"{}"}}"#, "x".repeat(70_000));
        assert_eq!(parse(&huge), None);
    }

    /// Random mutations of valid messages never panic the parser; they
    /// parse or are dropped.
    #[test]
    fn mutated_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let seeds = [
            r#"{"t":"key","code":"KeyA","down":true}"#,
            r#"{"t":"move","x":10,"y":20}"#,
            r#"{"t":"clipboard","text":"h\u00e9llo"}"#,
            r#"{"t":"ack","seq":4294967295}"#,
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for i in 0..100_000 {
            let mut b = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..b.len());
                match rng.gen_range(0..3) {
                    0 => b[at] = rng.gen(),
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, rng.gen()),
                }
            }
            if let Ok(text) = std::str::from_utf8(&b) {
                let _ = parse(text);
            }
        }
    }
}
