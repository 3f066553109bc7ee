//! Absolute (client mode) mouse through the SPICE guest agent, against the
//! desktop guest's real spice-vdagentd, whose uinput tablet Xorg adds
//! through udev (see `desktop_guest.rs`): first with our SPICE library
//! alone, then from headless Chromium through the translate viewer of
//! `opencloud spice serve`. The guest's X pointer must land exactly where
//! the client put it.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_spice::inputs::Button;
use opencloud_spice::proto::mouse_mode;
use opencloud_spice::{Config, Session};
use opencloud_tests::browser::Browser;
use opencloud_tests::desktop_guest::{DesktopGuest, DesktopGuestOptions};
use opencloud_tests::viewer::SpiceServe;
use serde_json::{json, Value};

const AGENT_WAIT: Duration = Duration::from_secs(60);
const GUEST_WAIT: Duration = Duration::from_secs(60);
/// From a move sent to the pointer being there: spice-server → virtio port →
/// spice-vdagentd → uinput → Xorg, all in the TCG guest.
const POINTER_WAIT: Duration = Duration::from_secs(20);

/// Positions on a 1024x768 screen: inside, both far corners, and back.
const POSITIONS: [(u32, u32); 5] = [(100, 100), (700, 500), (1023, 767), (0, 0), (513, 1)];

/// Polls `f` every 100 ms until it gives `Some`, or fails after `limit`.
async fn until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("{what} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn primary_size(session: &Session) -> Option<(u32, u32)> {
    session.with_display(|d| d.primary().map(|s| (s.width, s.height)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_puts_the_guest_pointer_where_it_wants() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let session = Session::connect(&guest.spice_addr(), Config::default()).await?;
    // With the agent up the server offers client mode, and the library
    // takes it; positions then go to the agent as they are.
    until(
        AGENT_WAIT,
        "the session did not enter client mouse mode",
        || (session.mouse_mode() == mouse_mode::CLIENT).then_some(()),
    )
    .await
    .with_context(|| {
        format!(
            "mode {}, client mode offered: {}, agent: {}",
            session.mouse_mode(),
            session.client_mouse_supported(),
            session.agent_connected()
        )
    })?;
    until(GUEST_WAIT, "no 1024x768 primary surface", || {
        primary_size(&session).filter(|s| *s == (1024, 768))
    })
    .await
    .with_context(|| format!("the primary surface is {:?}", primary_size(&session)))?;

    for (x, y) in POSITIONS {
        session.pointer_to(x, y).await?;
        guest
            .wait_pointer((x as i32, y as i32), POINTER_WAIT)
            .await
            .with_context(|| format!("after pointer_to({x}, {y})"))?;
    }

    // A click leaves the pointer where it was (buttons travel with the
    // position in the agent's mouse state).
    session.pointer_to(321, 234).await?;
    session.mouse_press(Button::Left).await?;
    session.mouse_release(Button::Left).await?;
    guest.wait_pointer((321, 234), POINTER_WAIT).await?;

    // A new screen size makes spice-vdagentd replace its tablet with one of
    // the new range; Xorg hotplugs it, and positions stay exact up to the
    // new far corner.
    let from = guest.event_count();
    session.request_resize(800, 600).await?;
    guest.wait_size(from, 800, 600, GUEST_WAIT).await?;
    until(
        GUEST_WAIT,
        "the SPICE surface did not become 800x600",
        || primary_size(&session).filter(|s| *s == (800, 600)),
    )
    .await?;
    for (x, y) in [(799, 599), (10, 20), (400, 300)] {
        // The new tablet may still be on its way into Xorg: resend until the
        // pointer gets there (a repeated position is a no-op for the agent).
        let deadline = Instant::now() + GUEST_WAIT;
        loop {
            session.pointer_to(x, y).await?;
            if guest
                .wait_pointer((x as i32, y as i32), Duration::from_secs(2))
                .await
                .is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                // One last look, failing with the guest's diagnostics.
                guest
                    .wait_pointer((x as i32, y as i32), Duration::ZERO)
                    .await
                    .with_context(|| {
                        format!("after the resize, mouse mode {}", session.mouse_mode())
                    })?;
                break;
            }
            // Away and back, so the agent sees a change.
            session.pointer_to(x / 2, y / 2).await?;
        }
    }
    ensure!(session.failure().is_none(), "{:?}", session.failure());
    Ok(())
}

/// `window.ocViewer.<name>` in the page.
async fn viewer_field(browser: &mut Browser, name: &str) -> Result<Value> {
    eval(
        browser,
        &format!("window.ocViewer && window.ocViewer.{name}"),
    )
    .await
}

async fn eval(browser: &mut Browser, js: &str) -> Result<Value> {
    let v = browser.cmd(json!({"cmd": "eval", "js": js})).await?;
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

async fn wait_eval(browser: &mut Browser, js: &str, want: &Value) -> Result<()> {
    let deadline = Instant::now() + GUEST_WAIT;
    loop {
        let got = eval(browser, js).await?;
        if &got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{js} is {got}, not {want}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the page put the canvas and how it saw the last mouse event:
/// (canvas box left, top, width, height, canvas width, height, clientX,
/// clientY).
const PROBE_JS: &str = "(() => { const c = document.querySelector('canvas'); \
    const r = c.getBoundingClientRect(); const m = window.__ocLastMouse || [null, null]; \
    return [r.left, r.top, r.width, r.height, c.width, c.height, m[0], m[1]]; })()";

/// The framebuffer position the page computes for a mouse event at
/// (clientX, clientY), as `toFramebuffer` in node/assets/viewer.js does.
fn page_mapping(probe: &[f64]) -> Option<(i32, i32)> {
    let [left, top, rw, rh, cw, ch, mx, my] = probe.try_into().ok()?;
    let clamp = |v: f64, max: f64| v.floor().clamp(0.0, max - 1.0) as i32;
    Some((
        clamp((mx - left) * cw / rw, cw),
        clamp((my - top) * ch / rh, ch),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_viewer_puts_the_guest_pointer_under_the_mouse() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let mut browser = Browser::launch().await?;
    // A window of the guest's own size: the page asks the agent for that
    // size (nothing changes) and shows the canvas one to one.
    let (w, h) = guest.screen_size().await?;
    browser
        .cmd(
            json!({"cmd": "open", "url": serve.url, "timeout_ms": 60_000,
                    "viewport": {"width": w, "height": h}}),
        )
        .await?;
    wait_eval(
        &mut browser,
        "window.ocViewer && window.ocViewer.mouseMode",
        &json!("client"),
    )
    .await?;
    wait_eval(
        &mut browser,
        "[document.querySelector('canvas').width, document.querySelector('canvas').height]",
        &json!([w, h]),
    )
    .await?;
    ensure!(
        guest.screen_size().await? == (w, h),
        "the guest was resized"
    );
    // Remember what the page saw of each mouse event (capture phase: before
    // the viewer's own handlers).
    eval(
        &mut browser,
        "window.addEventListener('mousemove', (e) => { window.__ocLastMouse = [e.clientX, e.clientY]; }, true), true",
    )
    .await?;

    let positions: Vec<(u32, u32)> = POSITIONS
        .iter()
        .map(|&(x, y)| (x.min(w - 1), y.min(h - 1)))
        .collect();
    for (i, &(x, y)) in positions.iter().enumerate() {
        // The last one is a click: the pointer goes there and stays.
        let action = if i + 1 == positions.len() {
            "click"
        } else {
            "move"
        };
        browser
            .cmd(json!({"cmd": "mouse", "action": action, "x": x, "y": y}))
            .await?;
        let probe = eval(&mut browser, PROBE_JS).await?;
        let probe: Vec<f64> = probe
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let mapped = page_mapping(&probe)
            .with_context(|| format!("the page saw no mouse event: {probe:?}"))?;
        // Shown one to one, the page's position is the one asked for.
        ensure!(
            probe[..6] == [0.0, 0.0, w as f64, h as f64, w as f64, h as f64],
            "the canvas is not shown one to one: {probe:?}"
        );
        ensure!(
            mapped == (x as i32, y as i32),
            "the page maps its mouse event {probe:?} to {mapped:?}, not ({x}, {y})"
        );
        guest
            .wait_pointer(mapped, POINTER_WAIT)
            .await
            .with_context(|| format!("after a mouse {action} at ({x}, {y})"))?;
    }
    let state = browser.state().await?;
    ensure!(
        state["connected"] == json!(true) && state["error"].is_null(),
        "the viewer is not well: {state}"
    );
    ensure!(viewer_field(&mut browser, "mouseMode").await? == json!("client"));
    browser.close().await
}
