//! Keystone v3: password authentication scoped to a project, which answers
//! a token (in `X-Subject-Token`) and the service catalog.

use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::{hex_id, iso8601, lock, reply, Shared, DOMAIN, PASSWORD, PROJECT, USER};

/// How long a token lives (osauth renews one ten minutes before expiry).
const TOKEN_LIFE: Duration = Duration::from_secs(3600);

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/identity", get(versions))
        .route("/identity/", get(versions))
        .route("/identity/v3", get(version))
        .route("/identity/v3/", get(version))
        .route("/identity/v3/auth/tokens", post(issue))
}

fn v3(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json"
        }]
    })
}

async fn versions(State(state): State<Shared>) -> Response {
    let base = lock(&state).base.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": {"values": [v3(&base)]}}),
    )
}

async fn version(State(state): State<Shared>) -> Response {
    let base = lock(&state).base.clone();
    reply(StatusCode::OK, json!({"version": v3(&base)}))
}

fn keystone_error(status: StatusCode, title: &str, message: &str) -> Response {
    reply(
        status,
        json!({"error": {"code": status.as_u16(), "title": title, "message": message}}),
    )
}

/// A domain given as `{"name": …}` or `{"id": …}` (Default's id is
/// "default").
fn is_default_domain(domain: &Value) -> bool {
    domain["name"].as_str() == Some(DOMAIN) || domain["id"].as_str() == Some("default")
}

async fn issue(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return keystone_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Malformed request body.",
        );
    };
    let identity = &body["auth"]["identity"];
    let password_method = identity["methods"]
        .as_array()
        .is_some_and(|m| m.iter().any(|x| x == "password"));
    if !identity.is_object() || !password_method {
        return keystone_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Expecting to find identity in auth. The server could not comply with the request \
             since it is either malformed or otherwise incorrect. The client is assumed to be in \
             error.",
        );
    }
    let user = &identity["password"]["user"];
    let project = &body["auth"]["scope"]["project"];
    let mut st = lock(&state);
    let user_ok = (user["name"].as_str() == Some(USER) && is_default_domain(&user["domain"]))
        || user["id"].as_str() == Some(st.user_id.as_str());
    let password_ok = user["password"].as_str() == Some(PASSWORD);
    let project_ok = (project["name"].as_str() == Some(PROJECT)
        && is_default_domain(&project["domain"]))
        || project["id"].as_str() == Some(st.project_id.as_str());
    if !(user_ok && password_ok && project_ok) {
        // Keystone says no more than this, whichever part was wrong.
        return keystone_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The request you have made requires authentication.",
        );
    }

    let token = format!("gAAAAA{}", hex_id());
    st.tokens.insert(token.clone(), Instant::now() + TOKEN_LIFE);
    let now = SystemTime::now();
    let base = st.base.clone();
    let endpoint = |kind: &str, name: &str, url: String| {
        json!({
            "type": kind,
            "name": name,
            "id": hex_id(),
            "endpoints": [{
                "id": hex_id(),
                "interface": "public",
                "region": "RegionOne",
                "region_id": "RegionOne",
                "url": url
            }]
        })
    };
    let domain = json!({"id": "default", "name": DOMAIN});
    let body = json!({"token": {
        "methods": ["password"],
        "user": {
            "id": st.user_id,
            "name": USER,
            "domain": domain,
            "password_expires_at": null
        },
        "project": {"id": st.project_id, "name": PROJECT, "domain": domain},
        "roles": [{"id": hex_id(), "name": "member"}, {"id": hex_id(), "name": "reader"}],
        "is_domain": false,
        "audit_ids": [hex_id()[..22].to_string()],
        "issued_at": iso8601(now, true),
        "expires_at": iso8601(now + TOKEN_LIFE, true),
        "catalog": [
            endpoint("identity", "keystone", format!("{base}/identity")),
            endpoint("compute", "nova", format!("{base}/compute/v2.1")),
            endpoint("image", "glance", format!("{base}/image")),
            endpoint("network", "neutron", format!("{base}/networking")),
        ]
    }});
    drop(st);
    let mut response = reply(StatusCode::CREATED, body).into_response();
    if let Ok(v) = token.parse() {
        response.headers_mut().insert("x-subject-token", v);
    }
    response
}
