//! `GET /api/openapi.json`: an OpenAPI 3.1 document of every HTTP endpoint
//! of the node, built by `utoipa` from the declarations below.
//!
//! The operations are documentation-only functions (`doc::*`) next to each
//! other here rather than attributes on the handlers, so the handler files
//! stay as they are; the statuses follow the handlers. The tenant admin
//! API's bodies are the real types of `opencloud-tenant-admin` (feature
//! `openapi`); the platform's and the sign-in pages' bodies, built from
//! types of other modules or from `json!`, are described by the `schemas`
//! below. Two tests keep this honest: `tests` here compares the documented
//! paths and methods with the `.route(...)` calls in the sources, and
//! `tests/tests/api_openapi.rs` sends every documented operation to a real
//! node and checks answers against the schemas.

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
    ),
    paths(
        doc::healthz,
        doc::metrics,
        doc::openapi_json,
        doc::cluster_status,
        doc::cluster_add_node,
        doc::cluster_remove_node,
        doc::cluster_elect,
        doc::tenants_list,
        doc::tenants_create,
        doc::tenants_read,
        doc::tenants_delete,
        doc::kv_put,
        doc::kv_get,
        doc::kv_delete,
        doc::viewer_issue_ticket,
        doc::viewer_redirect,
        doc::viewer_page,
        doc::viewer_script,
        doc::viewer_translate_ws,
        doc::viewer_passthrough_ws,
        doc::spice_html5,
        doc::desktop_asset,
        doc::site_root,
        doc::site_desktop_page,
        doc::site_login_page,
        doc::site_login_form,
        doc::site_branding,
        doc::site_branding_picture,
        doc::site_login,
        doc::site_logout,
        doc::site_me,
        doc::site_new_captcha,
        doc::site_captcha_image,
        doc::site_launch,
        doc::site_events_ws,
        doc::admin_list_users,
        doc::admin_create_user,
        doc::admin_read_user,
        doc::admin_update_user,
        doc::admin_delete_user,
        doc::admin_list_profiles,
        doc::admin_create_profile,
        doc::admin_read_profile,
        doc::admin_put_profile,
        doc::admin_delete_profile,
        doc::admin_list_apps,
        doc::admin_create_app,
        doc::admin_read_app,
        doc::admin_put_app,
        doc::admin_delete_app,
        doc::admin_put_branding,
        doc::admin_read_ldap,
        doc::admin_put_ldap,
        doc::admin_delete_ldap,
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

/// Request and response bodies that are not types of their own elsewhere
/// (built with `json!` in the handlers, or types of other crates).
mod schemas {
    #![allow(dead_code)]

    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// Every error answer.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[schema(example = json!({"error": "not signed in"}))]
    pub struct Error {
        /// What went wrong, for people.
        pub error: String,
    }

    /// Raw bytes.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[schema(value_type = String, format = Binary)]
    pub struct Bytes(pub Vec<u8>);

    /// The node's view of the replicated store.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct ClusterStatus {
        /// The id of the node that answers.
        pub node_id: u64,
        /// The leader as this node sees it; `null` while it knows none.
        pub leader: Option<u64>,
        pub term: u64,
        pub last_applied: u64,
        pub last_log_index: u64,
        /// Voters.
        pub members: Vec<u64>,
        /// Non-voting members being caught up.
        pub learners: Vec<u64>,
        /// This node's Raft role: `Leader`, `Follower`, `Candidate`, `Learner`
        /// or `Shutdown`.
        pub state: String,
        /// The last log index the latest snapshot covers.
        pub snapshot_index: Option<u64>,
    }

    /// A node to add as a member.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct AddNode {
        /// The new node's id (1 or more).
        #[schema(minimum = 1)]
        pub id: u64,
        /// Where the other nodes reach its Raft port, `HOST:PORT`.
        #[schema(example = "10.0.0.4:9443", pattern = "^.+:[0-9]{1,5}$")]
        pub raft_addr: String,
    }

    /// A tenant to create.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewTenant {
        /// Lower-case letters, digits and inner hyphens, 2 to 40 characters,
        /// not a reserved word (`api`, `admin`, `www`, `static`, `assets`,
        /// `portal`, `t`).
        #[schema(pattern = "^[a-z0-9-]{2,40}$", example = "acme")]
        pub slug: String,
        /// 1 to 200 characters (surrounding spaces are trimmed).
        #[schema(example = "Acme Corp", min_length = 1, max_length = 200)]
        pub name: String,
    }

    /// A tenant's registry record.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Tenant {
        pub slug: String,
        pub name: String,
        pub status: TenantStatus,
        /// Seconds since the Unix epoch.
        pub created_at: u64,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TenantStatus {
        Active,
        Suspended,
    }

    /// How the viewer reaches the VM.
    #[derive(Default, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ViewerMode {
        /// The node decodes SPICE; the browser gets images
        /// (docs/VIEWER-PROTOCOL.md).
        #[default]
        Translate,
        /// Raw SPICE over the websocket, for stock clients (spice-html5).
        Passthrough,
    }

    /// A viewer ticket to issue.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct IssueTicket {
        /// The VM's SPICE address: an IP address and port.
        #[schema(
            example = "127.0.0.1:5900",
            pattern = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"
        )]
        pub addr: String,
        /// The SPICE password, at most 60 bytes.
        #[serde(default)]
        #[schema(max_length = 60)]
        pub password: String,
        #[serde(default)]
        #[schema(default = "translate")]
        pub mode: ViewerMode,
        /// Seconds the ticket stays redeemable, 1 to 600.
        #[serde(default)]
        #[schema(default = 60, minimum = 1, maximum = 600)]
        pub ttl_s: u64,
    }

    /// An issued ticket (single use).
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct IssuedTicket {
        pub token: String,
        pub expires_in_s: u64,
        /// Relative to the node: the viewer page for this ticket.
        #[schema(example = "/viewer/#token=…")]
        pub viewer_url: String,
        /// The websocket of the ticket's mode.
        #[schema(example = "/viewer/ws?token=…")]
        pub websocket: String,
    }

    /// The tenant a page belongs to.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct TenantRef {
        pub slug: String,
        pub name: String,
    }

    /// How the tenant's pages look.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct BrandingView {
        pub product_name: String,
        pub colors: opencloud_tenant_admin::model::Colors,
        /// `null` when the tenant has no logo.
        #[schema(example = "/t/acme/api/v1/branding/logo")]
        pub logo_url: Option<String>,
        /// `null` when the tenant has no wallpaper.
        pub wallpaper_url: Option<String>,
        pub tenant: TenantRef,
    }

    /// A sign-in.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct LoginRequest {
        /// At most 1024 bytes.
        #[schema(max_length = 1024)]
        pub username: String,
        /// At most 1024 bytes.
        #[schema(max_length = 1024)]
        pub password: String,
        /// Only once an answer asked for one (`captcha_required`).
        #[serde(default)]
        pub captcha: Option<CaptchaAnswer>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CaptchaAnswer {
        pub id: String,
        pub answer: String,
    }

    /// The sign-in form's fields (the page without script).
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct LoginForm {
        pub username: String,
        pub password: String,
        #[serde(default)]
        pub captcha_id: String,
        #[serde(default)]
        pub captcha_answer: String,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    #[schema(example = json!({"ok": true}))]
    pub struct LoginOk {
        pub ok: bool,
    }

    /// A refused sign-in. It never tells whether the account exists.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct LoginDenied {
        /// `wrong username or password`, or `the characters did not match
        /// the image` with `captcha_wrong`.
        pub error: String,
        /// The next attempt must carry a captcha answer.
        pub captcha_required: bool,
        /// The captcha was missing or wrong (the password was not checked).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        pub captcha_wrong: Option<bool>,
        /// A new captcha, whenever one is required.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        pub captcha: Option<Captcha>,
    }

    /// Too many failed sign-ins.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[schema(example = json!({"error": "too many attempts, wait 30 s", "retry_after_s": 30}))]
    pub struct TooManyAttempts {
        pub error: String,
        pub retry_after_s: u64,
    }

    /// A captcha to show: its image is `GET image_url`.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Captcha {
        pub id: String,
        #[schema(example = "/t/acme/api/v1/captcha/0123456789abcdef0123456789abcdef")]
        pub image_url: String,
    }

    /// The signed-in user and the apps of their desktop.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Me {
        pub login: String,
        pub display_name: String,
        pub admin: bool,
        pub tenant: TenantRef,
        /// The apps of the user's profiles, each once, sorted by name.
        pub apps: Vec<DesktopApp>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum DesktopAppKind {
        Web,
        Vm,
    }

    /// An app as the desktop shows it.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct DesktopApp {
        pub id: String,
        pub name: String,
        /// An image URL or a built-in icon name; `null` for none.
        pub icon: Option<String>,
        pub kind: DesktopAppKind,
        /// `web` apps only.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        pub url: Option<String>,
        /// `web` apps only: whether to open it in a window (else a tab).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        pub frameable: Option<bool>,
    }

    /// A launched VM app: show `viewer_url` in the window.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Launched {
        #[schema(example = "/viewer/#token=…")]
        pub viewer_url: String,
    }
}

/// The operations: documentation only, never called (the handlers are in
/// `http/`, `viewer/routes.rs` and `desktop/`).
#[allow(dead_code)]
mod doc {
    use opencloud_tenant_admin::model::{
        App, BrandingInput, LdapInput, LdapView, NewUser, Profile, UserPatch, UserView,
    };

    use super::schemas::*;

    // ---- descriptions shared by many answers ----

    const NO_TOKEN: &str = "No operator token, or a wrong one.";
    const CLUSTER_503: &str = "The cluster cannot serve this now (no quorum, an election, a \
                               timeout); retry.";
    const OPERATOR_503: &str = "The cluster cannot serve this now, or the operator token is \
                                not set up yet (a fresh cluster without a quorum); retry.";
    const KV_KEY: &str = "1 to 256 bytes, no control characters.";
    const IDEMPOTENCY: &str = "Idempotency key: a retry with the same id is applied once \
                               and answers as the first did.";
    const BAD_REQUEST_ID: &str = "`X-Request-Id` is not 1 to 128 ASCII characters.";
    const TOO_LARGE: &str = "The body is larger than 1 MiB.";
    const NO_TENANT: &str = "There is no tenant with this slug (`there is no desktop called \
                             … here`).";
    const SUSPENDED: &str = "The tenant is suspended.";
    const SUSPENDED_OR_CROSS_SITE: &str = "The tenant is suspended, or the browser marked the \
                                           request as cross-site.";
    const SIGNED_OUT: &str = "Not signed in (no valid `oc_session` of this tenant).";
    const ADMIN_401: &str = "Neither a signed-in user of this tenant nor a valid operator \
                             token (`not signed in`, `missing or invalid operator token`).";
    const ADMIN_403: &str = "Signed in, but not one of the tenant's administrators; or the \
                             tenant is suspended; or a cross-site write.";
    const ADMIN_503: &str = "The cluster cannot serve this now, or (with a bearer token) the \
                             operator token is not set up yet; retry.";
    const WS: &str = "101 Switching Protocols: the websocket is open.";
    const NOT_A_WS: &str = "Not a websocket upgrade request (missing or wrong `Connection`, \
                            `Upgrade`, `Sec-WebSocket-Version` or `Sec-WebSocket-Key`).";
    const NO_UPGRADE: &str = "The connection cannot be upgraded (426 Upgrade Required).";

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

    // ---- viewer ----

    /// Issue a viewer ticket
    ///
    /// A ticket is single-use and lives `ttl_s` seconds; any node honours
    /// it. A passthrough ticket admits further sockets for 10 s after its
    /// first use. The body is read before the token is checked, so a
    /// malformed body answers 400/415/422 even without a token.
    #[utoipa::path(post, path = "/api/v1/viewer/tickets", tag = "viewer",
        security(("operator" = [])),
        request_body = IssueTicket,
        responses(
            (status = 201, description = "The ticket.", body = IssuedTicket),
            (status = 400, description = "Malformed JSON, an address that is not IP:PORT, a \
                password over 60 characters, or `ttl_s` out of 1..=600.", body = Error),
            (status = 401, description = NO_TOKEN, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 415, description = "The body is not `application/json`.", body = Error),
            (status = 422, description = "The JSON is not a ticket request (missing `addr`, an \
                unknown field or mode).", body = Error),
            (status = 503, description = OPERATOR_503, body = Error),
        ))]
    fn viewer_issue_ticket() {}

    /// The viewer page's address without its slash
    #[utoipa::path(get, path = "/viewer", tag = "viewer",
        responses((status = 308, description = "Permanent redirect to `/viewer/`.",
            headers(("Location" = String, description = "`/viewer/`")))))]
    fn viewer_redirect() {}

    /// The viewer page (translate mode)
    ///
    /// Opened as `/viewer/#token=T`; the ticket stays in the fragment.
    #[utoipa::path(get, path = "/viewer/", tag = "viewer",
        responses((status = 200, description = "The page.", body = String,
            content_type = "text/html")))]
    fn viewer_page() {}

    /// The viewer page's script
    #[utoipa::path(get, path = "/viewer/viewer.js", tag = "viewer",
        responses((status = 200, description = "The script.", body = String,
            content_type = "text/javascript")))]
    fn viewer_script() {}

    /// The viewer websocket (translate mode)
    ///
    /// Upgraded to a websocket carrying the protocol of
    /// docs/VIEWER-PROTOCOL.md: binary screen messages to the browser, JSON
    /// input messages from it. Authenticated by a ticket (`token`, single
    /// use) or, to reconnect, by the resume key of the session's `hello`.
    /// A refused or missing ticket is told after the upgrade: a CONTROL
    /// `error` with `retry: false`, then close code 4001.
    #[utoipa::path(get, path = "/viewer/ws", tag = "viewer",
        params(
            ("token" = Option<String>, Query, description = "A translate-mode ticket."),
            ("resume" = Option<String>, Query, description = "A resume key, to reconnect."),
        ),
        responses(
            (status = 101, description = WS),
            (status = 400, description = NOT_A_WS, body = Error),
            (status = 426, description = NO_UPGRADE, body = Error),
        ))]
    fn viewer_translate_ws() {}

    /// The passthrough websocket (raw SPICE)
    ///
    /// Subprotocol `binary`: raw SPICE bytes to and from the VM's SPICE
    /// port, for stock clients such as spice-html5 (docs/VIEWER-PROTOCOL.md,
    /// "Passthrough mode"). A refused ticket is answered before the upgrade.
    #[utoipa::path(get, path = "/viewer/spice", tag = "viewer",
        params(("token" = String, Query, description = "A passthrough-mode ticket.")),
        responses(
            (status = 101, description = WS),
            (status = 400, description = "No `token`, or not a websocket upgrade request.",
                body = Error),
            (status = 403, description = "The ticket is refused (unknown, used, expired or of \
                the other mode).", body = Error),
            (status = 426, description = NO_UPGRADE, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn viewer_passthrough_ws() {}

    /// Debian's spice-html5 client
    ///
    /// Served only when `/usr/share/spice-html5` is installed on the node,
    /// e.g. `/spice-html5/spice_auto.html?path=viewer/spice%3Ftoken%3DT`.
    /// `path` may contain slashes (files in subdirectories).
    #[utoipa::path(get, path = "/spice-html5/{path}", tag = "viewer",
        params(("path" = String, Path, description = "A file of spice-html5.")),
        responses(
            (status = 200, description = "The file."),
            (status = 404, description = "No such file, or spice-html5 is not installed.",
                body = Error),
        ))]
    fn spice_html5() {}

    // ---- tenant sites ----

    /// A static file of the sign-in and desktop pages
    ///
    /// Shared by every tenant (`login.js`, `desktop.css`, `opencloud.svg`…).
    #[utoipa::path(get, path = "/assets/desktop/{file}", tag = "desktop",
        params(("file" = String, Path, description = "A file name (no directories).")),
        responses(
            (status = 200, description = "The file, with a Content-Security-Policy."),
            (status = 404, description = "No such file.", body = Error),
        ))]
    fn desktop_asset() {}

    /// The tenant's site without its slash
    #[utoipa::path(get, path = "/t/{slug}", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 303, description = "Redirect to `/t/{slug}/`.",
                headers(("Location" = String))),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_root() {}

    /// The desktop page
    ///
    /// The desktop when signed in, otherwise a redirect to the sign-in page.
    #[utoipa::path(get, path = "/t/{slug}/", tag = "desktop",
        security((), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "`desktop.html` (signed in).", body = String,
                content_type = "text/html"),
            (status = 303, description = "Not signed in: redirect to `/t/{slug}/login`.",
                headers(("Location" = String))),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_desktop_page() {}

    /// The sign-in page
    #[utoipa::path(get, path = "/t/{slug}/login", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "`login.html`.", body = String,
                content_type = "text/html"),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_login_page() {}

    /// Sign in with the page's form (without script)
    ///
    /// Always a redirect once the form is read: to the desktop with the
    /// session cookie, or back to `login?error=CODE`, CODE one of `failed`
    /// (wrong credentials or captcha), `captcha` (one is required: the page
    /// needs script), `wait` (too many attempts), `unavailable` (the
    /// directory does not answer).
    #[utoipa::path(post, path = "/t/{slug}/login", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
        responses(
            (status = 303, description = "Signed in (to `/t/{slug}/`, with `Set-Cookie`) or \
                refused (to `/t/{slug}/login?error=CODE`).",
                headers(("Location" = String), ("Set-Cookie" = String,
                    description = "The session, on success."))),
            (status = 400, description = "A username or password over 1024 bytes.",
                body = Error),
            (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 415, description = "Not `application/x-www-form-urlencoded`.",
                body = Error),
            (status = 422, description = "`username` or `password` is missing.", body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_login_form() {}

    /// The tenant's branding (public)
    #[utoipa::path(get, path = "/t/{slug}/api/v1/branding", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "The branding, or the defaults when none is set.",
                body = BrandingView),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_branding() {}

    /// The tenant's logo or wallpaper (public)
    #[utoipa::path(get, path = "/t/{slug}/api/v1/branding/{picture}", tag = "desktop",
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("picture" = String, Path, description = "`logo` or `wallpaper`."),
        ),
        responses(
            (status = 200, description = "The image, in the content type it was uploaded \
                with."),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = "No such picture, or no such tenant.", body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_branding_picture() {}

    /// Sign in
    ///
    /// After 3 failures (per user name and per client address) every answer
    /// asks for a captcha until a sign-in succeeds; after more, attempts
    /// must wait (429). Answers never tell whether an account exists.
    #[utoipa::path(post, path = "/t/{slug}/api/v1/login", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        request_body = LoginRequest,
        responses(
            (status = 200, description = "Signed in.", body = LoginOk,
                headers(("Set-Cookie" = String, description = "The session: `oc_session=…; \
                    Path=/t/{slug}/; HttpOnly; SameSite=Lax; Secure`."))),
            (status = 400, description = "Not a sign-in body, or a username or password over \
                1024 bytes.", body = Error),
            (status = 401, description = "Refused: wrong credentials, or a missing or wrong \
                captcha answer.", body = LoginDenied),
            (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 429, description = "Too many failed attempts: wait.",
                body = TooManyAttempts,
                headers(("Retry-After" = u64, description = "Seconds to wait."))),
            (status = 503, description = "The company directory is not answering (or is \
                misconfigured), or the cluster cannot serve this now.", body = Error),
        ))]
    fn site_login() {}

    /// Sign out
    ///
    /// Ends the session if there is one; answers the same either way.
    #[utoipa::path(post, path = "/t/{slug}/api/v1/logout", tag = "desktop",
        security((), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 204, description = "Signed out; the cookie is cleared.",
                headers(("Set-Cookie" = String, description = "`oc_session=; Max-Age=0; …`"))),
            (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_logout() {}

    /// The signed-in user and their apps
    #[utoipa::path(get, path = "/t/{slug}/api/v1/me", tag = "desktop",
        security(("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "The user.", body = Me),
            (status = 401, description = SIGNED_OUT, body = Error),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_me() {}

    /// A new captcha
    ///
    /// For the page's "New image" button. A captcha can be answered once,
    /// within 5 minutes.
    #[utoipa::path(post, path = "/t/{slug}/api/v1/captcha", tag = "desktop",
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "The captcha.", body = Captcha),
            (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_new_captcha() {}

    /// A captcha's image
    #[utoipa::path(get, path = "/t/{slug}/api/v1/captcha/{id}", tag = "desktop",
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The captcha's id (32 hex digits)."),
        ),
        responses(
            (status = 200, description = "The image.", body = inline(Bytes),
                content_type = "image/png"),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = "No such captcha (they expire after 5 minutes), or \
                no such tenant.", body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_captcha_image() {}

    /// Launch a VM app
    ///
    /// May take long (a VM is assigned or booted). Until the broker exists
    /// the node answers 501 for every app the user may launch.
    #[utoipa::path(post, path = "/t/{slug}/api/v1/apps/{id}/launch", tag = "desktop",
        security(("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The app's id."),
        ),
        responses(
            (status = 200, description = "The VM is ready: show `viewer_url`.",
                body = Launched),
            (status = 401, description = SIGNED_OUT, body = Error),
            (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
            (status = 404, description = "No such app on the user's desktop, or no such \
                tenant.", body = Error),
            (status = 501, description = "Launching VM apps is not available yet.",
                body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_launch() {}

    /// The desktop's events websocket
    ///
    /// Upgraded to a websocket of JSON text messages (docs/DESKTOP-API.md,
    /// "Events websocket"): the page's presence pings and the node's pongs,
    /// notifications and `signed_out`. Without a valid session the upgrade
    /// is refused with 401; a socket whose session ends is closed with code
    /// 4401.
    #[utoipa::path(get, path = "/t/{slug}/api/v1/events", tag = "desktop",
        security(("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 101, description = WS),
            (status = 400, description = NOT_A_WS, body = Error),
            (status = 401, description = SIGNED_OUT, body = Error),
            (status = 403, description = SUSPENDED, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = CLUSTER_503, body = Error),
        ))]
    fn site_events_ws() {}

    // ---- tenant admin: users ----

    /// List the tenant's users
    #[utoipa::path(get, path = "/t/{slug}/api/v1/users", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "Every user (at most 10,000), without password \
                hashes.", body = [UserView]),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_list_users() {}

    /// Create a local user
    #[utoipa::path(post, path = "/t/{slug}/api/v1/users", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = NewUser,
        responses(
            (status = 201, description = "The user is created.", body = UserView),
            (status = 400, description = "Invalid: a bad login, a short password, an unknown \
                profile or field, a bad `X-Request-Id`.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 409, description = "A user with this login exists.", body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_create_user() {}

    /// Read a user
    #[utoipa::path(get, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("login" = String, Path, description = "The login (case-insensitive)."),
        ),
        responses(
            (status = 200, description = "The user.", body = UserView),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such user, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_read_user() {}

    /// Change a user
    ///
    /// Only the fields present change.
    #[utoipa::path(patch, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("login" = String, Path, description = "The login (case-insensitive)."),
        ),
        request_body = UserPatch,
        responses(
            (status = 200, description = "The user as changed.", body = UserView),
            (status = 400, description = "Invalid: a short password, an unknown profile or \
                field, a password for a directory user.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such user, or no such tenant.", body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_update_user() {}

    /// Delete a user
    #[utoipa::path(delete, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("login" = String, Path, description = "The login (case-insensitive)."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        responses(
            (status = 204, description = "Deleted."),
            (status = 400, description = BAD_REQUEST_ID, body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such user, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_delete_user() {}

    // ---- tenant admin: profiles ----

    /// List the profiles
    #[utoipa::path(get, path = "/t/{slug}/api/v1/profiles", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "Every profile.", body = [Profile]),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_list_profiles() {}

    /// Create a profile
    #[utoipa::path(post, path = "/t/{slug}/api/v1/profiles", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = Profile,
        responses(
            (status = 201, description = "The profile is created.", body = Profile),
            (status = 400, description = "Invalid: a bad id or name, an unknown app or field, \
                a bad `X-Request-Id`.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 409, description = "A profile with this id exists.", body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_create_profile() {}

    /// Read a profile
    #[utoipa::path(get, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The profile's id."),
        ),
        responses(
            (status = 200, description = "The profile.", body = Profile),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such profile, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_read_profile() {}

    /// Create or replace a profile
    #[utoipa::path(put, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The profile's id; the body's `id` must be \
                the same."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = Profile,
        responses(
            (status = 200, description = "The profile as stored.", body = Profile),
            (status = 400, description = "Invalid, an unknown app, or the body's id differs \
                from the URL's.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_put_profile() {}

    /// Delete a profile
    #[utoipa::path(delete, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The profile's id."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        responses(
            (status = 204, description = "Deleted."),
            (status = 400, description = BAD_REQUEST_ID, body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such profile, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_delete_profile() {}

    // ---- tenant admin: apps ----

    /// List the apps
    #[utoipa::path(get, path = "/t/{slug}/api/v1/apps", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "Every app.", body = [App]),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_list_apps() {}

    /// Create an app
    #[utoipa::path(post, path = "/t/{slug}/api/v1/apps", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = App,
        responses(
            (status = 201, description = "The app is created.", body = App),
            (status = 400, description = "Invalid: a bad id, name, URL or pool, `url` with \
                `vm` or `pool` with `web`, an unknown field, a bad `X-Request-Id`.",
                body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 409, description = "An app with this id exists.", body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_create_app() {}

    /// Read an app
    #[utoipa::path(get, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The app's id."),
        ),
        responses(
            (status = 200, description = "The app.", body = App),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such app, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_read_app() {}

    /// Create or replace an app
    #[utoipa::path(put, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The app's id; the body's `id` must be the \
                same."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = App,
        responses(
            (status = 200, description = "The app as stored.", body = App),
            (status = 400, description = "Invalid, or the body's id differs from the URL's.",
                body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_put_app() {}

    /// Delete an app
    #[utoipa::path(delete, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("id" = String, Path, description = "The app's id."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        responses(
            (status = 204, description = "Deleted."),
            (status = 400, description = BAD_REQUEST_ID, body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No such app, or no such tenant.", body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_delete_app() {}

    // ---- tenant admin: branding and directory ----

    /// Replace the branding
    ///
    /// The whole record: a picture left out is removed. Read it with the
    /// public `GET` of the same path.
    #[utoipa::path(put, path = "/t/{slug}/api/v1/branding", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        request_body = BrandingInput,
        responses(
            (status = 204, description = "Stored."),
            (status = 400, description = "Invalid: a bad name or colour (`#rgb` or \
                `#rrggbb`), a picture that is not a PNG, JPEG, WebP or GIF of \
                its declared type or is too large, an unknown field.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_put_branding() {}

    /// Read the directory (LDAP) settings
    #[utoipa::path(get, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        responses(
            (status = 200, description = "The settings, without the bind password.",
                body = LdapView),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = "No directory is set up, or no such tenant.",
                body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_read_ldap() {}

    /// Set the directory (LDAP) settings
    ///
    /// Users not found locally then sign in against the directory.
    #[utoipa::path(put, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(("slug" = String, Path, description = "The tenant's slug.")),
        request_body = LdapInput,
        responses(
            (status = 200, description = "The settings as stored.", body = LdapView),
            (status = 400, description = "Invalid: a bad URL, DN, filter, CA or TLS choice, \
                no bind password and none stored, an unknown field.", body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 413, description = TOO_LARGE, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_put_ldap() {}

    /// Remove the directory settings
    ///
    /// Answers 204 also when none were set.
    #[utoipa::path(delete, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
        security(("operator" = []), ("session" = [])),
        params(
            ("slug" = String, Path, description = "The tenant's slug."),
            ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
                max_length = 128, description = IDEMPOTENCY),
        ),
        responses(
            (status = 204, description = "Removed."),
            (status = 400, description = BAD_REQUEST_ID, body = Error),
            (status = 401, description = ADMIN_401, body = Error),
            (status = 403, description = ADMIN_403, body = Error),
            (status = 404, description = NO_TENANT, body = Error),
            (status = 503, description = ADMIN_503, body = Error),
        ))]
    fn admin_delete_ldap() {}
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use serde_json::Value;

    const METHODS: &[&str] = &[
        "get", "post", "put", "patch", "delete", "head", "options", "trace",
    ];

    fn doc() -> Value {
        serde_json::to_value(super::document()).unwrap()
    }

    /// (path, method) of every documented operation.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = doc();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in METHODS {
                if item.get(*m).is_some() {
                    ops.insert((path.clone(), m.to_string()));
                }
            }
        }
        ops
    }

    /// The arguments of the call whose `(` is at `open`, and where it ends;
    /// string literals are skipped (their brackets do not count).
    fn call_args(src: &str, open: usize) -> &str {
        let b = src.as_bytes();
        let (mut depth, mut i, mut in_str) = (0usize, open, false);
        while i < b.len() {
            match b[i] {
                b'\\' if in_str => i += 1,
                b'"' => in_str = !in_str,
                b'(' if !in_str => depth += 1,
                b')' if !in_str => {
                    depth -= 1;
                    if depth == 0 {
                        return &src[open + 1..i];
                    }
                }
                _ => {}
            }
            i += 1;
        }
        panic!("unbalanced call at byte {open}");
    }

    /// The first string literal of `args`, and `args` without literals.
    fn split_literals(args: &str) -> (Option<String>, String) {
        let mut first = None;
        let mut code = String::new();
        let mut parts = args.split('"');
        code.push_str(parts.next().unwrap_or(""));
        let mut inside = true;
        for p in parts {
            if inside {
                first.get_or_insert_with(|| p.to_string());
            } else {
                code.push_str(p);
            }
            inside = !inside;
        }
        (first, code)
    }

    /// (path, method) of every `.route(...)` of the node's router, read
    /// from the sources: a route added without being documented (or a
    /// documented one removed) fails here.
    fn routed() -> BTreeSet<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let mut ops = BTreeSet::new();
        for f in files {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // `opencloud spice serve` has its own router; this file
            // mentions `.route(` in its documentation.
            if rel == "viewer/serve.rs" || rel == "http/openapi.rs" {
                continue;
            }
            let src: String = std::fs::read_to_string(&f)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for kind in [".nest(", ".route_service(", ".merge(Router"] {
                assert!(!src.contains(kind), "{rel}: teach this test `{kind}`");
            }
            for (at, _) in src.match_indices(".nest_service(") {
                let (prefix, _) = split_literals(call_args(&src, at + ".nest_service".len()));
                let prefix = prefix.unwrap_or_else(|| panic!("{rel}: nest_service without a path"));
                ops.insert((format!("{prefix}/{{path}}"), "get".to_string()));
            }
            for (at, _) in src.match_indices(".route(") {
                let (path, code) = split_literals(call_args(&src, at + ".route".len()));
                let path = path.unwrap_or_else(|| panic!("{rel}: a route without a literal path"));
                let path = path.replace("{*", "{");
                let mut found = 0;
                // `name(` not preceded by a character of an identifier.
                let calls = |name: &str| {
                    code.match_indices(&format!("{name}(")).any(|(i, _)| {
                        !code[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    })
                };
                for name in ["any", "on", "any_service", "on_service"] {
                    assert!(
                        !calls(name),
                        "{rel}: {path} uses `{name}`: document each method"
                    );
                }
                for m in METHODS {
                    if calls(m) {
                        ops.insert((path.clone(), m.to_string()));
                        found += 1;
                    }
                }
                assert!(found > 0, "{rel}: no method found for {path}");
            }
        }
        ops
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routed = routed();
        let documented = documented();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routed but not documented: {missing:?}\ndocumented but not routed: {extra:?}"
        );
        assert!(routed.len() > 50, "{}", routed.len());
    }

    #[test]
    fn operations_are_complete() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["operator"]["scheme"], "bearer");
        assert_eq!(schemes["session"]["in"], "cookie");
        assert_eq!(schemes["session"]["name"], "oc_session");
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let what = format!("{method} {path}");
                assert!(ids.insert(op["operationId"].to_string()), "{what}: id");
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{what}"
                );
                assert!(
                    op["tags"].as_array().is_some_and(|t| t.len() == 1),
                    "{what}"
                );
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.as_str() < "400"),
                    "{what}: no success status"
                );
                for (status, r) in responses {
                    assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()));
                    if status.as_str() >= "400" {
                        assert!(
                            r["content"]["application/json"]["schema"]["$ref"]
                                .as_str()
                                .is_some(),
                            "{what}: {status} without a JSON error body"
                        );
                    }
                }
                let security: Vec<&str> = op["security"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                if security.contains(&"operator") {
                    assert!(responses.contains_key("401"), "{what}: no 401");
                }
                if path.starts_with("/t/") && method != "get" {
                    assert!(responses.contains_key("403"), "{what}: no 403 (cross-site)");
                }
                // Every `{name}` of the path is a declared path parameter.
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let in_path: BTreeSet<&str> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                    .collect();
                assert_eq!(declared, in_path, "{what}: path parameters");
            }
        }
    }

    #[test]
    fn the_schemas_of_the_admin_api_are_the_domain_types() {
        let doc = doc();
        let s = &doc["components"]["schemas"];
        // App is described by its flat wire form.
        let app = &s["App"]["properties"];
        for field in ["id", "name", "icon", "kind", "url", "pool"] {
            assert!(app.get(field).is_some(), "App.{field}");
        }
        assert_eq!(s["AppKindName"]["enum"], serde_json::json!(["web", "vm"]));
        assert_eq!(s["LdapInput"]["properties"]["timeout_ms"]["default"], 5000);
        assert_eq!(s["NewUser"]["additionalProperties"], false);
        for name in [
            "UserView",
            "UserSource",
            "NewUser",
            "UserPatch",
            "Profile",
            "App",
            "BrandingInput",
            "PictureInput",
            "Colors",
            "LdapInput",
            "LdapView",
            "LdapTls",
        ] {
            assert!(s.get(name).is_some(), "schema {name}");
        }
    }
}
