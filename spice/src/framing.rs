//! Mini-header framing (type u16, size u32) and the base messages every
//! channel must answer: SET_ACK/ACK windows and PING/PONG.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::proto::{base_msg, base_msgc};
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// The largest message we accept. A raw 32-bit 4K frame is 33 MiB; nothing
/// QEMU sends comes near 64 MiB.
pub const MAX_MESSAGE: u32 = 64 << 20;

/// One server message: its type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub msg_type: u16,
    pub body: Vec<u8>,
}

/// Encodes a client message with its mini header.
pub fn encode(msg_type: u16, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(msg_type).u32(body.len() as u32).bytes(body);
    w.finish()
}

/// Parses a 6-byte mini header into (type, size), refusing absurd sizes.
pub fn parse_header(buf: &[u8; 6]) -> Result<(u16, u32)> {
    let mut r = Reader::new(buf, "mini header");
    let t = r.u16()?;
    let size = r.u32()?;
    if size > MAX_MESSAGE {
        return Err(Error::TooLarge {
            what: "message",
            size: size.into(),
            limit: MAX_MESSAGE.into(),
        });
    }
    Ok((t, size))
}

/// Reads one message. The body buffer grows as bytes arrive rather than
/// being allocated up front from the header's claim, so a lying header
/// costs nothing before the data really comes.
pub async fn read_message<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Message> {
    let mut header = [0u8; 6];
    stream.read_exact(&mut header).await.map_err(closed)?;
    let (msg_type, size) = parse_header(&header)?;
    let mut body = Vec::with_capacity((size as usize).min(64 << 10));
    let got = (&mut *stream)
        .take(u64::from(size))
        .read_to_end(&mut body)
        .await
        .map_err(closed)?;
    if got != size as usize {
        return Err(Error::Closed(format!(
            "message {msg_type} cut after {got} of {size} bytes"
        )));
    }
    Ok(Message { msg_type, body })
}

fn closed(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Closed("server closed the connection".into())
    } else {
        Error::Io(e)
    }
}

pub async fn write_message<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg_type: u16,
    body: &[u8],
) -> Result<()> {
    stream.write_all(&encode(msg_type, body)).await?;
    Ok(())
}

/// What a base message asks the channel to do.
#[derive(Debug, PartialEq, Eq)]
pub enum BaseAction {
    /// Send these client messages (type, body).
    Reply(Vec<(u16, Vec<u8>)>),
    /// The server is going away.
    Disconnecting(u32),
    /// Nothing to do.
    None,
}

/// Per-channel state of the ACK window the server set with SET_ACK.
#[derive(Debug, Default)]
pub struct AckState {
    window: u32,
    received: u32,
}

impl AckState {
    /// Counts one received message; returns true when an ACK is due. The
    /// server stops sending when the client falls a window behind.
    pub fn on_message(&mut self) -> bool {
        if self.window == 0 {
            return false;
        }
        self.received += 1;
        if self.received >= self.window {
            self.received = 0;
            return true;
        }
        false
    }

    /// Handles a base message (type < 100). Returns None if `msg_type` is
    /// not a base message.
    pub fn handle_base(&mut self, msg_type: u16, body: &[u8]) -> Result<Option<BaseAction>> {
        let mut r = Reader::new(body, "base message");
        let action = match msg_type {
            base_msg::SET_ACK => {
                let generation = r.u32()?;
                let window = r.u32()?;
                self.window = window;
                self.received = 0;
                let mut w = Writer::new();
                w.u32(generation);
                BaseAction::Reply(vec![(base_msgc::ACK_SYNC, w.finish())])
            }
            base_msg::PING => {
                let id = r.u32()?;
                let timestamp = r.u64()?;
                let mut w = Writer::new();
                w.u32(id).u64(timestamp);
                BaseAction::Reply(vec![(base_msgc::PONG, w.finish())])
            }
            base_msg::DISCONNECTING => {
                let _time = r.u64()?;
                BaseAction::Disconnecting(r.u32()?)
            }
            base_msg::NOTIFY => {
                let _time = r.u64()?;
                let _severity = r.u32()?;
                let _visibility = r.u32()?;
                let _what = r.u32()?;
                let len = r.u32()?;
                r.skip(len as usize)?;
                BaseAction::None
            }
            base_msg::WAIT_FOR_CHANNELS => {
                let n = r.u8()?;
                r.check_array(n.into(), 10)?;
                BaseAction::None
            }
            base_msg::MIGRATE | base_msg::MIGRATE_DATA => BaseAction::None,
            base_msg::LIST => {
                // Sub-message lists only occur without the mini header.
                return Err(Error::Unsupported {
                    what: "sub-message list",
                    value: msg_type.into(),
                });
            }
            t if t < 100 => {
                return Err(Error::Unsupported {
                    what: "base message",
                    value: t.into(),
                })
            }
            _ => return Ok(None),
        };
        Ok(Some(action))
    }

    /// The ACK message, for when [`AckState::on_message`] says one is due.
    pub fn ack() -> (u16, Vec<u8>) {
        (base_msgc::ACK, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_message_and_refuses_short_ones() {
        let bytes = encode(4, &[1, 2, 3]);
        let msg = read_message(&mut &bytes[..]).await.unwrap();
        assert_eq!(
            msg,
            Message {
                msg_type: 4,
                body: vec![1, 2, 3]
            }
        );
        let cut = &bytes[..bytes.len() - 1];
        assert!(matches!(
            read_message(&mut &cut[..]).await,
            Err(Error::Closed(_))
        ));
    }

    #[tokio::test]
    async fn absurd_sizes_are_refused_before_reading() {
        let mut h = Vec::new();
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_message(&mut &h[..]).await,
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn set_ack_then_ack_every_window() {
        let mut s = AckState::default();
        let mut body = Writer::new();
        body.u32(9).u32(2);
        let a = s.handle_base(base_msg::SET_ACK, &body.finish()).unwrap();
        assert_eq!(
            a,
            Some(BaseAction::Reply(vec![(
                base_msgc::ACK_SYNC,
                9u32.to_le_bytes().to_vec()
            )]))
        );
        assert!(!s.on_message());
        assert!(s.on_message());
        assert!(!s.on_message());
    }

    #[test]
    fn ping_is_answered_and_truncated_ping_is_an_error() {
        let mut s = AckState::default();
        let mut body = Writer::new();
        body.u32(1).u64(2).bytes(&[0; 100]);
        let a = s.handle_base(base_msg::PING, &body.finish()).unwrap();
        match a {
            Some(BaseAction::Reply(v)) => assert_eq!(v[0].1.len(), 12),
            other => panic!("{other:?}"),
        }
        assert!(s.handle_base(base_msg::PING, &[1, 2, 3]).is_err());
        assert!(s.handle_base(99, &[]).is_err());
        assert_eq!(s.handle_base(101, &[]).unwrap(), None);
    }
}
