//! Our SPICE client's framebuffer equals QEMU's own screendump, pixel for
//! pixel, with each image compression: on the first full frame, after
//! varied text, after the screen scrolls and after `clear`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_spice::{Compression, Config, Session};
use opencloud_tests::guest::{compare, primary_screen, Guest, GuestOptions};

const VARIED_TEXT: &str = "busybox --help | head -20; \
    echo 'The quick brown fox jumps over the lazy dog 0123456789 ~!@#$%^&*()_+{}|:<>?'\n";

/// Waits for the display to settle, then compares it with the screendump.
/// A slow guest may still be printing when the display first looks quiet,
/// so a mismatch is retried a few times before it counts.
pub async fn assert_matches_screendump(session: &Session, guest: &Guest, what: &str) -> Result<()> {
    let mut last = String::new();
    for _ in 0..4 {
        session
            .wait_settled(Duration::from_millis(1500), Duration::from_secs(90))
            .await
            .with_context(|| format!("{what}: display did not settle"))?;
        let ours = primary_screen(session)?;
        let truth = guest.screendump().await?;
        match compare(&ours, &truth) {
            None => return Ok(()),
            Some(d) => last = d,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{what}: framebuffer differs from the screendump: {last}")
}

async fn check_mode(guest: &Guest, mode: Compression, name: &str) -> Result<()> {
    let config = Config {
        compression: mode,
        ..Config::default()
    };
    let session = Session::connect(&guest.spice_addr(), config).await?;
    assert_matches_screendump(&session, guest, &format!("{name}: first frame")).await?;
    session.type_text(VARIED_TEXT).await?;
    assert_matches_screendump(&session, guest, &format!("{name}: varied text")).await?;
    session.type_text("seq 1 60\n").await?;
    assert_matches_screendump(&session, guest, &format!("{name}: after scrolling")).await?;
    session.type_text("clear\n").await?;
    assert_matches_screendump(&session, guest, &format!("{name}: after clear")).await?;
    session.type_text(VARIED_TEXT).await?;
    assert_matches_screendump(&session, guest, &format!("{name}: text after clear")).await?;

    // The server must really have used the format under test, or the
    // comparison above proved nothing about its decoder.
    let stats = session.stats();
    eprintln!("{name}: {stats:?}");
    let count = |f: &str| stats.get(f).map(|s| s.images).unwrap_or(0);
    let expected = match mode {
        Compression::Off => "bitmap",
        Compression::Lz => "lz",
        Compression::Glz => "glz",
        Compression::Quic => "quic",
        Compression::Auto => return Ok(()),
    };
    if count(expected) == 0 {
        bail!("{name}: the server sent no {expected} image: {stats:?}");
    }
    for other in ["bitmap", "lz", "glz", "quic"] {
        // GLZ sessions get their first full frame as LZ (the server uses
        // GLZ only for drawing commands); OFF sends tiny images raw in
        // every mode.
        let allowed = other == expected
            || (mode == Compression::Glz && other == "lz" && count("lz") == 1)
            || other == "bitmap";
        if !allowed && count(other) > 0 {
            bail!("{name}: unexpected {other} images: {stats:?}");
        }
    }
    if let Some(f) = session.failure() {
        bail!("{name}: session failed: {f}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framebuffer_matches_screendump_for_every_compression() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    for (mode, name) in [
        (Compression::Off, "off"),
        (Compression::Lz, "lz"),
        (Compression::Glz, "glz"),
        (Compression::Quic, "quic"),
    ] {
        check_mode(&guest, mode, name).await?;
    }
    Ok(())
}
