//! The desktop guest's test hooks: what its init says and is told over
//! serial ports, and the bounded reader of its event log.
//!
//! The guest's init talks to the harness over serial ports, one line per
//! message, ASCII, `\n`-terminated.
//!
//! **ttyS0, events** (guest → host, a file):
//! - `OPENCLOUD-DESKTOP-BOOT`: the init started.
//! - `AGENT-PORT-OK`: the session agent is connected to spice-vdagentd, and
//!   spice-vdagentd holds the virtio port open.
//! - `SIZE <w>x<h>`: the X screen size, once at start and whenever it
//!   changes (polled every 0.5 s).
//! - `OPENCLOUD-DESKTOP-READY`: X, both agent processes and the hooks run,
//!   and X has the agent's tablet.
//! - `CLIPBOARD <base64>`: the CLIPBOARD text (at most 1 MiB, read with
//!   xclip) each time the selection gets a new owner, and after `copy`.
//!   Ownership is polled every 0.5 s without fetching the text, so while
//!   the agent owns the selection the SPICE client is asked for the text
//!   once per grab; if it does not answer, the read times out after 5 s and
//!   no event follows.
//! - `CLIPBOARD-NONE`: the selection lost its owner.
//! - `REPLY <id> ok [<data>]` or `REPLY <id> err <reason>`: a command's
//!   answer.
//! - `OPENCLOUD-DESKTOP-FAILED <reason>`: start-up failed, or X, udevd or
//!   an agent process died.
//!
//! **ttyS1, commands** (host → guest, a unix socket): `<id> <verb>
//! [<argument>]`, each answered by one `REPLY <id> ...` on ttyS0:
//! - `ping <token>`: echoes the token.
//! - `size`: the screen size, `<w>x<h>`.
//! - `copy [<base64>]`: puts the text on CLIPBOARD with `xclip -i`, so the
//!   agent grabs the client's clipboard; answered once xclip owns the
//!   selection.
//! - `paste`: the CLIPBOARD text in base64 (asks the SPICE client when the
//!   agent owns the selection).
//! - `pointer`: the X pointer position, `<x> <y>` (`xdotool
//!   getmouselocation`), in screen pixels.
//! - `diag`: writes the kernel's and X's input devices and the end of
//!   Xorg's log to the log port, for diagnosis.
//! - `photo start`: shows photo-like 640x480 images (smooth gradients plus
//!   noise, generated at build time; see [`super::PHOTO_RECT`]) in xwud windows
//!   stacked at the same place and raises them in turn, one every 0.2 s,
//!   until `photo stop`; answered once the windows exist and the cycle runs.
//!   Every change repaints the whole area: colourful and frequent, what the
//!   viewer sends as JPEG.
//! - `photo stop`: ends the cycle (within about 1.2 s, the rest of one
//!   xdotool chain), raises the first image and answers; the screen then
//!   stays still with that image on it.
//!
//! **ttyS2, log**: the kernel console and the output of the init, udevd,
//! xwud, spice-vdagentd and spice-vdagent (both with `-d`), for diagnosis
//! only (Xorg logs to the guest's /tmp/Xorg.0.log, shown here when X fails
//! to start or to add the tablet).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use base64::Engine as _;

/// The most the harness reads of the event log in total.
const MAX_EVENT_LOG: u64 = 64 << 20;
/// Longer event lines are dropped (a 1 MiB clipboard is 1.4 MB of base64).
const MAX_LINE: usize = 4 << 20;

/// One line of the guest's event port, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `OPENCLOUD-DESKTOP-BOOT`: the init started.
    Boot,
    /// `AGENT-PORT-OK`: spice-vdagentd holds the virtio port open and the
    /// session agent is connected to it.
    AgentPortOk,
    /// `OPENCLOUD-DESKTOP-READY`.
    Ready,
    /// `OPENCLOUD-DESKTOP-FAILED <reason>`.
    Failed(String),
    /// `SIZE <w>x<h>`: the X screen size.
    Size { width: u32, height: u32 },
    /// `CLIPBOARD <base64>`: the CLIPBOARD text (invalid UTF-8 replaced).
    Clipboard(String),
    /// `CLIPBOARD-NONE`: nobody owns CLIPBOARD any more.
    ClipboardNone,
    /// `REPLY <id> ok <data>` (Ok) or `REPLY <id> err <reason>` (Err).
    Reply {
        id: u64,
        result: std::result::Result<String, String>,
    },
    /// Anything else (shortened to 200 bytes).
    Unknown(String),
}

impl Event {
    /// Parses one event line (without its newline).
    pub fn parse(line: &str) -> Event {
        let line = line.trim_end_matches('\r');
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let unknown = || Event::Unknown(shorten(line, 200));
        match word {
            "OPENCLOUD-DESKTOP-BOOT" if rest.is_empty() => Event::Boot,
            "AGENT-PORT-OK" if rest.is_empty() => Event::AgentPortOk,
            "OPENCLOUD-DESKTOP-READY" if rest.is_empty() => Event::Ready,
            "OPENCLOUD-DESKTOP-FAILED" => Event::Failed(shorten(rest, 1000)),
            "CLIPBOARD-NONE" if rest.is_empty() => Event::ClipboardNone,
            "SIZE" => parse_size(rest)
                .map(|(width, height)| Event::Size { width, height })
                .unwrap_or_else(unknown),
            "CLIPBOARD" => decode_text(rest)
                .map(Event::Clipboard)
                .unwrap_or_else(unknown),
            "REPLY" => {
                let mut parts = rest.splitn(3, ' ');
                let id = parts.next().and_then(|s| s.parse().ok());
                let status = parts.next();
                let data = parts.next().unwrap_or("").to_string();
                match (id, status) {
                    (Some(id), Some("ok")) => Event::Reply {
                        id,
                        result: Ok(data),
                    },
                    (Some(id), Some("err")) => Event::Reply {
                        id,
                        result: Err(shorten(&data, 1000)),
                    },
                    _ => unknown(),
                }
            }
            _ => unknown(),
        }
    }
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `<w>x<h>` with both sides in 1..=65535.
pub(super) fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.trim().split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    ((1..=65535).contains(&w) && (1..=65535).contains(&h)).then_some((w, h))
}

/// `<x> <y>`, two integers.
pub(super) fn parse_pointer(s: &str) -> Option<(i32, i32)> {
    let (x, y) = s.trim().split_once(' ')?;
    Some((x.parse().ok()?, y.parse().ok()?))
}

pub(super) fn decode_text(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The event log as read so far: whole lines, and the start of the next.
#[derive(Default)]
pub(super) struct LogState {
    offset: u64,
    partial: Vec<u8>,
    overlong: bool,
    lines: Vec<String>,
}

/// Reads the guest's event file incrementally, with bounds.
pub(super) struct EventLog {
    pub(super) path: PathBuf,
    pub(super) state: Mutex<LogState>,
}

impl EventLog {
    /// Takes in what the guest wrote since the last call; returns all lines.
    pub(super) fn lines(&self) -> Result<Vec<String>> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(st.lines.clone()),
            Err(e) => return Err(e).context("opening the guest's event log"),
        };
        if st.offset >= MAX_EVENT_LOG {
            bail!("the guest wrote more than {MAX_EVENT_LOG} bytes of events");
        }
        file.seek(SeekFrom::Start(st.offset))?;
        let mut new = Vec::new();
        file.take(MAX_EVENT_LOG - st.offset)
            .read_to_end(&mut new)
            .context("reading the guest's event log")?;
        st.offset += new.len() as u64;
        for chunk in new.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            if !st.overlong {
                st.partial.extend_from_slice(body);
                if st.partial.len() > MAX_LINE {
                    st.overlong = true;
                    st.partial = Vec::new();
                }
            }
            if complete {
                let line = if st.overlong {
                    format!("<a line over {MAX_LINE} bytes, dropped>")
                } else {
                    String::from_utf8_lossy(&st.partial).into_owned()
                };
                st.lines.push(line);
                st.partial.clear();
                st.overlong = false;
            }
        }
        Ok(st.lines.clone())
    }
}

/// The last `max` bytes of a file, as text (empty when it is missing).
pub(super) fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_parsing() {
        assert_eq!(Event::parse("OPENCLOUD-DESKTOP-READY"), Event::Ready);
        assert_eq!(Event::parse("AGENT-PORT-OK\r"), Event::AgentPortOk);
        assert_eq!(
            Event::parse("SIZE 1024x768"),
            Event::Size {
                width: 1024,
                height: 768
            }
        );
        assert!(matches!(Event::parse("SIZE 0x768"), Event::Unknown(_)));
        assert!(matches!(
            Event::parse("SIZE 99999999999x1"),
            Event::Unknown(_)
        ));
        assert_eq!(
            Event::parse("CLIPBOARD aMOpbGxv"),
            Event::Clipboard("héllo".into())
        );
        assert!(matches!(Event::parse("CLIPBOARD !!"), Event::Unknown(_)));
        assert_eq!(
            Event::parse("REPLY 7 ok 800x600"),
            Event::Reply {
                id: 7,
                result: Ok("800x600".into())
            }
        );
        assert_eq!(
            Event::parse("REPLY 8 err bad base64"),
            Event::Reply {
                id: 8,
                result: Err("bad base64".into())
            }
        );
        assert!(matches!(Event::parse("REPLY x ok"), Event::Unknown(_)));
        assert_eq!(parse_pointer("100 7"), Some((100, 7)));
        assert_eq!(parse_pointer("-1 0\n"), Some((-1, 0)));
        assert_eq!(parse_pointer("100"), None);
        assert_eq!(parse_pointer("1 2 3"), None);
        assert_eq!(
            Event::parse("OPENCLOUD-DESKTOP-FAILED no X"),
            Event::Failed("no X".into())
        );
        let long = "é".repeat(500);
        match Event::parse(&long) {
            Event::Unknown(s) => assert!(s.len() <= 204),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn event_log_is_incremental_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = EventLog {
            path: path.clone(),
            state: Mutex::default(),
        };
        assert!(log.lines().unwrap().is_empty());
        std::fs::write(&path, b"A\nB").unwrap();
        assert_eq!(log.lines().unwrap(), vec!["A"]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"C\n").unwrap();
        std::io::Write::write_all(&mut f, &vec![b'x'; MAX_LINE + 1]).unwrap();
        std::io::Write::write_all(&mut f, b"\nD\n").unwrap();
        let lines = log.lines().unwrap();
        assert_eq!(lines[..2], ["A", "BC"]);
        assert!(lines[2].contains("dropped"));
        assert_eq!(lines[3], "D");
    }
}
