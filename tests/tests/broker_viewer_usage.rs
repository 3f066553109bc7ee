//! A VM used through its viewer alone. The viewer is presence of its user:
//! open in a tab of its own, with no desktop open anywhere, it keeps the VM
//! from being reaped; closed, it lets the VM go after the pool's idle
//! timeout. Meanwhile the VM's usage is recorded in whole periods as it
//! runs, and the rest when it goes (docs/BROKER.md, reaping and metering).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_tests::broker::{
    self, launch, seed, shell_pool, user, vms, wait_counts, wait_vm_gone, wait_vms,
};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use opencloud_tests::viewer::{first_control, next_msg, ws_connect};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

/// Long enough for a TCG guest to boot on a busy 2-core machine.
const BOOT: Duration = Duration::from_secs(180);
/// The metering period of these nodes.
const PERIOD_S: u64 = 5;

#[derive(Debug, Deserialize)]
struct UsageEvent {
    id: String,
    login: String,
    start: u64,
    end: u64,
    vm_seconds: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_viewer_keeps_its_vm_and_its_usage_is_recorded_as_it_runs() -> Result<()> {
    let idle = 10;
    let opts = broker::options()?.env("OPENCLOUD_USAGE_CHECKPOINT_S", &PERIOD_S.to_string());
    let c = Cluster::start(opts).await?;
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
    // The rest of the usage is recorded as the VM's record is removed, once
    // its QEMU is gone.
    wait_vm_gone(
        &admin,
        "the VM's record removed",
        &vm,
        Duration::from_secs(60),
    )
    .await?;

    // The usage: whole periods while it ran, then the rest under the VM's
    // own id, end to end with no gap or overlap.
    let all: Vec<UsageEvent> =
        serde_json::from_value(admin.call(Method::GET, "usage", None).await?.json()?)?;
    let mut mine: Vec<&UsageEvent> = all.iter().filter(|e| e.id.starts_with(&vm)).collect();
    mine.sort_by_key(|e| e.start);
    let (periods, last) = mine.split_at(mine.len().saturating_sub(1));
    ensure!(
        periods.len() as u64 >= 2 * idle / PERIOD_S
            && periods.iter().all(|e| e.id == format!("{vm}@{}", e.end)
                && e.vm_seconds == PERIOD_S
                && e.end - e.start == PERIOD_S)
            && last.len() == 1
            && last[0].id == vm
            // A period that ended between the planner's last pass and the
            // release is part of the rest.
            && last[0].vm_seconds < 2 * PERIOD_S
            && mine.iter().all(|e| e.login == "u1")
            && mine.windows(2).all(|w| w[0].end == w[1].start),
        "usage of {vm}: {mine:#?}"
    );
    drop(c);
    Ok(())
}
