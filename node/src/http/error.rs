//! `AppError`: the one error type at the HTTP edge. Users get a clear JSON
//! message and the right status; internal details go to the log only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid operator token")]
    Unauthorized,
    #[error("not signed in")]
    SignInRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A limit of the tenant's plan (429).
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::SignInRequired => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<opencloud_raft::Error> for AppError {
    fn from(e: opencloud_raft::Error) -> Self {
        use opencloud_raft::Error as E;
        match e {
            E::Unavailable(reason) => AppError::Unavailable(format!(
                "the cluster cannot serve this now ({reason}); retry"
            )),
            E::Timeout => AppError::Unavailable("timed out waiting for the cluster; retry".into()),
            E::Peer { .. } => AppError::Unavailable(format!("{e}; retry")),
            E::Membership(m) => AppError::Conflict(m),
            E::RequestIdReused => AppError::Conflict(
                "this X-Request-Id was already used for a different request".into(),
            ),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<opencloud_tenant_admin::Error> for AppError {
    fn from(e: opencloud_tenant_admin::Error) -> Self {
        use opencloud_tenant_admin::Error as E;
        match e {
            E::Invalid(m) => AppError::BadRequest(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<opencloud_raft::Error>() {
            Ok(store) => store.into(),
            Err(e) => AppError::Internal(format!("{e:#}")),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!("internal error: {detail}");
        }
        let status = self.status();
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
