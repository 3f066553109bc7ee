//! The sign-in and desktop pages and their scripts (`node/assets/desktop/`),
//! built into the binary and served at `/assets/desktop/…` for every
//! tenant, with a Content-Security-Policy that allows only our own scripts.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

use crate::http::{AppError, AppResult, AppState};

static DESKTOP: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/desktop");

pub const LOGIN_HTML: &str = "login.html";
pub const DESKTOP_HTML: &str = "desktop.html";

/// Pages may frame web apps (`frame-src *`) but run only our scripts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self'; frame-src 'self' https: http:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'";

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/desktop/{file}", get(asset))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn serve(name: &str, cache: &'static str) -> Option<Response> {
    let file = DESKTOP.get_file(name)?;
    let mut resp = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        file.contents(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    Some(resp)
}

/// One of the pages (never cached: it is the entry to fresh scripts).
pub fn page(name: &str) -> Response {
    serve(name, "no-store").unwrap_or_else(|| {
        AppError::Internal(format!("asset {name} is not built in")).into_response()
    })
}

async fn asset(Path(file): Path<String>) -> AppResult<Response> {
    // Names only: the map has no directories, and `..` finds nothing.
    serve(&file, "no-cache").ok_or_else(|| AppError::NotFound("no such file".into()))
}
