//! `GET /api/openapi.json`: an OpenAPI 3.1 document of every HTTP endpoint
//! of the node, built by `utoipa` from the declarations of this folder.
//!
//! The operations are documentation-only functions (`doc_*::*`, one file
//! per API area) rather than attributes on the handlers, so the handler
//! files stay as they are; the statuses follow the handlers. The tenant
//! admin API's bodies are the real types of `opencloud-tenant-admin`
//! (feature `openapi`); the platform's, the broker's and the sign-in pages'
//! bodies, built from types of other modules or from `json!`, are described
//! by `schemas`. Two tests keep this honest: `tests` compares the
//! documented paths and methods with the `.route(...)` calls in the
//! sources, and `tests/tests/api_openapi.rs` sends every documented
//! operation to a real node and checks answers against the schemas.

mod doc_admin;
mod doc_broker;
mod doc_platform;
mod doc_site;
mod doc_viewer;
mod schemas;
#[cfg(test)]
mod tests;
mod texts;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document, built once.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

static JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the API document: {e}\"}}"))
});

/// The handler of `GET /api/openapi.json` (public).
pub async fn serve() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JSON.as_str(),
    )
        .into_response()
}

const DESCRIPTION: &str = "\
The HTTPS API of one Opencloud node. Every node serves all of it; writes and \
reads sent to a follower are forwarded to the Raft leader.

* **Platform** (`/healthz`, `/metrics`, `/api/v1/cluster…`, `/api/v1/tenants…`, \
`/api/v1/kv…`, `/api/v1/viewer/tickets`): the operator's API, authenticated by \
`Authorization: Bearer TOKEN` (`OPENCLOUD_OPERATOR_TOKEN`). See docs/NODE-CLI.md.
* **Viewer** (`/viewer/…`, `/spice-html5/…`): the SPICE viewer page and its \
websockets, see docs/VIEWER-PROTOCOL.md.
* **Tenant sites** (`/t/{slug}/…`): a tenant's sign-in and desktop pages, its \
users' API (cookie `oc_session`, set by sign-in) and the tenant admin API \
(the operator token, or the session of a tenant user with the admin role). \
See docs/DESKTOP-API.md. When the node runs with a base domain, \
`https://{slug}.{base_domain}/…` serves the same paths without the `/t/{slug}` \
prefix.
* **Broker** (`/api/v1/images…`, `/api/v1/tenants/{slug}/quota`, \
`/t/{slug}/api/v1/pools…`, `/t/{slug}/api/v1/vms`, `/t/{slug}/api/v1/usage`): the VM broker. The operator \
registers images (kernels, disks or cloud images) and sets each tenant's quota \
of VMs; a tenant's admins (as for the tenant admin API) make pools of those \
images, kept warm with ready VMs, and see their VMs. A user's launch of a VM \
app (`POST /t/{slug}/api/v1/apps/{id}/launch`) is assigned a VM of the app's \
pool and answered with a single-use viewer URL.

All errors are JSON `{\"error\": \"…\"}`, also those of the HTTP layer \
(unknown path: 404 `no such page`; wrong method: 405; body over 1 MiB: 413). \
Writes that carry `X-Request-Id` are applied once however often they are \
retried. A write the cluster cannot commit within its timeout answers 503. \
Every state-changing request under `/t/` that a browser marks as cross-site \
(`Sec-Fetch-Site`, or an `Origin` of another host) is refused with 403.

Websockets are HTTP/1.1 upgrades (`Connection: Upgrade`, `Upgrade: websocket`); \
their messages are described in the documents named on each of them.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Opencloud node API",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "platform", description = "Health, metrics and this document"),
        (name = "cluster", description = "The replicated store's status and membership (operator)"),
        (name = "tenants", description = "The tenant registry (operator)"),
        (name = "kv", description = "The operators' small key-value table"),
        (name = "viewer", description = "Viewer tickets, the viewer page and its websockets (docs/VIEWER-PROTOCOL.md)"),
        (name = "desktop", description = "A tenant's sign-in and desktop pages and their API (docs/DESKTOP-API.md)"),
        (name = "tenant-admin", description = "A tenant's users, profiles, apps, branding and directory: the operator token or a tenant admin's session"),
        (name = "broker", description = "The VM broker: images and tenants' quotas (operator), a tenant's pools and VMs (the operator token or a tenant admin's session)"),
    ),
    paths(
        doc_platform::healthz,
        doc_platform::metrics,
        doc_platform::openapi_json,
        doc_platform::cluster_status,
        doc_platform::cluster_add_node,
        doc_platform::cluster_remove_node,
        doc_platform::cluster_elect,
        doc_platform::tenants_list,
        doc_platform::tenants_create,
        doc_platform::tenants_read,
        doc_platform::tenants_delete,
        doc_platform::kv_put,
        doc_platform::kv_get,
        doc_platform::kv_delete,
        doc_viewer::viewer_issue_ticket,
        doc_viewer::viewer_redirect,
        doc_viewer::viewer_page,
        doc_viewer::viewer_script,
        doc_viewer::viewer_translate_ws,
        doc_viewer::viewer_passthrough_ws,
        doc_viewer::spice_html5,
        doc_site::desktop_asset,
        doc_site::site_root,
        doc_site::site_desktop_page,
        doc_site::site_login_page,
        doc_site::site_login_form,
        doc_site::site_branding,
        doc_site::site_branding_picture,
        doc_site::site_login,
        doc_site::site_logout,
        doc_site::site_me,
        doc_site::site_new_captcha,
        doc_site::site_captcha_image,
        doc_site::site_launch,
        doc_site::site_events_ws,
        doc_admin::admin_list_users,
        doc_admin::admin_create_user,
        doc_admin::admin_read_user,
        doc_admin::admin_update_user,
        doc_admin::admin_delete_user,
        doc_admin::admin_list_profiles,
        doc_admin::admin_create_profile,
        doc_admin::admin_read_profile,
        doc_admin::admin_put_profile,
        doc_admin::admin_delete_profile,
        doc_admin::admin_list_apps,
        doc_admin::admin_create_app,
        doc_admin::admin_read_app,
        doc_admin::admin_put_app,
        doc_admin::admin_delete_app,
        doc_admin::admin_put_branding,
        doc_admin::admin_read_ldap,
        doc_admin::admin_put_ldap,
        doc_admin::admin_delete_ldap,
        doc_broker::images_list,
        doc_broker::images_create,
        doc_broker::images_read,
        doc_broker::images_delete,
        doc_broker::quota_read,
        doc_broker::quota_put,
        doc_broker::pools_list,
        doc_broker::pools_create,
        doc_broker::pools_read,
        doc_broker::pools_put,
        doc_broker::pools_delete,
        doc_broker::vms_list,
        doc_broker::usage_list,
    ),
)]
struct ApiDoc;

/// The two ways to authenticate: `operator` and `session`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator token (`OPENCLOUD_OPERATOR_TOKEN`, or the one printed at \
                         the first start), identical on every node.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "oc_session",
                "A tenant user's session, set by a sign-in (`HttpOnly; SameSite=Lax; \
                 Path=/t/{slug}/`). It is valid for that tenant only.",
            ))),
        );
    }
}
