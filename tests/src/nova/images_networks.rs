//! Glance v2 images and Neutron v2.0 networks: their version documents,
//! listing (with `name`, `limit`, `marker`) and showing one.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{iso8601, lock, page, param, reply, CloudState, Named, Shared};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/image", get(glance_versions))
        .route("/image/", get(glance_versions))
        .route("/image/v2/images", get(list_images))
        .route("/image/v2/images/{id}", get(show_image))
        .route("/networking", get(neutron_versions))
        .route("/networking/", get(neutron_versions))
        .route("/networking/v2.0/networks", get(list_networks))
        .route("/networking/v2.0/networks/{id}", get(show_network))
}

/// Glance answers its root with 300 Multiple Choices.
async fn glance_versions(State(state): State<Shared>) -> Response {
    let base = lock(&state).base.clone();
    let version = |id: &str, status: &str| {
        json!({
            "id": id,
            "status": status,
            "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]
        })
    };
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": [
            version("v2.16", "CURRENT"),
            version("v2.15", "SUPPORTED"),
            version("v2.9", "SUPPORTED"),
        ]}),
    )
}

fn image_doc(st: &CloudState, image: &Named) -> Value {
    let when = iso8601(image.created, false);
    json!({
        "id": image.id,
        "name": image.name,
        "status": "active",
        "visibility": "public",
        "protected": false,
        "os_hidden": false,
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk": 0,
        "min_ram": 0,
        "size": 1_073_741_824u64,
        "virtual_size": 10_737_418_240u64,
        "checksum": null,
        "owner": st.project_id,
        "tags": [],
        "created_at": when,
        "updated_at": when,
        "self": format!("/v2/images/{}", image.id),
        "file": format!("/v2/images/{}/file", image.id),
        "schema": "/v2/schemas/image"
    })
}

fn limit_of(query: &[(String, String)]) -> Result<Option<usize>, ()> {
    match param(query, "limit").map(str::parse::<usize>) {
        None => Ok(None),
        Some(Ok(n)) => Ok(Some(n)),
        Some(Err(_)) => Err(()),
    }
}

async fn list_images(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let st = lock(&state);
    let mut chosen: Vec<&Named> = st.images.iter().collect();
    if let Some(name) = param(&query, "name") {
        chosen.retain(|i| i.name == name);
    }
    let Ok(limit) = limit_of(&query) else {
        return (StatusCode::BAD_REQUEST, "limit param must be an integer").into_response();
    };
    let marker = param(&query, "marker");
    let Ok(chosen) = page(chosen, |i| i.id.as_str(), limit, marker) else {
        let text = format!(
            "Invalid marker. Image {} could not be found.",
            marker.unwrap_or_default()
        );
        return (StatusCode::BAD_REQUEST, text).into_response();
    };
    let mut body = json!({
        "images": chosen.iter().map(|i| image_doc(&st, i)).collect::<Vec<_>>(),
        "first": "/v2/images",
        "schema": "/v2/schemas/images"
    });
    if let (Some(limit), Some(last)) = (limit, chosen.last()) {
        if chosen.len() == limit {
            body["next"] = json!(format!("/v2/images?marker={}&limit={limit}", last.id));
        }
    }
    reply(StatusCode::OK, body)
}

async fn show_image(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let st = lock(&state);
    match st.images.iter().find(|i| i.id == id) {
        Some(image) => reply(StatusCode::OK, image_doc(&st, image)),
        // Glance's (webob's) HTML error page.
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
            format!(
                "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
                 <h1>404 Not Found</h1>\n  No image found with ID {id}<br /><br />\n\n\n\n \
                 </body>\n</html>"
            ),
        )
            .into_response(),
    }
}

async fn neutron_versions(State(state): State<Shared>) -> Response {
    let base = lock(&state).base.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{base}/networking/v2.0/")}]
        }]}),
    )
}

fn network_doc(st: &CloudState, net: &Named) -> Value {
    let when = iso8601(net.created, false);
    json!({
        "id": net.id,
        "name": net.name,
        "tenant_id": st.project_id,
        "project_id": st.project_id,
        "admin_state_up": true,
        "status": "ACTIVE",
        "subnets": [],
        "shared": false,
        "mtu": 1450,
        "router:external": false,
        "port_security_enabled": true,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "description": "",
        "tags": [],
        "created_at": when,
        "updated_at": when,
        "revision_number": 1
    })
}

fn neutron_error(status: StatusCode, kind: &str, message: &str) -> Response {
    reply(
        status,
        json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}),
    )
}

async fn list_networks(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let st = lock(&state);
    let mut chosen: Vec<&Named> = st.networks.iter().collect();
    if let Some(name) = param(&query, "name") {
        chosen.retain(|n| n.name == name);
    }
    let Ok(limit) = limit_of(&query) else {
        return neutron_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Bad limit request: Limit must be an integer 0 or greater and not 'x'.",
        );
    };
    let marker = param(&query, "marker");
    let Ok(chosen) = page(chosen, |n| n.id.as_str(), limit, marker) else {
        let message = format!("Network {} could not be found.", marker.unwrap_or_default());
        return neutron_error(StatusCode::NOT_FOUND, "NetworkNotFound", &message);
    };
    let mut body = json!({
        "networks": chosen.iter().map(|n| network_doc(&st, n)).collect::<Vec<_>>()
    });
    if let (Some(limit), Some(last)) = (limit, chosen.last()) {
        if chosen.len() == limit {
            body["networks_links"] = json!([{
                "rel": "next",
                "href": format!(
                    "{}/networking/v2.0/networks?limit={limit}&marker={}",
                    st.base, last.id
                )
            }]);
        }
    }
    reply(StatusCode::OK, body)
}

async fn show_network(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let st = lock(&state);
    match st.networks.iter().find(|n| n.id == id) {
        Some(net) => reply(StatusCode::OK, json!({"network": network_doc(&st, net)})),
        None => neutron_error(
            StatusCode::NOT_FOUND,
            "NetworkNotFound",
            &format!("Network {id} could not be found."),
        ),
    }
}
