//! What a tenant's users reach: the sign-in and desktop pages, branding,
//! sign-in and sign-out, `me`, captchas and app launches (docs/DESKTOP-API.md).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use opencloud_tenant_admin::model::{AppKind, Branding};
use opencloud_tenant_admin::tables::{Apps, BrandingTable, Profiles};
use serde::Deserialize;
use serde_json::{json, Value};

use super::login::{self, Attempt, SignIn};
use super::{assets, captcha, session, TenantSite};
use crate::http::{AppError, AppResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}", get(to_desktop))
        .route("/t/{slug}/", get(desktop_page))
        .route("/t/{slug}/login", get(login_page).post(login_form))
        .route(
            "/t/{slug}/api/v1/branding",
            get(branding).put(super::admin::put_branding),
        )
        .route("/t/{slug}/api/v1/branding/{picture}", get(branding_picture))
        .route("/t/{slug}/api/v1/login", post(login_json))
        .route("/t/{slug}/api/v1/logout", post(logout))
        .route("/t/{slug}/api/v1/me", get(me))
        .route("/t/{slug}/api/v1/captcha", post(new_captcha))
        .route("/t/{slug}/api/v1/captcha/{id}", get(captcha_image))
        .route("/t/{slug}/api/v1/apps/{id}/launch", post(launch))
}

async fn to_desktop(site: TenantSite) -> Redirect {
    Redirect::to(&format!("{}/", site.prefix))
}

async fn desktop_page(site: TenantSite, headers: HeaderMap) -> AppResult<Response> {
    if site.user(&headers).await.is_err() {
        return Ok(Redirect::to(&format!("{}/login", site.prefix)).into_response());
    }
    Ok(assets::page(assets::DESKTOP_HTML))
}

async fn login_page(_site: TenantSite) -> Response {
    assets::page(assets::LOGIN_HTML)
}

/// The tenant's branding, or its defaults.
async fn stored_branding(site: &TenantSite) -> AppResult<Branding> {
    Ok(site
        .db
        .get::<BrandingTable>("branding")
        .await?
        .unwrap_or_else(|| Branding::default_for(&site.tenant.name)))
}

async fn branding(site: TenantSite) -> AppResult<Json<Value>> {
    let b = stored_branding(&site).await?;
    let url = |p: &Option<_>, name: &str| {
        p.as_ref()
            .map(|_| format!("{}/api/v1/branding/{name}", site.prefix))
    };
    Ok(Json(json!({
        "product_name": b.product_name,
        "colors": b.colors,
        "logo_url": url(&b.logo, "logo"),
        "wallpaper_url": url(&b.wallpaper, "wallpaper"),
        "tenant": {"slug": site.tenant.slug, "name": site.tenant.name},
    })))
}

async fn branding_picture(
    site: TenantSite,
    Path((_, picture)): Path<(String, String)>,
) -> AppResult<Response> {
    let b = stored_branding(&site).await?;
    let p = match picture.as_str() {
        "logo" => b.logo,
        "wallpaper" => b.wallpaper,
        _ => None,
    }
    .ok_or_else(|| AppError::NotFound("no such picture".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, p.content_type),
            (header::CACHE_CONTROL, "no-cache".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        p.data,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginJson {
    username: String,
    password: String,
    #[serde(default)]
    captcha: Option<CaptchaAnswer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptchaAnswer {
    id: String,
    answer: String,
}

/// The longest username or password looked at; longer ones simply fail.
const MAX_CREDENTIAL: usize = 1024;

async fn sign_in(
    site: &TenantSite,
    addr: SocketAddr,
    username: &str,
    password: &str,
    captcha: Option<(&str, &str)>,
) -> AppResult<SignIn> {
    if username.len() > MAX_CREDENTIAL || password.len() > MAX_CREDENTIAL {
        return Err(AppError::BadRequest("username or password too long".into()));
    }
    login::attempt(
        site,
        Attempt {
            username,
            password,
            captcha,
            addr: addr.ip().to_string(),
        },
        site.now,
    )
    .await
}

fn captcha_json(site: &TenantSite, c: &captcha::Issued) -> Value {
    json!({"id": c.id, "image_url": format!("{}/api/v1/captcha/{}", site.prefix, c.id)})
}

async fn login_json(
    site: TenantSite,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let req: LoginJson = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadRequest(format!(
            "expected {{\"username\": ..., \"password\": ..., \"captcha\"?: {{\"id\", \"answer\"}}}}: {e}"
        ))
    })?;
    let captcha = req
        .captcha
        .as_ref()
        .map(|c| (c.id.as_str(), c.answer.as_str()));
    let outcome = sign_in(&site, addr, &req.username, &req.password, captcha).await?;
    Ok(match outcome {
        SignIn::Done { secret } => {
            let cookie =
                session::cookie(Some(&secret), &site.cookie_path(), site.cfg.session_ttl_s)?;
            ([(header::SET_COOKIE, cookie)], Json(json!({"ok": true}))).into_response()
        }
        SignIn::Denied {
            captcha_required,
            captcha_wrong,
            captcha,
        } => {
            let mut body = if captcha_wrong {
                json!({"error": "the characters did not match the image", "captcha_wrong": true})
            } else {
                json!({"error": "wrong username or password"})
            };
            body["captcha_required"] = json!(captcha_required);
            if let Some(c) = &captcha {
                body["captcha"] = captcha_json(&site, c);
            }
            (StatusCode::UNAUTHORIZED, Json(body)).into_response()
        }
        SignIn::Wait { retry_after_s } => too_many(retry_after_s),
    })
}

fn too_many(retry_after_s: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after_s.to_string())],
        Json(json!({
            "error": format!("too many attempts, wait {retry_after_s} s"),
            "retry_after_s": retry_after_s,
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginFormFields {
    username: String,
    password: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha_answer: String,
}

/// The sign-in form without script: a redirect to the desktop, or back to
/// the page (which then asks the API why).
async fn login_form(
    site: TenantSite,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginFormFields>,
) -> AppResult<Response> {
    let captcha =
        (!f.captcha_id.is_empty()).then_some((f.captcha_id.as_str(), f.captcha_answer.as_str()));
    let back =
        |code: &str| Redirect::to(&format!("{}/login?error={code}", site.prefix)).into_response();
    let outcome = match sign_in(&site, addr, &f.username, &f.password, captcha).await {
        Err(AppError::Unavailable(_)) => return Ok(back("unavailable")),
        other => other?,
    };
    Ok(match outcome {
        SignIn::Done { secret } => {
            let cookie =
                session::cookie(Some(&secret), &site.cookie_path(), site.cfg.session_ttl_s)?;
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to(&format!("{}/", site.prefix)),
            )
                .into_response()
        }
        // Without script the page cannot show a captcha: it says so.
        SignIn::Denied {
            captcha_required: true,
            ..
        } => back("captcha"),
        SignIn::Denied { .. } => back("failed"),
        SignIn::Wait { .. } => back("wait"),
    })
}

async fn logout(site: TenantSite, headers: HeaderMap) -> AppResult<Response> {
    if let Some(c) = session::current(&site.db, &site.cfg, &headers, site.now).await? {
        session::end(&site.db, &c.key).await?;
        // Its VMs go now, not at the next reaping.
        crate::broker::vms::release_session(&site.db, &c.key, site.now).await?;
    }
    let cookie = session::cookie(None, &site.cookie_path(), 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn me(site: TenantSite, headers: HeaderMap) -> AppResult<Json<Value>> {
    let (_, user) = site.user(&headers).await?;
    let apps = user_apps(&site, &user.profiles).await?;
    Ok(Json(json!({
        "login": user.login,
        "display_name": user.display_name,
        "admin": user.admin,
        "tenant": {"slug": site.tenant.slug, "name": site.tenant.name},
        "apps": apps,
    })))
}

/// Most profiles or apps a tenant lists.
pub const LIST_LIMIT: usize = 10_000;

/// The union of the apps of `profiles`, sorted by name, as the desktop
/// shows them.
async fn user_apps(site: &TenantSite, profiles: &[String]) -> AppResult<Vec<Value>> {
    let mut ids = BTreeSet::new();
    for p in profiles {
        if let Some(profile) = site.db.get::<Profiles>(p).await? {
            ids.extend(profile.apps);
        }
    }
    let mut apps = Vec::new();
    for (id, app) in site.db.list::<Apps>(LIST_LIMIT).await? {
        if !ids.contains(&id) {
            continue;
        }
        let mut v = json!({"id": app.id, "name": app.name, "icon": app.icon});
        match app.kind {
            AppKind::Web { url } => {
                v["kind"] = json!("web");
                v["url"] = json!(url);
                // Sites that refuse to be framed are marked by the admin
                // (`frame: false`); the page opens those in a new tab.
                v["frameable"] = json!(app.frame);
            }
            AppKind::Vm { .. } => v["kind"] = json!("vm"),
        }
        apps.push(v);
    }
    apps.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(apps)
}

async fn new_captcha(site: TenantSite) -> AppResult<Json<Value>> {
    let c = captcha::issue(&site.db, site.cfg.fixed_captcha.as_deref(), site.now).await?;
    Ok(Json(captcha_json(&site, &c)))
}

async fn captcha_image(
    site: TenantSite,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let png = captcha::image(&site.db, &id, site.now)
        .await?
        .ok_or_else(|| {
            AppError::NotFound("no such captcha (they expire after 5 minutes)".into())
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// Assigns the user a VM of the app's pool (waiting for one to boot if
/// need be) and answers with a single-use viewer URL.
async fn launch(
    axum::extract::State(state): axum::extract::State<AppState>,
    site: TenantSite,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let (current, user) = site.user(&headers).await?;
    let apps = user_apps(&site, &user.profiles).await?;
    if !apps.iter().any(|a| a["id"] == json!(id)) {
        return Err(AppError::NotFound(format!("no app `{id}` on your desktop")));
    }
    let app = site
        .db
        .get::<Apps>(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no app `{id}` on your desktop")))?;
    let AppKind::Vm { pool } = app.kind else {
        return Err(AppError::BadRequest(format!(
            "`{id}` is a web app: it opens at its address, not by a launch"
        )));
    };
    let who = crate::broker::launch::Launcher {
        login: &user.login,
        session: &current.key,
    };
    let launched = crate::broker::launch::launch(&state.broker, &site.db, &who, &pool).await?;
    Ok(Json(launched).into_response())
}
