//! A session's input: keys, pointer moves and buttons over the inputs
//! channel, and the mouse mode over the main channel.

use super::{lock, Session};
use crate::framing::write_message;
use crate::inputs::{self, Button, Motion};
use crate::keymap::{self, Scancode};
use crate::proto::{main_msgc, mouse_mode};
use crate::{Error, Result};

impl Session {
    async fn send_inputs(&self, (t, body): (u16, Vec<u8>)) -> Result<()> {
        let w = self
            .inputs
            .as_ref()
            .ok_or_else(|| Error::Closed("the server offers no inputs channel".into()))?;
        let mut w = w.lock().await;
        write_message(&mut *w, t, &body).await
    }

    pub async fn key_down(&self, sc: Scancode) -> Result<()> {
        self.send_inputs(inputs::key_down(sc)).await
    }

    pub async fn key_up(&self, sc: Scancode) -> Result<()> {
        self.send_inputs(inputs::key_up(sc)).await
    }

    /// Presses and releases the key named as in `KeyboardEvent.code`.
    pub async fn press_key(&self, code: &str) -> Result<()> {
        let sc = keymap::scancode_for_code(code)?;
        self.key_down(sc).await?;
        self.key_up(sc).await
    }

    /// Types `text` on a US layout; '\n' presses Enter.
    pub async fn type_text(&self, text: &str) -> Result<()> {
        for (sc, down) in keymap::text_to_key_events(text)? {
            if down {
                self.key_down(sc).await?;
            } else {
                self.key_up(sc).await?;
            }
            tokio::time::sleep(self.key_delay).await;
        }
        Ok(())
    }

    /// The current mouse mode (see [`mouse_mode`]).
    pub fn mouse_mode(&self) -> u16 {
        lock(&self.shared.state).mouse_mode
    }

    /// Asks the server for a mouse mode; it answers with MOUSE_MODE.
    pub async fn request_mouse_mode(&self, mode: u16) -> Result<()> {
        let mut w = self.main.lock().await;
        write_message(&mut *w, main_msgc::MOUSE_MODE_REQUEST, &mode.to_le_bytes()).await
    }

    /// Sends a pointer move as given. Moves beyond the motion throttle are
    /// merged and sent when the server acknowledges earlier ones.
    pub async fn mouse_move(&self, motion: Motion) -> Result<()> {
        let msg = {
            let mut st = lock(&self.shared.state);
            let buttons = st.buttons;
            if let Motion::Absolute { x, y, .. } = motion {
                st.pointer = (x, y);
            }
            st.throttle.offer(motion).map(|m| motion_msg(m, buttons))
        };
        match msg {
            Some(m) => self.send_inputs(m).await,
            None => Ok(()),
        }
    }

    /// Moves the pointer to (x, y) on the primary surface in either mouse
    /// mode: an absolute position in client mode, the difference from the
    /// last position this session set in server mode (where the guest owns
    /// the pointer and only takes relative motion).
    pub async fn pointer_to(&self, x: u32, y: u32) -> Result<()> {
        let motion = {
            let mut st = lock(&self.shared.state);
            if st.mouse_mode == mouse_mode::CLIENT {
                Motion::Absolute { x, y, display: 0 }
            } else {
                let (px, py) = st.pointer;
                st.pointer = (x, y);
                let delta = |to: u32, from: u32| {
                    i32::try_from(i64::from(to) - i64::from(from)).unwrap_or(0)
                };
                Motion::Relative {
                    dx: delta(x, px),
                    dy: delta(y, py),
                }
            }
        };
        self.mouse_move(motion).await
    }

    pub async fn mouse_press(&self, b: Button) -> Result<()> {
        let buttons = {
            let mut st = lock(&self.shared.state);
            st.buttons |= b.mask();
            st.buttons
        };
        self.send_inputs(inputs::mouse_press(b, buttons)).await
    }

    pub async fn mouse_release(&self, b: Button) -> Result<()> {
        let buttons = {
            let mut st = lock(&self.shared.state);
            st.buttons &= !b.mask();
            st.buttons
        };
        self.send_inputs(inputs::mouse_release(b, buttons)).await
    }

    /// Whether the server supports client (absolute) mouse mode now.
    pub fn client_mouse_supported(&self) -> bool {
        lock(&self.shared.state).supported_mouse_modes & mouse_mode::CLIENT != 0
    }
}

pub(super) fn motion_msg(m: Motion, buttons: u16) -> (u16, Vec<u8>) {
    match m {
        Motion::Relative { dx, dy } => inputs::mouse_motion(dx, dy, buttons),
        Motion::Absolute { x, y, display } => inputs::mouse_position(x, y, buttons, display),
    }
}
