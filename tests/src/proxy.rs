//! A small TCP proxy for fault injection between nodes.
//!
//! The cluster harness puts one proxy on every directed link between two
//! nodes (node i reaches node j through proxy i→j), so a test can cut a node
//! off from its peers without touching the node itself. Cutting drops every
//! live connection and closes new ones at once (the peer sees a reset);
//! black-holing keeps new connections open but never forwards a byte, which
//! is what a silent network failure looks like to the node's timeouts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Open,
    /// Drop live connections; accept new ones and reset them at once.
    Refuse,
    /// Drop live connections; accept new ones and hold them without
    /// forwarding anything until the mode changes.
    Blackhole,
}

/// The mode together with a counter that changes on every mode change, so
/// that every connection made under an older mode ends.
#[derive(Clone, Copy, Debug)]
struct State {
    mode: Mode,
    epoch: u64,
}

/// A running proxy. Dropping it stops the listener and ends its connections.
pub struct Proxy {
    listen: SocketAddr,
    target: SocketAddr,
    state: watch::Sender<State>,
    accepted: Arc<AtomicU64>,
    accept_task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port that forwards to `target`.
    /// Must be called inside a tokio runtime.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let (state, _) = watch::channel(State {
            mode: Mode::Open,
            epoch: 0,
        });
        let accepted = Arc::new(AtomicU64::new(0));
        let accept_task = tokio::spawn(accept_loop(
            listener,
            target,
            state.subscribe(),
            accepted.clone(),
        ));
        Ok(Proxy {
            listen,
            target,
            state,
            accepted,
            accept_task,
        })
    }

    /// The address clients connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The address traffic is forwarded to.
    pub fn target_addr(&self) -> SocketAddr {
        self.target
    }

    /// How many connections the proxy has accepted so far (in any mode).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.state.borrow().mode
    }

    /// Sets the mode; connections made under the previous mode end.
    pub fn set_mode(&self, mode: Mode) {
        self.state.send_if_modified(|s| {
            if s.mode == mode {
                return false;
            }
            s.mode = mode;
            s.epoch += 1;
            true
        });
    }

    /// Drops live connections and resets new ones.
    pub fn cut(&self) {
        self.set_mode(Mode::Refuse);
    }

    /// Drops live connections and silently holds new ones.
    pub fn blackhole(&self) {
        self.set_mode(Mode::Blackhole);
    }

    /// Forwards traffic again.
    pub fn heal(&self) {
        self.set_mode(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping the sender also wakes every connection task, which then
        // sees the channel closed and ends.
        self.accept_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    state: watch::Receiver<State>,
    accepted: Arc<AtomicU64>,
) {
    loop {
        let inbound = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Running out of descriptors is transient; do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(inbound, target, state.clone()));
    }
}

/// Waits until the mode changes away from the one seen at `epoch`, or the
/// proxy is dropped.
async fn until_epoch_changes(state: &mut watch::Receiver<State>, epoch: u64) {
    loop {
        if state.borrow_and_update().epoch != epoch {
            return;
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Makes the coming close send a reset, as a refused or broken link looks
/// to the peer. A zero linger never blocks the thread on drop (only a
/// non-zero one does, which is why tokio deprecated the setter).
#[allow(deprecated)]
fn reset_on_close(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn serve(mut inbound: TcpStream, target: SocketAddr, mut state: watch::Receiver<State>) {
    let State { mode, epoch } = *state.borrow_and_update();
    match mode {
        Mode::Refuse => {
            reset_on_close(&inbound);
        }
        Mode::Blackhole => {
            until_epoch_changes(&mut state, epoch).await;
            reset_on_close(&inbound);
        }
        Mode::Open => {
            let mut outbound = match TcpStream::connect(target).await {
                Ok(stream) => stream,
                Err(_) => {
                    reset_on_close(&inbound);
                    return;
                }
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = until_epoch_changes(&mut state, epoch) => {
                    reset_on_close(&inbound);
                    reset_on_close(&outbound);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("echo addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_cuts_and_heals() {
        let proxy = Proxy::start(echo_server().await).await.expect("proxy");
        assert_eq!(
            round_trip(proxy.listen_addr()).await.expect("open"),
            b"ping"
        );

        // A live connection dies when the link is cut.
        let mut live = TcpStream::connect(proxy.listen_addr()).await.expect("c");
        live.write_all(b"a").await.expect("write");
        let mut one = [0u8; 1];
        live.read_exact(&mut one).await.expect("echo before cut");
        proxy.cut();
        let mut buf = [0u8; 8];
        let r = tokio::time::timeout(Duration::from_secs(2), live.read(&mut buf)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "live connection must end on cut, got {r:?}"
        );
        assert!(round_trip(proxy.listen_addr()).await.is_err());

        proxy.blackhole();
        let r = round_trip(proxy.listen_addr()).await;
        assert!(r.is_err(), "blackholed link must not answer: {r:?}");

        proxy.heal();
        assert_eq!(
            round_trip(proxy.listen_addr()).await.expect("healed"),
            b"ping"
        );
        assert!(proxy.accepted() >= 4);
    }
}
