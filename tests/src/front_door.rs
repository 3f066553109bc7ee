//! A TCP front door for browser tests: one loopback address that forwards
//! each new connection to the first node, in a fixed order starting with the
//! preferred one, that accepts it — what a load balancer in front of the
//! cluster does. A browser keeps one origin (so its cookies) while the node
//! behind it dies and another takes over. TLS passes through untouched.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running front door; dropping it stops accepting.
pub struct FrontDoor {
    listen: SocketAddr,
    preferred: Arc<AtomicUsize>,
    targets: Arc<Vec<SocketAddr>>,
    task: JoinHandle<()>,
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FrontDoor {
    pub async fn start(targets: Vec<SocketAddr>) -> std::io::Result<FrontDoor> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let preferred = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(targets);
        let task = tokio::spawn(accept(listener, targets.clone(), preferred.clone()));
        Ok(FrontDoor {
            listen,
            preferred,
            targets,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// New connections try `target` first.
    pub fn prefer(&self, target: SocketAddr) {
        if let Some(i) = self.targets.iter().position(|t| *t == target) {
            self.preferred.store(i, Ordering::SeqCst);
        }
    }
}

async fn accept(listener: TcpListener, targets: Arc<Vec<SocketAddr>>, preferred: Arc<AtomicUsize>) {
    while let Ok((client, _)) = listener.accept().await {
        let targets = targets.clone();
        let first = preferred.load(Ordering::SeqCst);
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            for k in 0..targets.len() {
                let target = targets[(first + k) % targets.len()];
                let connect = TcpStream::connect(target);
                let Ok(Ok(server)) = tokio::time::timeout(Duration::from_secs(2), connect).await
                else {
                    continue;
                };
                let _ = server.set_nodelay(true);
                let (mut a, mut b) = (client, server);
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                return;
            }
        });
    }
}
