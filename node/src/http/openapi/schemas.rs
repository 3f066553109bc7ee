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
    /// The VM's id (as in `GET /t/{slug}/api/v1/vms`).
    #[schema(example = "vm-0123abcd")]
    pub vm: String,
    /// The viewer page with its single-use ticket.
    #[schema(example = "/viewer/#token=…")]
    pub viewer_url: String,
    /// Seconds the ticket may wait to be opened.
    #[schema(example = 60)]
    pub expires_in_s: u64,
    /// Whether the user already had this VM (a second window, a reload).
    pub resumed: bool,
}

// ---- the broker (mirrors of `crate::broker` types, which stay free of
// utoipa; `tests` checks the two agree) ----

/// Which kind of machine runs a pool's VMs: QEMU processes on the
/// cluster's own nodes (`local`) or servers in an OpenStack cloud
/// (`openstack`).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Local,
    Openstack,
}

/// What a VM boots: a kernel and initramfs or a qcow2 disk on every node
/// (`local` provider), or a Glance image with a Nova flavor (`openstack`).
/// Which one is told by its fields.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ImageSource {
    Kernel(KernelImage),
    Disk(DiskImage),
    Cloud(CloudImage),
}

/// A kernel and initramfs, absolute paths on every node (local provider).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelImage {
    #[schema(example = "/var/lib/opencloud/images/vmlinuz")]
    pub kernel: String,
    #[schema(example = "/var/lib/opencloud/images/initrd.img")]
    pub initrd: String,
    /// The kernel's command line, at most 1024 characters.
    #[serde(default)]
    #[schema(max_length = 1024, default = "", example = "console=ttyS0 quiet")]
    pub append: String,
    /// A line the guest writes to its first serial port once it is usable;
    /// without it, a VM is ready as soon as its SPICE server answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ready_line: Option<String>,
}

/// A qcow2 base disk, an absolute path on every node (local provider);
/// each VM boots a throw-away overlay on it.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskImage {
    #[schema(example = "/var/lib/opencloud/images/desktop.qcow2")]
    pub disk: String,
    /// As for a kernel image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ready_line: Option<String>,
}

/// A Glance image booted with a Nova flavor (OpenStack provider).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudImage {
    /// Not empty.
    #[schema(min_length = 1, example = "debian-12-desktop")]
    pub cloud_image: String,
    /// Not empty.
    #[schema(min_length = 1, example = "m1.small")]
    pub flavor: String,
    /// The network its port is on; the cloud's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub network: Option<String>,
}

/// An image the operator registered, for tenant admins to make pools of.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Image {
    /// Lower-case letters, digits, `_` and `-`, 1 to 40 characters.
    #[schema(pattern = "^[a-z0-9_-]{1,40}$", example = "debian-desktop")]
    pub id: String,
    /// 1 to 100 characters (surrounding spaces are trimmed).
    #[schema(min_length = 1, max_length = 100, example = "Debian desktop")]
    pub name: String,
    /// Must fit the source: `local` for kernel and disk images, `openstack`
    /// for cloud images.
    pub provider: ProviderKind,
    pub source: ImageSource,
}

/// A tenant's limits, set by the operator.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"max_vms": 20}))]
pub struct Quota {
    /// VMs in any state but failed, across the tenant's pools; a launch
    /// that would need one more answers 429. `null` (or left out): no limit
    /// beyond each pool's `max`.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max_vms: Option<u32>,
}

/// A pool's image: a registered image's id (anyone who may make pools), or
/// the image itself (the operator's token only).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ImageChoice {
    #[schema(example = "debian-desktop")]
    Registered(String),
    Inline(ImageSource),
}

/// A pool to create or replace.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolInput {
    /// Lower-case letters, digits, `_` and `-`, 1 to 40 characters: the
    /// `pool` of the tenant's VM apps.
    #[schema(pattern = "^[a-z0-9_-]{1,40}$", example = "office")]
    pub id: String,
    /// A registered image's provider by default, or the one an inline
    /// image needs (`openstack` for a cloud image, else `local`); if given,
    /// it must be that one.
    pub provider: Option<ProviderKind>,
    pub image: ImageChoice,
    /// 64 to 262144.
    #[schema(required = false, default = 512, minimum = 64, maximum = 262_144)]
    pub memory_mb: u32,
    /// 1 to 64.
    #[schema(required = false, default = 1, minimum = 1, maximum = 64)]
    pub vcpus: u32,
    /// VMs kept ready for the next launches, at most `max`; with 0 a launch
    /// waits for a VM to boot.
    #[schema(required = false, default = 1, minimum = 0)]
    pub warm: u32,
    /// VMs of this pool in any state but failed, at most: 1 to 1000.
    #[schema(required = false, default = 10, minimum = 1, maximum = 1000)]
    pub max: u32,
    /// An assigned VM whose user shows no presence this long is reaped: 1
    /// to 604800 (a week).
    #[schema(required = false, default = 600, minimum = 1, maximum = 604_800)]
    pub idle_timeout_s: u64,
}

/// How many of a pool's VMs are in each state.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PoolCounts {
    pub starting: u32,
    pub ready: u32,
    pub assigned: u32,
    pub stopping: u32,
    pub failed: u32,
}

/// A tenant's pool of identical, stateless VMs, and how its VMs are doing.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Pool {
    pub id: String,
    pub provider: ProviderKind,
    /// The registered image it was made from; absent for an inline image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub image_id: Option<String>,
    /// What its VMs boot (copied from the image when the pool was made).
    pub image: ImageSource,
    pub memory_mb: u32,
    pub vcpus: u32,
    /// VMs kept ready for the next launches.
    pub warm: u32,
    /// VMs of this pool in any state but failed, at most.
    pub max: u32,
    /// An assigned VM whose user shows no presence this long is reaped.
    pub idle_timeout_s: u64,
    pub counts: PoolCounts,
    /// Why its latest failed VM failed, while failed VMs are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_failure: Option<String>,
    /// Why no VM of this pool can start on this cluster, if none can (an
    /// `openstack` pool on nodes started without `--openstack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub problem: Option<String>,
}

/// Where a VM is in its life: asked of its provider (`starting`), booted
/// and waiting for a user (`ready`), one user's (`assigned`), being
/// destroyed (`stopping`), or lost, refused or timed out (`failed`:
/// replaced, and removed after a while).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    Starting,
    Ready,
    Assigned,
    Stopping,
    Failed,
}

/// A VM as tenant admins see it (never its SPICE password).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Vm {
    pub id: String,
    /// Its pool's id.
    pub pool: String,
    pub provider: ProviderKind,
    /// The node running it (local provider); `null` for cloud VMs.
    #[schema(required = true)]
    pub node: Option<u64>,
    pub state: VmState,
    /// The login of the user it is assigned to.
    #[schema(required = true)]
    pub user: Option<String>,
    /// When it was assigned, seconds since the Unix epoch.
    #[schema(required = true)]
    pub assigned_at: Option<u64>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// When it last changed state, seconds since the Unix epoch.
    pub since: u64,
    /// Why it failed or stopped, for people.
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// VM-seconds of one VM assignment, or of one whole period of a long one
/// (`kind` is `vm_seconds`).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UsageEvent {
    /// `<vm id>@<end>` for a period recorded while the VM ran; the VM's id
    /// for the rest, recorded when it went. A VM is assigned once, so the
    /// ids are idempotent.
    pub id: String,
    pub kind: String,
    pub tenant: String,
    /// Whose assignment it was.
    pub login: String,
    pub pool: String,
    /// Seconds since the Unix epoch.
    pub start: u64,
    pub end: u64,
    pub vm_seconds: u64,
}
