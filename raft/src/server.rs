//! The server side of inter-node traffic: openraft's RPCs and requests
//! forwarded by followers, over HTTP/2 with mutual TLS. A client without a
//! certificate from the cluster CA fails the TLS handshake and never reaches
//! a handler.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::error::{Error, Result};
use crate::network::{path, TARGET_HEADER};
use crate::store::{Attempt, ForwardError, MembershipChange, Store};
use crate::tls::PeerTls;
use crate::types::{Proposal, Query};

/// Starts the peer server on the configured address. Binding happens before
/// this returns, so a port conflict is reported at start-up.
pub(crate) async fn spawn(store: Arc<Store>, tls: PeerTls) -> Result<()> {
    let addr = store.config().raft_listen;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("raft listen {addr}: {e}"),
        ))
    })?;
    listener.set_nonblocking(true)?;
    let app = Router::new()
        .route(path::APPEND, post(append))
        .route(path::VOTE, post(vote))
        .route(path::SNAPSHOT, post(snapshot))
        .route(path::FORWARD_WRITE, post(forward_write))
        .route(path::FORWARD_READ, post(forward_read))
        .route(path::FORWARD_MEMBERSHIP, post(forward_membership))
        .layer(DefaultBodyLimit::max(codec::MAX_MESSAGE as usize))
        .layer(axum::middleware::from_fn_with_state(
            store.clone(),
            only_for_me,
        ))
        .with_state(store);
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.server);
    let server = axum_server::from_tcp_rustls(listener, config);
    tokio::spawn(async move {
        if let Err(e) = server.serve(app.into_make_service()).await {
            tracing::error!("raft peer server stopped: {e}");
        }
    });
    Ok(())
}

/// Refuses requests meant for another node (see [`TARGET_HEADER`]).
async fn only_for_me(
    State(store): State<Arc<Store>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let target = req
        .headers()
        .get(TARGET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match target {
        Some(id) if id == store.id() => next.run(req).await,
        Some(id) => {
            tracing::warn!(
                "refused a peer request meant for node {id}; check the --peers addresses"
            );
            (
                StatusCode::MISDIRECTED_REQUEST,
                format!("this is node {}, not node {id}", store.id()),
            )
                .into_response()
        }
        None => (StatusCode::BAD_REQUEST, "missing target node").into_response(),
    }
}

fn reply<T: Serialize>(value: &T) -> Response {
    match codec::encode(value) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, Response> {
    codec::decode(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("undecodable request: {e}")).into_response())
}

async fn append(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse(&body) {
        Ok(req) => reply(&store.raft().append_entries(req).await),
        Err(r) => r,
    }
}

async fn vote(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse(&body) {
        Ok(req) => reply(&store.raft().vote(req).await),
        Err(r) => r,
    }
}

async fn snapshot(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse(&body) {
        Ok(req) => reply(&store.raft().install_snapshot(req).await),
        Err(r) => r,
    }
}

fn forward_answer<T: Serialize>(attempt: Attempt<T>) -> Response {
    let answer: std::result::Result<T, ForwardError> = match attempt {
        Attempt::Done(v) => Ok(v),
        Attempt::Redirect(l) => Err(ForwardError::NotLeader(l)),
        Attempt::Retry(problem) => Err(ForwardError::Unavailable(problem)),
        Attempt::Failed(e) => Err(ForwardError::Failed(e.to_string())),
    };
    reply(&answer)
}

async fn forward_write(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse::<Proposal>(&body) {
        Ok(p) => forward_answer(store.write_local(p).await),
        Err(r) => r,
    }
}

async fn forward_read(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse::<Query>(&body) {
        Ok(q) => forward_answer(store.read_local(q).await),
        Err(r) => r,
    }
}

async fn forward_membership(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match parse::<MembershipChange>(&body) {
        Ok(c) => forward_answer(store.change_membership_local(c).await),
        Err(r) => r,
    }
}
