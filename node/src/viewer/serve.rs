//! `opencloud spice serve`: the viewer for one fixed SPICE target, without
//! the store or the rest of the product (an operator's debugging tool, as
//! websockify's `--web` is). Plain HTTP: bind it to loopback or put it
//! behind TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use prometheus::{Encoder as _, Registry, TextEncoder};

use super::metrics::ViewerMetrics;
use super::routes::{limit, page, script, short_id};
use super::session::{self, Hello};
use super::{Target, ViewerConfig};

#[derive(Clone)]
struct Served {
    target: Target,
    cfg: Arc<ViewerConfig>,
    metrics: ViewerMetrics,
    registry: Registry,
}

/// Serves until interrupted.
pub async fn run(target: Target, listen: SocketAddr, cfg: ViewerConfig) -> anyhow::Result<()> {
    let registry = Registry::new_custom(Some("opencloud".into()), None)?;
    let served = Served {
        target: target.clone(),
        cfg: Arc::new(cfg),
        metrics: ViewerMetrics::new(&registry)?,
        registry,
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/viewer.js", get(script))
        .route("/ws", get(ws))
        .route("/metrics", get(metrics))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    // Frames and input are small writes that must leave at once.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    println!(
        "opencloud: viewer for {} on http://{local}/ (Ctrl-C stops)",
        target.addr
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("HTTP server")?;
    Ok(())
}

async fn ws(State(s): State<Served>, ws: WebSocketUpgrade) -> Response {
    limit(ws)
        .on_upgrade(move |socket| async move {
            let handle = s.metrics.viewer(&short_id());
            session::run(
                socket,
                s.target.clone(),
                Hello { resume: None },
                s.cfg.clone(),
                handle,
            )
            .await;
        })
        .into_response()
}

async fn metrics(State(s): State<Served>) -> Response {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&s.registry.gather(), &mut out) {
        tracing::warn!("metrics encoding: {e}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
