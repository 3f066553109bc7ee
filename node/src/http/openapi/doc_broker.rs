//! The VM broker's operations (`broker/api.rs`): images and quotas
//! (operator), pools and VMs (tenant admin). Launching a VM app is the
//! desktop's `POST /t/{slug}/api/v1/apps/{id}/launch` (`doc_site`).

#![allow(dead_code)]

use super::schemas::*;
use super::texts::*;

const IMAGE_ID: &str = "The image's id.";
const POOL_ID: &str = "The pool's id.";
const BAD_IMAGE: &str = "Invalid: not an image (missing or unknown fields, a source that is \
    none of the three kinds), a bad id or name, a relative kernel, initrd or disk path, \
    `append` over 1024 characters, an empty `cloud_image` or `flavor`, or a source that does \
    not fit the provider.";
const BAD_POOL: &str = "Invalid: not a pool (missing or unknown fields), a bad id, no image \
    with the id given, a `provider` other than the image's, an image that does not fit the \
    provider, `memory_mb`, `vcpus`, `max` or `idle_timeout_s` out of range, `warm` over \
    `max`, a bad `X-Request-Id`.";
const POOL_403: &str = "Signed in, but not one of the tenant's administrators; or an inline \
    image without the operator's token (tenant admins pick a registered image by its id); or \
    the tenant is suspended; or a cross-site write.";

// ---- images (operator) ----

/// List the registered images
#[utoipa::path(get, path = "/api/v1/images", tag = "broker",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every image.", body = [Image]),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn images_list() {}

/// Register an image
///
/// Host paths and cloud names are the operator's to give: tenant admins
/// make pools of registered images by their ids. A pool copies its image's
/// source when it is made, so later changes to the image do not reach it.
#[utoipa::path(post, path = "/api/v1/images", tag = "broker",
    security(("operator" = [])),
    request_body = Image,
    responses(
        (status = 201, description = "The image is registered.", body = Image),
        (status = 400, description = BAD_IMAGE, body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 409, description = "An image with this id exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn images_create() {}

/// Read an image
#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "broker",
    security(("operator" = [])),
    params(("id" = String, Path, description = IMAGE_ID)),
    responses(
        (status = 200, description = "The image.", body = Image),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such image.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn images_read() {}

/// Remove an image
///
/// Pools made of it keep their copy of its source.
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "broker",
    security(("operator" = [])),
    params(("id" = String, Path, description = IMAGE_ID)),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such image.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn images_delete() {}

// ---- quotas (operator) ----

/// Read a tenant's quota
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/quota", tag = "broker",
    security(("operator" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The quota; `{\"max_vms\": null}` when none is set.",
            body = Quota),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such tenant.", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn quota_read() {}

/// Set a tenant's quota
///
/// Launches beyond it answer 429 and the planner starts no VM beyond it;
/// VMs already running are kept.
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/quota", tag = "broker",
    security(("operator" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = Quota,
    responses(
        (status = 200, description = "The quota as stored.", body = Quota),
        (status = 400, description = "Not a quota, or a bad `X-Request-Id`.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 404, description = "No such tenant.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn quota_put() {}

// ---- pools and VMs (tenant admin) ----

/// List the pools
#[utoipa::path(get, path = "/t/{slug}/api/v1/pools", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every pool, with its VMs' counts.", body = [Pool]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn pools_list() {}

/// Create a pool
///
/// The planner then keeps `warm` VMs of it ready, within `max` and the
/// tenant's quota. Its VM apps name it as their `pool`.
#[utoipa::path(post, path = "/t/{slug}/api/v1/pools", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = PoolInput,
    responses(
        (status = 201, description = "The pool is created (no VMs yet).", body = Pool),
        (status = 400, description = BAD_POOL, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = POOL_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 409, description = "A pool with this id exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn pools_create() {}

/// Read a pool
#[utoipa::path(get, path = "/t/{slug}/api/v1/pools/{id}", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = POOL_ID),
    ),
    responses(
        (status = 200, description = "The pool, with its VMs' counts.", body = Pool),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such pool, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn pools_read() {}

/// Create or replace a pool
///
/// VMs already running keep what they booted; new ones boot the new image.
#[utoipa::path(put, path = "/t/{slug}/api/v1/pools/{id}", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The pool's id; the body's `id` must be the \
            same."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = PoolInput,
    responses(
        (status = 200, description = "The pool as stored, with its VMs' counts.",
            body = Pool),
        (status = 400, description = "Invalid (as for a new pool), or the body's id differs \
            from the URL's.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = POOL_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn pools_put() {}

/// Remove a pool
///
/// Its idle VMs stop at the planner's next pass, assigned ones when their
/// users leave.
#[utoipa::path(delete, path = "/t/{slug}/api/v1/pools/{id}", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = POOL_ID),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such pool, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn pools_delete() {}

/// List the tenant's VMs
#[utoipa::path(get, path = "/t/{slug}/api/v1/vms", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every VM of every pool, failed ones while they are \
            kept; never their SPICE passwords.", body = [Vm]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn vms_list() {}

/// The tenant's metered usage
///
/// VM-seconds per VM assignment, idempotent by id: what billing reads. A
/// long assignment is recorded in whole periods while it runs
/// (`--usage-checkpoint-s`, an hour by default; ids `<vm id>@<end>`), and
/// the rest, under the VM's id, before the VM's record is removed; the
/// events of one assignment follow each other end to start.
#[utoipa::path(get, path = "/t/{slug}/api/v1/usage", tag = "broker",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every usage event of the tenant.", body = [UsageEvent]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn usage_list() {}
