//! `/api/v1/kv/{key}`: the operators' small key-value table.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use opencloud_raft::table::{open, platform_key, seal};
use opencloud_raft::{Command, Outcome, Proposal, Query, QueryResult};

use super::{request_id, require_operator, AppError, AppResult, AppState};
use crate::records::OperatorKv;

/// Largest value an operator setting may hold.
const MAX_VALUE: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/kv/{key}", put(write).get(read).delete(remove))
}

fn check_key(key: &str) -> AppResult<()> {
    if key.is_empty() || key.len() > 256 {
        return Err(AppError::BadRequest("keys are 1 to 256 bytes".into()));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(AppError::BadRequest(
            "keys may not contain control characters".into(),
        ));
    }
    Ok(())
}

async fn write(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    check_key(&key)?;
    if body.len() > MAX_VALUE {
        return Err(AppError::BadRequest(format!(
            "values are at most {MAX_VALUE} bytes"
        )));
    }
    let proposal = Proposal {
        request_id: request_id(&headers)?,
        command: Command::Put {
            key: platform_key::<OperatorKv>(&key),
            value: seal::<OperatorKv>(&body.to_vec())?,
        },
    };
    match state.store.write(proposal).await? {
        Outcome::Done => Ok(StatusCode::NO_CONTENT),
        other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> AppResult<Response> {
    require_operator(&state, &headers)?;
    check_key(&key)?;
    let query = Query::Get {
        key: platform_key::<OperatorKv>(&key),
    };
    match state.store.read(query).await? {
        QueryResult::Value(Some(v)) => {
            let value = open::<OperatorKv>(&v)?;
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response())
        }
        QueryResult::Value(None) => Err(AppError::NotFound(format!("no key `{key}`"))),
        QueryResult::Pairs(_) => Err(AppError::Internal("scan answer to a get".into())),
    }
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    check_key(&key)?;
    let proposal = Proposal {
        request_id: request_id(&headers)?,
        command: Command::Delete {
            key: platform_key::<OperatorKv>(&key),
        },
    };
    match state.store.write(proposal).await? {
        Outcome::Done => Ok(StatusCode::NO_CONTENT),
        Outcome::NotFound => Err(AppError::NotFound(format!("no key `{key}`"))),
        other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
    }
}
