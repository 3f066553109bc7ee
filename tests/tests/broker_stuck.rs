//! A local VM stuck starting: its guest never says it is ready. Past the
//! start timeout the broker fails it with a reason the admin sees, destroys
//! its QEMU, and starts another in its place (docs/BROKER.md,
//! reconciliation).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use opencloud_tests::broker::{self, qemu_pid, seed, shell_pool, wait_vms};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use reqwest::Method;

/// The start timeout of these nodes: long enough for QEMU to start on a
/// busy machine, short enough for the test.
const START_TIMEOUT_S: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_never_gets_ready_is_failed_destroyed_and_replaced() -> Result<()> {
    let opts = broker::options()?.env("OPENCLOUD_VM_START_TIMEOUT_S", &START_TIMEOUT_S.to_string());
    let c = Cluster::start(opts).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "stuck");
    // The test guest, waiting for a line its serial port never prints.
    let mut pool = shell_pool("shell", 1, 2, 600)?;
    pool["image"]["ready_line"] = "a line this guest never prints".into();
    seed(&c.api(1), &admin, "stuck", pool, 0).await?;

    // The first VM starts and its QEMU runs.
    let list = wait_vms(&admin, "a VM starting", Duration::from_secs(60), |l| {
        l.iter()
            .any(|v| v.state == "starting" && qemu_pid(&v.id).is_some())
    })
    .await?;
    let first = list
        .iter()
        .find(|v| v.state == "starting")
        .context("starting VM")?
        .clone();

    // Past the timeout it is failed, with the reason.
    let list = wait_vms(
        &admin,
        "the stuck VM failed",
        Duration::from_secs(START_TIMEOUT_S + 30),
        |l| l.iter().any(|v| v.id == first.id && v.state == "failed"),
    )
    .await?;
    let vm = list
        .iter()
        .find(|v| v.id == first.id)
        .context("failed VM")?;
    ensure!(
        vm.since >= first.created_at + START_TIMEOUT_S,
        "failed {} s after it was created, before the start timeout: {vm:?}",
        vm.since.saturating_sub(first.created_at)
    );
    let reason = vm.reason.clone().unwrap_or_default();
    ensure!(
        reason.contains(&format!("did not become ready within {START_TIMEOUT_S} s")),
        "{reason}"
    );
    let pool = admin.call(Method::GET, "pools/shell", None).await?.json()?;
    ensure!(
        pool["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("did not become ready")),
        "the pool does not say why: {pool}"
    );

    // Its QEMU is destroyed, another VM takes its place, and the failed
    // record goes once it has been shown for a while.
    let list = wait_vms(&admin, "replaced", Duration::from_secs(60), |l| {
        qemu_pid(&first.id).is_none()
            && !l.iter().any(|v| v.id == first.id)
            && l.iter().any(|v| v.state == "starting")
    })
    .await?;
    ensure!(
        list.iter()
            .all(|v| v.state != "ready" && v.state != "assigned"),
        "a VM whose guest never said so is ready: {list:#?}"
    );
    drop(c);
    Ok(())
}
