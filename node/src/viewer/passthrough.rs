//! Passthrough mode: a websocket ↔ TCP bridge to the VM's SPICE port, for
//! stock SPICE web clients such as spice-html5 (one socket per channel,
//! binary frames carrying raw SPICE bytes, as websockify does).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::metrics::PassthroughGuard;

/// Bytes read from the VM per websocket message.
const CHUNK: usize = 64 * 1024;

/// Bridges `socket` to `addr` until either side closes.
pub async fn bridge(socket: WebSocket, addr: String, _guard: PassthroughGuard) {
    let tcp = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::info!("passthrough: cannot reach {addr}: {e}");
            return;
        }
        Err(_) => {
            tracing::info!("passthrough: connecting to {addr} timed out");
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut tcp_r, mut tcp_w) = tcp.into_split();
    let (mut ws_tx, mut ws_rx) = socket.split();
    let up = async {
        while let Some(Ok(msg)) = ws_rx.next().await {
            match msg {
                Message::Binary(b) => tcp_w.write_all(&b).await?,
                // websockify's clients may send base64 text in its old
                // protocol; spice-html5 does not. Text is refused.
                Message::Text(_) => break,
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        tcp_w.shutdown().await
    };
    let down = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tcp_r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if ws_tx
                .send(Message::Binary(buf[..n].to_vec().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = ws_tx.close().await;
        Ok::<_, std::io::Error>(())
    };
    // Either direction ending ends the bridge: SPICE has no half-close.
    tokio::select! {
        r = up => if let Err(e) = r { tracing::debug!("passthrough: browser side: {e}") },
        r = down => if let Err(e) = r { tracing::debug!("passthrough: VM side: {e}") },
    }
}
