//! The node's public HTTPS front: health, metrics, cluster status and the
//! operator API. Every handler returns [`AppResult`]; nothing a client sends
//! can panic the node (and a panic would still be caught and answered 500).

mod cluster;
mod error;
mod kv;
mod openapi;
mod tenants;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
pub use error::{AppError, AppResult};
use opencloud_raft::Store;

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::token::OperatorAuth;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub auth: Arc<OperatorAuth>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub viewer: Arc<crate::viewer::routes::ViewerService>,
    pub site: Arc<crate::desktop::SiteService>,
    pub broker: Arc<crate::broker::Broker>,
}

/// The largest request body the public API accepts.
const MAX_BODY: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    // Tenant host names are mapped to `/t/{slug}` before routing: the
    // rewrite is a layer of an outer router whose only route is the real
    // one, since a router's own layers run after it has routed.
    let inner = routes(state.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(
            state,
            crate::desktop::map_tenant_hosts,
        ))
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .merge(cluster::routes())
        .merge(tenants::routes())
        .merge(kv::routes())
        .merge(crate::viewer::routes::routes(&state.viewer.cfg))
        .merge(crate::desktop::routes())
        .merge(crate::broker::api::routes())
        .fallback(|| async { AppError::NotFound("no such page".into()) })
        .method_not_allowed_fallback(|| async {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({"error": "method not allowed"})),
            )
        })
        .layer(middleware::from_fn(crate::desktop::same_origin_only))
        .layer(middleware::from_fn(fingerprint_requests))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            AppError::Internal("handler panicked".into()).into_response()
        }))
        .with_state(state)
}

/// Counts requests and their latency per route.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe_request(
        method.as_str(),
        &route,
        resp.status().as_u16(),
        start.elapsed(),
    );
    resp
}

/// Rewrites error answers produced outside our handlers (extractor
/// rejections, body limits) as `{"error": ...}`, so every error a client sees
/// has the same shape.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.store.status());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Checks the operator's bearer token.
pub fn require_operator(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthorized)?;
    match state.auth.check(presented.trim()) {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::Unauthorized),
        None => Err(AppError::Unavailable(
            "the operator token is not set up yet (waiting for the cluster)".into(),
        )),
    }
}

/// Where [`fingerprint_requests`] leaves its digest of the request.
const FINGERPRINT: &str = "x-opencloud-request-fingerprint";

/// Digests the method, path and body of every request that carries an
/// `X-Request-Id`, so that the store can tell a retry (same digest) from a
/// different request reusing the id (refused with 409, instead of being
/// answered with the other request's outcome).
async fn fingerprint_requests(req: Request, next: Next) -> Response {
    use sha2::{Digest, Sha256};
    let (mut parts, body) = req.into_parts();
    // Only this layer may set it.
    parts.headers.remove(FINGERPRINT);
    if !parts.headers.contains_key("x-request-id") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({"error": "request body too large"})),
            )
                .into_response()
        }
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update(b" ");
    // The path, not the whole URI: over HTTP/2 it also names the node.
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(&bytes);
    let digest = hex::encode(&h.finalize()[..12]);
    if let Ok(v) = axum::http::HeaderValue::from_str(&digest) {
        parts.headers.insert(FINGERPRINT, v);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// The idempotency key of a write: the client's `X-Request-Id` when given
/// (so a retry is applied once), with the request's fingerprint, otherwise
/// a fresh random one.
pub fn request_id(headers: &HeaderMap) -> AppResult<String> {
    match headers.get("x-request-id") {
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| AppError::BadRequest("X-Request-Id must be ASCII".into()))?;
            if s.is_empty() || s.len() > 128 || s.contains('#') {
                return Err(AppError::BadRequest(
                    "X-Request-Id must be 1 to 128 characters, without `#`".into(),
                ));
            }
            match headers.get(FINGERPRINT).and_then(|f| f.to_str().ok()) {
                Some(print) => Ok(format!("c:{s}#{print}")),
                None => Ok(format!("c:{s}")),
            }
        }
        None => {
            use rand::RngCore;
            let mut raw = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut raw);
            Ok(format!("g:{}", hex::encode(raw)))
        }
    }
}
