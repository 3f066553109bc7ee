//! The tenants' sites: every page and API of a tenant lives under
//! `/t/{slug}/…` (or at the root of `{slug}.{base_domain}`, rewritten to the
//! same paths): sign-in, the web desktop, presence and the tenant admin API.
//!
//! Every handler reaches the store through the [`TenantDb`] of the tenant
//! named in its URL, and a session is looked up in that tenant's records
//! only: a session, a user or an app of one tenant cannot be found through
//! another tenant's URLs.

pub(crate) mod admin;
mod assets;
mod captcha;
pub mod demo;
mod events;
mod login;
pub mod records;
mod session;
mod site;

pub use events::viewer_presence;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use opencloud_tenant_admin::model::User;
use opencloud_tenant_admin::password::HashParams;
use opencloud_tenant_admin::tables::Users;

use crate::db::{fresh_request_id, TenantDb};
use crate::http::{AppError, AppResult, AppState};
use crate::records::{check_slug, Tenant, TenantStatus, Tenants};
use records::{Access, LastAccess};

/// How tenants' sites behave. Built once per node (see `NodeConfig`).
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// A session ends this long after sign-in, whatever the activity.
    pub session_ttl_s: u64,
    /// A session ends after this long without a presence ping from its
    /// desktop.
    pub session_idle_s: u64,
    /// Failed sign-ins (per account or per address) before a captcha is
    /// required.
    pub captcha_after: u32,
    /// Failures older than this stop counting.
    pub failure_window_s: u64,
    /// The longest wait imposed between attempts after repeated failures.
    pub max_delay_s: u64,
    /// Presence is written to the store at most this often per session (a
    /// ping every 10 s from every desktop would otherwise be most of the
    /// cluster's writes).
    pub presence_write_every_s: u64,
    /// With `Some("example.com")`, `acme.example.com` serves tenant `acme`.
    pub base_domain: Option<String>,
    /// Argon2id cost of new password hashes.
    pub hash: HashParams,
    /// Tests only (`OPENCLOUD_TEST_CAPTCHA_ANSWER`): every captcha shows
    /// and expects this text, so a test can solve it.
    pub fixed_captcha: Option<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            session_ttl_s: 12 * 3600,
            session_idle_s: 30 * 60,
            captcha_after: 3,
            failure_window_s: 15 * 60,
            max_delay_s: 30,
            presence_write_every_s: 60,
            base_domain: None,
            hash: HashParams::default(),
            fixed_captcha: None,
        }
    }
}

/// Node-wide state of the tenants' sites.
pub struct SiteService {
    pub cfg: SiteConfig,
    pub presence: events::Presence,
}

impl SiteService {
    pub fn new(cfg: SiteConfig) -> Arc<SiteService> {
        Arc::new(SiteService {
            presence: events::Presence::default(),
            cfg,
        })
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(site::routes())
        .merge(admin::routes())
        .merge(events::routes())
        .merge(assets::routes())
}

/// A request's tenant: its record, its store view, and where its pages
/// live (for links and cookies).
pub struct TenantSite {
    pub tenant: Tenant,
    pub db: TenantDb,
    pub cfg: SiteConfig,
    /// `/t/{slug}` for path routing, empty on the tenant's own host.
    pub prefix: String,
    pub now: u64,
}

/// Set by [`map_tenant_hosts`] on requests that came through a tenant host
/// name, whose pages therefore live at the root.
#[derive(Clone, Copy)]
struct HostMapped;

impl FromRequestParts<AppState> for TenantSite {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound("no such page".into()))?;
        let slug = params
            .get("slug")
            .ok_or_else(|| AppError::Internal("route without a tenant".into()))?;
        let unknown = || AppError::NotFound(format!("there is no desktop called `{slug}` here"));
        check_slug(slug).map_err(|_| unknown())?;
        let key = opencloud_raft::table::platform_key::<Tenants>(slug);
        let tenant = match state.store.read(opencloud_raft::Query::Get { key }).await? {
            opencloud_raft::QueryResult::Value(Some(v)) => {
                opencloud_raft::table::open::<Tenants>(&v)?
            }
            _ => return Err(unknown()),
        };
        if tenant.status != TenantStatus::Active {
            return Err(AppError::Forbidden(format!(
                "the desktop `{slug}` is suspended"
            )));
        }
        let prefix = if parts.extensions.get::<HostMapped>().is_some() {
            String::new()
        } else {
            format!("/t/{slug}")
        };
        Ok(TenantSite {
            db: TenantDb::new(state.store.clone(), &tenant.slug),
            tenant,
            cfg: state.site.cfg.clone(),
            prefix,
            now: state.clock.now_secs(),
        })
    }
}

impl TenantSite {
    /// The path of the cookie: the tenant's pages only.
    pub fn cookie_path(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The signed-in user of this tenant, or 401.
    pub async fn user(&self, headers: &HeaderMap) -> AppResult<(session::Current, User)> {
        let not_signed_in = || AppError::SignInRequired;
        let current = session::current(&self.db, &self.cfg, headers, self.now)
            .await?
            .ok_or_else(not_signed_in)?;
        let user = self
            .db
            .get::<Users>(&current.record.login)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(not_signed_in)?;
        Ok((current, user))
    }
}

/// Records that `login` was seen now.
pub async fn touch_access(db: &TenantDb, login: &str, now: u64) -> AppResult<()> {
    db.put::<LastAccess>(login, &Access { at: now }, fresh_request_id())
        .await
}

/// Rewrites requests for `{slug}.{base_domain}` to `/t/{slug}/…`, so the
/// same routes serve both forms. Shared assets stay where they are.
pub async fn map_tenant_hosts(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(base) = state.site.cfg.base_domain.as_deref() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
        let slug = host.as_deref().and_then(|h| {
            h.strip_suffix(base)
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|s| check_slug(s).is_ok())
                .map(str::to_string)
        });
        let path = req.uri().path();
        if let Some(slug) = slug.filter(|_| !path.starts_with("/assets/")) {
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            if let Ok(uri) = format!("/t/{slug}{pq}").parse::<Uri>() {
                *req.uri_mut() = uri;
                req.extensions_mut().insert(HostMapped);
            }
        }
    }
    next.run(req).await
}

/// Refuses cross-site state changes on every tenant route.
pub async fn same_origin_only(req: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    if req.uri().path().starts_with("/t/") {
        if let Err(e) = session::check_same_origin(req.method(), req.headers()) {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Runs `f` on a value that took CPU work (hashing) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("blocking task: {e}")))
}
