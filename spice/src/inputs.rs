//! Inputs channel messages from the client, and the motion throttle that
//! keeps the client from flooding the server with mouse moves.

use crate::keymap::Scancode;
use crate::proto::inputs_msgc;
use crate::wire::Writer;

/// The server acknowledges every this many motion messages
/// (SPICE_INPUT_MOTION_ACK_BUNCH).
pub const MOTION_ACK_BUNCH: u32 = 4;

/// Mouse buttons as SPICE numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    Left = 1,
    Middle = 2,
    Right = 3,
    WheelUp = 4,
    WheelDown = 5,
}

impl Button {
    /// The bit of this button in a button-state mask.
    pub fn mask(self) -> u16 {
        match self {
            Button::Left => 1,
            Button::Middle => 2,
            Button::Right => 4,
            Button::WheelUp => 8,
            Button::WheelDown => 16,
        }
    }
}

pub fn key_down(sc: Scancode) -> (u16, Vec<u8>) {
    (inputs_msgc::KEY_DOWN, sc.down().to_le_bytes().to_vec())
}

pub fn key_up(sc: Scancode) -> (u16, Vec<u8>) {
    (inputs_msgc::KEY_UP, sc.up().to_le_bytes().to_vec())
}

pub fn mouse_motion(dx: i32, dy: i32, buttons: u16) -> (u16, Vec<u8>) {
    let mut w = Writer::new();
    w.i32(dx).i32(dy).u16(buttons);
    (inputs_msgc::MOUSE_MOTION, w.finish())
}

pub fn mouse_position(x: u32, y: u32, buttons: u16, display: u8) -> (u16, Vec<u8>) {
    let mut w = Writer::new();
    w.u32(x).u32(y).u16(buttons).u8(display);
    (inputs_msgc::MOUSE_POSITION, w.finish())
}

pub fn mouse_press(button: Button, buttons: u16) -> (u16, Vec<u8>) {
    let mut w = Writer::new();
    w.u8(button as u8).u16(buttons);
    (inputs_msgc::MOUSE_PRESS, w.finish())
}

pub fn mouse_release(button: Button, buttons: u16) -> (u16, Vec<u8>) {
    let mut w = Writer::new();
    w.u8(button as u8).u16(buttons);
    (inputs_msgc::MOUSE_RELEASE, w.finish())
}

/// A pending mouse move, merged while the throttle holds moves back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Motion {
    Relative { dx: i32, dy: i32 },
    Absolute { x: u32, y: u32, display: u8 },
}

/// Allows at most one ACK bunch of unacknowledged motion messages; moves
/// made meanwhile are merged (deltas added, positions replaced) and sent
/// when the server's MOUSE_MOTION_ACK arrives.
#[derive(Debug, Default)]
pub struct MotionThrottle {
    in_flight: u32,
    pending: Option<Motion>,
}

impl MotionThrottle {
    /// Offers a move; returns the move to send now, if any.
    pub fn offer(&mut self, m: Motion) -> Option<Motion> {
        let merged = match (self.pending.take(), m) {
            (Some(Motion::Relative { dx, dy }), Motion::Relative { dx: x2, dy: y2 }) => {
                Motion::Relative {
                    dx: dx.saturating_add(x2),
                    dy: dy.saturating_add(y2),
                }
            }
            (_, m) => m,
        };
        if self.in_flight >= MOTION_ACK_BUNCH {
            self.pending = Some(merged);
            return None;
        }
        self.in_flight += 1;
        Some(merged)
    }

    /// Handles MOUSE_MOTION_ACK; returns a held-back move to send now.
    pub fn on_ack(&mut self) -> Option<Motion> {
        self.in_flight = self.in_flight.saturating_sub(MOTION_ACK_BUNCH);
        let m = self.pending.take()?;
        self.offer(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layouts() {
        assert_eq!(mouse_motion(-1, 2, 1).1.len(), 10);
        assert_eq!(mouse_position(1, 2, 0, 0).1.len(), 11);
        assert_eq!(mouse_press(Button::Right, 4).1, vec![3, 4, 0]);
    }

    #[test]
    fn throttle_holds_and_merges() {
        let mut t = MotionThrottle::default();
        for _ in 0..MOTION_ACK_BUNCH {
            assert!(t.offer(Motion::Relative { dx: 1, dy: 1 }).is_some());
        }
        assert_eq!(t.offer(Motion::Relative { dx: 1, dy: 2 }), None);
        assert_eq!(t.offer(Motion::Relative { dx: 3, dy: 4 }), None);
        assert_eq!(t.on_ack(), Some(Motion::Relative { dx: 4, dy: 6 }));
        assert_eq!(t.on_ack(), None);
    }
}
