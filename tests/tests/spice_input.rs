//! Text typed through our inputs channel reaches the guest: the shell runs
//! it (the serial port shows the result) and our decoded screen shows the
//! command exactly as QEMU's screendump does.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_spice::inputs::Button;
use opencloud_spice::{Config, Session};
use opencloud_tests::guest::{compare, primary_screen, Guest, GuestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_command_runs_in_the_guest_and_shows_on_screen() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let session = Session::connect(&guest.spice_addr(), Config::default()).await?;
    session
        .wait_settled(Duration::from_millis(1500), Duration::from_secs(60))
        .await?;
    let before = primary_screen(&session)?;
    // The cursor channel is linked and its CURSOR_INIT was understood.
    if session.with_cursor(|c| c.generation) == 0 {
        bail!("no message arrived on the cursor channel");
    }

    // Pointer traffic in whatever mouse mode the server chose (relative
    // with this guest): more moves than one ACK bunch, a click, and the
    // session must stay healthy.
    for i in 0..20u32 {
        session.pointer_to(10 * i, 5 * i).await?;
    }
    session.mouse_press(Button::Left).await?;
    session.mouse_release(Button::Left).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(f) = session.failure() {
        bail!("the session failed after mouse input: {f}");
    }

    session.type_text("echo $((6*7)) > /dev/ttyS0\n").await?;
    guest
        .wait_serial_line("42", Duration::from_secs(30))
        .await
        .context("the typed command did not run")?;

    let mut last = String::new();
    for _ in 0..4 {
        session
            .wait_settled(Duration::from_millis(1500), Duration::from_secs(60))
            .await?;
        let after = primary_screen(&session)?;
        if compare(&before, &after).is_none() {
            bail!("the screen did not change after typing a command");
        }
        match compare(&after, &guest.screendump().await?) {
            None => return Ok(()),
            Some(d) => last = d,
        }
    }
    bail!("our screen differs from the screendump after typing: {last}")
}
