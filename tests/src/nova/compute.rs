//! Nova's compute API v2.1: version documents, microversions (up to the
//! knob's maximum), fault bodies and servers; flavors and consoles are in
//! their own files.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::{
    consoles, flavors, header, iso8601, lock, page, param, reply, uuid, CloudState, ServerRec,
    Shared,
};

pub(super) type Mv = (u16, u16);

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/compute", get(versions))
        .route("/compute/", get(versions))
        .route("/compute/v2.1", get(version))
        .route("/compute/v2.1/", get(version))
        .route(
            "/compute/v2.1/servers",
            get(list_servers).post(create_server),
        )
        .route("/compute/v2.1/servers/detail", get(list_servers_detail))
        .route(
            "/compute/v2.1/servers/{id}",
            get(show_server).delete(delete_server),
        )
        .merge(consoles::routes())
        .merge(flavors::routes())
}

/// Nova's fault body: `{"<name>": {"code", "message"}}`.
pub(super) fn fault(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(
        status,
        json!({ name: {"code": status.as_u16(), "message": message} }),
    )
}

/// The microversion asked for: `OpenStack-API-Version: compute X.Y` or the
/// older `X-OpenStack-Nova-API-Version: X.Y`; none is 2.1. `Err`: the
/// status and message of Nova's refusal.
pub(super) fn requested(headers: &HeaderMap, max: Mv) -> Result<Mv, (u16, String)> {
    let raw = header(headers, "openstack-api-version")
        .and_then(|v| v.strip_prefix("compute ").map(|s| s.trim().to_string()))
        .or_else(|| header(headers, "x-openstack-nova-api-version"));
    let Some(raw) = raw else {
        return Ok((2, 1));
    };
    if raw == "latest" {
        return Ok(max);
    }
    let parsed = raw
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)));
    match parsed {
        None => Err((
            400,
            format!(
                "API Version String {raw} is of invalid format. Must be of format \
                 MajorNum.MinorNum."
            ),
        )),
        Some(v) if v < (2, 1) || v > max => Err((
            406,
            format!(
                "Version {raw} is not supported by the API. Minimum is 2.1 and maximum is {}.{}.",
                max.0, max.1
            ),
        )),
        Some(v) => Ok(v),
    }
}

/// The headers Nova sets on every answer.
pub(super) fn versioned(mv: Mv, mut response: Response) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {}.{}", mv.0, mv.1)) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{}.{}", mv.0, mv.1)) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    response
}

/// The microversion asked for, or Nova's answer to a bad one.
macro_rules! nova {
    ($state:expr, $headers:expr) => {{
        let max = $crate::nova::lock(&$state).knobs.max_microversion;
        match $crate::nova::compute::requested(&$headers, max) {
            Ok(mv) => mv,
            Err((status, message)) => return $crate::nova::compute::fault(status, &message),
        }
    }};
}
pub(super) use nova;

fn v21(base: &str, max: Mv) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": format!("{}.{}", max.0, max.1),
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/compute/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1"
        }]
    })
}

async fn versions(State(state): State<Shared>) -> Response {
    let (base, max) = {
        let st = lock(&state);
        (st.base.clone(), st.knobs.max_microversion)
    };
    let v2 = json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}]
    });
    reply(StatusCode::OK, json!({"versions": [v2, v21(&base, max)]}))
}

async fn version(State(state): State<Shared>) -> Response {
    let st = lock(&state);
    reply(
        StatusCode::OK,
        json!({"version": v21(&st.base, st.knobs.max_microversion)}),
    )
}

pub(super) fn links(base: &str, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/{kind}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/{kind}/{id}")}
    ])
}

/// A JSON-schema style refusal, as Nova words them.
pub(super) fn invalid(field: &str, value: &Value, why: &str) -> Response {
    fault(
        400,
        &format!("Invalid input for field/attribute {field}. Value: {value}. {why}"),
    )
}

async fn create_server(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mv = nova!(state, headers);
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return versioned(mv, fault(400, "Malformed request body"));
    };
    let server = &body["server"];
    if !server.is_object() {
        return versioned(
            mv,
            invalid("server", &body, "'server' is a required property"),
        );
    }
    for key in ["name", "flavorRef"] {
        if !server[key].is_string() {
            let why = format!("'{key}' is a required property");
            return versioned(mv, invalid("server", server, &why));
        }
    }
    let name = server["name"].as_str().unwrap_or_default().to_string();
    if name.trim().is_empty() || name.len() > 255 {
        return versioned(mv, invalid("name", &server["name"], "Invalid server name"));
    }
    let mut metadata = BTreeMap::new();
    match &server["metadata"] {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                match v.as_str() {
                    Some(v) if k.len() <= 255 && v.len() <= 255 => {
                        metadata.insert(k.clone(), v.to_string());
                    }
                    _ => {
                        let why = format!("{v} is not of type 'string'");
                        return versioned(mv, invalid("metadata", &server["metadata"], &why));
                    }
                }
            }
        }
        other => {
            let why = format!("{other} is not of type 'object'");
            return versioned(mv, invalid("metadata", other, &why));
        }
    }
    let requested_networks: Option<Vec<String>> = match &server["networks"] {
        Value::Null => None,
        Value::Array(items) => {
            let mut ids = Vec::new();
            for item in items {
                match item["uuid"].as_str() {
                    Some(id) => ids.push(id.to_string()),
                    None => {
                        let why = "'uuid' is a required property (ports and fixed IPs are not \
                                   served here)";
                        return versioned(mv, invalid("networks", item, why));
                    }
                }
            }
            Some(ids)
        }
        // "auto" and "none" arrived with 2.37.
        other if mv >= (2, 37) && (other == "auto" || other == "none") => Some(Vec::new()),
        other => {
            let why = format!("{other} is not of type 'array'");
            return versioned(mv, invalid("networks", other, &why));
        }
    };

    let mut st = lock(&state);
    let Some(image_id) = server["imageRef"].as_str() else {
        return versioned(
            mv,
            fault(
                400,
                "Block Device Mapping is Invalid: Boot sequence for the instance and image/block \
                 device mapping combination is not valid.",
            ),
        );
    };
    if !st.images.iter().any(|i| i.id == image_id) {
        return versioned(mv, fault(400, "Can not find requested image"));
    }
    let flavor_id = server["flavorRef"].as_str().unwrap_or_default();
    if !st.flavors.iter().any(|f| f.id == flavor_id) {
        return versioned(mv, fault(400, "Invalid flavorRef provided."));
    }
    let networks = match requested_networks {
        Some(ids) => {
            if let Some(missing) = ids
                .iter()
                .find(|id| !st.networks.iter().any(|n| &n.id == *id))
            {
                let message = format!("Network {missing} could not be found.");
                return versioned(mv, fault(400, &message));
            }
            ids
        }
        None if st.networks.len() > 1 => {
            return versioned(
                mv,
                fault(
                    409,
                    "Multiple possible networks found, use a Network ID to be more specific.",
                ),
            )
        }
        None => st.networks.iter().map(|n| n.id.clone()).collect(),
    };
    let used = st.servers.len();
    if let Some(quota) = st.knobs.instance_quota {
        if used + 1 > quota as usize {
            let message = format!(
                "Quota exceeded for instances: Requested 1, but already used {used} of {quota} \
                 instances"
            );
            return versioned(mv, fault(403, &message));
        }
    }

    let id = uuid();
    let knobs = st.knobs.clone();
    let ip = st.next_ip;
    st.next_ip += 1;
    st.servers.push(ServerRec {
        id: id.clone(),
        name,
        image_id: image_id.to_string(),
        flavor_id: flavor_id.to_string(),
        networks,
        metadata,
        created: SystemTime::now(),
        born: Instant::now(),
        build_time: (!knobs.never_active).then_some(knobs.build_delay),
        fault: knobs.error_fault,
        ip,
    });
    let base = st.base.clone();
    drop(st);
    let mut response = reply(
        StatusCode::ACCEPTED,
        json!({"server": {
            "id": id,
            "links": links(&base, "servers", &id),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": &uuid()[..12],
        }}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/compute/v2.1/servers/{id}")) {
        response.headers_mut().insert("location", v);
    }
    versioned(mv, response)
}

fn server_doc(st: &CloudState, s: &ServerRec, mv: Mv) -> Value {
    let status = s.status();
    let flavor = st.flavors.iter().find(|f| f.id == s.flavor_id);
    let flavor_doc = if mv >= (2, 47) {
        json!({
            "original_name": flavor.map(|f| f.name.as_str()).unwrap_or_default(),
            "vcpus": 2, "ram": 4096, "disk": 20, "ephemeral": 0, "swap": 0,
            "extra_specs": {}
        })
    } else {
        json!({"id": s.flavor_id, "links": links(&st.base, "flavors", &s.flavor_id)})
    };
    let mut addresses = Map::new();
    if status == "ACTIVE" {
        for net_id in &s.networks {
            if let Some(net) = st.networks.iter().find(|n| &n.id == net_id) {
                addresses.insert(
                    net.name.clone(),
                    json!([{
                        "version": 4,
                        "addr": format!("10.0.0.{}", s.ip % 250),
                        "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": format!("fa:16:3e:00:00:{:02x}", s.ip % 256)
                    }]),
                );
            }
        }
    }
    let (vm_state, task_state, power_state) = match status {
        "ACTIVE" => ("active", Value::Null, 1),
        "ERROR" => ("error", Value::Null, 0),
        _ => ("building", json!("spawning"), 0),
    };
    let mut doc = json!({
        "id": s.id,
        "name": s.name,
        "status": status,
        "tenant_id": st.project_id,
        "user_id": st.user_id,
        "metadata": s.metadata,
        "hostId": if status == "BUILD" { "" } else { "c0ffee" },
        "image": {"id": s.image_id, "links": links(&st.base, "images", &s.image_id)},
        "flavor": flavor_doc,
        "created": iso8601(s.created, false),
        "updated": iso8601(SystemTime::now(), false),
        "addresses": addresses,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(&st.base, "servers", &s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": null,
        "OS-SRV-USG:launched_at": if status == "ACTIVE" {
            json!(iso8601(s.created, false))
        } else {
            Value::Null
        },
        "OS-SRV-USG:terminated_at": null,
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    });
    if let (Some(message), "ERROR") = (&s.fault, status) {
        doc["fault"] = json!({
            "code": 500,
            "created": iso8601(SystemTime::now(), false),
            "message": message
        });
    }
    if mv >= (2, 9) {
        doc["locked"] = json!(false);
    }
    if mv >= (2, 19) {
        doc["description"] = Value::Null;
    }
    if mv >= (2, 26) {
        doc["tags"] = json!([]);
    }
    doc
}

/// `GET /servers[/detail]`: newest first (Nova's default sort), filtered by
/// `name` (Nova takes a regular expression; here `^` anchors a prefix, or
/// the name must contain it) and `status`, paged by `limit` and `marker`.
fn servers_page(st: &CloudState, query: &[(String, String)], mv: Mv, detail: bool) -> Response {
    let mut chosen: Vec<&ServerRec> = st.servers.iter().rev().collect();
    if let Some(name) = param(query, "name") {
        chosen.retain(|s| match name.strip_prefix('^') {
            Some(prefix) => s.name.starts_with(prefix),
            None => s.name.contains(name),
        });
    }
    if let Some(status) = param(query, "status") {
        chosen.retain(|s| s.status().eq_ignore_ascii_case(status));
    }
    let limit = match param(query, "limit").map(str::parse::<usize>) {
        None => None,
        Some(Ok(n)) => Some(n.min(1000)),
        Some(Err(_)) => return fault(400, "limit param must be an integer"),
    };
    let marker = param(query, "marker");
    let Ok(chosen) = page(chosen, |s| s.id.as_str(), limit, marker) else {
        let message = format!("marker [{}] not found", marker.unwrap_or_default());
        return fault(400, &message);
    };
    let items: Vec<Value> = chosen
        .iter()
        .map(|s| {
            if detail {
                server_doc(st, s, mv)
            } else {
                json!({"id": s.id, "name": s.name, "links": links(&st.base, "servers", &s.id)})
            }
        })
        .collect();
    let mut body = json!({"servers": items});
    if let (Some(limit), Some(last)) = (limit, chosen.last()) {
        if chosen.len() == limit {
            let path = if detail { "servers/detail" } else { "servers" };
            body["servers_links"] = json!([{
                "rel": "next",
                "href": format!("{}/compute/v2.1/{path}?limit={limit}&marker={}", st.base, last.id)
            }]);
        }
    }
    reply(StatusCode::OK, body)
}

async fn list_servers(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mv = nova!(state, headers);
    versioned(mv, servers_page(&lock(&state), &query, mv, false))
}

async fn list_servers_detail(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mv = nova!(state, headers);
    versioned(mv, servers_page(&lock(&state), &query, mv, true))
}

pub(super) fn no_instance(id: &str) -> Response {
    fault(404, &format!("Instance {id} could not be found."))
}

async fn show_server(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mv = nova!(state, headers);
    let st = lock(&state);
    let response = match st.servers.iter().find(|s| s.id == id) {
        Some(s) => reply(StatusCode::OK, json!({"server": server_doc(&st, s, mv)})),
        None => no_instance(&id),
    };
    versioned(mv, response)
}

async fn delete_server(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mv = nova!(state, headers);
    let mut st = lock(&state);
    let before = st.servers.len();
    st.servers.retain(|s| s.id != id);
    let response = if st.servers.len() < before {
        st.consoles.retain(|_, c| c.server_id != id);
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_instance(&id)
    };
    versioned(mv, response)
}
