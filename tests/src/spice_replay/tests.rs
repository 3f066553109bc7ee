use super::*;
use tokio::io::AsyncWriteExt;

#[test]
fn the_public_key_fits_the_link_reply() {
    let key = generate_public_key().unwrap();
    assert_eq!(key.len(), PUB_KEY_LEN);
    // Our client can encrypt a ticket with it.
    assert_eq!(
        opencloud_spice::link::encrypt_ticket(&key, "")
            .unwrap()
            .len(),
        TICKET_LEN
    );
    let ch = RecordedChannel {
        conn: 0,
        channel_type: 1,
        channel_id: 0,
        link_us: 0,
        common_caps: vec![0xb],
        channel_caps: vec![],
        messages: vec![],
    };
    let reply = link_reply(&key, &ch);
    let size = parse_link_header(&reply[..16]).unwrap();
    assert_eq!(size as usize, reply.len() - 16);
    let parsed = opencloud_spice::link::parse_link_reply(&reply[16..]).unwrap();
    assert_eq!(parsed.error, 0);
    assert_eq!(parsed.pub_key, key);
    assert_eq!(parsed.common_caps, vec![0xb]);
}

fn msg(t_us: u64, msg_type: u16, body: &[u8]) -> RecordedMessage {
    RecordedMessage {
        t_us,
        msg_type,
        wire: encode(msg_type, body),
    }
}

fn chan(conn: u16, channel_type: u8, messages: Vec<RecordedMessage>) -> RecordedChannel {
    RecordedChannel {
        conn,
        channel_type,
        channel_id: 0,
        link_us: 0,
        common_caps: vec![0xb],
        channel_caps: vec![],
        messages,
    }
}

/// A recording made by hand: MAIN_INIT and a channel list naming the
/// display, whose stream creates a 64x32 surface 300 ms after linking.
fn synthetic() -> Recording {
    let mut init = Writer::new();
    init.u32(0x1234)
        .u32(1)
        .u32(1)
        .u32(1)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(0);
    let mut list = Writer::new();
    list.u32(1).u8(channel::DISPLAY).u8(0);
    let mut surface = Writer::new();
    surface.u32(0).u32(64).u32(32).u32(32).u32(1);
    Recording {
        channels: vec![
            chan(
                0,
                channel::MAIN,
                vec![
                    msg(10, main_msg::INIT, &init.finish()),
                    msg(20, main_msg::CHANNELS_LIST, &list.finish()),
                ],
            ),
            chan(
                1,
                channel::DISPLAY,
                vec![msg(300_000, display_msg::SURFACE_CREATE, &surface.finish())],
            ),
        ],
        end_us: 400_000,
        notes: vec![],
        truncated: false,
    }
}

#[tokio::test]
async fn our_client_links_and_gets_the_stream_on_time() {
    let server = ReplayServer::start(
        Arc::new(synthetic()),
        "127.0.0.1:0",
        ReplayOptions::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let started = Instant::now();
    let session = opencloud_spice::Session::connect(&addr, Default::default())
        .await
        .unwrap();
    assert_eq!(session.session_id(), 0x1234);
    server
        .wait_finished(channel::DISPLAY, 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let img = session.primary_image().unwrap();
    assert_eq!((img.width, img.height), (64, 32));
    assert_eq!(server.stats().linked, 2);

    // A channel the recording does not have is refused at link time.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let req = opencloud_spice::link::LinkRequest {
        connection_id: 0x1234,
        channel_type: channel::CURSOR,
        channel_id: 0,
        channel_caps: vec![],
    };
    let err = opencloud_spice::link::handshake(&mut s, &req, "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHANNEL_NOT_AVAILABLE"), "{err}");
}

#[tokio::test]
async fn the_channel_list_waits_for_attach_channels() {
    let server = ReplayServer::start(
        Arc::new(synthetic()),
        "127.0.0.1:0",
        ReplayOptions::default(),
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let req = opencloud_spice::link::LinkRequest {
        connection_id: 0,
        channel_type: channel::MAIN,
        channel_id: 0,
        channel_caps: vec![],
    };
    opencloud_spice::link::handshake(&mut s, &req, "secret")
        .await
        .unwrap();
    let first = read_message(&mut s).await.unwrap();
    assert_eq!(first.msg_type, main_msg::INIT);
    let early = tokio::time::timeout(Duration::from_millis(300), read_message(&mut s)).await;
    assert!(early.is_err(), "CHANNELS_LIST came before ATTACH_CHANNELS");
    s.write_all(&encode(main_msgc::ATTACH_CHANNELS, &[]))
        .await
        .unwrap();
    let list = read_message(&mut s).await.unwrap();
    assert_eq!(list.msg_type, main_msg::CHANNELS_LIST);
}
