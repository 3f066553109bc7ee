//! JPEG in a real browser: the desktop guest cycles photo-like images
//! (`photo start`, see `desktop_guest.rs`), which the viewer's encoder sends
//! as JPEG (colourful tiles that change often); headless Chromium decodes
//! and draws them through `opencloud spice serve` and keeps up. Once the
//! screen is still, the refine pass resends the lossy area as PNG and the
//! canvas equals QEMU's screendump exactly.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_tests::browser::Browser;
use opencloud_tests::desktop_guest::{DesktopGuest, DesktopGuestOptions, PHOTO_RECT, ROOT_COLOUR};
use opencloud_tests::viewer::SpiceServe;
use serde_json::{json, Value};

const METRIC: &str = "opencloud_viewer_bytes_total";
/// From `photo start` to the first JPEG: the windows appear, then the
/// encoder needs about three changes within a second to call a tile hot.
const JPEG_WAIT: Duration = Duration::from_secs(60);
/// How long the animation runs once JPEG flows, watched by the test.
const ANIMATION: Duration = Duration::from_secs(4);
/// From `photo stop` to an exact canvas: the last change, 300 ms of
/// stillness, the refine pass, and the page drawing it.
const SETTLE_WAIT: Duration = Duration::from_secs(60);

/// Bytes the viewer sent with `encoding` (the metric's label), summed over
/// viewers.
fn bytes_sent(metrics: &str, encoding: &str) -> f64 {
    let label = format!("encoding=\"{encoding}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{METRIC}{{")) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Counts, in the page, the images it decodes by type and outcome: the
/// viewer decodes IMAGE messages with `createImageBitmap` on a Blob typed
/// `image/jpeg` or `image/png`.
const COUNT_DECODES_JS: &str = "(() => { \
    const seen = window.__ocDecodes = {}; const orig = window.createImageBitmap; \
    window.createImageBitmap = function (src, ...rest) { \
      const kind = (src && src.type) || 'other'; \
      const count = (k) => { seen[k] = (seen[k] || 0) + 1; }; \
      return orig.call(window, src, ...rest).then( \
        (b) => { count(kind + ' ok'); return b; }, \
        (e) => { count(kind + ' failed'); throw e; }); \
    }; return true; })()";

async fn eval(browser: &mut Browser, js: &str) -> Result<Value> {
    let v = browser.cmd(json!({"cmd": "eval", "js": js})).await?;
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

async fn decodes(browser: &mut Browser, key: &str) -> Result<u64> {
    let v = eval(browser, "window.__ocDecodes").await?;
    Ok(v.get(key).and_then(Value::as_u64).unwrap_or(0))
}

/// The page's viewer state; fails when it reports an error or lost its
/// connection.
async fn healthy_state(browser: &mut Browser) -> Result<Value> {
    let state = browser.state().await?;
    ensure!(
        state["connected"] == json!(true) && state["error"].is_null(),
        "the viewer is not well: {state}"
    );
    Ok(state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_draws_jpeg_while_photos_change_and_ends_exact() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let serve = SpiceServe::start(&guest.spice_addr(), "").await?;
    let mut browser = Browser::launch().await?;
    // A window of the guest's own size, so that the agent's resize changes
    // nothing and the canvas is the whole screen.
    let (w, h) = guest.screen_size().await?;
    browser
        .cmd(
            json!({"cmd": "open", "url": serve.url, "timeout_ms": 60_000,
                    "viewport": {"width": w, "height": h}}),
        )
        .await?;
    guest
        .wait_canvas_matches(&mut browser, "canvas", SETTLE_WAIT)
        .await
        .context("the first screen")?;
    // A solid screen needs no JPEG: whatever comes later is the photos'.
    let metrics = serve.metrics().await?;
    ensure!(
        bytes_sent(&metrics, "jpeg") == 0.0,
        "JPEG before any photo:\n{metrics}"
    );
    eval(&mut browser, COUNT_DECODES_JS).await?;
    let frames_before = healthy_state(&mut browser).await?["frames"]
        .as_u64()
        .context("no frame count")?;

    let start = Instant::now();
    guest.photo_start().await?;
    let first_jpeg = loop {
        let jpeg = bytes_sent(&serve.metrics().await?, "jpeg");
        if jpeg > 0.0 {
            break jpeg;
        }
        if start.elapsed() > JPEG_WAIT {
            let state = browser.state().await?;
            bail!("no JPEG within {JPEG_WAIT:?} of photo start; page: {state}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "first JPEG {:.1} s after photo start",
        start.elapsed().as_secs_f64()
    );

    // While the photos change, JPEG keeps flowing and the page keeps
    // decoding and drawing it: frames grow, nothing fails.
    let mut frames = frames_before;
    let watch = Instant::now();
    while watch.elapsed() < ANIMATION {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = healthy_state(&mut browser).await?["frames"]
            .as_u64()
            .unwrap_or(0);
        ensure!(
            now > frames,
            "no new frame in a second: {now} after {frames}"
        );
        frames = now;
    }
    let metrics = serve.metrics().await?;
    let jpeg = bytes_sent(&metrics, "jpeg");
    ensure!(
        jpeg > first_jpeg,
        "JPEG stopped while the photos changed: {jpeg} bytes, {first_jpeg} at first"
    );
    let jpeg_ok = decodes(&mut browser, "image/jpeg ok").await?;
    let jpeg_failed = decodes(&mut browser, "image/jpeg failed").await?;
    let png_failed = decodes(&mut browser, "image/png failed").await?;
    ensure!(jpeg_ok > 0, "the page decoded no JPEG");
    ensure!(
        jpeg_failed == 0 && png_failed == 0,
        "the page failed to decode {jpeg_failed} JPEG and {png_failed} PNG images"
    );
    eprintln!(
        "{} frames and {jpeg_ok} JPEG images drawn, {jpeg:.0} JPEG bytes in {:.1} s of photos",
        frames - frames_before,
        start.elapsed().as_secs_f64()
    );

    // Still again: the screen ends exact, through PNG sent after the stop
    // (the refine pass over the JPEG area).
    guest.photo_stop().await?;
    let png_at_stop = bytes_sent(&serve.metrics().await?, "png");
    let stop = Instant::now();
    guest
        .wait_canvas_matches(&mut browser, "canvas", SETTLE_WAIT)
        .await
        .context("after photo stop")?;
    eprintln!(
        "canvas exact {:.1} s after photo stop",
        stop.elapsed().as_secs_f64()
    );
    let png = bytes_sent(&serve.metrics().await?, "png");
    ensure!(png > png_at_stop, "no PNG after the stop ({png} bytes)");
    ensure!(
        decodes(&mut browser, "image/png ok").await? > 0,
        "the page drew no PNG"
    );
    healthy_state(&mut browser).await?;

    // And what matched is the photo, not an empty screen: the photo area is
    // full of colours, the rest is the root window.
    let screen = guest.screendump().await?;
    let (px, py, pw, ph) = PHOTO_RECT;
    let mut colours: HashSet<u32> = HashSet::new();
    for y in py..py + ph {
        let row = (y * screen.width) as usize;
        colours.extend(&screen.pixels[row + px as usize..row + (px + pw) as usize]);
    }
    ensure!(
        colours.len() > 10_000,
        "the photo area has only {} colours",
        colours.len()
    );
    ensure!(
        screen.pixels[0] == ROOT_COLOUR,
        "the corner is {:06x}",
        screen.pixels[0]
    );
    browser.close().await
}
