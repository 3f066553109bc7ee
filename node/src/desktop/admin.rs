//! The tenant admin API under `/t/{slug}/api/v1/`: users, profiles, apps,
//! branding and LDAP settings. Open to the operator's token and to signed-in
//! users of this tenant with the admin role.

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opencloud_tenant_admin::model::{
    App, BrandingInput, LdapInput, LdapView, NewUser, Profile, User, UserPatch, UserSource,
    UserView,
};
use opencloud_tenant_admin::password;
use opencloud_tenant_admin::tables::{Apps, BrandingTable, LdapTable, Profiles, Users};
use opencloud_tenant_admin::validate;
use serde::de::DeserializeOwned;

use super::site::LIST_LIMIT;
use super::{blocking, TenantSite};
use crate::db::fresh_request_id;
use crate::http::{request_id, require_operator, AppError, AppResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}/api/v1/users", get(list_users).post(create_user))
        .route(
            "/t/{slug}/api/v1/users/{login}",
            get(read_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/t/{slug}/api/v1/profiles",
            get(list_profiles).post(create_profile),
        )
        .route(
            "/t/{slug}/api/v1/profiles/{id}",
            get(read_profile).put(put_profile).delete(delete_profile),
        )
        .route("/t/{slug}/api/v1/apps", get(list_apps).post(create_app))
        .route(
            "/t/{slug}/api/v1/apps/{id}",
            get(read_app).put(put_app).delete(delete_app),
        )
        .route(
            "/t/{slug}/api/v1/ldap",
            get(read_ldap).put(put_ldap).delete(delete_ldap),
        )
}

/// Lets the operator (bearer token) or a signed-in admin of this tenant
/// through; anyone else gets 401 (not signed in) or 403 (not an admin).
pub(crate) async fn require_admin(
    state: &AppState,
    site: &TenantSite,
    headers: &HeaderMap,
) -> AppResult<()> {
    if headers.contains_key(header::AUTHORIZATION) {
        return require_operator(state, headers);
    }
    let (_, user) = site.user(headers).await?;
    if user.admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the desktop's administrators may do this".into(),
        ))
    }
}

pub(crate) fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> AppResult<T> {
    serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("invalid {what}: {e}")))
}

type Admin = (axum::extract::State<AppState>, TenantSite, HeaderMap);

/// Every id in `ids` must name a record of table `T`.
async fn all_exist<T: opencloud_raft::table::Table>(
    site: &TenantSite,
    ids: &[String],
    what: &str,
) -> AppResult<()> {
    for id in ids {
        if site.db.get::<T>(id).await?.is_none() {
            return Err(AppError::BadRequest(format!("there is no {what} `{id}`")));
        }
    }
    Ok(())
}

async fn hash(site: &TenantSite, pw: String) -> AppResult<String> {
    let params = site.cfg.hash;
    Ok(blocking(move || password::hash(&pw, &params)).await??)
}

// ---- users ----

async fn list_users(
    axum::extract::State(state): axum::extract::State<AppState>,
    site: TenantSite,
    headers: HeaderMap,
) -> AppResult<Json<Vec<UserView>>> {
    require_admin(&state, &site, &headers).await?;
    let users = site.db.list::<Users>(LIST_LIMIT).await?;
    Ok(Json(users.iter().map(|(_, u)| u.view()).collect()))
}

async fn create_user(
    axum::extract::State(state): axum::extract::State<AppState>,
    site: TenantSite,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<UserView>)> {
    require_admin(&state, &site, &headers).await?;
    let input = validate::new_user(&parse::<NewUser>(&body, "user")?)?;
    all_exist::<Profiles>(&site, &input.profiles, "profile").await?;
    let password_hash = match input.password.clone() {
        Some(pw) => Some(hash(&site, pw).await?),
        None => None,
    };
    let user = User {
        login: input.login.clone(),
        display_name: input.display_name.clone().unwrap_or(input.login.clone()),
        password_hash,
        source: UserSource::Local,
        profiles: input.profiles,
        admin: input.admin,
        disabled: false,
        created_at: site.now,
    };
    if !site
        .db
        .insert::<Users>(&user.login, &user, request_id(&headers)?)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "a user `{}` already exists",
            user.login
        )));
    }
    Ok((StatusCode::CREATED, Json(user.view())))
}

async fn read_user(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, login)): Path<(String, String)>,
) -> AppResult<Json<UserView>> {
    require_admin(&state, &site, &headers).await?;
    let user = site.db.get::<Users>(&login.to_lowercase()).await?;
    user.map(|u| Json(u.view()))
        .ok_or_else(|| AppError::NotFound(format!("no user `{login}`")))
}

async fn update_user(
    axum::extract::State(state): axum::extract::State<AppState>,
    site: TenantSite,
    headers: HeaderMap,
    Path((_, login)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> AppResult<Json<UserView>> {
    require_admin(&state, &site, &headers).await?;
    let login = login.to_lowercase();
    let patch = parse::<UserPatch>(&body, "user change")?;
    let current = site
        .db
        .get::<Users>(&login)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user `{login}`")))?;
    let patch = validate::user_patch(&current, &patch)?;
    if let Some(p) = &patch.profiles {
        all_exist::<Profiles>(&site, p, "profile").await?;
    }
    let new_hash = match patch.password.clone() {
        Some(pw) => Some(hash(&site, pw).await?),
        None => None,
    };
    let updated = site
        .db
        .update::<Users, _>(&login, |u| {
            let mut u = u.ok_or_else(|| AppError::NotFound(format!("no user `{login}`")))?;
            if let Some(h) = &new_hash {
                u.password_hash = Some(h.clone());
            }
            if let Some(d) = &patch.display_name {
                u.display_name = d.clone();
            }
            if let Some(p) = &patch.profiles {
                u.profiles = p.clone();
            }
            if let Some(a) = patch.admin {
                u.admin = a;
            }
            if let Some(d) = patch.disabled {
                u.disabled = d;
            }
            Ok(Some(u))
        })
        .await?
        .ok_or_else(|| AppError::Internal("user vanished during update".into()))?;
    Ok(Json(updated.view()))
}

async fn delete_user(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, login)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    if site
        .db
        .delete::<Users>(&login.to_lowercase(), request_id(&headers)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no user `{login}`")))
    }
}

// ---- profiles and apps: plain records keyed by their id ----

async fn list_profiles(
    (axum::extract::State(state), site, headers): Admin,
) -> AppResult<Json<Vec<Profile>>> {
    require_admin(&state, &site, &headers).await?;
    let all = site.db.list::<Profiles>(LIST_LIMIT).await?;
    Ok(Json(all.into_iter().map(|(_, p)| p).collect()))
}

async fn create_profile(
    (axum::extract::State(state), site, headers): Admin,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<Profile>)> {
    require_admin(&state, &site, &headers).await?;
    let p = validate::profile(&parse::<Profile>(&body, "profile")?)?;
    all_exist::<Apps>(&site, &p.apps, "app").await?;
    if !site
        .db
        .insert::<Profiles>(&p.id, &p, request_id(&headers)?)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "a profile `{}` already exists",
            p.id
        )));
    }
    Ok((StatusCode::CREATED, Json(p)))
}

async fn read_profile(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<Json<Profile>> {
    require_admin(&state, &site, &headers).await?;
    let p = site.db.get::<Profiles>(&id).await?;
    p.map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no profile `{id}`")))
}

async fn put_profile(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> AppResult<Json<Profile>> {
    require_admin(&state, &site, &headers).await?;
    let p = validate::profile(&parse::<Profile>(&body, "profile")?)?;
    if p.id != id {
        return Err(AppError::BadRequest(
            "the body's id differs from the URL's".into(),
        ));
    }
    all_exist::<Apps>(&site, &p.apps, "app").await?;
    site.db
        .put::<Profiles>(&id, &p, request_id(&headers)?)
        .await?;
    Ok(Json(p))
}

async fn delete_profile(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    if site
        .db
        .delete::<Profiles>(&id, request_id(&headers)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no profile `{id}`")))
    }
}

async fn list_apps(
    (axum::extract::State(state), site, headers): Admin,
) -> AppResult<Json<Vec<App>>> {
    require_admin(&state, &site, &headers).await?;
    let all = site.db.list::<Apps>(LIST_LIMIT).await?;
    Ok(Json(all.into_iter().map(|(_, a)| a).collect()))
}

async fn create_app(
    (axum::extract::State(state), site, headers): Admin,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<App>)> {
    require_admin(&state, &site, &headers).await?;
    let a = validate::app(&parse::<App>(&body, "app")?)?;
    if !site
        .db
        .insert::<Apps>(&a.id, &a, request_id(&headers)?)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "an app `{}` already exists",
            a.id
        )));
    }
    Ok((StatusCode::CREATED, Json(a)))
}

async fn read_app(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<Json<App>> {
    require_admin(&state, &site, &headers).await?;
    let a = site.db.get::<Apps>(&id).await?;
    a.map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no app `{id}`")))
}

async fn put_app(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> AppResult<Json<App>> {
    require_admin(&state, &site, &headers).await?;
    let a = validate::app(&parse::<App>(&body, "app")?)?;
    if a.id != id {
        return Err(AppError::BadRequest(
            "the body's id differs from the URL's".into(),
        ));
    }
    site.db.put::<Apps>(&id, &a, request_id(&headers)?).await?;
    Ok(Json(a))
}

async fn delete_app(
    (axum::extract::State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    if site.db.delete::<Apps>(&id, request_id(&headers)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no app `{id}`")))
    }
}

// ---- branding and directory ----

/// `PUT /t/{slug}/api/v1/branding` (its `GET` is public, in `site.rs`).
pub(super) async fn put_branding(
    (axum::extract::State(state), site, headers): Admin,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    let b = validate::branding(&parse::<BrandingInput>(&body, "branding")?)?;
    site.db
        .put::<BrandingTable>("branding", &b, request_id(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read_ldap((axum::extract::State(state), site, headers): Admin) -> AppResult<Response> {
    require_admin(&state, &site, &headers).await?;
    Ok(match site.db.get::<LdapTable>("ldap").await? {
        Some(c) => Json(LdapView::from(&c)).into_response(),
        None => {
            Err::<(), _>(AppError::NotFound("no LDAP directory is set up".into())).into_response()
        }
    })
}

async fn put_ldap(
    (axum::extract::State(state), site, headers): Admin,
    body: axum::body::Bytes,
) -> AppResult<Json<LdapView>> {
    require_admin(&state, &site, &headers).await?;
    let input = parse::<LdapInput>(&body, "LDAP settings")?;
    let current = site.db.get::<LdapTable>("ldap").await?;
    let cfg = validate::ldap(&input, current.as_ref())?;
    site.db
        .put::<LdapTable>("ldap", &cfg, fresh_request_id())
        .await?;
    Ok(Json(LdapView::from(&cfg)))
}

async fn delete_ldap((axum::extract::State(state), site, headers): Admin) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    site.db
        .delete::<LdapTable>("ldap", request_id(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
