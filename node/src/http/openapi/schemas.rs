//! Request and response bodies that are not types of their own elsewhere
//! (built with `json!` in the handlers, or types of other crates).

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
