//! The agent API of a session against a fake server that plays the guest.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::agent::msg::{self, ClipboardFraming};
use crate::link::{caps, has_cap};
use crate::proto::vd_agent::{cap, clipboard::UTF8_TEXT, msg as vd};
use crate::proto::{main_cap, main_msg, main_msgc};
use crate::wire::Writer;
use crate::{Config, Error, Session};

/// A 1024-bit RSA public key (SubjectPublicKeyInfo DER) for the link; the
/// fake server never decrypts the ticket.
const PUB_KEY: &str = "30819f300d06092a864886f70d010101050003818d0030818902818100cf3874f2e772c44f\
b5091a960990d8f7e9f22f29d4e020c578cf8c4fad798e04cfc7ed36fd6d31b9aefcfd61eec7f08eb067143225571490\
153b3c443489224b5417cfe6b34f17548a8c630e5b851e8cf6b7157e0e4417b6603d87dd53a6806fd3bcbe436f299f49\
c02b4d74aa0707e4da64e3e1395f9afa765e3334992f61870203010001";

fn pub_key() -> Vec<u8> {
    (0..PUB_KEY.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PUB_KEY[i..i + 2], 16).unwrap())
        .collect()
}

/// The server end of a linked main channel.
struct Fake {
    s: TcpStream,
    /// The main channel capabilities the client linked with.
    client_caps: Vec<u32>,
}

impl Fake {
    async fn accept(listener: &TcpListener) -> Fake {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 16];
        s.read_exact(&mut head).await.unwrap();
        let size = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        let mut mess = vec![0u8; size as usize];
        s.read_exact(&mut mess).await.unwrap();
        let word = |i: usize| u32::from_le_bytes([mess[i], mess[i + 1], mess[i + 2], mess[i + 3]]);
        let (num_common, num_channel, offset) = (word(6), word(10), word(14) as usize);
        let client_caps = (0..num_channel as usize)
            .map(|i| word(offset + 4 * (num_common as usize + i)))
            .collect();

        let mut body = Writer::new();
        body.u32(0)
            .bytes(&pub_key())
            .u32(1)
            .u32(0)
            .u32(178)
            .u32(0b1011);
        let body = body.finish();
        let mut reply = Writer::new();
        reply
            .bytes(b"REDQ")
            .u32(2)
            .u32(2)
            .u32(body.len() as u32)
            .bytes(&body);
        s.write_all(&reply.finish()).await.unwrap();
        // Auth mechanism and the 128-byte ticket, then the verdict.
        let mut ticket = [0u8; 4 + 128];
        s.read_exact(&mut ticket).await.unwrap();
        s.write_all(&0u32.to_le_bytes()).await.unwrap();
        Fake { s, client_caps }
    }

    async fn send(&mut self, t: u16, body: &[u8]) {
        self.s
            .write_all(&crate::framing::encode(t, body))
            .await
            .unwrap();
    }

    async fn send_agent(&mut self, t: u32, data: &[u8]) {
        for body in msg::split(&msg::encode(t, data)).collect::<Vec<_>>() {
            self.send(main_msg::AGENT_DATA, &body).await;
        }
    }

    async fn recv(&mut self) -> (u16, Vec<u8>) {
        let m = tokio::time::timeout(
            Duration::from_secs(5),
            crate::framing::read_message(&mut self.s),
        )
        .await
        .expect("the client sent nothing")
        .unwrap();
        (m.msg_type, m.body)
    }

    /// The next agent message the client sent, reassembled.
    async fn recv_agent(&mut self) -> (u32, Vec<u8>) {
        let mut whole = Vec::new();
        loop {
            let (t, body) = self.recv().await;
            assert_eq!(t, main_msgc::AGENT_DATA);
            whole.extend(body);
            let size = u32::from_le_bytes([whole[16], whole[17], whole[18], whole[19]]);
            if whole.len() == 20 + size as usize {
                let t = u32::from_le_bytes([whole[4], whole[5], whole[6], whole[7]]);
                return (t, whole.split_off(20));
            }
        }
    }
}

fn main_init(agent_connected: u32, agent_tokens: u32) -> Vec<u8> {
    let mut w = Writer::new();
    for v in [7, 1, 3, 2, agent_connected, agent_tokens, 0, 0] {
        w.u32(v);
    }
    w.finish()
}

/// Connects a session to a fake server whose guest agent is present, and
/// checks the handshake up to the client's announce.
async fn connect() -> (Session, Fake) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let mut f = Fake::accept(&listener).await;
        assert!(has_cap(&f.client_caps, main_cap::AGENT_CONNECTED_TOKENS));
        f.send(main_msg::INIT, &main_init(1, 10)).await;
        let (t, body) = f.recv().await;
        assert_eq!(
            (t, body),
            (main_msgc::AGENT_START, 32u32.to_le_bytes().to_vec())
        );
        let (t, data) = f.recv_agent().await;
        assert_eq!(t, vd::ANNOUNCE_CAPABILITIES);
        assert_eq!(&data[..4], &1u32.to_le_bytes());
        assert_eq!(f.recv().await.0, main_msgc::ATTACH_CHANNELS);
        f.send(main_msg::CHANNELS_LIST, &0u32.to_le_bytes()).await;
        f
    });
    let session = Session::connect(&addr, Config::default()).await.unwrap();
    (session, server.await.unwrap())
}

#[tokio::test]
async fn resize_and_clipboard_both_ways() {
    let (session, mut f) = connect().await;
    assert!(session.agent_connected());
    assert_eq!(session.agent_caps(), None);
    assert!(matches!(
        session.wait_agent_ready(Duration::from_millis(50)).await,
        Err(Error::Timeout(_))
    ));

    // The guest announces itself.
    let guest = caps(&[
        cap::MONITORS_CONFIG,
        cap::CLIPBOARD_BY_DEMAND,
        cap::CLIPBOARD_SELECTION,
        cap::CLIPBOARD_GRAB_SERIAL,
    ]);
    f.send_agent(
        vd::ANNOUNCE_CAPABILITIES,
        &msg::announce_capabilities(false, &guest),
    )
    .await;
    session
        .wait_agent_ready(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(session.supports_monitors_config() && session.supports_clipboard());

    session.request_resize(1024, 768).await.unwrap();
    let (t, data) = f.recv_agent().await;
    assert_eq!(t, vd::MONITORS_CONFIG);
    assert_eq!(&data[8..16], &[0, 3, 0, 0, 0, 4, 0, 0]);

    // The guest copies text: the client asks for it, and consumers wake.
    let framing = ClipboardFraming {
        selection: true,
        grab_serial: true,
    };
    let mut changes = session.subscribe();
    changes.borrow_and_update();
    f.send_agent(
        vd::CLIPBOARD_GRAB,
        &msg::clipboard_grab(framing, 0, 0, &[UTF8_TEXT]),
    )
    .await;
    let (t, data) = f.recv_agent().await;
    assert_eq!(
        (t, data),
        (vd::CLIPBOARD_REQUEST, vec![0, 0, 0, 0, 1, 0, 0, 0])
    );
    f.send_agent(
        vd::CLIPBOARD,
        &msg::clipboard(framing, 0, UTF8_TEXT, b"from the guest"),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while session.guest_clipboard_generation() == 0 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(
        session.guest_clipboard(),
        Some((1, "from the guest".into()))
    );

    // The client copies text: it grabs, then answers the guest's request.
    session.set_clipboard_text("from the client").await.unwrap();
    let (t, data) = f.recv_agent().await;
    assert_eq!(t, vd::CLIPBOARD_GRAB);
    assert_eq!(
        &data[4..8],
        &1u32.to_le_bytes(),
        "the second grab of the session"
    );
    f.send_agent(
        vd::CLIPBOARD_REQUEST,
        &msg::clipboard_request(framing, 0, UTF8_TEXT),
    )
    .await;
    let (t, data) = f.recv_agent().await;
    assert_eq!(t, vd::CLIPBOARD);
    assert_eq!(&data[8..], b"from the client");

    // The agent goes away: requests fail until it is back.
    f.send(main_msg::AGENT_DISCONNECTED, &0u32.to_le_bytes())
        .await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while session.agent_connected() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert!(matches!(
        session.request_resize(800, 600).await,
        Err(Error::AgentUnavailable(_))
    ));
    f.send(main_msg::AGENT_CONNECTED_TOKENS, &10u32.to_le_bytes())
        .await;
    assert_eq!(f.recv().await.0, main_msgc::AGENT_START);
    assert_eq!(f.recv_agent().await.0, vd::ANNOUNCE_CAPABILITIES);
    assert!(session.agent_connected());
    assert_eq!(session.failure(), None);
}

#[tokio::test]
async fn a_session_without_an_agent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let mut f = Fake::accept(&listener).await;
        f.send(main_msg::INIT, &main_init(0, 10)).await;
        assert_eq!(f.recv().await.0, main_msgc::ATTACH_CHANNELS);
        f.send(main_msg::CHANNELS_LIST, &0u32.to_le_bytes()).await;
        f
    });
    let session = Session::connect(&addr, Config::default()).await.unwrap();
    let _f = server.await.unwrap();
    assert!(!session.agent_connected());
    assert!(matches!(
        session.set_clipboard_text("x").await,
        Err(Error::AgentUnavailable(_))
    ));
    assert!(matches!(
        session.request_resize(800, 600).await,
        Err(Error::AgentUnavailable(_))
    ));
    assert_eq!(session.guest_clipboard(), None);
}
