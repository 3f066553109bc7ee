//! The translate-mode viewer in headless Chromium against the real test
//! guest, through `opencloud spice serve`: the canvas equals QEMU's
//! screendump, typing on the page reaches the guest, and a viewer that stops
//! reading costs the node a bounded amount of memory.

use std::time::Duration;

use anyhow::{Context, Result};
use opencloud_tests::browser::Browser;
use opencloud_tests::guest::{compare, Guest, GuestOptions};
use opencloud_tests::viewer::{
    first_control, metric_sum, rss_kib, type_via_ws, ws_connect, SpiceServe,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_the_guest_exactly_and_types_into_it() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let mut browser = Browser::launch().await?;
    browser.open(&serve.url).await?;
    browser.wait_settled(1500).await?;
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;

    browser.type_text("echo $((6*7)) > /dev/ttyS0\n").await?;
    guest
        .wait_serial_line("42", Duration::from_secs(30))
        .await
        .context("the typed command did not run in the guest")?;
    browser.wait_settled(1500).await?;
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;

    let state = browser.state().await?;
    assert!(state["frames"].as_u64().unwrap_or(0) >= 2, "{state}");
    let metrics = serve.metrics().await?;
    let keys = metric_sum(&metrics, "opencloud_viewer_input_events_total");
    assert!(keys >= 20.0, "{keys} input events for a typed command");
    let latency = metric_sum(&metrics, "opencloud_viewer_frame_latency_seconds_total");
    let frames = metric_sum(&metrics, "opencloud_viewer_frames_total");
    assert!(
        frames >= 2.0 && latency > 0.0,
        "{frames} frames, {latency} s of latency"
    );

    // Pointer, buttons and wheel reach the node and leave the session (and
    // the guest's screen) intact: this guest has no mouse driver, so the
    // screen must not change.
    for (x, y) in [(10, 10), (300, 200), (719, 399), (0, 0)] {
        browser
            .cmd(json!({"cmd": "mouse", "action": "click", "x": x, "y": y, "button": 1}))
            .await?;
    }
    browser
        .cmd(json!({"cmd": "mouse", "action": "click", "x": 50, "y": 50, "button": 3}))
        .await?;
    browser.cmd(json!({"cmd": "wheel", "dy": 2})).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = serve.metrics().await?;
    let all = metric_sum(&metrics, "opencloud_viewer_input_events_total");
    assert!(
        all >= keys + 10.0,
        "mouse input did not reach the node: {keys} key events, {all} in all"
    );
    browser
        .wait_canvas_matches(&guest, "canvas", Duration::from_secs(20))
        .await?;
    browser.type_text("echo $((7*8)) > /dev/ttyS0\n").await?;
    guest
        .wait_serial_line("56", Duration::from_secs(30))
        .await
        .context("typing stopped working after mouse input")?;
    assert!(metric_sum(&metrics, "opencloud_viewer_bytes_total") > 0.0);
    browser.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stops_reading_costs_bounded_memory() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let pid = serve.pid().context("no pid")?;
    let url = serve.url.replace("http://", "ws://") + "ws";
    let mut ws = ws_connect(&url).await?;
    let hello = first_control(&mut ws).await?;
    assert_eq!(hello["kind"], "hello", "{hello}");
    // Start a screen that never stops changing, then never read again.
    type_via_ws(&mut ws, "clear; while true; do ls -lR /; done\n").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = rss_kib(pid)?;
    let first = guest.screendump().await?;
    let mut peak = baseline;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(rss_kib(pid)?);
    }
    let later = guest.screendump().await?;
    assert!(
        compare(&first, &later).is_some(),
        "the guest's screen did not change: the workload is not running"
    );
    let metrics = serve.metrics().await?;
    let frames = metric_sum(&metrics, "opencloud_viewer_frames_total");
    let unacked = metric_sum(&metrics, "opencloud_viewer_frames_unacknowledged");
    println!(
        "rss baseline {baseline} KiB, peak {peak} KiB; frames sent {frames}, unacknowledged {unacked}"
    );
    // The flow-control window is 2 frames: without acks no third is sent,
    // whatever the guest draws.
    assert!(frames <= 2.0, "{frames} frames sent without any ack");
    assert!(unacked <= 2.0);
    // The process holds two framebuffers and the SPICE caches; 20 s of a
    // scrolling screen must not add more than a small, fixed amount.
    assert!(
        peak <= baseline + 32 * 1024,
        "memory grew from {baseline} KiB to {peak} KiB for a viewer that does not read"
    );
    drop(ws);
    Ok(())
}
