//! A stand-in for an OpenStack cloud, since none can run here: Keystone v3,
//! Nova (2.1 up to microversion 2.99), Glance v2 and Neutron v2.0 on one
//! loopback port, plain HTTP. It serves what the OpenStack provider and the
//! `openstack` crate ask for, as the published API reference describes it
//! (paths, bodies, status codes, fault bodies, microversion headers), and
//! nothing else.
//!
//! A test starts it with [`NovaStandIn::start`], points the provider at it
//! with [`NovaStandIn::os_env`] (or [`NovaStandIn::clouds_yaml`]), turns
//! its fault knobs with [`NovaStandIn::set`], and asserts on
//! [`NovaStandIn::servers`] and [`NovaStandIn::requests`].
//!
//! Every request but Keystone's token POST and version documents must carry
//! a valid `X-Auth-Token`; without one it gets keystonemiddleware's 401.

mod compute;
mod consoles;
mod flavors;
mod identity;
mod images_networks;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The one account the stand-in knows.
pub const USER: &str = "demo";
pub const PASSWORD: &str = "secret";
pub const PROJECT: &str = "demo";
pub const DOMAIN: &str = "Default";

/// What it has from the start: one image, one flavor, one network.
pub const IMAGE: &str = "debian-12-desktop";
pub const FLAVOR: &str = "m1.desktop";
pub const NETWORK: &str = "private";

/// How the cloud behaves; changes apply to servers created afterwards.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Servers the project may have; over it, Nova's 403 "Quota exceeded
    /// for instances".
    pub instance_quota: Option<u32>,
    /// How long a new server stays in BUILD.
    pub build_delay: Duration,
    /// New servers never leave BUILD.
    pub never_active: bool,
    /// New servers go to ERROR (after `build_delay`) with this fault.
    pub error_fault: Option<String>,
    /// Where the consoles' connection info points (the compute host's
    /// SPICE server).
    pub spice_host: String,
    pub spice_port: u16,
    pub spice_tls_port: Option<u16>,
    /// `[spice] enabled` on the computes; off: "Unavailable console type".
    pub spice_enabled: bool,
    /// The highest compute microversion (2.99: Nova 2025.1).
    pub max_microversion: (u16, u16),
    /// Whether the account may read os-console-auth-tokens (admin-only in
    /// Nova's default policy).
    pub console_tokens_allowed: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            instance_quota: None,
            build_delay: Duration::from_secs(1),
            never_active: false,
            error_fault: None,
            spice_host: "192.0.2.10".to_string(),
            spice_port: 5901,
            spice_tls_port: Some(5902),
            spice_enabled: true,
            max_microversion: (2, 99),
            console_tokens_allowed: true,
        }
    }
}

/// One request it served.
#[derive(Clone, Debug)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// It carried a valid X-Auth-Token.
    pub authenticated: bool,
    /// The compute microversion asked for (either header), as sent.
    pub microversion: Option<String>,
    /// The JSON body (passwords replaced by "***").
    pub body: Option<Value>,
}

/// A server as the stand-in holds it.
#[derive(Clone, Debug)]
pub struct ServerView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub image_id: String,
    pub flavor_id: String,
    pub networks: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Named {
    pub id: String,
    pub name: String,
    pub created: SystemTime,
}

pub(crate) struct ServerRec {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub flavor_id: String,
    pub networks: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: SystemTime,
    pub born: Instant,
    /// When it leaves BUILD; `None`: never.
    pub build_time: Option<Duration>,
    pub fault: Option<String>,
    /// Its fixed IP's last octet.
    pub ip: u32,
}

impl ServerRec {
    pub fn status(&self) -> &'static str {
        match self.build_time {
            Some(d) if self.born.elapsed() >= d => {
                if self.fault.is_some() {
                    "ERROR"
                } else {
                    "ACTIVE"
                }
            }
            _ => "BUILD",
        }
    }
}

pub(crate) struct ConsoleToken {
    pub server_id: String,
    pub console_type: String,
    pub host: String,
    pub port: u16,
    pub tls_port: Option<u16>,
    pub expires: Instant,
}

pub(crate) struct CloudState {
    pub base: String,
    pub knobs: Knobs,
    pub project_id: String,
    pub user_id: String,
    /// Issued Keystone tokens and their expiry.
    pub tokens: HashMap<String, Instant>,
    pub images: Vec<Named>,
    pub flavors: Vec<Named>,
    pub networks: Vec<Named>,
    /// In creation order.
    pub servers: Vec<ServerRec>,
    pub consoles: HashMap<String, ConsoleToken>,
    pub requests: Vec<Served>,
    pub next_ip: u32,
}

pub(crate) type Shared = Arc<Mutex<CloudState>>;

/// The lock, also after a handler panicked while holding it.
pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, CloudState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running stand-in; stops when dropped.
pub struct NovaStandIn {
    addr: SocketAddr,
    state: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl NovaStandIn {
    /// Starts it on a free loopback port, with [`IMAGE`], [`FLAVOR`] and
    /// [`NETWORK`] and default [`Knobs`].
    pub async fn start() -> Result<NovaStandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the stand-in's port")?;
        let addr = listener.local_addr()?;
        let now = SystemTime::now();
        let named = |name: &str| Named {
            id: uuid(),
            name: name.to_string(),
            created: now,
        };
        let state: Shared = Arc::new(Mutex::new(CloudState {
            base: format!("http://{addr}"),
            knobs: Knobs::default(),
            project_id: hex_id(),
            user_id: hex_id(),
            tokens: HashMap::new(),
            images: vec![named(IMAGE)],
            flavors: vec![named(FLAVOR)],
            networks: vec![named(NETWORK)],
            servers: Vec::new(),
            consoles: HashMap::new(),
            requests: Vec::new(),
            next_ip: 10,
        }));
        let app = Router::new()
            .merge(identity::routes())
            .merge(compute::routes())
            .merge(images_networks::routes())
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 Not Found\n") })
            .layer(middleware::from_fn_with_state(state.clone(), guard))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(NovaStandIn {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Keystone's URL, as `OS_AUTH_URL` gives it.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.base_url())
    }

    /// `OS_*` variables for the account.
    pub fn os_env(&self) -> Vec<(String, String)> {
        [
            ("OS_AUTH_URL", self.auth_url()),
            ("OS_USERNAME", USER.to_string()),
            ("OS_PASSWORD", PASSWORD.to_string()),
            ("OS_PROJECT_NAME", PROJECT.to_string()),
            ("OS_USER_DOMAIN_NAME", DOMAIN.to_string()),
            ("OS_PROJECT_DOMAIN_NAME", DOMAIN.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A clouds.yaml with the account as entry `cloud`.
    pub fn clouds_yaml(&self, cloud: &str) -> String {
        format!(
            "clouds:\n  {cloud}:\n    auth:\n      auth_url: {}\n      username: {USER}\n      \
             password: {PASSWORD}\n      project_name: {PROJECT}\n      user_domain_name: \
             {DOMAIN}\n      project_domain_name: {DOMAIN}\n    region_name: RegionOne\n    \
             interface: public\n    identity_api_version: 3\n",
            self.auth_url()
        )
    }

    /// Changes the knobs.
    pub fn set(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut lock(&self.state).knobs);
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.state).knobs.clone()
    }

    pub fn image_id(&self, name: &str) -> Option<String> {
        find(&lock(&self.state).images, name)
    }

    pub fn flavor_id(&self, name: &str) -> Option<String> {
        find(&lock(&self.state).flavors, name)
    }

    pub fn network_id(&self, name: &str) -> Option<String> {
        find(&lock(&self.state).networks, name)
    }

    /// Adds an image (or flavor, network); returns its id.
    pub fn add_image(&self, name: &str) -> String {
        add(&mut lock(&self.state).images, name)
    }

    pub fn add_flavor(&self, name: &str) -> String {
        add(&mut lock(&self.state).flavors, name)
    }

    pub fn add_network(&self, name: &str) -> String {
        add(&mut lock(&self.state).networks, name)
    }

    /// The servers it has now.
    pub fn servers(&self) -> Vec<ServerView> {
        lock(&self.state)
            .servers
            .iter()
            .map(|s| ServerView {
                id: s.id.clone(),
                name: s.name.clone(),
                status: s.status().to_string(),
                image_id: s.image_id.clone(),
                flavor_id: s.flavor_id.clone(),
                networks: s.networks.clone(),
                metadata: s.metadata.clone(),
            })
            .collect()
    }

    pub fn server(&self, id: &str) -> Option<ServerView> {
        self.servers().into_iter().find(|s| s.id == id)
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<Served> {
        lock(&self.state).requests.clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

impl Drop for NovaStandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn find(items: &[Named], name: &str) -> Option<String> {
    items.iter().find(|i| i.name == name).map(|i| i.id.clone())
}

fn add(items: &mut Vec<Named>, name: &str) -> String {
    let id = uuid();
    items.push(Named {
        id: id.clone(),
        name: name.to_string(),
        created: SystemTime::now(),
    });
    id
}

/// Requests Keystone answers without a token (the real services answer
/// version documents without one too, but the `osauth` client always sends
/// one, so they are checked like the rest).
fn open_path(method: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    (method == "POST" && path == "/identity/v3/auth/tokens")
        || (method == "GET" && (path == "/identity" || path == "/identity/v3"))
}

/// Checks the token, records the request and its answer.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let microversion = header(request.headers(), "openstack-api-version")
        .or_else(|| header(request.headers(), "x-openstack-nova-api-version"));
    let token = header(request.headers(), "x-auth-token");
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(pw) = json
        .as_mut()
        .and_then(|j| j.pointer_mut("/auth/identity/password/user/password"))
    {
        *pw = json!("***");
    }
    let (authenticated, base) = {
        let st = lock(&state);
        let ok = token
            .as_deref()
            .and_then(|t| st.tokens.get(t))
            .is_some_and(|expires| *expires > Instant::now());
        (ok, st.base.clone())
    };
    let response = if authenticated || open_path(&method, &path) {
        next.run(Request::from_parts(parts, Body::from(bytes)))
            .await
    } else {
        unauthorized(&base)
    };
    lock(&state).requests.push(Served {
        method,
        path,
        query,
        status: response.status().as_u16(),
        authenticated,
        microversion,
        body: json,
    });
    response
}

/// keystonemiddleware's answer to a missing or invalid token.
fn unauthorized(base: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication."
        }})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{base}/identity\"")) {
        response.headers_mut().insert("www-authenticate", v);
    }
    response
}

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// A JSON answer.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `limit` and `marker` as every one of these APIs pages: items after the
/// one with id `marker`, at most `limit`. `Err`: the marker is unknown.
pub(crate) fn page<T>(
    items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    limit: Option<usize>,
    marker: Option<&str>,
) -> std::result::Result<Vec<T>, ()> {
    let start = match marker {
        Some(m) => items.iter().position(|i| id_of(i) == m).ok_or(())? + 1,
        None => 0,
    };
    let limit = limit.unwrap_or(usize::MAX);
    Ok(items.into_iter().skip(start).take(limit).collect())
}

/// The value of query parameter `name`.
pub(crate) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn uuid() -> String {
    let raw: u128 = rand::random();
    // Version 4, variant 1.
    let raw = (raw & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{raw:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Keystone's ids (projects, users) and tokens are hex without dashes.
pub(crate) fn hex_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// ISO 8601 in UTC, as the services write times: `2025-04-02T10:00:00Z`,
/// with microseconds for Keystone.
pub(crate) fn iso8601(t: SystemTime, micros: bool) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let base = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if micros {
        format!("{base}.{:06}Z", since.subsec_micros())
    } else {
        format!("{base}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_743_588_000) + Duration::from_micros(5);
        assert_eq!(iso8601(t, true), "2025-04-02T10:00:00.000005Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn pages() {
        let items = vec!["a", "b", "c"];
        assert_eq!(
            page(items.clone(), |s| s, Some(2), None),
            Ok(vec!["a", "b"])
        );
        assert_eq!(
            page(items.clone(), |s| s, Some(2), Some("b")),
            Ok(vec!["c"])
        );
        assert_eq!(page(items.clone(), |s| s, None, Some("c")), Ok(vec![]));
        assert_eq!(page(items, |s| s, None, Some("x")), Err(()));
    }
}
