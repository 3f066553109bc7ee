//! `/api/v1/tenants`: the operator's tenant registry.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use opencloud_raft::table::{open, platform_key, platform_prefix, seal};
use opencloud_raft::{Command, Outcome, Proposal, Query, QueryResult};
use serde::Deserialize;

use super::{request_id, require_operator, AppError, AppResult, AppState};
use crate::records::{check_slug, Tenant, TenantStatus, Tenants};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", get(list).post(create))
        .route("/api/v1/tenants/{slug}", get(read).delete(remove))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    slug: String,
    name: String,
}

/// Most tenants a list answer carries.
const LIST_LIMIT: usize = 10_000;

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<Tenant>)> {
    require_operator(&state, &headers)?;
    let req: NewTenant = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadRequest(format!("expected {{\"slug\": ..., \"name\": ...}}: {e}"))
    })?;
    check_slug(&req.slug).map_err(AppError::BadRequest)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "name must be 1 to 200 characters".into(),
        ));
    }
    let tenant = Tenant {
        slug: req.slug.clone(),
        name: name.to_string(),
        status: TenantStatus::Active,
        created_at: state.clock.now_secs(),
    };
    let proposal = Proposal {
        request_id: request_id(&headers)?,
        command: Command::Insert {
            key: platform_key::<Tenants>(&tenant.slug),
            value: seal::<Tenants>(&tenant)?,
        },
    };
    match state.store.write(proposal).await? {
        Outcome::Done => {
            // A retried request answers as the first did; read back what
            // was stored rather than echoing this attempt's timestamp.
            let stored = get_tenant(&state, &tenant.slug).await?.unwrap_or(tenant);
            Ok((StatusCode::CREATED, Json(stored)))
        }
        Outcome::Exists => Err(AppError::Conflict(format!(
            "a tenant with slug `{}` already exists",
            req.slug
        ))),
        other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

async fn get_tenant(state: &AppState, slug: &str) -> AppResult<Option<Tenant>> {
    let key = platform_key::<Tenants>(slug);
    match state.store.read(Query::Get { key }).await? {
        QueryResult::Value(Some(v)) => Ok(Some(open::<Tenants>(&v)?)),
        QueryResult::Value(None) => Ok(None),
        QueryResult::Pairs(_) => Err(AppError::Internal("scan answer to a get".into())),
    }
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> AppResult<Json<Tenant>> {
    require_operator(&state, &headers)?;
    check_slug(&slug).map_err(|_| AppError::NotFound(format!("no tenant `{slug}`")))?;
    get_tenant(&state, &slug)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no tenant `{slug}`")))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Vec<Tenant>>> {
    require_operator(&state, &headers)?;
    let query = Query::Scan {
        prefix: platform_prefix::<Tenants>(),
        limit: LIST_LIMIT,
    };
    let QueryResult::Pairs(pairs) = state.store.read(query).await? else {
        return Err(AppError::Internal("get answer to a scan".into()));
    };
    let tenants = pairs
        .iter()
        .map(|(_, v)| open::<Tenants>(v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(tenants))
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    check_slug(&slug).map_err(|_| AppError::NotFound(format!("no tenant `{slug}`")))?;
    let proposal = Proposal {
        request_id: request_id(&headers)?,
        command: Command::Delete {
            key: platform_key::<Tenants>(&slug),
        },
    };
    match state.store.write(proposal).await? {
        Outcome::Done => Ok(StatusCode::NO_CONTENT),
        Outcome::NotFound => Err(AppError::NotFound(format!("no tenant `{slug}`"))),
        other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
    }
}
