//! Guest agent traffic, as a hostile server or guest would send it, through
//! the reassembler and the agent state machine, mixed with the calls a
//! client makes.
//!
//! Input: a first byte of initial tokens, then records of one op byte:
//! 0-7 AGENT_DATA (u16 little-endian length, body), 8 AGENT_TOKEN (u8),
//! 9 AGENT_CONNECTED_TOKENS (u8), 10 AGENT_DISCONNECTED, 11 AGENT_CONNECTED,
//! 12 set_clipboard_text (u16 length, bytes taken as UTF-8 lossily),
//! 13 request_resize (u16 width, u16 height); other ops are skipped.
//!
//! Besides not panicking, what the client sends must keep the server's
//! rules: AGENT_DATA bodies of at most 2048 bytes, each holding part of one
//! message only, a message starting with a whole header; no more AGENT_DATA
//! than the server granted tokens for; and bounded queues.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opencloud_spice::agent::{Agent, MAX_CLIPBOARD_TEXT};
use opencloud_spice::msg::main::{MainInit, MainMessage};
use opencloud_spice::proto::main_msgc;
use opencloud_spice::proto::vd_agent::MAX_DATA_SIZE;

/// Checks the client's messages as the server's filter and token
/// accounting would.
#[derive(Default)]
struct Server {
    /// AGENT_DATA the client may still send.
    tokens: u64,
    /// Bytes of the current message still expected.
    left: u64,
}

impl Server {
    fn take(&mut self, out: &[(u16, Vec<u8>)]) {
        for (t, body) in out {
            match *t {
                main_msgc::AGENT_START | main_msgc::AGENT_TOKEN => assert_eq!(body.len(), 4),
                main_msgc::AGENT_DATA => {
                    assert!(body.len() <= MAX_DATA_SIZE, "body of {} bytes", body.len());
                    assert!(self.tokens > 0, "AGENT_DATA without a token");
                    self.tokens -= 1;
                    let mut len = body.len() as u64;
                    if self.left == 0 {
                        assert!(body.len() >= 20, "a message starts with its header");
                        assert_eq!(body[..4], 1u32.to_le_bytes());
                        let size = u32::from_le_bytes([body[16], body[17], body[18], body[19]]);
                        self.left = u64::from(size);
                        len -= 20;
                    }
                    assert!(len <= self.left, "a body spans two messages");
                    self.left -= len;
                }
                t => panic!("unexpected client message {t}"),
            }
        }
    }
}

fn check(agent: &Agent) {
    // One of each kind of message, and at most four answers.
    assert!(agent.pending() <= 9, "{} pending", agent.pending());
    // The largest message is a clipboard answer, CRLF doubling the text.
    assert!(agent.in_flight() <= (2 * MAX_CLIPBOARD_TEXT + 64) / MAX_DATA_SIZE + 1);
    if let Some((_, text)) = agent.guest_clipboard() {
        // Lossy UTF-8 turns a byte into at most three.
        assert!(text.len() <= 3 * (MAX_CLIPBOARD_TEXT + 8));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let mut agent = Agent::new();
    let mut server = Server {
        tokens: first.into(),
        left: 0,
    };
    let out = agent.on_main(&MainMessage::Init(MainInit {
        session_id: 1,
        display_channels_hint: 1,
        supported_mouse_modes: 3,
        current_mouse_mode: 2,
        agent_connected: 1,
        agent_tokens: first.into(),
        multi_media_time: 0,
        ram_hint: 0,
    }));
    server.take(&out.send);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let u16_at = |r: &[u8], i: usize| match r.get(i..i + 2) {
            Some(b) => u16::from_le_bytes([b[0], b[1]]),
            None => 0,
        };
        let send = match op {
            0..=7 | 12 => {
                let len = usize::from(u16_at(rest, 0)).min(rest.len().saturating_sub(2));
                let body = rest.get(2..2 + len).unwrap_or(&[]);
                rest = rest.get(2 + len..).unwrap_or(&[]);
                if op == 12 {
                    let text = String::from_utf8_lossy(body);
                    agent.set_clipboard_text(&text).unwrap_or_default()
                } else {
                    agent.on_main(&MainMessage::AgentData(body)).send
                }
            }
            8 | 9 => {
                let n = rest.first().copied().unwrap_or(0);
                rest = rest.get(1..).unwrap_or(&[]);
                if op == 8 {
                    server.tokens += u64::from(n);
                    agent.on_main(&MainMessage::AgentToken(n.into())).send
                } else {
                    server.tokens = n.into();
                    agent
                        .on_main(&MainMessage::AgentConnectedTokens(n.into()))
                        .send
                }
            }
            10 => agent.on_main(&MainMessage::AgentDisconnected(0)).send,
            11 => agent.on_main(&MainMessage::AgentConnected).send,
            13 => {
                let (w, h) = (u16_at(rest, 0), u16_at(rest, 2));
                rest = rest.get(4..).unwrap_or(&[]);
                agent.request_resize(w.into(), h.into()).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        server.take(&send);
        check(&agent);
    }
});
