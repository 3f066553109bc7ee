//! The desktop's events websocket: presence pings from the page (answered
//! at once, written to the store at most every `presence_write_every_s`
//! per session) and notifications to it. An open VM viewer keeps its
//! session present the same way ([`viewer_presence`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::records::Sessions;
use super::{touch_access, SiteConfig, TenantSite};
use crate::db::TenantDb;
use crate::http::{AppError, AppResult, AppState};
use crate::viewer::tickets::Keepalive;

pub fn routes() -> Router<AppState> {
    Router::new().route("/t/{slug}/api/v1/events", get(events))
}

/// The largest message a page may send.
const MAX_MESSAGE: usize = 4096;
/// What the socket reads at once; a message longer than this is still read,
/// in several reads.
const READ_BUFFER: usize = 4096;

/// A page silent for this long (no ping, whatever else) is dropped.
const SILENCE: Duration = Duration::from_secs(60);

/// The close code that tells the page its session is gone.
const SIGNED_OUT: u16 = 4401;

/// When this node last wrote each connected session's presence.
#[derive(Default)]
pub struct Presence {
    written: Mutex<HashMap<String, u64>>,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether presence at `now` should reach the store; records it if so.
    fn due(&self, key: &str, now: u64, every: u64) -> bool {
        let mut w = self.lock();
        match w.get(key) {
            Some(at) if now < at.saturating_add(every) => false,
            _ => {
                w.insert(key.to_string(), now);
                true
            }
        }
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

async fn events(
    site: TenantSite,
    headers: HeaderMap,
    axum::extract::State(state): axum::extract::State<AppState>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    // Who asks comes first: an anonymous or foreign request learns nothing
    // from the upgrade's own checks.
    let (current, user) = site.user(&headers).await?;
    let ws = ws.map_err(|e| AppError::BadRequest(format!("expected a websocket: {e}")))?;
    let hello = format!("Signed in as {}", user.display_name);
    // Messages are tiny: tungstenite's default 128 KiB read buffer, zeroed
    // for every socket, was most of a desktop's memory and a third of the
    // node's CPU per ping (docs/BENCHMARKS.md, sign-in and presence).
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(socket, site, state, current.key, hello)))
}

async fn serve(
    mut socket: WebSocket,
    site: TenantSite,
    state: AppState,
    key: String,
    hello: String,
) {
    let notify = json!({"t": "notify", "title": site.tenant.name, "body": hello, "level": "info"});
    if socket
        .send(Message::Text(notify.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let every = write_every(&site.cfg);
    loop {
        let msg = match tokio::time::timeout(SILENCE, socket.recv()).await {
            Ok(Some(Ok(m))) => m,
            // Silent, closed or broken: the page reconnects if it lives.
            _ => break,
        };
        let Message::Text(text) = msg else {
            continue;
        };
        let is_ping = serde_json::from_str::<serde_json::Value>(text.as_str())
            .ok()
            .is_some_and(|v| v["t"] == "ping");
        if !is_ping {
            continue;
        }
        let now = state.clock.now_secs();
        if state.site.presence.due(&key, now, every) {
            match record_presence(&site.db, site.cfg.session_idle_s, &key, now).await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = socket
                        .send(Message::Text(json!({"t": "signed_out"}).to_string().into()))
                        .await;
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: SIGNED_OUT,
                            reason: "signed out".into(),
                        })))
                        .await;
                    break;
                }
                Err(e) => {
                    // The store is busy or electing: the pong still goes,
                    // and the next ping tries again.
                    tracing::debug!("presence not recorded: {e}");
                    state.site.presence.forget(&key);
                }
            }
        }
        let pong = json!({"t": "pong"}).to_string();
        if socket.send(Message::Text(pong.into())).await.is_err() {
            break;
        }
    }
    state.site.presence.forget(&key);
}

/// How often a session's presence reaches the store: often enough that an
/// open desktop never looks idle.
fn write_every(cfg: &SiteConfig) -> u64 {
    cfg.presence_write_every_s
        .min(cfg.session_idle_s / 3)
        .max(1)
}

/// Keeps a session present while a VM viewer launched from it is open (the
/// viewer aborts this task when it closes), so that a viewer in a tab of its
/// own keeps its VM and session alive. The same writes as the desktop's
/// pings, as rarely, and shared with the desktop's socket on this node.
/// Ends when the session does.
pub async fn viewer_presence(state: AppState, k: Keepalive) {
    // The throttle's entry goes with the viewer, aborted or not.
    struct Forget<'a>(&'a Presence, &'a str);
    impl Drop for Forget<'_> {
        fn drop(&mut self) {
            self.0.forget(self.1);
        }
    }
    let db = TenantDb::new(state.store.clone(), &k.tenant);
    let cfg = &state.site.cfg;
    let every = write_every(cfg);
    let _forget = Forget(&state.site.presence, &k.session);
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    loop {
        tick.tick().await;
        let now = state.clock.now_secs();
        if !state.site.presence.due(&k.session, now, every) {
            continue;
        }
        match record_presence(&db, cfg.session_idle_s, &k.session, now).await {
            Ok(true) => {}
            // Signed out or expired: the broker reaps the VM.
            Ok(false) => return,
            Err(e) => {
                tracing::debug!("viewer presence not recorded: {e}");
                state.site.presence.forget(&k.session);
            }
        }
    }
}

/// Moves the session's last presence and the user's last access to `now`;
/// false when the session is gone or expired (`idle`: the session's idle
/// limit).
async fn record_presence(db: &TenantDb, idle: u64, key: &str, now: u64) -> AppResult<bool> {
    let mut login = None;
    db.update::<Sessions, _>(key, |current| {
        login = None;
        Ok(current.and_then(|mut s| {
            let alive = now < s.expires_at && now < s.last_seen.saturating_add(idle);
            alive.then(|| {
                s.last_seen = now;
                login = Some(s.login.clone());
                s
            })
        }))
    })
    .await?;
    match login {
        Some(l) => {
            touch_access(db, &l, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
