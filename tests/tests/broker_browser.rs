//! A VM app from the user's side, in headless Chromium: sign in, open the
//! app, see the guest's shell in the window, type a command, see its
//! output. The ground truth is the VM's own QMP screendump and its serial
//! port (a QEMU ring buffer), read over the QMP socket of the node that
//! runs it.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_tests::broker::{
    self, screendump, seed, serial_read, shell_pool, vm_dir, wait_counts, wait_vms,
};
use opencloud_tests::browser::Browser;
use opencloud_tests::cluster::Cluster;
use opencloud_tests::guest::compare;
use opencloud_tests::site::TenantAdmin;
use serde_json::{json, Value};

async fn wait_js(b: &mut Browser, frame: Option<&str>, code: &str, ms: u64) -> Result<Value> {
    let r = b
        .cmd(json!({"cmd": "wait_js", "js": code, "timeout_ms": ms, "frame": frame}))
        .await
        .with_context(|| format!("waiting for `{code}`"))?;
    Ok(r.get("value").cloned().unwrap_or(Value::Null))
}

/// Waits until the viewer's canvas in the app window shows exactly what the
/// VM's screen holds.
async fn wait_window_matches(
    b: &mut Browser,
    dir: &std::path::Path,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let truth = screendump(dir).await?;
        let seen = b.canvas_in(Some("/viewer/"), "canvas").await?;
        match compare(&truth, &seen) {
            None => return Ok(()),
            Some(d) if Instant::now() >= deadline => {
                bail!("the app window differs from the VM's screen: {d}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_open_the_vm_app_and_run_a_command() -> Result<()> {
    let c = Cluster::start(broker::options()?).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "shellco");
    seed(
        &c.api(1),
        &admin,
        "shellco",
        shell_pool("shell", 1, 2, 600)?,
        1,
    )
    .await?;
    wait_counts(&admin, "shell", Duration::from_secs(180), |n| n.ready == 1).await?;

    let mut b = Browser::launch().await?;
    let login = format!("{base}/t/shellco/login");
    b.cmd(json!({"cmd": "open", "url": login, "wait": "load"}))
        .await?;
    b.submit_login("u1", "password-1").await?;
    wait_js(
        &mut b,
        None,
        "window.ocDesktop && window.ocDesktop.apps.length === 1",
        15_000,
    )
    .await
    .context("the desktop did not open")?;

    // Open the app: the window shows the viewer with the VM's screen.
    b.cmd(json!({"cmd": "eval", "js": "document.querySelector('#oc-icons [data-app=\"shell\"]').dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))"}))
        .await?;
    wait_js(
        &mut b,
        None,
        "!!document.querySelector('.oc-window[data-app=\"shell\"] iframe')",
        30_000,
    )
    .await
    .context("no viewer in the app window")?;
    wait_js(
        &mut b,
        Some("/viewer/"),
        "window.ocViewer && window.ocViewer.frames > 0",
        30_000,
    )
    .await
    .context("the viewer shows no frame")?;
    let list = wait_vms(&admin, "u1's VM", Duration::from_secs(10), |l| {
        l.iter().any(|v| v.user.as_deref() == Some("u1"))
    })
    .await?;
    let vm = list
        .iter()
        .find(|v| v.user.as_deref() == Some("u1"))
        .context("u1's VM")?;
    let dir = vm_dir(c.node(vm.node.context("node")?).data_dir(), &vm.id);
    wait_window_matches(&mut b, &dir, Duration::from_secs(20))
        .await
        .context("the window does not show the guest's shell")?;
    let before = screendump(&dir).await?;

    // Type into the window: the command runs in the guest...
    b.cmd(json!({"cmd": "click", "selector": "canvas", "frame": "/viewer/"}))
        .await?;
    b.type_text("echo oc-$((6*7)) >/dev/ttyS0; echo shown-$((6*7))\n")
        .await?;
    let start = Instant::now();
    let mut log = String::new();
    loop {
        log.push_str(&serial_read(&dir).await?);
        if log.lines().any(|l| l.trim() == "oc-42") {
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(30),
            "the typed command never ran; serial: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and its output shows in the window as on the VM's screen.
    wait_window_matches(&mut b, &dir, Duration::from_secs(20))
        .await
        .context("the window does not show the command's output")?;
    let after = screendump(&dir).await?;
    ensure!(
        compare(&before, &after).is_some(),
        "the screen did not change after the command"
    );
    b.close().await?;
    drop(c);
    Ok(())
}
