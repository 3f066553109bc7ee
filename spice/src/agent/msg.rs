//! VDAgentMessage framing and the bodies of the messages this client sends
//! and understands, all little-endian as in `spice/vd_agent.h`.

use crate::proto::vd_agent::{msg, MAX_DATA_SIZE, PROTOCOL};
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// The size of a VDAgentMessage header: protocol, type, opaque, size.
pub const HEADER_SIZE: usize = 20;

/// The most capability words kept from a guest's announce. 256 bits is
/// eight times what `vd_agent.h` defines today; words beyond are ignored, as
/// spice-gtk ignores the words it does not know.
pub const MAX_CAPS_WORDS: usize = 8;

/// A VDAgentMessage header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub protocol: u32,
    pub msg_type: u32,
    pub opaque: u64,
    /// The size of the data that follows the header.
    pub size: u32,
}

impl Header {
    pub fn parse(buf: &[u8; HEADER_SIZE]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let mut opaque = [0u8; 8];
        opaque.copy_from_slice(&buf[8..16]);
        Header {
            protocol: u32_at(0),
            msg_type: u32_at(4),
            opaque: u64::from_le_bytes(opaque),
            size: u32_at(16),
        }
    }
}

/// A whole agent message: header and data.
pub fn encode(msg_type: u32, data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(PROTOCOL)
        .u32(msg_type)
        .u64(0)
        .u32(data.len() as u32)
        .bytes(data);
    w.finish()
}

/// Cuts an encoded message into AGENT_DATA bodies of at most
/// [`MAX_DATA_SIZE`] bytes. The first body starts with the header; no body
/// holds bytes of two messages, since the server's filter parses every body
/// as the continuation of exactly one message.
pub fn split(message: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    message.chunks(MAX_DATA_SIZE).map(<[u8]>::to_vec)
}

/// How clipboard messages are laid out, which depends on what both sides
/// announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClipboardFraming {
    /// Every clipboard message starts with a 4-byte selection prefix
    /// (VD_AGENT_CAP_CLIPBOARD_SELECTION): the selection, then 3 zeros.
    pub selection: bool,
    /// A grab carries a u32 serial after the prefix
    /// (VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL).
    pub grab_serial: bool,
}

impl ClipboardFraming {
    fn prefix(&self, w: &mut Writer, selection: u8) {
        if self.selection {
            w.bytes(&[selection, 0, 0, 0]);
        }
    }

    /// Reads the selection prefix if there is one; without it, everything
    /// concerns the CLIPBOARD selection.
    fn read_prefix(&self, r: &mut Reader<'_>) -> Result<u8> {
        if self.selection {
            let sel = r.u8()?;
            r.skip(3)?;
            Ok(sel)
        } else {
            Ok(0)
        }
    }
}

/// One monitor of MONITORS_CONFIG (VDAgentMonConfig).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonConfig {
    pub width: u32,
    pub height: u32,
    pub depth: u32,
    pub x: i32,
    pub y: i32,
}

/// ANNOUNCE_CAPABILITIES: `request` asks the other side to announce back.
pub fn announce_capabilities(request: bool, caps: &[u32]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(request.into());
    for c in caps {
        w.u32(*c);
    }
    w.finish()
}

/// MONITORS_CONFIG without physical sizes: the Linux agent checks that the
/// size is exactly the header plus the monitors.
pub fn monitors_config(flags: u32, monitors: &[MonConfig]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(monitors.len() as u32).u32(flags);
    for m in monitors {
        w.u32(m.height).u32(m.width).u32(m.depth).i32(m.x).i32(m.y);
    }
    w.finish()
}

/// CLIPBOARD_GRAB: the client now owns `selection` with data of `types`.
/// `serial` is written only when the framing has grab serials.
pub fn clipboard_grab(f: ClipboardFraming, selection: u8, serial: u32, types: &[u32]) -> Vec<u8> {
    let mut w = Writer::new();
    f.prefix(&mut w, selection);
    if f.grab_serial {
        w.u32(serial);
    }
    for t in types {
        w.u32(*t);
    }
    w.finish()
}

/// CLIPBOARD_REQUEST: asks the owner for its data of `data_type`.
pub fn clipboard_request(f: ClipboardFraming, selection: u8, data_type: u32) -> Vec<u8> {
    let mut w = Writer::new();
    f.prefix(&mut w, selection);
    w.u32(data_type);
    w.finish()
}

/// CLIPBOARD: the data answering a request.
pub fn clipboard(f: ClipboardFraming, selection: u8, data_type: u32, data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    f.prefix(&mut w, selection);
    w.u32(data_type).bytes(data);
    w.finish()
}

/// CLIPBOARD_RELEASE: the sender no longer owns `selection`.
pub fn clipboard_release(f: ClipboardFraming, selection: u8) -> Vec<u8> {
    let mut w = Writer::new();
    f.prefix(&mut w, selection);
    w.finish()
}

/// MAX_CLIPBOARD: the largest clipboard data the sender accepts.
pub fn max_clipboard(max: i32) -> Vec<u8> {
    max.to_le_bytes().to_vec()
}

/// A message from the guest agent, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentMessage<'a> {
    AnnounceCapabilities {
        request: bool,
        /// At most [`MAX_CAPS_WORDS`] words.
        caps: Vec<u32>,
    },
    /// The guest's answer to a MONITORS_CONFIG or DISPLAY_CONFIG.
    Reply {
        msg_type: u32,
        error: u32,
    },
    ClipboardGrab {
        selection: u8,
        /// Present when the framing has grab serials.
        serial: Option<u32>,
        types: Vec<u32>,
    },
    ClipboardRequest {
        selection: u8,
        data_type: u32,
    },
    Clipboard {
        selection: u8,
        data_type: u32,
        data: &'a [u8],
    },
    ClipboardRelease {
        selection: u8,
    },
    /// A type this client does not handle (file transfer, audio volume,
    /// types newer than this code).
    Other(u32),
}

/// Decodes the data of a guest message of `msg_type`. Extra bytes after
/// the fields are ignored, as the C implementations do.
pub fn decode(msg_type: u32, data: &[u8], f: ClipboardFraming) -> Result<AgentMessage<'_>> {
    let mut r = Reader::new(data, "agent message");
    Ok(match msg_type {
        msg::ANNOUNCE_CAPABILITIES => {
            let request = r.u32()? != 0;
            let words = (r.remaining() / 4).min(MAX_CAPS_WORDS);
            let caps = (0..words).map(|_| r.u32()).collect::<Result<_>>()?;
            AgentMessage::AnnounceCapabilities { request, caps }
        }
        msg::REPLY => AgentMessage::Reply {
            msg_type: r.u32()?,
            error: r.u32()?,
        },
        msg::CLIPBOARD_GRAB => {
            let selection = f.read_prefix(&mut r)?;
            let serial = if f.grab_serial { Some(r.u32()?) } else { None };
            // The message size is bounded by the reassembler's limit, and
            // the vector by the bytes really present.
            let types = (0..r.remaining() / 4)
                .map(|_| r.u32())
                .collect::<Result<_>>()?;
            AgentMessage::ClipboardGrab {
                selection,
                serial,
                types,
            }
        }
        msg::CLIPBOARD_REQUEST => AgentMessage::ClipboardRequest {
            selection: f.read_prefix(&mut r)?,
            data_type: r.u32()?,
        },
        msg::CLIPBOARD => AgentMessage::Clipboard {
            selection: f.read_prefix(&mut r)?,
            data_type: r.u32()?,
            data: r.rest(),
        },
        msg::CLIPBOARD_RELEASE => AgentMessage::ClipboardRelease {
            selection: f.read_prefix(&mut r)?,
        },
        t => AgentMessage::Other(t),
    })
}

/// Checks a header's protocol field.
pub fn check_protocol(h: &Header) -> Result<()> {
    if h.protocol != PROTOCOL {
        return Err(Error::Unsupported {
            what: "agent protocol",
            value: h.protocol.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::vd_agent::clipboard::UTF8_TEXT;

    fn header_of(m: &[u8]) -> Header {
        let mut h = [0u8; HEADER_SIZE];
        h.copy_from_slice(&m[..HEADER_SIZE]);
        Header::parse(&h)
    }

    #[test]
    fn header_layout() {
        let m = encode(msg::CLIPBOARD_REQUEST, &[1, 2, 3]);
        assert_eq!(m.len(), HEADER_SIZE + 3);
        assert_eq!(&m[..4], &1u32.to_le_bytes());
        assert_eq!(&m[4..8], &8u32.to_le_bytes());
        assert_eq!(&m[8..16], &[0; 8]);
        assert_eq!(&m[16..20], &3u32.to_le_bytes());
        assert_eq!(
            header_of(&m),
            Header {
                protocol: 1,
                msg_type: 8,
                opaque: 0,
                size: 3
            }
        );
        assert!(check_protocol(&header_of(&m)).is_ok());
        let mut bad = m.clone();
        bad[0] = 2;
        assert!(check_protocol(&header_of(&bad)).is_err());
    }

    #[test]
    fn split_keeps_bodies_within_the_server_limit() {
        let small = encode(msg::REPLY, &[0; 8]);
        assert_eq!(split(&small).collect::<Vec<_>>(), vec![small.clone()]);
        // Exactly one body's worth, then one byte more.
        let exact = encode(msg::CLIPBOARD, &vec![7; MAX_DATA_SIZE - HEADER_SIZE]);
        assert_eq!(split(&exact).count(), 1);
        let big = encode(msg::CLIPBOARD, &vec![7; 5000]);
        let bodies: Vec<_> = split(&big).collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies.iter().all(|b| b.len() <= MAX_DATA_SIZE));
        assert_eq!(bodies[0].len(), MAX_DATA_SIZE);
        assert_eq!(bodies.concat(), big);
    }

    #[test]
    fn monitors_config_layout() {
        let m = monitors_config(
            0,
            &[MonConfig {
                width: 1280,
                height: 720,
                depth: 32,
                x: 0,
                y: -1,
            }],
        );
        let mut want = Vec::new();
        for v in [1u32, 0, 720, 1280, 32, 0, u32::MAX] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(m, want);
    }

    #[test]
    fn clipboard_messages_with_and_without_the_selection_prefix() {
        let plain = ClipboardFraming::default();
        let sel = ClipboardFraming {
            selection: true,
            grab_serial: false,
        };
        let both = ClipboardFraming {
            selection: true,
            grab_serial: true,
        };
        assert_eq!(clipboard_request(plain, 0, UTF8_TEXT), vec![1, 0, 0, 0]);
        assert_eq!(
            clipboard_request(sel, 0, UTF8_TEXT),
            vec![0, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(clipboard_release(plain, 0), Vec::<u8>::new());
        assert_eq!(clipboard_release(sel, 1), vec![1, 0, 0, 0]);
        assert_eq!(clipboard_grab(plain, 0, 9, &[UTF8_TEXT]), vec![1, 0, 0, 0]);
        assert_eq!(
            clipboard_grab(both, 0, 9, &[UTF8_TEXT]),
            vec![0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0]
        );
        let c = clipboard(sel, 0, UTF8_TEXT, b"hi");
        assert_eq!(c, vec![0, 0, 0, 0, 1, 0, 0, 0, b'h', b'i']);

        // What we encode, we decode the same way.
        assert_eq!(
            decode(msg::CLIPBOARD, &c, sel).unwrap(),
            AgentMessage::Clipboard {
                selection: 0,
                data_type: UTF8_TEXT,
                data: b"hi"
            }
        );
        assert_eq!(
            decode(
                msg::CLIPBOARD_GRAB,
                &clipboard_grab(both, 1, 5, &[1, 2]),
                both
            )
            .unwrap(),
            AgentMessage::ClipboardGrab {
                selection: 1,
                serial: Some(5),
                types: vec![1, 2]
            }
        );
        assert_eq!(
            decode(msg::CLIPBOARD_RELEASE, &[2, 0, 0, 0], sel).unwrap(),
            AgentMessage::ClipboardRelease { selection: 2 }
        );
        // A prefix the framing expects but the message lacks.
        assert!(decode(msg::CLIPBOARD_RELEASE, &[], sel).is_err());
        assert!(decode(msg::CLIPBOARD_REQUEST, &[1, 0, 0, 0], sel).is_err());
        assert!(decode(msg::CLIPBOARD_GRAB, &[0, 0, 0, 0, 1, 0], both).is_err());
    }

    #[test]
    fn announce_round_trip_and_bounds() {
        let a = announce_capabilities(true, &[0x22, 0]);
        assert_eq!(a, vec![1, 0, 0, 0, 0x22, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode(msg::ANNOUNCE_CAPABILITIES, &a, ClipboardFraming::default()).unwrap(),
            AgentMessage::AnnounceCapabilities {
                request: true,
                caps: vec![0x22, 0]
            }
        );
        // Far more words than anyone defines: only the first few are kept.
        let many = announce_capabilities(false, &[u32::MAX; 1000]);
        match decode(
            msg::ANNOUNCE_CAPABILITIES,
            &many,
            ClipboardFraming::default(),
        )
        .unwrap()
        {
            AgentMessage::AnnounceCapabilities { request, caps } => {
                assert!(!request);
                assert_eq!(caps.len(), MAX_CAPS_WORDS);
            }
            m => panic!("{m:?}"),
        }
        assert!(decode(
            msg::ANNOUNCE_CAPABILITIES,
            &[1, 0],
            ClipboardFraming::default()
        )
        .is_err());
    }

    #[test]
    fn replies_and_unknown_types() {
        let f = ClipboardFraming::default();
        let mut w = Writer::new();
        w.u32(msg::MONITORS_CONFIG).u32(1);
        assert_eq!(
            decode(msg::REPLY, &w.finish(), f).unwrap(),
            AgentMessage::Reply {
                msg_type: msg::MONITORS_CONFIG,
                error: 1
            }
        );
        assert!(decode(msg::REPLY, &[0; 7], f).is_err());
        assert_eq!(
            decode(msg::FILE_XFER_STATUS, &[1, 2], f).unwrap(),
            AgentMessage::Other(msg::FILE_XFER_STATUS)
        );
        assert_eq!(decode(9999, &[], f).unwrap(), AgentMessage::Other(9999));
    }
}
