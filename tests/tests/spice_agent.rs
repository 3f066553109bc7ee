//! Clipboard and resize through the SPICE guest agent, against the desktop
//! guest's real spice-vdagentd and spice-vdagent on Xorg (see
//! `desktop_guest.rs`): first with our SPICE library alone, then from
//! headless Chromium through the translate viewer of `opencloud spice serve`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_spice::proto::mouse_mode;
use opencloud_spice::{Config, Session};
use opencloud_tests::browser::Browser;
use opencloud_tests::desktop_guest::{DesktopGuest, DesktopGuestOptions};
use opencloud_tests::viewer::SpiceServe;
use serde_json::{json, Value};

const AGENT_WAIT: Duration = Duration::from_secs(60);
const GUEST_WAIT: Duration = Duration::from_secs(60);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_shares_the_clipboard_and_resizes_the_guest() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let session = Session::connect(&guest.spice_addr(), Config::default()).await?;
    session
        .wait_agent_ready(AGENT_WAIT)
        .await
        .context("the guest agent never announced itself")?;
    ensure!(session.agent_connected());
    ensure!(
        session.supports_clipboard(),
        "spice-vdagent announced no clipboard"
    );
    ensure!(
        session.supports_monitors_config(),
        "spice-vdagent announced no monitors config"
    );

    // With an agent the server offers client (absolute) mouse mode, and the
    // library takes it.
    until(
        AGENT_WAIT,
        "the session did not enter client mouse mode",
        || (session.mouse_mode() == mouse_mode::CLIENT).then_some(()),
    )
    .await?;

    // Client → guest: the agent takes our grab, and an X application that
    // pastes gets our text (the agent fetches it from us on demand).
    let ours = "from the client: héllo, 42 €";
    session.set_clipboard_text(ours).await?;
    let pasted = {
        let deadline = Instant::now() + GUEST_WAIT;
        loop {
            let got = guest.paste().await.unwrap_or_default();
            if got == ours || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    ensure!(pasted == ours, "the guest pasted {pasted:?}, not {ours:?}");

    // Guest → client: an X application copies, the agent grabs our
    // clipboard, the library asks for the text and keeps it.
    let before = session.guest_clipboard_generation();
    let theirs = "copied in the guest\nsecond line";
    guest.copy(theirs).await?;
    let got = until(
        GUEST_WAIT,
        "the guest's copy did not reach the client",
        || {
            session
                .guest_clipboard()
                .filter(|(g, t)| *g != before && t == theirs)
        },
    )
    .await?;
    ensure!(got.1 == theirs);

    // Resize: the request reaches the guest, whose X screen and SPICE
    // surface take the new size.
    let from = guest.event_count();
    session.request_resize(800, 600).await?;
    guest.wait_size(from, 800, 600, GUEST_WAIT).await?;
    until(
        GUEST_WAIT,
        "the SPICE surface did not become 800x600",
        || {
            session
                .with_display(|d| d.primary().map(|s| (s.width, s.height)))
                .filter(|s| *s == (800, 600))
        },
    )
    .await?;

    // Hostile sizes are refused by the library, and the session lives on.
    ensure!(session.request_resize(0, 600).await.is_err());
    ensure!(session.request_resize(100_000, 600).await.is_err());
    ensure!(session.failure().is_none(), "{:?}", session.failure());
    Ok(())
}

/// The page's viewer state (`window.ocViewer`) field `name`.
async fn viewer_field(browser: &mut Browser, name: &str) -> Result<Value> {
    let v = browser
        .cmd(json!({"cmd": "eval", "js": format!("window.ocViewer && window.ocViewer.{name}")}))
        .await?;
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

async fn wait_viewer_field(browser: &mut Browser, name: &str, want: &Value) -> Result<()> {
    let deadline = Instant::now() + GUEST_WAIT;
    loop {
        let got = viewer_field(browser, name).await?;
        if &got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the page's {name} is {got}, not {want}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_canvas_size(browser: &mut Browser, w: u32, h: u32) -> Result<()> {
    let want = json!([w, h]);
    let deadline = Instant::now() + GUEST_WAIT;
    loop {
        let v = browser
            .cmd(json!({"cmd": "eval", "js": "[document.querySelector('canvas').width, document.querySelector('canvas').height]"}))
            .await?;
        if v.get("value") == Some(&want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the canvas is {:?}, not {w}x{h}", v.get("value"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_viewer_follows_the_window_and_shares_the_clipboard() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let mut browser = Browser::launch().await?;
    let from = guest.event_count();
    browser
        .cmd(
            json!({"cmd": "open", "url": serve.url, "timeout_ms": 60_000,
                     "viewport": {"width": 900, "height": 640}}),
        )
        .await?;

    // The node tells the page what the agent offers; the page then asks for
    // its own size, and the guest's screen and the canvas follow.
    wait_viewer_field(&mut browser, "agentResize", &json!(true)).await?;
    wait_viewer_field(&mut browser, "agentClipboard", &json!(true)).await?;
    guest.wait_size(from, 900, 640, GUEST_WAIT).await?;
    wait_canvas_size(&mut browser, 900, 640).await?;

    // Resizing the window resizes the guest again.
    let from = guest.event_count();
    browser
        .cmd(json!({"cmd": "resize", "width": 1000, "height": 700}))
        .await?;
    guest.wait_size(from, 1000, 700, GUEST_WAIT).await?;
    wait_canvas_size(&mut browser, 1000, 700).await?;

    // A paste in the page puts the text on the guest's clipboard.
    let ours = "pasted into the page ✓";
    browser
        .cmd(json!({"cmd": "eval", "js": format!(
            "(() => {{ const d = new DataTransfer(); d.setData('text/plain', {ours:?}); \
              window.dispatchEvent(new ClipboardEvent('paste', {{clipboardData: d}})); return true; }})()"
        )}))
        .await?;
    let deadline = Instant::now() + GUEST_WAIT;
    loop {
        let got = guest.paste().await.unwrap_or_default();
        if got == ours {
            break;
        }
        if Instant::now() > deadline {
            bail!("the guest pasted {got:?}, not {ours:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What the guest copies reaches the page.
    let theirs = "copied in the guest for the page";
    guest.copy(theirs).await?;
    wait_viewer_field(&mut browser, "clipboard", &json!(theirs)).await?;
    browser.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_agent_the_page_is_told_and_the_session_lives_on() -> Result<()> {
    // The text guest has no agent: resize and clipboard requests get a
    // notice, and the viewer keeps working.
    use opencloud_tests::guest::{Guest, GuestOptions};
    use opencloud_tests::viewer::{first_control, next_msg, send_input, ws_connect, ServerMsg};
    let guest = Guest::boot(GuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let ws_url = format!("{}ws", serve.url.replacen("http", "ws", 1));
    let mut ws = ws_connect(&ws_url).await?;
    let hello = first_control(&mut ws).await?;
    ensure!(hello["agent"] == json!(false), "{hello}");
    send_input(&mut ws, json!({"t": "resize", "w": 800, "h": 600})).await?;
    send_input(&mut ws, json!({"t": "clipboard", "text": "x"})).await?;
    let mut notices = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while notices < 2 && Instant::now() < deadline {
        // An idle screen sends nothing for a while: a quiet socket is fine.
        let Ok(msg) = next_msg(&mut ws, Duration::from_secs(2)).await else {
            continue;
        };
        if let Some(ServerMsg::Control(c)) = msg {
            if c["kind"] == "notice" {
                ensure!(c["message"].as_str().unwrap_or("").contains("agent"), "{c}");
                notices += 1;
            }
        }
    }
    ensure!(notices == 2, "{notices} notices for two agent requests");
    guest.sendkeys("echo $((6*7)) > /dev/ttyS0\n").await?;
    guest
        .wait_serial_line("42", Duration::from_secs(30))
        .await?;
    Ok(())
}
