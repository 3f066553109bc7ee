//! A recorded SPICE session replays faithfully: the test guest scrolls text
//! while our client watches it through the recording proxy, then two
//! clients at once get the recording from the replay server and end up
//! with exactly the recording client's screen, image for image, taking as
//! long as the original did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_spice::proto::channel;
use opencloud_spice::{Compression, Config, Session};
use opencloud_tests::guest::{compare, primary_screen, Guest, GuestOptions};
use opencloud_tests::spice_record::{Recorder, Recording};
use opencloud_tests::spice_replay::{ReplayOptions, ReplayServer};

/// About six seconds of scrolling, then the prompt again.
const WORKLOAD: &str = "timeout 6 sh -c 'while true; do ls -lR /bin; done'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_get_the_recorded_screen() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scroll.rec");
    let recorder = Recorder::start(guest.spice_addr().parse()?, &path).await?;
    let config = Config {
        compression: Compression::Lz,
        ..Config::default()
    };
    let session = Session::connect(&recorder.listen_addr().to_string(), config.clone()).await?;
    session
        .wait_settled(Duration::from_millis(1000), Duration::from_secs(60))
        .await?;
    let first = primary_screen(&session)?;
    session.type_text(WORKLOAD).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    session
        .wait_settled(Duration::from_millis(1500), Duration::from_secs(60))
        .await?;
    let recorded = primary_screen(&session)?;
    let recorded_stats = session.stats();
    ensure!(session.failure().is_none(), "{:?}", session.failure());
    ensure!(
        compare(&first, &recorded).is_some(),
        "the screen did not change while recording"
    );
    let stats = recorder.finish().await?;
    drop(session);
    eprintln!("recorded {stats:?}; client saw {recorded_stats:?}");

    let rec = Recording::load(&path)?;
    eprintln!("{}", rec.summary());
    ensure!(!rec.truncated, "the recording has no END");
    let display = rec
        .channel(channel::DISPLAY, 0)
        .context("no display channel recorded")?;
    let span = Duration::from_micros(
        display.messages.last().context("no display messages")?.t_us - display.link_us,
    );
    ensure!(
        display.messages.len() > 100,
        "only {} display messages: nothing scrolled",
        display.messages.len()
    );

    let rec = Arc::new(rec);
    let server = ReplayServer::start(rec.clone(), "127.0.0.1:0", ReplayOptions::default()).await?;
    let addr = server.local_addr().to_string();
    let started = Instant::now();
    let (a, b) = tokio::try_join!(
        Session::connect(&addr, config.clone()),
        Session::connect(&addr, config.clone())
    )?;
    server
        .wait_finished(channel::DISPLAY, 2, span * 3 + Duration::from_secs(30))
        .await?;
    let took = started.elapsed();
    eprintln!("replayed the display stream twice in {took:?}; recorded span {span:?}");
    ensure!(
        took + Duration::from_millis(100) >= span,
        "the replay took {took:?}, faster than the recorded {span:?}"
    );
    for (name, s) in [("first", &a), ("second", &b)] {
        s.wait_settled(Duration::from_millis(1000), Duration::from_secs(60))
            .await
            .with_context(|| format!("{name} replay client"))?;
        ensure!(
            s.failure().is_none(),
            "{name} replay client failed: {:?}",
            s.failure()
        );
        if let Some(d) = compare(&primary_screen(s)?, &recorded) {
            anyhow::bail!("{name} replay client's screen differs from the recording's: {d}");
        }
        ensure!(
            s.stats() == recorded_stats,
            "{name} replay client decoded {:?}, the recording client {recorded_stats:?}",
            s.stats()
        );
    }
    ensure!(server.errors().is_empty(), "{:?}", server.errors());
    let st = server.stats();
    ensure!(st.linked == 8, "{st:?}: expected 2 clients x 4 channels");
    drop((a, b, server));

    // Looping at 4x speed: the display stream comes round again and again
    // and the client keeps decoding it.
    let looping = ReplayServer::start(
        rec.clone(),
        "127.0.0.1:0",
        ReplayOptions {
            speed: 4.0,
            loop_display: true,
            log: false,
        },
    )
    .await?;
    let c = Session::connect(&looping.local_addr().to_string(), config.clone()).await?;
    let per_pass = recorded_stats.get("lz").map_or(0, |f| f.images);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        ensure!(
            c.failure().is_none(),
            "looping client failed: {:?}",
            c.failure()
        );
        let images = c.stats().get("lz").map_or(0, |f| f.images);
        if images > 3 * per_pass {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the looping client got {images} images; one pass has {per_pass}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(looping.errors().is_empty(), "{:?}", looping.errors());
    Ok(())
}
