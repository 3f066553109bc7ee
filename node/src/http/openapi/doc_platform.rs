//! The platform's operations (operator): health, metrics, this document,
//! the cluster, the tenant registry and the key-value table.

#![allow(dead_code)]

use super::schemas::*;
use super::texts::*;

// ---- platform ----

/// Liveness
///
/// Answers `ok` as soon as the HTTPS server runs, whatever the cluster's
/// state.
#[utoipa::path(get, path = "/healthz", tag = "platform",
    responses((status = 200, description = "The node runs.", body = String,
        content_type = "text/plain", example = "ok")))]
fn healthz() {}

/// Prometheus metrics
///
/// Requests per route, the store's state and the viewers' counters
/// (docs/NODE-CLI.md lists the viewer metrics).
#[utoipa::path(get, path = "/metrics", tag = "platform",
    responses((status = 200, description = "Prometheus text format.", body = String,
        content_type = "text/plain; version=0.0.4")))]
fn metrics() {}

/// This document
#[utoipa::path(get, path = "/api/openapi.json", tag = "platform",
    responses((status = 200, description = "The OpenAPI 3.1 document of this node's API.",
        body = serde_json::Value, content_type = "application/json")))]
fn openapi_json() {}

// ---- cluster ----

/// The replicated store's status, as this node sees it
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "The status.", body = ClusterStatus)))]
fn cluster_status() {}

/// Add a node to the cluster
///
/// The node is added as a learner, caught up, then made a voter.
#[utoipa::path(post, path = "/api/v1/cluster/nodes", tag = "cluster",
    security(("operator" = [])),
    request_body = AddNode,
    responses(
        (status = 204, description = "The node is a member."),
        (status = 400, description = "Not `{\"id\", \"raft_addr\"}`, id 0, or an address \
            that is not HOST:PORT.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 409, description = "The membership change was refused (another one is \
            under way).", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn cluster_add_node() {}

/// Remove a node from the cluster
#[utoipa::path(delete, path = "/api/v1/cluster/nodes/{id}", tag = "cluster",
    security(("operator" = [])),
    params(("id" = u64, Path, description = "The node's id.")),
    responses(
        (status = 204, description = "The node is no longer a member."),
        (status = 400, description = "Not a node id.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "The node is not in the cluster.", body = Error),
        (status = 409, description = "It is the last voter, or the change was refused.",
            body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn cluster_remove_node() {}

/// Make this node stand for election now
///
/// Once caught up it takes over leadership (`opencloud cluster elect`).
#[utoipa::path(post, path = "/api/v1/cluster/elect", tag = "cluster",
    security(("operator" = [])),
    responses(
        (status = 202, description = "The election is started."),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn cluster_elect() {}

// ---- tenants ----

/// List the tenants
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every tenant (at most 10,000).", body = [Tenant]),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn tenants_list() {}

/// Create a tenant
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants",
    security(("operator" = [])),
    params(("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
        max_length = 128, description = IDEMPOTENCY)),
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant is created.", body = Tenant),
        (status = 400, description = "Not `{\"slug\", \"name\"}`, a bad slug or name, or a \
            bad `X-Request-Id`.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 409, description = "A tenant with this slug exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn tenants_create() {}

/// Read a tenant
#[utoipa::path(get, path = "/api/v1/tenants/{slug}", tag = "tenants",
    security(("operator" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The tenant.", body = Tenant),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such tenant.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn tenants_read() {}

/// Delete a tenant
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}", tag = "tenants",
    security(("operator" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "The tenant is deleted."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such tenant.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn tenants_delete() {}

// ---- kv ----

/// Set an operator setting
#[utoipa::path(put, path = "/api/v1/kv/{key}", tag = "kv",
    security(("operator" = [])),
    params(
        ("key" = String, Path, description = KV_KEY, min_length = 1, max_length = 256,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$"),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body(content = inline(Bytes), content_type = "application/octet-stream",
        description = "The value, raw bytes, at most 64 KiB."),
    responses(
        (status = 204, description = "Stored."),
        (status = 400, description = "A bad key, a value over 64 KiB, or a bad \
            `X-Request-Id`.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn kv_put() {}

/// Read an operator setting
#[utoipa::path(get, path = "/api/v1/kv/{key}", tag = "kv",
    security(("operator" = [])),
    params(("key" = String, Path, description = KV_KEY, min_length = 1, max_length = 256,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")),
    responses(
        (status = 200, description = "The value as stored.", body = inline(Bytes),
            content_type = "application/octet-stream"),
        (status = 400, description = "A bad key.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such key.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn kv_get() {}

/// Delete an operator setting
#[utoipa::path(delete, path = "/api/v1/kv/{key}", tag = "kv",
    security(("operator" = [])),
    params(
        ("key" = String, Path, description = KV_KEY, min_length = 1, max_length = 256,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$"),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "A bad key or `X-Request-Id`.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such key.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn kv_delete() {}
