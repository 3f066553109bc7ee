//! Nova's remote consoles (`POST /servers/{id}/remote-consoles`, 2.6+;
//! `spice-direct` from 2.99) and console auth tokens
//! (`GET /os-console-auth-tokens/{token}`, admin-only by default policy).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::compute::{fault, invalid, no_instance, nova, versioned};
use super::{lock, reply, uuid, ConsoleToken, Shared};

/// Nova's `[consoleauth] token_ttl` default.
const CONSOLE_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Nova's `[spice] spice_direct_proxy_base_url` default.
const SPICE_DIRECT_BASE: &str = "http://127.0.0.1:13002/nova";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/compute/v2.1/servers/{id}/remote-consoles",
            post(create_console),
        )
        .route(
            "/compute/v2.1/os-console-auth-tokens/{token}",
            get(show_console_token),
        )
}

/// The console types of the `remote_console` schema (2.8 to 2.98; 2.99
/// adds `spice-direct`).
const CONSOLE_TYPES: [&str; 6] = [
    "novnc",
    "xvpvnc",
    "rdp-html5",
    "spice-html5",
    "serial",
    "webmks",
];

async fn create_console(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mv = nova!(state, headers);
    if mv < (2, 6) {
        return versioned(mv, fault(404, "The resource could not be found."));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return versioned(mv, fault(400, "Malformed request body"));
    };
    let console = &body["remote_console"];
    let (Some(protocol), Some(kind)) = (console["protocol"].as_str(), console["type"].as_str())
    else {
        let why = "'protocol' and 'type' are required properties";
        return versioned(mv, invalid("remote_console", &body, why));
    };
    let mut allowed: Vec<&str> = CONSOLE_TYPES.to_vec();
    if mv >= (2, 99) {
        allowed.push("spice-direct");
    }
    if !allowed.contains(&kind) {
        let why = format!("'{kind}' is not one of {allowed:?}").replace('"', "'");
        return versioned(mv, invalid("type", &json!(kind), &why));
    }
    let mut st = lock(&state);
    let Some(server) = st.servers.iter().find(|s| s.id == id) else {
        return versioned(mv, no_instance(&id));
    };
    if server.status() != "ACTIVE" {
        let message = format!("Instance {id} is not ready");
        return versioned(mv, fault(409, &message));
    }
    // The computes here run SPICE only.
    let spice = protocol == "spice" && matches!(kind, "spice-html5" | "spice-direct");
    if !spice || !st.knobs.spice_enabled {
        let message = format!("Unavailable console type {kind}.");
        return versioned(mv, fault(400, &message));
    }
    let token = uuid();
    let url = if kind == "spice-direct" {
        format!("{SPICE_DIRECT_BASE}?token={token}")
    } else {
        format!("http://127.0.0.1:6082/spice_auto.html?token={token}")
    };
    let knobs = st.knobs.clone();
    st.consoles.insert(
        token,
        ConsoleToken {
            server_id: id,
            console_type: kind.to_string(),
            host: knobs.spice_host,
            port: knobs.spice_port,
            tls_port: knobs.spice_tls_port,
            expires: Instant::now() + CONSOLE_TOKEN_TTL,
        },
    );
    versioned(
        mv,
        reply(
            StatusCode::OK,
            json!({"remote_console": {"protocol": protocol, "type": kind, "url": url}}),
        ),
    )
}

async fn show_console_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let mv = nova!(state, headers);
    let st = lock(&state);
    if !st.knobs.console_tokens_allowed {
        let message = "Policy doesn't allow os_compute_api:os-console-auth-tokens to be performed.";
        return versioned(mv, fault(403, message));
    }
    let Some(console) = st
        .consoles
        .get(&token)
        .filter(|c| c.expires > Instant::now())
    else {
        return versioned(mv, fault(404, "Token not found"));
    };
    // Before 2.31 only RDP consoles' details were shown.
    if mv < (2, 31) && console.console_type != "rdp-html5" {
        let message = "The requested console type details are not accessible";
        return versioned(mv, fault(401, message));
    }
    let mut doc = json!({
        "instance_uuid": console.server_id,
        "host": console.host,
        "port": console.port,
        "internal_access_path": null
    });
    if mv >= (2, 99) {
        doc["tls_port"] = json!(console.tls_port);
    }
    versioned(mv, reply(StatusCode::OK, json!({"console": doc})))
}
