//! Parsing of server messages for every channel this client links. Parsed
//! messages borrow from the body, so parsing allocates only for lists whose
//! length the body has already been checked to hold.

pub mod cursor;
pub mod display;
pub mod main;

use crate::proto::{channel, inputs_msg};
use crate::wire::Reader;
use crate::{Error, Result};

/// Messages of the inputs channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputsMessage {
    Init { modifiers: u16 },
    KeyModifiers { modifiers: u16 },
    MouseMotionAck,
}

pub fn parse_inputs(msg_type: u16, body: &[u8]) -> Result<InputsMessage> {
    let mut r = Reader::new(body, "inputs message");
    Ok(match msg_type {
        inputs_msg::INIT => InputsMessage::Init {
            modifiers: r.u16()?,
        },
        inputs_msg::KEY_MODIFIERS => InputsMessage::KeyModifiers {
            modifiers: r.u16()?,
        },
        inputs_msg::MOUSE_MOTION_ACK => InputsMessage::MouseMotionAck,
        t => return Err(unknown("inputs", t)),
    })
}

/// Any channel's message, for callers (and the fuzzer) that route by
/// channel type.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage<'a> {
    Main(main::MainMessage<'a>),
    Display(display::DisplayMessage<'a>),
    Inputs(InputsMessage),
    Cursor(cursor::CursorMessage<'a>),
}

/// Parses a non-base message of `channel_type`. Base messages (type < 100)
/// are handled by [`crate::framing::AckState`].
pub fn parse(channel_type: u8, msg_type: u16, body: &[u8]) -> Result<ServerMessage<'_>> {
    match channel_type {
        channel::MAIN => main::parse(msg_type, body).map(ServerMessage::Main),
        channel::DISPLAY => display::parse(msg_type, body).map(ServerMessage::Display),
        channel::INPUTS => parse_inputs(msg_type, body).map(ServerMessage::Inputs),
        channel::CURSOR => cursor::parse(msg_type, body).map(ServerMessage::Cursor),
        t => Err(Error::Unsupported {
            what: "channel type",
            value: t.into(),
        }),
    }
}

pub(crate) fn unknown(channel: &'static str, msg_type: u16) -> Error {
    Error::Unsupported {
        what: match channel {
            "main" => "main message type",
            "display" => "display message type",
            "inputs" => "inputs message type",
            _ => "cursor message type",
        },
        value: msg_type.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_messages() {
        assert_eq!(
            parse_inputs(101, &[2, 0]).unwrap(),
            InputsMessage::Init { modifiers: 2 }
        );
        assert!(parse_inputs(101, &[2]).is_err());
        assert_eq!(
            parse_inputs(111, &[]).unwrap(),
            InputsMessage::MouseMotionAck
        );
        assert!(matches!(
            parse_inputs(150, &[]),
            Err(Error::Unsupported { .. })
        ));
        assert!(parse(9, 101, &[]).is_err());
    }
}
