//! A password-protected SPICE server accepts the right password and rejects
//! wrong ones promptly with `AuthFailed`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opencloud_spice::{Config, Error, Session};
use opencloud_tests::guest::{compare, Guest, GuestOptions, Screen};

const PASSWORD: &str = "correct-horse-42";

fn config(password: &str) -> Config {
    Config {
        password: password.to_string(),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_is_checked() -> Result<()> {
    let guest = Guest::boot(GuestOptions {
        password: Some(PASSWORD.to_string()),
    })
    .await?;

    for wrong in ["wrong", "", "correct-horse-43"] {
        let start = Instant::now();
        match Session::connect(&guest.spice_addr(), config(wrong)).await {
            Err(Error::AuthFailed) => {}
            Err(e) => bail!("password {wrong:?}: expected AuthFailed, got {e}"),
            Ok(_) => bail!("password {wrong:?} was accepted"),
        }
        if start.elapsed() > Duration::from_secs(5) {
            bail!("rejecting {wrong:?} took {:?}", start.elapsed());
        }
    }

    // The right password opens every channel: the screen arrives whole.
    let session = Session::connect(&guest.spice_addr(), config(PASSWORD))
        .await
        .context("the right password was refused")?;
    let mut last = String::new();
    for _ in 0..4 {
        session
            .wait_settled(Duration::from_millis(1500), Duration::from_secs(60))
            .await?;
        let img = session.primary_image().context("no primary surface")?;
        let ours = Screen {
            width: img.width,
            height: img.height,
            pixels: img.pixels,
        };
        match compare(&ours, &guest.screendump().await?) {
            None => return Ok(()),
            Some(d) => last = d,
        }
    }
    bail!("screen over a password-protected session differs: {last}")
}
