//! Cluster status and membership.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use opencloud_raft::{ClusterStatus, MembershipChange, NodeId};
use serde::Deserialize;

use super::{require_operator, AppError, AppResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cluster", get(status))
        .route("/api/v1/cluster/nodes", axum::routing::post(add_node))
        .route("/api/v1/cluster/nodes/{id}", delete(remove_node))
        .route("/api/v1/cluster/elect", axum::routing::post(elect))
}

async fn status(State(state): State<AppState>) -> Json<ClusterStatus> {
    Json(state.store.status())
}

#[derive(Deserialize)]
struct AddNode {
    id: NodeId,
    raft_addr: String,
}

async fn add_node(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    let req: AddNode = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("expected {{\"id\", \"raft_addr\"}}: {e}")))?;
    if req.id == 0 {
        return Err(AppError::BadRequest("node ids start at 1".into()));
    }
    if req.raft_addr.parse::<std::net::SocketAddr>().is_err() && !req.raft_addr.contains(':') {
        return Err(AppError::BadRequest("raft_addr must be HOST:PORT".into()));
    }
    state
        .store
        .change_membership(MembershipChange::Add {
            id: req.id,
            addr: req.raft_addr,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_node(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    let id: NodeId = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("`{id}` is not a node id")))?;
    let status = state.store.status();
    if !status.members.contains(&id) && !status.learners.contains(&id) {
        return Err(AppError::NotFound(format!(
            "node {id} is not in the cluster"
        )));
    }
    if status.members.len() == 1 && status.members.contains(&id) {
        return Err(AppError::Conflict("cannot remove the last voter".into()));
    }
    state
        .store
        .change_membership(MembershipChange::Remove { id })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks this node to stand for election now (`opencloud cluster elect`).
async fn elect(State(state): State<AppState>, headers: HeaderMap) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    state.store.stand_for_election().await?;
    Ok(StatusCode::ACCEPTED)
}
