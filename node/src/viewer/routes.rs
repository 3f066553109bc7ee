//! The node's viewer routes: the page, its websockets, and the operator API
//! that issues tickets (the broker issues them itself).

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::metrics::ViewerMetrics;
use super::session::{self, Hello};
use super::tickets::{self, Mode, TicketError};
use super::{input, passthrough, Target, ViewerConfig, PAGE, SCRIPT};
use crate::http::{require_operator, AppError, AppResult, AppState};

/// What the viewer routes share.
pub struct ViewerService {
    pub cfg: Arc<ViewerConfig>,
    pub metrics: ViewerMetrics,
}

pub fn routes(cfg: &ViewerConfig) -> Router<AppState> {
    let router = match &cfg.spice_html5_dir {
        Some(dir) if dir.join("spice_auto.html").exists() => {
            Router::new().nest_service("/spice-html5", tower_http::services::ServeDir::new(dir))
        }
        _ => Router::new(),
    };
    router
        .route("/viewer", get(|| async { Redirect::permanent("/viewer/") }))
        .route("/viewer/", get(page))
        .route("/viewer/viewer.js", get(script))
        .route("/viewer/ws", get(translate))
        .route("/viewer/spice", get(spice_passthrough))
        .route("/api/v1/viewer/tickets", post(issue))
}

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // The page's address carries a ticket in its fragment; no
            // referrer must leak the page's address elsewhere.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[derive(Deserialize)]
struct Credentials {
    token: Option<String>,
    resume: Option<String>,
}

/// Sets the websocket's message limits: input is small, clipboard text is
/// the largest thing a page sends.
pub fn limit(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    let max = input::MAX_CLIPBOARD + 1024;
    ws.max_message_size(max).max_frame_size(max)
}

async fn translate(
    State(state): State<AppState>,
    Query(creds): Query<Credentials>,
    ws: WebSocketUpgrade,
) -> Response {
    let now = state.clock.now_secs();
    let svc = state.viewer.clone();
    let store = state.store.clone();
    let found = async {
        match (creds.token, creds.resume) {
            (Some(token), _) => {
                let admitted = tickets::redeem(&store, now, &token, Mode::Translate).await?;
                let resume = tickets::grant(&store, now, &admitted, svc.cfg.grant_ttl_s).await?;
                Ok((admitted, resume))
            }
            (None, Some(resume)) => {
                let admitted = tickets::resume(&store, now, &resume).await?;
                Ok((admitted, resume))
            }
            (None, None) => Err(TicketError::Refused("a viewer token is required")),
        }
    }
    .await;
    limit(ws)
        .on_upgrade(move |socket| async move {
            match found {
                Ok((admitted, resume)) => {
                    let id = short_id();
                    let handle = svc.metrics.viewer(&id);
                    let hello = Hello {
                        resume: Some(resume),
                    };
                    // While the viewer is open, its user is present.
                    let presence = admitted
                        .keepalive
                        .map(|k| tokio::spawn(crate::desktop::viewer_presence(state.clone(), k)));
                    session::run(socket, admitted.target, hello, svc.cfg.clone(), handle).await;
                    if let Some(task) = presence {
                        task.abort();
                    }
                }
                Err(TicketError::Refused(why)) => session::refuse(socket, why, false).await,
                Err(e @ TicketError::Unavailable(_)) => {
                    session::refuse(socket, &e.to_string(), true).await
                }
            }
        })
        .into_response()
}

/// Passthrough refuses with an HTTP status before upgrading: stock clients
/// show a failed connection either way, and nothing reaches the VM.
async fn spice_passthrough(
    State(state): State<AppState>,
    Query(creds): Query<Credentials>,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    let token = creds
        .token
        .ok_or_else(|| AppError::BadRequest("a viewer token is required".into()))?;
    let now = state.clock.now_secs();
    let target = match tickets::redeem(&state.store, now, &token, Mode::Passthrough).await {
        Ok(admitted) => admitted.target,
        Err(TicketError::Refused(why)) => return Err(AppError::Forbidden(why.into())),
        Err(e) => return Err(AppError::Unavailable(e.to_string())),
    };
    let guard = state.viewer.metrics.passthrough();
    // spice-html5 asks for the "binary" subprotocol, as websockify speaks.
    Ok(ws
        .protocols(["binary"])
        .on_upgrade(move |socket| passthrough::bridge(socket, target.addr, guard))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueRequest {
    /// The VM's SPICE address, HOST:PORT.
    addr: String,
    #[serde(default)]
    password: String,
    #[serde(default = "default_mode")]
    mode: Mode,
    /// Seconds the ticket stays redeemable.
    #[serde(default = "default_ttl")]
    ttl_s: u64,
}

fn default_mode() -> Mode {
    Mode::Translate
}

fn default_ttl() -> u64 {
    60
}

#[derive(Serialize)]
struct Issued {
    token: String,
    expires_in_s: u64,
    /// Relative to the node: open it in a browser (translate mode).
    viewer_url: String,
    /// The websocket for this ticket's mode.
    websocket: String,
}

async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<IssueRequest>,
) -> AppResult<(StatusCode, Json<Issued>)> {
    require_operator(&state, &headers)?;
    if req.addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(AppError::BadRequest(
            "addr must be an IP address and port, such as 127.0.0.1:5900".into(),
        ));
    }
    if req.password.len() > 60 {
        return Err(AppError::BadRequest(
            "SPICE passwords are at most 60 characters".into(),
        ));
    }
    if req.ttl_s == 0 || req.ttl_s > tickets::MAX_TICKET_TTL_S {
        return Err(AppError::BadRequest(format!(
            "ttl_s must be 1 to {}",
            tickets::MAX_TICKET_TTL_S
        )));
    }
    let target = Target {
        addr: req.addr,
        password: req.password,
    };
    let now = state.clock.now_secs();
    let token = tickets::issue(&state.store, now, &target, req.mode, req.ttl_s, None)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let websocket = match req.mode {
        Mode::Translate => format!("/viewer/ws?token={token}"),
        Mode::Passthrough => format!("/viewer/spice?token={token}"),
    };
    Ok((
        StatusCode::CREATED,
        Json(Issued {
            viewer_url: format!("/viewer/#token={token}"),
            websocket,
            token,
            expires_in_s: req.ttl_s,
        }),
    ))
}

/// A label for one viewer in metrics and logs.
pub fn short_id() -> String {
    super::random_hex(4)
}
