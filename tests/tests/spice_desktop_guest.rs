//! The desktop guest works as the agent tests need it to: it boots to X with
//! Debian's real spice-vdagentd holding the agent's virtio port (the guest
//! says so and QEMU confirms the port is open), reports its screen size and
//! pointer position, answers commands, turns `copy` into a CLIPBOARD event,
//! and shows its screen to our SPICE client.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_spice::{Config, Session};
use opencloud_tests::desktop_guest::{DesktopGuest, DesktopGuestOptions, Event, ROOT_COLOUR};
use opencloud_tests::guest::primary_screen;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_guest_runs_the_real_agent() -> Result<()> {
    let guest = DesktopGuest::boot(DesktopGuestOptions::default()).await?;
    let events = guest.events()?;

    // The agent: the guest's own report, before it declared itself ready,
    // and QEMU's view of the virtio port.
    let port_ok = events.iter().position(|e| *e == Event::AgentPortOk);
    let ready = events.iter().position(|e| *e == Event::Ready);
    ensure!(
        matches!((port_ok, ready), (Some(p), Some(r)) if p < r),
        "no AGENT-PORT-OK before READY: {events:?}"
    );
    ensure!(
        guest.agent_port_open().await?,
        "QEMU says the guest has not opened the agent's port"
    );

    // The screen size, from the event and from the command; the first mode
    // of the qxl KMS driver is 1024x768.
    let size = guest.last_size().context("no SIZE event")?;
    ensure!(size == (1024, 768), "unexpected first screen size {size:?}");
    ensure!(guest.screen_size().await? == size, "size command disagrees");
    guest.ping().await?;
    let err = guest.send_command("no-such-verb", None).await;
    ensure!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains("unknown command")),
        "an unknown command did not fail: {err:?}"
    );
    let err = guest.send_command("photo", Some("sideways")).await;
    ensure!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains("photo takes start or stop")),
        "a bad photo argument did not fail: {err:?}"
    );
    // The pointer is on the screen (nobody has moved it yet).
    let (x, y) = guest.pointer().await?;
    ensure!(
        (0..size.0 as i32).contains(&x) && (0..size.1 as i32).contains(&y),
        "the pointer is off the {size:?} screen at ({x}, {y})"
    );

    // Our SPICE client sees the X screen: a surface of that size, all in
    // the root window's colour, like QEMU's screendump.
    let session = Session::connect(&guest.spice_addr(), Config::default()).await?;
    let start = Instant::now();
    loop {
        let mismatch = match primary_screen(&session) {
            Err(e) => format!("{e:#}"),
            Ok(s) if (s.width, s.height) != size => format!("size {}x{}", s.width, s.height),
            Ok(s) => match s.pixels.iter().position(|&p| p != ROOT_COLOUR) {
                None => break,
                Some(i) => format!("pixel {i} is {:06x}", s.pixels[i]),
            },
        };
        if let Some(f) = session.failure() {
            bail!("SPICE session failed: {f}");
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the client's primary surface is not the X screen: {mismatch}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dump = guest.screendump().await?;
    ensure!(
        (dump.width, dump.height) == size && dump.pixels.iter().all(|&p| p == ROOT_COLOUR),
        "the screendump is not a {size:?} screen of {ROOT_COLOUR:06x}"
    );

    // copy puts text on CLIPBOARD; the watcher reports it, paste reads it.
    for text in ["Opencloud desktop ✓\nsecond line\n", "again, other text"] {
        let mark = guest.event_count();
        guest.copy(text).await?;
        guest
            .wait_clipboard(mark, text, Duration::from_secs(30))
            .await?;
        ensure!(guest.paste().await? == text, "paste disagrees with copy");
    }
    if let Some(f) = session.failure() {
        bail!("SPICE session failed: {f}");
    }
    Ok(())
}
