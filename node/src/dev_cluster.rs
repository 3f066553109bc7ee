//! `opencloud dev-cluster`: three nodes on loopback as child processes, for
//! demos and manual testing. Ctrl-C stops them cleanly.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::RngCore;
use tokio::process::{Child, Command};

#[derive(Args)]
pub struct DevClusterArgs {
    /// Where the nodes keep their data and certificates.
    #[arg(long, default_value = "dev-cluster")]
    dir: PathBuf,
    /// HTTPS ports are BASE+1..BASE+3, Raft ports BASE+1001..BASE+1003.
    #[arg(long, default_value_t = 8440)]
    base_port: u16,
}

pub async fn run(args: DevClusterArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the opencloud binary")?;
    let certs = args.dir.join("certs");
    let ids = [1u64, 2, 3];
    if !certs.join("ca.crt").exists() {
        opencloud_raft::tls::init_certs(&certs, &ids)?;
        println!("dev-cluster: wrote certificates to {}", certs.display());
    }
    let token = match std::env::var("OPENCLOUD_OPERATOR_TOKEN") {
        Ok(t) => t,
        Err(_) => {
            let mut raw = [0u8; 24];
            rand::thread_rng().fill_bytes(&mut raw);
            hex::encode(raw)
        }
    };
    let port = |offset: u16| {
        args.base_port
            .checked_add(offset)
            .context("--base-port too high")
    };
    let mut peers = Vec::new();
    for id in ids {
        peers.push(format!("{id}=127.0.0.1:{}", port(1000 + id as u16)?));
    }
    let peers = peers.join(",");
    let mut children: Vec<Child> = Vec::new();
    for id in ids {
        let listen = format!("127.0.0.1:{}", port(id as u16)?);
        let child = Command::new(&exe)
            .arg("up")
            .args(["--id", &id.to_string()])
            .arg("--data")
            .arg(args.dir.join(format!("node-{id}")))
            .args(["--listen", &listen, "--peers", &peers])
            .arg("--certs")
            .arg(&certs)
            .env("OPENCLOUD_OPERATOR_TOKEN", &token)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        println!("dev-cluster: node {id} on https://{listen}");
        children.push(child);
    }
    println!("dev-cluster: operator token {token}");
    println!("dev-cluster: Ctrl-C stops all three nodes");

    let exited = async {
        loop {
            for (i, c) in children.iter_mut().enumerate() {
                if let Ok(Some(status)) = c.try_wait() {
                    return (i + 1, status);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = stop_signal() => println!("dev-cluster: stopping"),
        (id, status) = exited => println!("dev-cluster: node {id} exited ({status}); stopping the others"),
    }
    for c in &children {
        if let Some(pid) = c.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
    for (i, c) in children.iter_mut().enumerate() {
        match tokio::time::timeout(Duration::from_secs(10), c.wait()).await {
            Ok(_) => {}
            Err(_) => {
                println!(
                    "dev-cluster: node {} did not stop in time; killing it",
                    i + 1
                );
                let _ = c.kill().await;
            }
        }
    }
    println!("dev-cluster: stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM from a supervisor.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
