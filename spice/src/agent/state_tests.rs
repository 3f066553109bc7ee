//! The agent state machine against a scripted guest.

use super::*;
use crate::agent::msg::{encode, split};
use crate::msg::main::MainInit;
use crate::proto::vd_agent::{cap, clipboard::UTF8_TEXT, msg as vd, MAX_DATA_SIZE};
use crate::wire::Writer;

fn init(connected: bool, tokens: u32) -> MainMessage<'static> {
    MainMessage::Init(MainInit {
        session_id: 1,
        display_channels_hint: 1,
        supported_mouse_modes: 3,
        current_mouse_mode: 2,
        agent_connected: connected.into(),
        agent_tokens: tokens,
        multi_media_time: 0,
        ram_hint: 0,
    })
}

/// What the client sent, decoded: AGENT_START and AGENT_TOKEN as their
/// counts, AGENT_DATA reassembled into (agent type, data).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    Start(u32),
    Token(u32),
    Agent(u32, Vec<u8>),
}

/// Decodes sent messages, checking what the server's filter checks: no
/// body over the limit, a body never holds parts of two messages.
#[derive(Default)]
struct Server {
    partial: Vec<u8>,
    want: usize,
}

impl Server {
    fn take(&mut self, out: Vec<(u16, Vec<u8>)>) -> Vec<Sent> {
        let mut got = Vec::new();
        for (t, body) in out {
            let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            match t {
                main_msgc::AGENT_START => got.push(Sent::Start(u32_of(&body))),
                main_msgc::AGENT_TOKEN => got.push(Sent::Token(u32_of(&body))),
                main_msgc::AGENT_DATA => {
                    assert!(body.len() <= MAX_DATA_SIZE);
                    if self.partial.is_empty() {
                        assert!(body.len() >= 20, "a message starts with its header");
                        assert_eq!(u32_of(&body[0..4]), 1);
                        self.want = 20 + u32_of(&body[16..20]) as usize;
                    }
                    self.partial.extend(&body);
                    assert!(self.partial.len() <= self.want, "a body spans two messages");
                    if self.partial.len() == self.want {
                        let m = std::mem::take(&mut self.partial);
                        got.push(Sent::Agent(u32_of(&m[4..8]), m[20..].to_vec()));
                    }
                }
                t => panic!("unexpected message {t}"),
            }
        }
        got
    }
}

fn our_caps() -> Vec<u32> {
    caps(&CLIENT_CAPS)
}

fn announce(request: bool, bits: &[u32]) -> Vec<u8> {
    encode(
        vd::ANNOUNCE_CAPABILITIES,
        &msg::announce_capabilities(request, &caps(bits)),
    )
}

/// The Linux agent's capabilities as spice-vdagent announces them.
const LINUX: [u32; 12] = [
    cap::MOUSE_STATE,
    cap::MONITORS_CONFIG,
    cap::REPLY,
    cap::CLIPBOARD_BY_DEMAND,
    cap::CLIPBOARD_SELECTION,
    cap::SPARSE_MONITORS_CONFIG,
    cap::GUEST_LINEEND_LF,
    cap::MAX_CLIPBOARD,
    cap::AUDIO_VOLUME_SYNC,
    cap::GRAPHICS_DEVICE_INFO,
    cap::CLIPBOARD_NO_RELEASE_ON_REGRAB,
    cap::CLIPBOARD_GRAB_SERIAL,
];

fn data(a: &mut Agent, message: &[u8]) -> Output {
    a.on_main(&MainMessage::AgentData(message))
}

/// A connected agent whose guest announced `bits`, with plenty of tokens;
/// the handshake's output is checked and dropped.
fn ready(bits: &[u32]) -> (Agent, Server) {
    let mut a = Agent::new();
    let mut s = Server::default();
    let out = a.on_main(&init(true, 1000));
    assert!(out.changed);
    assert_eq!(
        s.take(out.send),
        vec![
            Sent::Start(TOKEN_WINDOW),
            Sent::Agent(
                vd::ANNOUNCE_CAPABILITIES,
                msg::announce_capabilities(true, &our_caps())
            ),
        ]
    );
    let out = data(&mut a, &announce(false, bits));
    assert!(out.changed);
    let sent = s.take(out.send);
    if bits.contains(&cap::MAX_CLIPBOARD) {
        assert_eq!(
            sent,
            vec![Sent::Agent(
                vd::MAX_CLIPBOARD,
                (1i32 << 20).to_le_bytes().to_vec()
            )]
        );
    } else {
        assert_eq!(sent, vec![]);
    }
    (a, s)
}

fn guest_grab(serial: u32, types: &[u32]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&[0, 0, 0, 0]).u32(serial);
    for t in types {
        w.u32(*t);
    }
    encode(vd::CLIPBOARD_GRAB, &w.finish())
}

fn guest_text(text: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&[0, 0, 0, 0]).u32(UTF8_TEXT).bytes(text);
    encode(vd::CLIPBOARD, &w.finish())
}

fn guest_request(sel: u8, data_type: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&[sel, 0, 0, 0]).u32(data_type);
    encode(vd::CLIPBOARD_REQUEST, &w.finish())
}

#[test]
fn the_handshake_answers_a_guest_that_asks() {
    let mut a = Agent::new();
    let mut s = Server::default();
    // No agent at first: nothing is sent and requests fail.
    let out = a.on_main(&init(false, 10));
    assert_eq!(out, Output::default());
    assert!(matches!(
        a.request_resize(800, 600),
        Err(Error::AgentUnavailable(_))
    ));
    assert!(matches!(
        a.set_clipboard_text("x"),
        Err(Error::AgentUnavailable(_))
    ));

    // The agent arrives with fresh tokens.
    let out = a.on_main(&MainMessage::AgentConnectedTokens(10));
    assert!(out.changed && a.connected());
    assert_eq!(s.take(out.send).len(), 2);
    assert_eq!(a.tokens(), 9);
    assert_eq!(a.guest_caps(), None);

    // The guest asks for our capabilities: we answer without asking back.
    let out = data(&mut a, &announce(true, &[cap::MONITORS_CONFIG]));
    assert_eq!(
        s.take(out.send),
        vec![Sent::Agent(
            vd::ANNOUNCE_CAPABILITIES,
            msg::announce_capabilities(false, &our_caps())
        )]
    );
    assert!(a.has_guest_cap(cap::MONITORS_CONFIG));
    assert!(!a.has_guest_cap(cap::CLIPBOARD_BY_DEMAND));
    // What it lacks is refused once known.
    assert!(matches!(
        a.set_clipboard_text("x"),
        Err(Error::AgentUnavailable(_))
    ));
}

#[test]
fn a_resize_waits_for_the_capabilities_and_the_newest_wins() {
    let mut a = Agent::new();
    let mut s = Server::default();
    s.take(a.on_main(&init(true, 10)).send);
    assert!(a.request_resize(0, 600).is_err());
    assert!(a.request_resize(800, 99_999).is_err());
    // Before the guest announces, resizes are held, and only the last.
    assert!(a.request_resize(800, 600).unwrap().is_empty());
    assert!(a.request_resize(1024, 768).unwrap().is_empty());
    assert_eq!(a.pending(), 1);
    let out = data(&mut a, &announce(false, &LINUX));
    let sent = s.take(out.send);
    let mut want = Writer::new();
    for v in [1u32, 0, 768, 1024, 32, 0, 0] {
        want.u32(v);
    }
    assert_eq!(
        sent,
        vec![
            Sent::Agent(vd::MONITORS_CONFIG, want.finish()),
            Sent::Agent(vd::MAX_CLIPBOARD, (1i32 << 20).to_le_bytes().to_vec()),
        ]
    );
    // The guest's reply is only logged.
    let mut r = Writer::new();
    r.u32(vd::MONITORS_CONFIG).u32(1);
    let out = data(&mut a, &encode(vd::REPLY, &r.finish()));
    assert_eq!(out, Output::default());
}

#[test]
fn a_guest_without_monitors_config_refuses_resizes() {
    let (mut a, _) = ready(&[cap::CLIPBOARD_BY_DEMAND]);
    assert!(matches!(
        a.request_resize(800, 600),
        Err(Error::AgentUnavailable(_))
    ));
}

#[test]
fn sends_wait_for_tokens_and_queues_stay_bounded() {
    let (mut a, mut s) = ready(&LINUX);
    // The agent reconnects, and the server grants a single token.
    let sent = s.take(a.on_main(&MainMessage::AgentConnectedTokens(1)).send);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(a.tokens(), 0);
    data(&mut a, &announce(false, &LINUX));
    // With no tokens, everything queues, and repeats replace each other.
    for i in 0..100 {
        assert!(a.request_resize(640 + i, 480).unwrap().is_empty());
        assert!(a
            .set_clipboard_text(&format!("text {i}"))
            .unwrap()
            .is_empty());
        data(&mut a, &guest_request(0, UTF8_TEXT));
    }
    // MAX_CLIPBOARD, one resize, one grab, four answers.
    assert_eq!(a.pending(), 7);
    assert_eq!(a.in_flight(), 0);

    // Tokens come back one at a time; each lets exactly one body go.
    let mut sent = Vec::new();
    for _ in 0..7 {
        let out = a.on_main(&MainMessage::AgentToken(1));
        assert_eq!(out.send.len(), 1);
        sent.extend(s.take(out.send));
    }
    assert!(a.on_main(&MainMessage::AgentToken(0)).send.is_empty());
    let types: Vec<u32> = sent
        .iter()
        .map(|m| match m {
            Sent::Agent(t, _) => *t,
            m => panic!("{m:?}"),
        })
        .collect();
    assert_eq!(
        types,
        [vd::MAX_CLIPBOARD, vd::MONITORS_CONFIG, vd::CLIPBOARD_GRAB]
            .into_iter()
            .chain([vd::CLIPBOARD; 4])
            .collect::<Vec<_>>()
    );
    // The answers carry the newest text.
    match &sent[3] {
        Sent::Agent(_, d) => assert_eq!(&d[8..], b"text 99"),
        m => panic!("{m:?}"),
    }
    match &sent[1] {
        Sent::Agent(_, d) => assert_eq!(&d[12..16], &739u32.to_le_bytes()),
        m => panic!("{m:?}"),
    }
}

#[test]
fn a_large_text_goes_out_in_bodies_as_tokens_allow() {
    let (mut a, mut s) = ready(&LINUX);
    a.on_main(&MainMessage::AgentConnectedTokens(3));
    data(&mut a, &announce(false, &LINUX));
    let text = "y".repeat(10_000);
    s.take(a.set_clipboard_text(&text).unwrap());
    // The announce, MAX_CLIPBOARD, the grab: the tokens are spent.
    let out = data(&mut a, &guest_request(0, UTF8_TEXT));
    assert!(out.send.is_empty());
    // 10,028 bytes of message: five bodies, sent as tokens arrive.
    let mut got = Vec::new();
    for i in 0..5 {
        let out = a.on_main(&MainMessage::AgentToken(1));
        assert_eq!(out.send.len(), 1);
        assert_eq!(a.in_flight(), 4 - i);
        got.extend(s.take(out.send));
    }
    assert_eq!(got.len(), 1);
    match &got[0] {
        Sent::Agent(vd::CLIPBOARD, d) => assert_eq!(d[8..], *text.as_bytes()),
        m => panic!("{m:?}"),
    }
    assert!(matches!(
        a.set_clipboard_text(&"z".repeat(MAX_CLIPBOARD_TEXT + 1)),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn tokens_are_granted_back_in_batches() {
    let (mut a, mut s) = ready(&LINUX);
    let reply = {
        let mut r = Writer::new();
        r.u32(vd::MONITORS_CONFIG).u32(1);
        encode(vd::REPLY, &r.finish())
    };
    // ready() consumed one body (the announce).
    let mut grants = Vec::new();
    for _ in 1..TOKEN_WINDOW * 2 - 1 {
        grants.extend(s.take(data(&mut a, &reply).send));
    }
    assert_eq!(grants, vec![Sent::Token(TOKEN_WINDOW / 2); 3]);
    // A new agent starts a new window.
    let sent = s.take(a.on_main(&MainMessage::AgentConnectedTokens(10)).send);
    assert_eq!(sent[0], Sent::Start(TOKEN_WINDOW));
    for _ in 1..TOKEN_WINDOW / 2 {
        assert!(data(&mut a, &reply).send.is_empty());
    }
    assert_eq!(
        s.take(data(&mut a, &reply).send),
        vec![Sent::Token(TOKEN_WINDOW / 2)]
    );
}

#[test]
fn guest_text_is_requested_after_a_grab_and_kept() {
    let (mut a, mut s) = ready(&[LINUX.as_slice(), &[cap::GUEST_LINEEND_CRLF]].concat());
    assert_eq!(a.guest_clipboard(), None);
    // An image-only grab is not requested.
    let out = data(&mut a, &guest_grab(0, &[2]));
    assert!(out.send.is_empty());
    let out = data(&mut a, &guest_grab(1, &[2, UTF8_TEXT]));
    let mut want = Writer::new();
    want.bytes(&[0, 0, 0, 0]).u32(UTF8_TEXT);
    assert_eq!(
        s.take(out.send),
        vec![Sent::Agent(vd::CLIPBOARD_REQUEST, want.finish())]
    );
    // The text arrives over several bodies, CRLF and a trailing NUL.
    let mut body = b"line 1\r\nline 2\0".to_vec();
    body.extend(vec![b'x'; 3000]);
    body.extend(b"\r\n\0");
    let message = guest_text(&body);
    let mut changed = false;
    for part in split(&message) {
        let out = data(&mut a, &part);
        changed |= out.changed;
    }
    assert!(changed);
    let (generation, text) = a.guest_clipboard().unwrap();
    assert_eq!(generation, 1);
    assert!(text.starts_with("line 1\nline 2\0xxx"));
    assert!(text.ends_with("xx\n"));
    // Invalid UTF-8 is replaced, not refused.
    data(&mut a, &guest_text(b"caf\xe9"));
    assert_eq!(a.guest_clipboard(), Some((2, "caf\u{fffd}")));
    // Empty data (too large for the guest to send) changes nothing.
    assert!(!data(&mut a, &guest_text(b"")).changed);
    // After a release, unsolicited data is ignored but the text is kept.
    data(&mut a, &encode(vd::CLIPBOARD_RELEASE, &[0, 0, 0, 0]));
    assert!(!data(&mut a, &guest_text(b"late")).changed);
    assert_eq!(a.guest_clipboard_generation(), 2);
    // So it is across a reconnect of the agent.
    a.on_main(&MainMessage::AgentDisconnected(0));
    assert!(!a.connected());
    assert_eq!(a.guest_clipboard(), Some((2, "caf\u{fffd}")));
}

#[test]
fn a_grab_with_a_stale_serial_is_ignored() {
    let (mut a, _) = ready(&LINUX);
    assert!(data(&mut a, &guest_grab(5, &[UTF8_TEXT])).send.is_empty());
    assert!(!data(&mut a, &guest_text(b"no")).changed);
    assert!(!data(&mut a, &guest_grab(0, &[UTF8_TEXT])).send.is_empty());
    // The next guest grab must carry 1.
    assert!(data(&mut a, &guest_grab(0, &[UTF8_TEXT])).send.is_empty());
    assert!(!data(&mut a, &guest_grab(1, &[UTF8_TEXT])).send.is_empty());
}

#[test]
fn our_text_answers_requests_until_the_guest_grabs() {
    let crlf = [LINUX.as_slice(), &[cap::GUEST_LINEEND_CRLF]].concat();
    let (mut a, mut s) = ready(&crlf);
    let sent = s.take(a.set_clipboard_text("a\nb\r\nc").unwrap());
    let mut grab = Writer::new();
    grab.bytes(&[0, 0, 0, 0]).u32(0).u32(UTF8_TEXT);
    assert_eq!(sent, vec![Sent::Agent(vd::CLIPBOARD_GRAB, grab.finish())]);
    // The same text again while we own the clipboard is nothing new.
    assert!(a.set_clipboard_text("a\nb\r\nc").unwrap().is_empty());
    let sent = s.take(data(&mut a, &guest_request(0, UTF8_TEXT)).send);
    let mut answer = Writer::new();
    answer
        .bytes(&[0, 0, 0, 0])
        .u32(UTF8_TEXT)
        .bytes(b"a\r\nb\r\nc");
    assert_eq!(sent, vec![Sent::Agent(vd::CLIPBOARD, answer.finish())]);
    // A request for something else, or for another selection, is answered
    // empty.
    let sent = s.take(data(&mut a, &guest_request(0, 2)).send);
    assert_eq!(
        sent,
        vec![Sent::Agent(vd::CLIPBOARD, vec![0, 0, 0, 0, 2, 0, 0, 0])]
    );
    let sent = s.take(data(&mut a, &guest_request(1, UTF8_TEXT)).send);
    assert_eq!(
        sent,
        vec![Sent::Agent(vd::CLIPBOARD, vec![1, 0, 0, 0, 1, 0, 0, 0])]
    );
    // Our grab used serial 0, so the guest's next one carries 1; a grab of
    // PRIMARY does not count.
    let mut primary = guest_grab(1, &[UTF8_TEXT]);
    primary[20] = 1;
    assert!(data(&mut a, &primary).send.is_empty());
    s.take(data(&mut a, &guest_grab(1, &[UTF8_TEXT])).send);
    let sent = s.take(data(&mut a, &guest_request(0, UTF8_TEXT)).send);
    assert_eq!(
        sent,
        vec![Sent::Agent(vd::CLIPBOARD, vec![0, 0, 0, 0, 1, 0, 0, 0])]
    );
}

#[test]
fn our_pending_grab_beats_a_guest_grab_in_flight() {
    let (mut a, mut s) = ready(&LINUX);
    // Leave no tokens so our grab stays queued.
    s.take(a.on_main(&MainMessage::AgentConnectedTokens(1)).send);
    data(&mut a, &announce(false, &LINUX));
    a.set_clipboard_text("ours").unwrap();
    assert!(data(&mut a, &guest_grab(0, &[UTF8_TEXT])).send.is_empty());
    // Once tokens come, our grab goes out with serial 1 (the guest's grab
    // used 0), and no request for the guest's text.
    let sent = s.take(a.on_main(&MainMessage::AgentToken(5)).send);
    let mut grab = Writer::new();
    grab.bytes(&[0, 0, 0, 0]).u32(1).u32(UTF8_TEXT);
    assert!(
        sent.contains(&Sent::Agent(vd::CLIPBOARD_GRAB, grab.finish())),
        "{sent:?}"
    );
    assert!(!sent
        .iter()
        .any(|m| matches!(m, Sent::Agent(vd::CLIPBOARD_REQUEST, _))));
}

#[test]
fn an_old_guest_without_selections_or_serials() {
    let (mut a, mut s) = ready(&[cap::CLIPBOARD_BY_DEMAND, cap::MONITORS_CONFIG]);
    let sent = s.take(a.set_clipboard_text("hi").unwrap());
    assert_eq!(
        sent,
        vec![Sent::Agent(
            vd::CLIPBOARD_GRAB,
            UTF8_TEXT.to_le_bytes().to_vec()
        )]
    );
    let out = data(
        &mut a,
        &encode(vd::CLIPBOARD_REQUEST, &UTF8_TEXT.to_le_bytes()),
    );
    let mut answer = UTF8_TEXT.to_le_bytes().to_vec();
    answer.extend(b"hi");
    assert_eq!(s.take(out.send), vec![Sent::Agent(vd::CLIPBOARD, answer)]);
    let out = data(
        &mut a,
        &encode(vd::CLIPBOARD_GRAB, &UTF8_TEXT.to_le_bytes()),
    );
    assert_eq!(
        s.take(out.send),
        vec![Sent::Agent(
            vd::CLIPBOARD_REQUEST,
            UTF8_TEXT.to_le_bytes().to_vec()
        )]
    );
    let mut text = UTF8_TEXT.to_le_bytes().to_vec();
    text.extend(b"guest");
    assert!(data(&mut a, &encode(vd::CLIPBOARD, &text)).changed);
    assert_eq!(a.guest_clipboard(), Some((1, "guest")));
}

#[test]
fn odd_and_hostile_guest_messages_are_dropped() {
    let mut a = Agent::new();
    a.on_main(&init(true, 100));
    // Clipboard messages before the announce are not understood yet.
    assert_eq!(
        data(&mut a, &guest_grab(0, &[UTF8_TEXT])),
        Output::default()
    );
    data(&mut a, &announce(false, &LINUX));
    // Unknown types, truncated bodies, a missing selection prefix.
    for m in [
        encode(999, &[1, 2, 3]),
        encode(vd::FILE_XFER_STATUS, &[0; 8]),
        encode(vd::REPLY, &[1]),
        encode(vd::CLIPBOARD_REQUEST, &[0, 0]),
        encode(vd::CLIPBOARD_GRAB, &[0, 0, 0, 0, 0]),
        encode(vd::CLIPBOARD_RELEASE, &[]),
    ] {
        let out = data(&mut a, &m);
        assert!(out.send.is_empty() && !out.changed, "{m:?}");
    }
    // A header that lies about a huge size swallows what follows, until
    // the agent reconnects.
    let mut liar = encode(vd::CLIPBOARD, &[]);
    liar[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    data(&mut a, &liar);
    assert!(!data(&mut a, &announce(true, &LINUX)).changed);
    a.on_main(&MainMessage::AgentDisconnected(0));
    a.on_main(&MainMessage::AgentConnected);
    assert!(data(&mut a, &announce(true, &LINUX)).changed);
    // Garbage in the protocol field loses only its own body.
    let mut bad = announce(false, &LINUX);
    bad[0] = 9;
    assert!(!data(&mut a, &bad).changed);
    assert!(data(&mut a, &announce(false, &LINUX)).changed);
    // An empty body is nothing.
    assert!(!data(&mut a, &[]).changed);
}

#[test]
fn a_disconnect_finishes_the_started_message_and_drops_the_rest() {
    let (mut a, mut s) = ready(&LINUX);
    s.take(a.on_main(&MainMessage::AgentConnectedTokens(2)).send);
    s.take(data(&mut a, &announce(false, &LINUX)).send);
    // Our announce and MAX_CLIPBOARD used the two tokens.
    assert_eq!(a.tokens(), 0);
    s.take(a.on_main(&MainMessage::AgentToken(1)).send);
    s.take(a.set_clipboard_text(&"q".repeat(5000)).unwrap());
    s.take(data(&mut a, &guest_request(0, UTF8_TEXT)).send);
    s.take(a.request_resize(800, 600).unwrap());
    // The grab went; the answer waits.
    assert_eq!(a.tokens(), 0);
    assert!(s
        .take(a.on_main(&MainMessage::AgentToken(1)).send)
        .is_empty());
    assert_eq!(a.in_flight(), 2);
    assert_eq!(a.pending(), 1);

    let out = a.on_main(&MainMessage::AgentDisconnected(0));
    assert!(out.changed && out.send.is_empty());
    assert_eq!(a.pending(), 0);
    assert_eq!(a.in_flight(), 2);
    // The server discards the rest of a started message but counts its
    // bytes, so it is still sent; then the new agent's handshake.
    let out = a.on_main(&MainMessage::AgentConnectedTokens(10));
    assert_eq!(out.send[0].0, main_msgc::AGENT_START);
    assert_eq!(out.send.len(), 4);
    assert_eq!(
        s.take(out.send)[1..],
        [
            Sent::Agent(vd::CLIPBOARD, {
                let mut d = vec![0, 0, 0, 0, 1, 0, 0, 0];
                d.extend("q".repeat(5000).as_bytes());
                d
            }),
            Sent::Agent(
                vd::ANNOUNCE_CAPABILITIES,
                msg::announce_capabilities(true, &our_caps())
            ),
        ]
    );
    assert_eq!(a.in_flight(), 0);
    assert_eq!(a.guest_caps(), None);
}

#[test]
fn data_without_an_agent_only_counts_tokens() {
    let mut a = Agent::new();
    a.on_main(&init(false, 10));
    for _ in 1..GRANT_BATCH {
        assert_eq!(data(&mut a, &announce(true, &LINUX)), Output::default());
    }
    let out = data(&mut a, &announce(true, &LINUX));
    assert_eq!(out.send.len(), 1);
    assert!(!out.changed);
    assert_eq!(a.guest_caps(), None);
}
