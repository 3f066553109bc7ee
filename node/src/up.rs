//! `opencloud up`: run one node.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use opencloud_raft::tls::{https_identity, https_server_config, init_certs, CertPaths};
use opencloud_raft::Store;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{NodeConfig, UpArgs};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::token::OperatorAuth;
use crate::viewer::metrics::ViewerMetrics;
use crate::viewer::routes::ViewerService;
use crate::viewer::{tickets, ViewerConfig};

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let cfg = NodeConfig::from_args(args)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    if cfg.standalone && !CertPaths::new(&cfg.certs_dir).node_cert(cfg.id).exists() {
        init_certs(&cfg.certs_dir, &[cfg.id]).context("making this node's certificates")?;
    }
    let store = Store::open(cfg.store_config())
        .await
        .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?;
    let first = cfg.peers.keys().next().copied();
    if !cfg.join && first == Some(cfg.id) && store.bootstrap(cfg.peers.clone()).await? {
        println!(
            "opencloud: initialised a new cluster with nodes {:?}",
            cfg.peers.keys().collect::<Vec<_>>()
        );
    }

    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        cfg.https_listen.ip().to_string(),
    ];
    let (cert, key, fresh) = https_identity(&cfg.data_dir.join("https"), names)?;
    if fresh {
        println!(
            "opencloud: made a self-signed HTTPS certificate in {}",
            cfg.data_dir.join("https").display()
        );
    }
    let tls = https_server_config(&cert, &key)?;

    let auth = OperatorAuth::new();
    spawn_token_setup(auth.clone(), store.clone(), cfg.operator_token.clone());

    let metrics = Arc::new(Metrics::new()?);
    let viewer = Arc::new(ViewerService {
        cfg: Arc::new(ViewerConfig::default()),
        metrics: ViewerMetrics::new(metrics.registry())?,
    });
    let clock: SharedClock = Arc::new(SystemClock);
    spawn_ticket_sweeper(store.clone(), clock.clone());
    let site = crate::desktop::SiteService::new(cfg.site.clone());
    if cfg.standalone && cfg.demo {
        spawn_demo_setup(
            store.clone(),
            site.cfg.clone(),
            clock.clone(),
            cfg.https_listen,
        );
    }
    let local = cfg.local_vms.clone().and_then(|settings| {
        let provider = crate::broker::local::LocalProvider::new(settings.clone());
        if provider.available() {
            Some(Arc::new(provider))
        } else {
            println!(
                "opencloud: {} not found: this node runs no VMs (install qemu-system-x86)",
                settings.qemu.display()
            );
            None
        }
    });
    let broker = Arc::new(crate::broker::Broker {
        cfg: cfg.broker.clone(),
        store: store.clone(),
        clock: clock.clone(),
        local,
        openstack: cfg.openstack.clone(),
    });
    broker.spawn();
    let state = AppState {
        store: store.clone(),
        auth,
        clock,
        metrics,
        viewer,
        site,
        broker,
    };
    let app = http::router(state);
    let listener = std::net::TcpListener::bind(cfg.https_listen)
        .with_context(|| format!("listening on {}", cfg.https_listen))?;
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    println!(
        "opencloud: node {} listening on https://{}",
        cfg.id, cfg.https_listen
    );
    // Viewer frames and key presses are small writes that must leave at
    // once: Nagle's algorithm would hold them for the peer's delayed ACK.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(tls),
    )
    .acceptor(axum_server::accept::NoDelayAcceptor::new());
    axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await
        .context("HTTPS server")?;
    store.shutdown().await;
    println!("opencloud: node {} stopped", cfg.id);
    Ok(())
}

/// Sets the operator token up once the cluster can take a write, retrying
/// while it cannot, and prints a generated token once.
fn spawn_token_setup(auth: Arc<OperatorAuth>, store: Arc<Store>, from_env: Option<String>) {
    tokio::spawn(async move {
        loop {
            match auth.set_up(&store, from_env.as_deref()).await {
                Ok(Some(token)) => {
                    println!("opencloud: operator token (shown once, keep it): {token}");
                    return;
                }
                Ok(None) => {
                    if from_env.is_none() {
                        println!("opencloud: operator token already set up (set OPENCLOUD_OPERATOR_TOKEN to choose one)");
                    }
                    return;
                }
                Err(e) => {
                    tracing::info!("operator token not set up yet: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

/// Creates the demo tenant once the store takes writes, and tells the
/// newcomer how to sign in.
fn spawn_demo_setup(
    store: Arc<Store>,
    cfg: crate::desktop::SiteConfig,
    clock: SharedClock,
    listen: std::net::SocketAddr,
) {
    tokio::spawn(async move {
        for _ in 0..120 {
            match crate::desktop::demo::ensure(&store, &cfg, clock.now_secs()).await {
                Ok(Some(created)) => {
                    println!(
                        "opencloud: demo desktop at https://{listen}/t/{}/ — sign in as `{}` with password {} (shown once)",
                        crate::desktop::demo::SLUG,
                        crate::desktop::demo::USER,
                        created.password
                    );
                    return;
                }
                Ok(None) => {
                    println!(
                        "opencloud: demo desktop at https://{listen}/t/{}/",
                        crate::desktop::demo::SLUG
                    );
                    return;
                }
                Err(e) => {
                    tracing::info!("demo tenant not set up yet: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        eprintln!("opencloud: gave up creating the demo tenant; the store takes no writes");
    });
}

/// Deletes expired viewer tickets now and then, on the leader only.
fn spawn_ticket_sweeper(store: Arc<Store>, clock: SharedClock) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            let status = store.status();
            if status.leader != Some(status.node_id) {
                continue;
            }
            match tickets::sweep(&store, clock.now_secs()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} expired viewer tickets"),
                Err(e) => tracing::debug!("viewer ticket sweep: {e}"),
            }
        }
    });
}

async fn shutdown_on_signal(handle: axum_server::Handle) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    println!("opencloud: shutting down");
    handle.graceful_shutdown(Some(Duration::from_secs(5)));
}
