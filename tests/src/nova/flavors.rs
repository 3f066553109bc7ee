//! Nova's flavors: list, detail, show, extra specs.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::compute::{fault, links, nova, versioned, Mv};
use super::{lock, page, param, reply, CloudState, Named, Shared};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/compute/v2.1/flavors", get(list_flavors))
        .route("/compute/v2.1/flavors/detail", get(list_flavors_detail))
        .route("/compute/v2.1/flavors/{id}", get(show_flavor))
        .route(
            "/compute/v2.1/flavors/{id}/os-extra_specs",
            get(extra_specs),
        )
}

fn flavor_doc(base: &str, f: &Named, mv: Mv) -> Value {
    let mut doc = json!({
        "id": f.id,
        "name": f.name,
        "ram": 4096,
        "disk": 20,
        "vcpus": 2,
        // Nova wrote an empty string for no swap until 2.75.
        "swap": if mv >= (2, 75) { json!(0) } else { json!("") },
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": false,
        "os-flavor-access:is_public": true,
        "rxtx_factor": 1.0,
        "links": links(base, "flavors", &f.id)
    });
    if mv >= (2, 55) {
        doc["description"] = Value::Null;
    }
    if mv >= (2, 61) {
        doc["extra_specs"] = json!({});
    }
    doc
}

fn flavors_page(st: &CloudState, query: &[(String, String)], mv: Mv, detail: bool) -> Response {
    let limit = match param(query, "limit").map(str::parse::<usize>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return fault(400, "limit param must be an integer"),
    };
    let marker = param(query, "marker");
    let Ok(chosen) = page(
        st.flavors.iter().collect(),
        |f| f.id.as_str(),
        limit,
        marker,
    ) else {
        let message = format!("marker [{}] not found", marker.unwrap_or_default());
        return fault(400, &message);
    };
    let items: Vec<Value> = chosen
        .iter()
        .map(|f| {
            if detail {
                flavor_doc(&st.base, f, mv)
            } else {
                json!({"id": f.id, "name": f.name, "links": links(&st.base, "flavors", &f.id)})
            }
        })
        .collect();
    reply(StatusCode::OK, json!({"flavors": items}))
}

async fn list_flavors(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mv = nova!(state, headers);
    versioned(mv, flavors_page(&lock(&state), &query, mv, false))
}

async fn list_flavors_detail(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mv = nova!(state, headers);
    versioned(mv, flavors_page(&lock(&state), &query, mv, true))
}

async fn show_flavor(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mv = nova!(state, headers);
    let st = lock(&state);
    let response = match st.flavors.iter().find(|f| f.id == id) {
        Some(f) => reply(
            StatusCode::OK,
            json!({"flavor": flavor_doc(&st.base, f, mv)}),
        ),
        None => fault(404, &format!("Flavor {id} could not be found.")),
    };
    versioned(mv, response)
}

async fn extra_specs(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mv = nova!(state, headers);
    let st = lock(&state);
    let response = if st.flavors.iter().any(|f| f.id == id) {
        reply(StatusCode::OK, json!({"extra_specs": {}}))
    } else {
        fault(404, &format!("Flavor {id} could not be found."))
    };
    versioned(mv, response)
}
