//! Recording a SPICE session for replay: a TCP proxy between a SPICE client
//! and a real SPICE server (QEMU) that passes every byte through unchanged
//! and writes, per channel connection, the server's messages after the
//! link and ticket phase with the time each arrived. Nothing of the link
//! phase but the server's capability words is kept, so a recording does not
//! depend on the server's RSA key or the password; [`crate::spice_replay`]
//! serves it back to any number of clients.
//!
//! # File format
//!
//! A gzip stream (RFC 1952; the display stream's LZ images still shrink
//! about six times) of: the magic `OCSPREC1`, then records until the end.
//! A file that is not gzip is read as the plain stream. Every integer is
//! little-endian. A record is a kind byte and then:
//!
//! | kind | name    | fields |
//! |------|---------|--------|
//! | 1    | CHANNEL | conn u16, channel_type u8, channel_id u8, link_us u64, n_common u32, n_channel u32, then n_common + n_channel u32 capability words (the server's SpiceLinkReply caps, common first) |
//! | 2    | MESSAGE | conn u16, t_us u64, then the message exactly as on the wire: type u16, size u32, body (size bytes) |
//! | 3    | END     | t_us u64: when the recording stopped |
//! | 4    | NOTE    | len u32, then len bytes of UTF-8 (free text: workload, compression) |
//!
//! `conn` numbers the proxied TCP connections in the order they were
//! accepted; a connection's CHANNEL record comes before its MESSAGE
//! records, and records of different connections interleave in time order.
//! Times are microseconds since the first main channel finished linking
//! (the server's auth verdict went to the client); `link_us` is when that
//! connection finished linking. Only connections that linked with the mini
//! header are recorded. A file cut short (a recorder killed before END) is
//! still readable: the partial last record is dropped and the recording
//! ends with its last message.
//!
//! `zcat FILE | tail -c +9` gives the records, e.g. for a script.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use opencloud_spice::framing::MAX_MESSAGE;
use opencloud_spice::link::has_cap;
use opencloud_spice::proto::{channel, common_cap};
use opencloud_spice::wire::Reader;

mod recorder;

pub use recorder::{RecordStats, Recorder};

/// The first bytes of a recording file.
pub const MAGIC: &[u8; 8] = b"OCSPREC1";

const KIND_CHANNEL: u8 = 1;
const KIND_MESSAGE: u8 = 2;
const KIND_END: u8 = 3;
const KIND_NOTE: u8 = 4;
/// Bounds that keep a corrupt file from making the reader allocate wildly.
const MAX_CAPS: u32 = 1024;
const MAX_NOTE: u32 = 1 << 20;

/// One server message of a recorded channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedMessage {
    /// Microseconds since the main channel linked.
    pub t_us: u64,
    pub msg_type: u16,
    /// The message as on the wire: the 6-byte mini header, then the body.
    pub wire: Vec<u8>,
}

impl RecordedMessage {
    pub fn body(&self) -> &[u8] {
        self.wire.get(6..).unwrap_or_default()
    }
}

/// One recorded channel connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedChannel {
    pub conn: u16,
    pub channel_type: u8,
    pub channel_id: u8,
    /// When the channel finished linking, in microseconds since the main
    /// channel linked.
    pub link_us: u64,
    /// The server's capability words from its SpiceLinkReply.
    pub common_caps: Vec<u32>,
    pub channel_caps: Vec<u32>,
    pub messages: Vec<RecordedMessage>,
}

impl RecordedChannel {
    /// Payload bytes of all messages, headers included.
    pub fn bytes(&self) -> u64 {
        self.messages.iter().map(|m| m.wire.len() as u64).sum()
    }
}

/// A whole recording, as read back from a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// In the order the connections were accepted.
    pub channels: Vec<RecordedChannel>,
    /// When recording stopped (the END record), or the last message's time
    /// when the file has no END.
    pub end_us: u64,
    pub notes: Vec<String>,
    /// The file ended inside a record or without END.
    pub truncated: bool,
}

impl Recording {
    pub fn load(path: &Path) -> Result<Recording> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Recording::parse(&data).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses a recording file's content, gzip-compressed or not.
    pub fn parse(data: &[u8]) -> Result<Recording> {
        if !data.starts_with(&[0x1f, 0x8b]) {
            return Recording::parse_plain(data);
        }
        let mut plain = Vec::new();
        // A gzip stream cut short still yields what came before the cut,
        // which parse_plain then treats as a truncated recording.
        let cut = flate2::read::GzDecoder::new(data)
            .read_to_end(&mut plain)
            .is_err();
        let mut rec = Recording::parse_plain(&plain)?;
        rec.truncated |= cut;
        Ok(rec)
    }

    /// Parses the uncompressed stream. Malformed content is an error; a
    /// stream that ends inside a record is not (see the module docs).
    pub fn parse_plain(data: &[u8]) -> Result<Recording> {
        if data.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            bail!("not a SPICE recording (no {:?} magic)", "OCSPREC1");
        }
        let mut rec = Recording::default();
        let mut r = Reader::new(&data[MAGIC.len()..], "recording");
        let mut ended = false;
        while r.remaining() > 0 {
            let save = r;
            match parse_record(&mut r, &mut rec) {
                Ok(true) => ended = true,
                Ok(false) => {}
                Err(ParseError::Truncated) => {
                    rec.truncated = true;
                    break;
                }
                Err(ParseError::Bad(e)) => {
                    bail!("record at byte {}: {e}", MAGIC.len() + save.position())
                }
            }
        }
        if !ended {
            rec.truncated = true;
            rec.end_us = rec
                .channels
                .iter()
                .filter_map(|c| c.messages.last().map(|m| m.t_us))
                .max()
                .unwrap_or(0);
        }
        Ok(rec)
    }

    /// The first recorded connection of this channel type and id.
    pub fn channel(&self, channel_type: u8, channel_id: u8) -> Option<&RecordedChannel> {
        self.channels
            .iter()
            .find(|c| c.channel_type == channel_type && c.channel_id == channel_id)
    }

    /// One line per channel: messages, bytes and the time span.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{:.1} s recorded{}",
            self.end_us as f64 / 1e6,
            if self.truncated { " (truncated)" } else { "" }
        );
        for n in &self.notes {
            s.push_str(&format!("\n  note: {n}"));
        }
        for c in &self.channels {
            s.push_str(&format!(
                "\n  conn {} {} {}: linked at {:.3} s, {} messages, {} bytes",
                c.conn,
                channel_name(c.channel_type),
                c.channel_id,
                c.link_us as f64 / 1e6,
                c.messages.len(),
                c.bytes()
            ));
        }
        s
    }
}

pub fn channel_name(t: u8) -> &'static str {
    match t {
        channel::MAIN => "main",
        channel::DISPLAY => "display",
        channel::INPUTS => "inputs",
        channel::CURSOR => "cursor",
        channel::PLAYBACK => "playback",
        channel::RECORD => "record",
        _ => "channel",
    }
}

enum ParseError {
    Truncated,
    Bad(String),
}

impl From<opencloud_spice::Error> for ParseError {
    fn from(e: opencloud_spice::Error) -> Self {
        match e {
            opencloud_spice::Error::Truncated { .. } => ParseError::Truncated,
            other => ParseError::Bad(other.to_string()),
        }
    }
}

/// Reads one record into `rec`; true for END.
fn parse_record(r: &mut Reader<'_>, rec: &mut Recording) -> Result<bool, ParseError> {
    match r.u8()? {
        KIND_CHANNEL => {
            let conn = r.u16()?;
            let channel_type = r.u8()?;
            let channel_id = r.u8()?;
            let link_us = r.u64()?;
            let n_common = r.u32()?;
            let n_channel = r.u32()?;
            if n_common > MAX_CAPS || n_channel > MAX_CAPS {
                return Err(ParseError::Bad(format!(
                    "{n_common} + {n_channel} capability words"
                )));
            }
            r.check_array(u64::from(n_common) + u64::from(n_channel), 4)?;
            let common_caps = (0..n_common).map(|_| r.u32()).collect::<Result<_, _>>()?;
            let channel_caps = (0..n_channel).map(|_| r.u32()).collect::<Result<_, _>>()?;
            if rec.channels.iter().any(|c| c.conn == conn) {
                return Err(ParseError::Bad(format!("connection {conn} twice")));
            }
            rec.channels.push(RecordedChannel {
                conn,
                channel_type,
                channel_id,
                link_us,
                common_caps,
                channel_caps,
                messages: Vec::new(),
            });
        }
        KIND_MESSAGE => {
            let conn = r.u16()?;
            let t_us = r.u64()?;
            let mut header = *r;
            let msg_type = header.u16()?;
            let size = header.u32()?;
            if size > MAX_MESSAGE {
                return Err(ParseError::Bad(format!("message of {size} bytes")));
            }
            let wire = r.bytes(6 + size as usize)?.to_vec();
            let ch = rec
                .channels
                .iter_mut()
                .find(|c| c.conn == conn)
                .ok_or_else(|| ParseError::Bad(format!("message for unknown connection {conn}")))?;
            ch.messages.push(RecordedMessage {
                t_us,
                msg_type,
                wire,
            });
        }
        KIND_END => {
            rec.end_us = r.u64()?;
            return Ok(true);
        }
        KIND_NOTE => {
            let len = r.u32()?;
            if len > MAX_NOTE {
                return Err(ParseError::Bad(format!("note of {len} bytes")));
            }
            let text = r.bytes(len as usize)?;
            rec.notes.push(String::from_utf8_lossy(text).into_owned());
        }
        k => return Err(ParseError::Bad(format!("unknown record kind {k}"))),
    }
    Ok(false)
}

/// The parts of a client's SpiceLinkMess a proxy or server needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMess {
    pub connection_id: u32,
    pub channel_type: u8,
    pub channel_id: u8,
    pub common_caps: Vec<u32>,
    pub channel_caps: Vec<u32>,
}

impl LinkMess {
    /// Whether the client sends an auth mechanism before its ticket: the
    /// server decides by the client's AUTH_SELECTION capability.
    pub fn auth_selection(&self) -> bool {
        has_cap(&self.common_caps, common_cap::AUTH_SELECTION)
    }
}

/// Parses a SpiceLinkMess body (after the 16-byte link header), checking
/// that the capability words lie inside it.
pub fn parse_link_mess(body: &[u8]) -> opencloud_spice::Result<LinkMess> {
    let mut r = Reader::new(body, "link message");
    let connection_id = r.u32()?;
    let channel_type = r.u8()?;
    let channel_id = r.u8()?;
    let n_common = r.u32()?;
    let n_channel = r.u32()?;
    let caps_offset = r.u32()?;
    let mut c = r.at(caps_offset)?;
    c.check_array(u64::from(n_common) + u64::from(n_channel), 4)?;
    let common_caps = (0..n_common).map(|_| c.u32()).collect::<Result<_, _>>()?;
    let channel_caps = (0..n_channel).map(|_| c.u32()).collect::<Result<_, _>>()?;
    Ok(LinkMess {
        connection_id,
        channel_type,
        channel_id,
        common_caps,
        channel_caps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use opencloud_spice::wire::Writer;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u8(KIND_NOTE).u32(2).bytes(b"hi");
        w.u8(KIND_CHANNEL)
            .u16(0)
            .u8(1)
            .u8(0)
            .u64(0)
            .u32(1)
            .u32(0)
            .u32(0xb);
        w.u8(KIND_MESSAGE)
            .u16(0)
            .u64(5)
            .u16(103)
            .u32(3)
            .bytes(&[1, 2, 3]);
        w.u8(KIND_END).u64(9);
        w.finish()
    }

    #[test]
    fn a_recording_reads_back() {
        let rec = Recording::parse(&sample()).unwrap();
        assert!(!rec.truncated);
        assert_eq!(rec.end_us, 9);
        assert_eq!(rec.notes, vec!["hi".to_string()]);
        let main = rec.channel(1, 0).unwrap();
        assert_eq!(main.common_caps, vec![0xb]);
        assert_eq!(main.messages.len(), 1);
        assert_eq!(main.messages[0].msg_type, 103);
        assert_eq!(main.messages[0].body(), &[1, 2, 3]);
        assert_eq!(main.messages[0].t_us, 5);
    }

    #[test]
    fn gzip_files_read_back_even_when_cut() {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&sample()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            Recording::parse(&gz).unwrap(),
            Recording::parse(&sample()).unwrap()
        );
        let cut = Recording::parse(&gz[..gz.len() - 8]).unwrap();
        assert!(cut.truncated);
    }

    #[test]
    fn a_cut_file_keeps_what_is_whole_and_garbage_is_an_error() {
        let data = sample();
        // Cut inside the END record, then inside the message.
        let rec = Recording::parse(&data[..data.len() - 3]).unwrap();
        assert!(rec.truncated);
        assert_eq!(rec.end_us, 5);
        assert_eq!(rec.channels[0].messages.len(), 1);
        let rec = Recording::parse(&data[..data.len() - 10]).unwrap();
        assert!(rec.channels[0].messages.is_empty());
        assert!(Recording::parse(b"OCSPREC0").is_err());
        let mut bad = data.clone();
        bad[MAGIC.len()] = 77;
        assert!(Recording::parse(&bad).is_err());
        // A message for a connection that never linked.
        let mut w = Writer::new();
        w.bytes(MAGIC).u8(KIND_MESSAGE).u16(3).u64(0).u16(1).u32(0);
        assert!(Recording::parse(&w.finish()).is_err());
        // Absurd capability counts.
        let mut w = Writer::new();
        w.bytes(MAGIC)
            .u8(KIND_CHANNEL)
            .u16(0)
            .u8(1)
            .u8(0)
            .u64(0)
            .u32(u32::MAX)
            .u32(0);
        assert!(Recording::parse(&w.finish()).is_err());
    }

    #[test]
    fn link_mess_caps_must_lie_inside_the_body() {
        let mut w = Writer::new();
        w.u32(7)
            .u8(2)
            .u8(0)
            .u32(1)
            .u32(1)
            .u32(18)
            .u32(0xb)
            .u32(0x40);
        let body = w.finish();
        let m = parse_link_mess(&body).unwrap();
        assert_eq!(m.connection_id, 7);
        assert_eq!(m.channel_type, 2);
        assert!(m.auth_selection());
        assert_eq!(m.channel_caps, vec![0x40]);
        assert!(parse_link_mess(&body[..body.len() - 1]).is_err());
        let mut w = Writer::new();
        w.u32(7).u8(2).u8(0).u32(u32::MAX).u32(1).u32(18);
        assert!(parse_link_mess(&w.finish()).is_err());
    }
}
