//! The viewer on a 3-node cluster against the real test guest: tickets
//! issued by one node are honoured once by any node, expired and reused
//! tickets are refused, a page whose node dies comes back by itself with the
//! current screen, and passthrough works with Debian's spice-html5.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::guest::{Guest, GuestOptions};
use opencloud_tests::proxy::{Mode, Proxy};
use opencloud_tests::viewer::{first_control, issue_ticket, ws_connect};
use serde_json::json;

/// Asserts that a websocket to `url` is refused with a CONTROL error that
/// says retrying is pointless.
async fn refused(url: &str, why: &str) -> Result<()> {
    let mut ws = ws_connect(url).await?;
    let c = first_control(&mut ws).await?;
    if c["kind"] != "error" || c["retry"] != false {
        bail!("{why}: expected a final refusal, got {c}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_reconnects_and_passthrough_on_a_cluster() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let mut cluster = Cluster::start(ClusterOptions::default()).await?;
    let client = cluster.client();
    let token = cluster.token().to_string();
    let spice = guest.spice_addr();
    let (n1, n2, n3) = (
        cluster.node(1).url(),
        cluster.node(2).url(),
        cluster.node(3).url(),
    );
    let wss = |base: &str, path: &str| format!("{}{path}", base.replace("https://", "wss://"));

    // A ticket from node 1 opens the viewer on node 1.
    let t = issue_ticket(&client, &n1, &token, &spice, "translate", 60).await?;
    let mut browser = Browser::launch().await?;
    browser.open(&format!("{n1}{}", t.viewer_url)).await?;
    browser.wait_settled(1500).await?;
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;
    let url = browser
        .cmd(json!({"cmd": "eval", "js": "location.href"}))
        .await?;
    assert!(
        !url["value"].as_str().unwrap_or("").contains(&t.token),
        "the ticket stayed in the address bar: {url}"
    );

    // Spent: no node takes it again.
    refused(&wss(&n2, &t.websocket), "a used ticket on another node").await?;
    refused(&wss(&n1, &t.websocket), "a used ticket on its own node").await?;
    // Expired, malformed, missing.
    let short = issue_ticket(&client, &n3, &token, &spice, "translate", 1).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    refused(&wss(&n3, &short.websocket), "an expired ticket").await?;
    refused(&wss(&n2, "/viewer/ws?token=abc"), "a malformed ticket").await?;
    refused(&wss(&n2, "/viewer/ws"), "no ticket").await?;
    refused(
        &wss(&n2, &format!("/viewer/ws?token={}", "0".repeat(48))),
        "an unknown ticket",
    )
    .await?;
    // A translate ticket does not open passthrough, and the operator API
    // wants the operator.
    let anonymous = opencloud_tests::loadgen::client(Duration::from_secs(10))?;
    let r = anonymous
        .post(format!("{n2}/api/v1/viewer/tickets"))
        .json(&json!({"addr": spice}))
        .send()
        .await?;
    assert_eq!(r.status(), 401, "{:?}", r.text().await);

    // The node the page talks to dies: the veil shows; the node comes back,
    // the page reconnects with its resume key and shows the screen as it is
    // now (changed while the page was away).
    cluster.kill(1);
    browser.wait_veil(true, 10_000).await?;
    guest.sendkeys("clear\necho back\n").await?;
    cluster.restart(1).await?;
    browser
        .wait_veil(false, 60_000)
        .await
        .context("the page did not reconnect after its node came back")?;
    browser.wait_settled(1500).await?;
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;
    browser.close().await?;

    // Passthrough: Debian's spice-html5, served by node 2, through a
    // passthrough ticket from node 3. spice-html5 opens one socket per
    // channel with the same URL.
    let p = issue_ticket(&client, &n3, &token, &spice, "passthrough", 60).await?;
    let path = urlencode(p.websocket.trim_start_matches('/'));
    let mut browser = Browser::launch().await?;
    browser
        .cmd(
            json!({"cmd": "open", "url": format!("{n2}/spice-html5/spice_auto.html?path={path}"),
                    "wait": "canvas", "selector": "#spice-area canvas", "timeout_ms": 60_000}),
        )
        .await?;
    browser
        .cmd(
            json!({"cmd": "wait_settled", "quiet_ms": 2000, "timeout_ms": 60_000,
                    "selector": "#spice-area canvas"}),
        )
        .await?;
    browser
        .wait_canvas_matches(&guest, "#spice-area canvas", Duration::from_secs(30))
        .await?;
    browser.close().await?;
    // The passthrough ticket is not a translate ticket.
    refused(
        &wss(&n1, &format!("/viewer/ws?token={}", p.token)),
        "a passthrough ticket in translate mode",
    )
    .await?;
    cluster.check_no_crash()?;
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A page opened while the VM does not answer yet (still booting, say)
/// waits behind the veil, retrying with its resume key since its ticket is
/// spent, and shows the screen once the VM answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_before_the_vm_answers_shows_it_once_it_does() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let vm = Proxy::start(guest.spice_addr().parse()?).await?;
    vm.set_mode(Mode::Refuse);
    let cluster = Cluster::start(ClusterOptions::default()).await?;
    let n1 = cluster.node(1).url();
    let vm_addr = vm.listen_addr().to_string();
    let t = issue_ticket(
        &cluster.client(),
        &n1,
        cluster.token(),
        &vm_addr,
        "translate",
        60,
    )
    .await?;
    let mut browser = Browser::launch().await?;
    browser
        .cmd(json!({"cmd": "open", "url": format!("{n1}{}", t.viewer_url), "wait": "load"}))
        .await?;
    browser.wait_veil(true, 10_000).await?;
    let refused = vm.accepted();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        vm.accepted() > refused,
        "the page stopped retrying while the VM did not answer"
    );
    vm.heal();
    browser
        .wait_veil(false, 60_000)
        .await
        .context("the page did not connect once the VM answered")?;
    browser.wait_settled(1500).await?;
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;
    browser.close().await
}
