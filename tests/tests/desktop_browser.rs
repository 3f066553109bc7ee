//! The sign-in page and the web desktop in headless Chromium, on a 3-node
//! cluster reached through one front door (as behind a load balancer):
//! branding, the captcha after three wrong passwords, exactly the profile's
//! apps, windows, a branding change, sign-out, and the node the browser
//! talks to dying while the page recovers through another one.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::front_door::FrontDoor;
use opencloud_tests::site::{TenantAdmin, TEST_CAPTCHA};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Presence every 500 ms instead of 10 s, so the veil shows in a second.
const FAST_PRESENCE: &str =
    "window.ocDesktopConfig = {pingMs: 500, pongGraceMs: 400, backoffMinMs: 200, backoffMaxMs: 1000};";

async fn js(b: &mut Browser, code: &str) -> Result<Value> {
    Ok(b.cmd(json!({"cmd": "eval", "js": code}))
        .await?
        .get("value")
        .cloned()
        .unwrap_or(Value::Null))
}

async fn wait_js(b: &mut Browser, code: &str, ms: u64) -> Result<Value> {
    let r = b
        .cmd(json!({"cmd": "wait_js", "js": code, "timeout_ms": ms}))
        .await
        .with_context(|| format!("waiting for `{code}`"))?;
    Ok(r.get("value").cloned().unwrap_or(Value::Null))
}

async fn setup() -> Result<(Cluster, FrontDoor, TenantAdmin)> {
    let c = Cluster::start(
        ClusterOptions::default().env("OPENCLOUD_TEST_CAPTCHA_ANSWER", TEST_CAPTCHA),
    )
    .await?;
    let front = FrontDoor::start(c.ids().iter().map(|&i| c.node(i).api_addr()).collect()).await?;
    let admin = TenantAdmin::new(c.client(), c.api(1).url(), "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    let r = admin
        .call(
            Method::PUT,
            "branding",
            Some(json!({"product_name": "Acme Desktop",
            "colors": {"primary": "#aa3311", "background": "#102030", "text": "#fafafa"}})),
        )
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text()
    );
    Ok((c, front, admin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_use_the_desktop_rebrand_and_sign_out() -> Result<()> {
    let (_c, front, admin) = setup().await?;
    let mut b = Browser::launch().await?;
    b.cmd(json!({"cmd": "init_script", "js": FAST_PRESENCE}))
        .await?;
    let login = format!("{}/t/acme/login", front.url());
    b.cmd(json!({"cmd": "open", "url": login, "wait": "load"}))
        .await?;
    wait_js(
        &mut b,
        "document.querySelector('.oc-product-name').textContent === 'Acme Desktop'",
        10_000,
    )
    .await
    .context("the sign-in page is not branded")?;

    // Three wrong passwords bring the captcha.
    for _ in 0..3 {
        b.submit_login("alice", "wrong-password").await?;
        wait_js(
            &mut b,
            "!document.getElementById('oc-login-error').hidden",
            10_000,
        )
        .await?;
        js(
            &mut b,
            "document.getElementById('oc-login-error').hidden = true",
        )
        .await?;
    }
    wait_js(
        &mut b,
        "!document.getElementById('oc-captcha').hidden",
        10_000,
    )
    .await
    .context("no captcha after three failures")?;
    // The growing delay may ask us to wait a moment first: retry until in.
    let mut inside = false;
    for _ in 0..10 {
        b.cmd(json!({"cmd": "fill", "selector": "#oc-captcha-answer", "text": TEST_CAPTCHA}))
            .await?;
        b.submit_login("alice", "alice-password").await?;
        if wait_js(&mut b, "location.pathname === '/t/acme/' && window.ocDesktop && window.ocDesktop.apps.length > 0", 6_000)
            .await
            .is_ok()
        {
            inside = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    ensure!(
        inside,
        "right captcha and password did not open the desktop"
    );

    // Branded, with exactly the profile's apps.
    let apps = js(&mut b, "window.ocDesktop.apps.map(a => a.id)").await?;
    ensure!(apps == json!(["mail", "wiki"]), "{apps}");
    let icons = js(&mut b, "[...document.querySelectorAll('#oc-icons [data-app]')].map(e => e.getAttribute('data-app')).sort()").await?;
    ensure!(icons == json!(["mail", "wiki"]), "{icons}");
    let name = js(&mut b, "document.title").await?;
    ensure!(
        name.as_str().is_some_and(|t| t.contains("Acme Desktop")),
        "{name}"
    );
    let primary = js(
        &mut b,
        "getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()",
    )
    .await?;
    ensure!(primary == json!("#aa3311"), "{primary}");

    // Open a web app window, move it (within the screen: windows are kept
    // inside it), resize it by its lower left corner (the lower right one
    // is under the welcome notification).
    js(&mut b, "document.querySelector('#oc-icons [data-app=\"wiki\"]').dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))").await?;
    wait_js(&mut b, "window.ocDesktop.windows.length === 1", 10_000).await?;
    let before = js(&mut b, "window.ocDesktop.windows[0]").await?;
    let bar = b
        .cmd(json!({"cmd": "box", "selector": ".oc-window[data-app=\"wiki\"] .oc-titlebar"}))
        .await?;
    let (bx, by) = (
        bar["x"].as_f64().unwrap_or(0.0) + 60.0,
        bar["y"].as_f64().unwrap_or(0.0) + 10.0,
    );
    b.cmd(
        json!({"cmd": "drag", "from": {"x": bx, "y": by}, "to": {"x": bx + 60.0, "y": by + 50.0}}),
    )
    .await?;
    let moved = js(&mut b, "window.ocDesktop.windows[0]").await?;
    let dx = moved["x"].as_f64().unwrap_or(0.0) - before["x"].as_f64().unwrap_or(0.0);
    let dy = moved["y"].as_f64().unwrap_or(0.0) - before["y"].as_f64().unwrap_or(0.0);
    ensure!(
        (dx - 60.0).abs() < 2.0 && (dy - 50.0).abs() < 2.0,
        "moved by {dx},{dy}: {before} → {moved}"
    );
    let grip = b
        .cmd(json!({"cmd": "box", "selector": ".oc-window[data-app=\"wiki\"] .oc-resize-sw"}))
        .await?;
    let (gx, gy) = (
        grip["x"].as_f64().unwrap_or(0.0) + grip["width"].as_f64().unwrap_or(0.0) / 2.0,
        grip["y"].as_f64().unwrap_or(0.0) + grip["height"].as_f64().unwrap_or(0.0) / 2.0,
    );
    b.cmd(
        json!({"cmd": "drag", "from": {"x": gx, "y": gy}, "to": {"x": gx + 80.0, "y": gy - 50.0}}),
    )
    .await?;
    let resized = js(&mut b, "window.ocDesktop.windows[0]").await?;
    let dw = resized["w"].as_f64().unwrap_or(0.0) - moved["w"].as_f64().unwrap_or(0.0);
    let dh = resized["h"].as_f64().unwrap_or(0.0) - moved["h"].as_f64().unwrap_or(0.0);
    ensure!(
        (dw + 80.0).abs() < 2.0 && (dh + 50.0).abs() < 2.0,
        "resized by {dw},{dh}: {moved} → {resized}"
    );
    let frame = js(
        &mut b,
        "document.querySelector('.oc-window[data-app=\"wiki\"] iframe').src",
    )
    .await?;
    ensure!(frame == json!("https://wiki.acme.example/"), "{frame}");

    // A branding change shows after a reload.
    let r = admin
        .call(
            Method::PUT,
            "branding",
            Some(json!({"product_name": "Acme Cloud",
            "colors": {"primary": "#117733", "background": "#000000", "text": "#ffffff"}})),
        )
        .await?;
    ensure!(r.status == StatusCode::NO_CONTENT, "{}", r.text());
    js(&mut b, "location.reload()").await.ok();
    wait_js(&mut b, "window.ocDesktop && getComputedStyle(document.documentElement).getPropertyValue('--primary').trim() === '#117733'", 15_000)
        .await
        .context("the new colours did not show")?;
    let title = js(&mut b, "document.title").await?;
    ensure!(
        title.as_str().is_some_and(|t| t.contains("Acme Cloud")),
        "{title}"
    );

    // Sign out: back to the sign-in page, and the desktop is closed to us.
    b.cmd(json!({"cmd": "click", "selector": "#oc-user"}))
        .await?;
    b.cmd(json!({"cmd": "click", "selector": "#oc-signout"}))
        .await?;
    wait_js(&mut b, "location.pathname === '/t/acme/login'", 10_000).await?;
    let status = js(&mut b, "fetch('/t/acme/api/v1/me').then(r => r.status)").await?;
    ensure!(status == json!(401), "{status}");
    b.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_survives_the_death_of_its_node() -> Result<()> {
    let (mut c, front, _admin) = setup().await?;
    front.prefer(c.node(1).api_addr());
    let mut b = Browser::launch().await?;
    b.cmd(json!({"cmd": "init_script", "js": FAST_PRESENCE}))
        .await?;
    b.cmd(json!({"cmd": "open", "url": format!("{}/t/acme/login", front.url()), "wait": "load"}))
        .await?;
    b.submit_login("alice", "alice-password").await?;
    wait_js(
        &mut b,
        "window.ocDesktop && window.ocDesktop.connected && window.ocDesktop.pongs > 1",
        20_000,
    )
    .await
    .context("the desktop never connected its events")?;

    // The node behind the front door dies: the page greys out...
    c.kill(1);
    wait_js(&mut b, "window.ocDesktop.veil === true", 15_000)
        .await
        .context("no veil after the node died")?;
    // ...and recovers through another node, with the same session.
    wait_js(
        &mut b,
        "window.ocDesktop.veil === false && window.ocDesktop.connected",
        30_000,
    )
    .await
    .context("the page did not recover through another node")?;
    let me = js(
        &mut b,
        "fetch('/t/acme/api/v1/me').then(r => r.json()).then(j => j.login)",
    )
    .await?;
    ensure!(me == json!("alice"), "{me}");
    b.close().await
}
