//! A VM app's viewer is presence of its user: open in a tab of its own, with
//! no desktop open anywhere, it keeps the VM from being reaped; closed, it
//! lets the VM go after the pool's idle timeout (docs/BROKER.md, reaping).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_tests::broker::{self, launch, seed, shell_pool, user, vms, wait_counts, wait_vms};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use opencloud_tests::viewer::{first_control, next_msg, ws_connect};
use reqwest::StatusCode;

/// Long enough for a TCG guest to boot on a busy 2-core machine.
const BOOT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_viewer_keeps_its_vm_and_a_closed_one_lets_it_go() -> Result<()> {
    let idle = 10;
    let c = Cluster::start(broker::options()?).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "alone");
    seed(
        &c.api(1),
        &admin,
        "alone",
        shell_pool("shell", 1, 2, idle)?,
        1,
    )
    .await?;
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 1).await?;

    // u1 launches from a desktop they never keep open (no events socket).
    let u1 = user(&base, "alone", 1).await?;
    let r = launch(&u1, &base, "alone", "shell").await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text());
    let body = r.json()?;
    let vm = body["vm"].as_str().context("vm")?.to_string();
    let token = body["viewer_url"]
        .as_str()
        .context("viewer_url")?
        .trim_start_matches("/viewer/#token=")
        .to_string();

    // The viewer alone, through another node than the launch's.
    let other = c.api(2).url().replacen("https", "wss", 1);
    let mut ws = ws_connect(&format!("{other}/viewer/ws?token={token}")).await?;
    let hello = first_control(&mut ws).await?;
    ensure!(hello["kind"] == "hello", "{hello}");
    let viewer = tokio::spawn(async move {
        while let Ok(Some(_)) = next_msg(&mut ws, Duration::from_secs(3600)).await {}
    });

    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!(
            "DBG {:?}",
            vms(&admin)
                .await?
                .iter()
                .map(|v| (v.id.clone(), v.state.clone(), v.user.clone(), v.since))
                .collect::<Vec<_>>()
        );
    }
    // Twice the idle timeout later the VM is still theirs.
    tokio::time::sleep(Duration::from_secs(2 * idle + 2)).await;
    let list = vms(&admin).await?;
    ensure!(
        list.iter()
            .any(|v| v.id == vm && v.state == "assigned" && v.user.as_deref() == Some("u1")),
        "the VM went while its viewer was open: {list:#?}"
    );

    // Closed: the VM goes once the idle timeout has passed, not before.
    viewer.abort();
    let _ = viewer.await;
    let closed = Instant::now();
    let list = wait_vms(&admin, "the VM reaped", Duration::from_secs(60), |l| {
        !l.iter().any(|v| v.id == vm && v.state == "assigned")
    })
    .await?;
    ensure!(
        closed.elapsed() >= Duration::from_secs(idle - 3),
        "reaped {:?} after the viewer closed, before the idle timeout: {list:#?}",
        closed.elapsed()
    );
    drop(c);
    Ok(())
}
