//! Session setup against fake servers that misbehave.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn fake_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
            // Keep the socket open so the client must not wait forever.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    addr
}

fn quick() -> Config {
    Config {
        link_timeout: Duration::from_millis(500),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_non_spice_server_is_an_error() {
    let addr = fake_server(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let r = Session::connect(&addr, quick()).await;
    assert!(matches!(r, Err(Error::BadServer(_))), "{:?}", r.err());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let addr = fake_server(b"").await;
    let r = Session::connect(&addr, quick()).await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{:?}", r.err());
}

#[tokio::test]
async fn a_refusing_server_is_a_link_error() {
    // Header, then a reply whose error code is CHANNEL_NOT_AVAILABLE.
    static REPLY: [u8; 20] = [
        b'R', b'E', b'D', b'Q', 2, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0,
    ];
    let addr = fake_server(&REPLY).await;
    let r = Session::connect(&addr, quick()).await;
    assert!(
        matches!(r, Err(Error::LinkRefused("CHANNEL_NOT_AVAILABLE"))),
        "{:?}",
        r.err()
    );
}

#[tokio::test]
async fn a_reply_with_a_garbage_key_is_an_error() {
    // A well-formed reply (error 0, 162-byte key of zeros, mini header cap).
    static REPLY: [u8; 16 + 182] = {
        let mut r = [0u8; 198];
        let head = [b'R', b'E', b'D', b'Q', 2, 0, 0, 0, 2, 0, 0, 0, 182, 0, 0, 0];
        let mut i = 0;
        while i < 16 {
            r[i] = head[i];
            i += 1;
        }
        // num_common_caps = 1, num_channel_caps = 0, caps_offset = 178.
        r[16 + 166] = 1;
        r[16 + 174] = 178;
        r[16 + 178] = 0x0b;
        r
    };
    let addr = fake_server(&REPLY).await;
    let r = Session::connect(&addr, quick()).await;
    assert!(matches!(r, Err(Error::Crypto(_))), "{:?}", r.err());
}

#[test]
fn compression_names() {
    assert_eq!("glz".parse::<Compression>().unwrap(), Compression::Glz);
    assert!("zip".parse::<Compression>().is_err());
}
