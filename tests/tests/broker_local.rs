//! The VM broker with the local provider on a 3-node cluster: each VM is a
//! real QEMU running the test guest (docs/BROKER.md).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_tests::broker::{
    self, by_state, counts, launch, qemu_pid, seed, shell_pool, user, vms, wait_counts,
    wait_vm_gone, wait_vms, Presence, NODE_DEAD_AFTER_S,
};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::TenantAdmin;
use reqwest::{Method, StatusCode};

/// Long enough for a few TCG guests to boot on a busy 2-core machine.
const BOOT: Duration = Duration::from_secs(180);

async fn setup(
    slug: &str,
    pool: serde_json::Value,
    users: usize,
) -> Result<(Cluster, TenantAdmin, String)> {
    let c = Cluster::start(broker::options()?).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, slug);
    seed(&c.api(1), &admin, slug, pool, users).await?;
    Ok((c, admin, base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_pool_fills_a_launch_takes_one_and_it_refills() -> Result<()> {
    let (c, admin, base) = setup("warm", shell_pool("shell", 2, 4, 600)?, 1).await?;
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 2).await?;

    let u1 = user(&base, "warm", 1).await?;
    let r = launch(&u1, &base, "warm", "shell").await?;
    ensure!(
        r.status == StatusCode::OK,
        "launch: {} {}",
        r.status,
        r.text()
    );
    let body = r.json()?;
    let vm = body["vm"].as_str().context("vm")?.to_string();
    let url = body["viewer_url"].as_str().context("viewer_url")?;
    ensure!(url.starts_with("/viewer/#token="), "{url}");
    ensure!(body["resumed"] == false, "{body}");

    // Refilled: two ready again beside the assigned one.
    let n = wait_counts(&admin, "shell", BOOT, |n| n.ready == 2 && n.assigned == 1).await?;
    ensure!(n.failed == 0, "{n:?}");
    let list = vms(&admin).await?;
    let mine: Vec<_> = list.iter().filter(|v| v.state == "assigned").collect();
    ensure!(
        mine.len() == 1 && mine[0].id == vm && mine[0].user.as_deref() == Some("u1"),
        "{list:#?}"
    );

    // One VM per user: launching again from another node gives the same VM
    // with a new ticket.
    let other = c.api(2).url().to_string();
    let again = launch(&u1, &other, "warm", "shell").await?;
    ensure!(again.status == StatusCode::OK, "{}", again.text());
    let again = again.json()?;
    ensure!(again["vm"] == vm && again["resumed"] == true, "{again}");
    ensure!(again["viewer_url"] != url, "a ticket was reused");

    // The newest ticket opens the VM's screen through a node's translator
    // (the first one was issued for the password the second launch
    // replaced).
    let token2 = again["viewer_url"]
        .as_str()
        .context("viewer_url")?
        .trim_start_matches("/viewer/#token=");
    let ws2 = format!(
        "{}/viewer/ws?token={token2}",
        other.replacen("https", "wss", 1)
    );
    let mut ws = opencloud_tests::viewer::ws_connect(&ws2).await?;
    let hello = opencloud_tests::viewer::first_control(&mut ws).await?;
    ensure!(hello["kind"] == "hello", "{hello}");
    let frame = wait_frame(&mut ws).await?;
    ensure!(frame, "no frame from the VM");
    // A ticket works once.
    drop(ws);
    let mut spent = opencloud_tests::viewer::ws_connect(&ws2).await?;
    let refused = opencloud_tests::viewer::first_control(&mut spent).await;
    ensure!(
        refused
            .as_ref()
            .map_or(true, |v| v["kind"] == "error" && v["retry"] == false),
        "a spent ticket was accepted: {refused:?}"
    );

    // Signing out releases the VM at once, and its usage is recorded.
    let out = u1
        .post(
            &format!("{base}/t/warm/api/v1/logout"),
            serde_json::json!({}),
        )
        .await?;
    ensure!(out.status == StatusCode::NO_CONTENT, "{}", out.text());
    wait_vm_gone(&admin, "the VM released", &vm, Duration::from_secs(30)).await?;
    ensure!(qemu_pid(&vm).is_none(), "the released VM's QEMU still runs");
    let usage = admin.call(Method::GET, "usage", None).await?.json()?;
    let events = usage.as_array().context("usage")?;
    ensure!(
        events.len() == 1
            && events[0]["id"] == vm
            && events[0]["login"] == "u1"
            && events[0]["pool"] == "shell"
            && events[0]["tenant"] == "warm",
        "{usage}"
    );
    drop(c);
    Ok(())
}

/// Reads until a frame arrives (true) or 20 s pass (false).
async fn wait_frame(ws: &mut opencloud_tests::viewer::Ws) -> Result<bool> {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        match opencloud_tests::viewer::next_msg(ws, Duration::from_secs(5)).await? {
            Some(opencloud_tests::viewer::ServerMsg::Frame { .. }) => return Ok(true),
            Some(opencloud_tests::viewer::ServerMsg::Control(v)) if v["kind"] == "error" => {
                anyhow::bail!("viewer error: {v}")
            }
            None => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_users_launch_at_once_against_five_vms() -> Result<()> {
    let (c, admin, _) = setup("crowd", shell_pool("shell", 5, 5, 600)?, 20).await?;
    let mut users = Vec::new();
    for n in 1..=20 {
        // Spread over the nodes, as a load balancer would.
        let node = c.api(1 + (n as u64 % 3)).url().to_string();
        users.push((n, node.clone(), user(&node, "crowd", n).await?));
    }
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 5).await?;

    let launches = users
        .iter()
        .map(|(n, node, v)| async move { (*n, launch(v, node, "crowd", "shell").await) });
    let results = futures::future::join_all(launches).await;
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = 0;
    for (n, r) in results {
        let r = r?;
        match r.status {
            StatusCode::OK => {
                let vm = r.json()?["vm"].as_str().context("vm")?.to_string();
                if let Some(first) = got.insert(vm.clone(), n) {
                    anyhow::bail!("VM {vm} went to u{first} and u{n}");
                }
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                let text = r.text();
                ensure!(text.contains("in use"), "unclear refusal: {text}");
                refused += 1;
            }
            other => anyhow::bail!("u{n}: unexpected {other} {}", r.text()),
        }
    }
    ensure!(
        got.len() == 5 && refused == 15,
        "{} got VMs, {refused} refused",
        got.len()
    );
    // The store agrees: five VMs, each assigned to the one user who got it.
    let list = vms(&admin).await?;
    let assigned: BTreeMap<String, String> = list
        .iter()
        .filter(|v| v.state == "assigned")
        .map(|v| (v.id.clone(), v.user.clone().unwrap_or_default()))
        .collect();
    ensure!(assigned.len() == 5, "{list:#?}");
    for (vm, n) in &got {
        ensure!(
            assigned.get(vm) == Some(&format!("u{n}")),
            "{vm}: {assigned:?}"
        );
    }
    let distinct_users: BTreeSet<_> = assigned.values().collect();
    ensure!(distinct_users.len() == 5, "{assigned:?}");
    drop(c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_users_vm_is_reaped_and_the_pool_refills() -> Result<()> {
    let idle = 10;
    let (c, admin, base) = setup("idle", shell_pool("shell", 2, 4, idle)?, 2).await?;
    let (u1, u2) = (user(&base, "idle", 1).await?, user(&base, "idle", 2).await?);
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 2).await?;
    // u2 keeps a desktop open; u1 closed theirs.
    let _present = Presence::start(&u2, &base, "idle").await?;
    let vm1 = launch(&u1, &base, "idle", "shell").await?.json()?["vm"].clone();
    let vm2 = launch(&u2, &base, "idle", "shell").await?.json()?["vm"].clone();
    ensure!(
        vm1.is_string() && vm2.is_string() && vm1 != vm2,
        "{vm1} {vm2}"
    );
    let launched = Instant::now();

    let list = wait_vms(&admin, "u1's VM reaped", Duration::from_secs(60), |l| {
        !l.iter().any(|v| serde_json::json!(v.id) == vm1)
    })
    .await?;
    ensure!(
        launched.elapsed() >= Duration::from_secs(idle - 2),
        "reaped after {:?}, before the idle timeout",
        launched.elapsed()
    );
    // u2, present all along, keeps theirs.
    ensure!(
        list.iter()
            .any(|v| serde_json::json!(v.id) == vm2 && v.state == "assigned"),
        "{list:#?}"
    );
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 2 && n.assigned == 1).await?;
    drop(c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_quota_gets_a_clear_error() -> Result<()> {
    let (c, admin, base) = setup("quota", shell_pool("shell", 1, 4, 600)?, 2).await?;
    let q = c
        .client()
        .put(format!("{base}/api/v1/tenants/quota/quota"))
        .json(&serde_json::json!({"max_vms": 1}))
        .send()
        .await?;
    ensure!(q.status() == StatusCode::OK, "{}", q.text().await?);
    wait_counts(&admin, "shell", BOOT, |n| n.ready == 1).await?;
    let first = launch(&user(&base, "quota", 1).await?, &base, "quota", "shell").await?;
    ensure!(first.status == StatusCode::OK, "{}", first.text());
    let second = launch(&user(&base, "quota", 2).await?, &base, "quota", "shell").await?;
    ensure!(
        second.status == StatusCode::TOO_MANY_REQUESTS
            && second.text().contains("all 1 virtual machines"),
        "{} {}",
        second.status,
        second.text()
    );
    // The quota also kept the pool from refilling.
    let n = counts(&admin, "shell").await?;
    ensure!(n.ready == 0 && n.starting == 0 && n.assigned == 1, "{n:?}");
    drop(c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_killed_behind_the_brokers_back_is_replaced() -> Result<()> {
    let (c, admin, _) = setup("recon", shell_pool("shell", 2, 4, 600)?, 0).await?;
    let list = wait_vms(&admin, "two ready", BOOT, |l| {
        l.iter().filter(|v| v.state == "ready").count() == 2
    })
    .await?;
    let victim = list[0].id.clone();
    let pid = qemu_pid(&victim).context("the VM's QEMU process")?;
    nix_kill(pid)?;
    let list = wait_vms(
        &admin,
        "the killed VM failed",
        Duration::from_secs(30),
        |l| l.iter().any(|v| v.id == victim && v.state == "failed"),
    )
    .await?;
    let reason = list
        .iter()
        .find(|v| v.id == victim)
        .and_then(|v| v.reason.clone())
        .unwrap_or_default();
    ensure!(reason.contains("QEMU exited"), "{reason}");
    // Replaced: two ready VMs again, the victim not among them.
    let list = wait_vms(&admin, "replaced", BOOT, |l| {
        l.iter()
            .filter(|v| v.state == "ready" && v.id != victim)
            .count()
            == 2
    })
    .await?;
    ensure!(by_state(&list).get("ready") == Some(&2), "{list:#?}");
    drop(c);
    Ok(())
}

fn nix_kill(pid: u32) -> Result<()> {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?
        .success();
    ensure!(ok, "kill -9 {pid} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brokers_node_dies_and_another_takes_over() -> Result<()> {
    let (mut c, admin, _) = setup("failover", shell_pool("shell", 3, 9, 600)?, 4).await?;
    // One ready VM per node (the planner places on the least loaded).
    let list = wait_vms(&admin, "three ready", BOOT, |l| {
        l.iter().filter(|v| v.state == "ready").count() == 3
    })
    .await?;
    let nodes: BTreeSet<_> = list.iter().filter_map(|v| v.node).collect();
    ensure!(nodes.len() == 3, "not spread over the nodes: {list:#?}");
    let leader = c.api(1).cluster().await?.leader.context("leader")?;
    // Three users, each through a node that will survive.
    let survivor = c.follower_of(leader);
    let base = c.api(survivor).url().to_string();
    let mut owners = BTreeMap::new();
    for n in 1..=3 {
        let v = user(&base, "failover", n).await?;
        let r = launch(&v, &base, "failover", "shell").await?;
        ensure!(r.status == StatusCode::OK, "{}", r.text());
        owners.insert(
            r.json()?["vm"].as_str().context("vm")?.to_string(),
            format!("u{n}"),
        );
    }
    let list = vms(&TenantAdmin::new(c.client(), &base, "failover")).await?;
    let on_leader: Vec<String> = list
        .iter()
        .filter(|v| v.node == Some(leader))
        .map(|v| v.id.clone())
        .collect();
    ensure!(!on_leader.is_empty(), "no VM on the leader: {list:#?}");

    c.kill(leader);
    let killed = Instant::now();
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    // The dead node's VMs died with it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for vm in &on_leader {
        ensure!(qemu_pid(vm).is_none(), "VM {vm} outlived its node");
    }
    let admin2 = TenantAdmin::new(c.client(), &base, "failover");
    // Watch, from now on, for the new broker to give up the dead node's VMs:
    // the launch below may wait for a boot, and failed VMs are deleted a few
    // seconds later, so looking only after it would measure the boot.
    let watcher = {
        let admin = TenantAdmin::new(c.client(), &base, "failover");
        let on_leader = on_leader.clone();
        tokio::spawn(async move {
            let list = wait_vms(
                &admin,
                "the dead node's VMs failed",
                Duration::from_secs(60),
                |l| {
                    on_leader.iter().all(|id| {
                        l.iter().any(|v| &v.id == id && v.state == "failed")
                            || !l.iter().any(|v| &v.id == id)
                    })
                },
            )
            .await?;
            anyhow::Ok((killed.elapsed(), list))
        })
    };
    // A user launching meanwhile gets a VM of a live node (the dead one's
    // still look ready until the broker gives them up), and the new broker
    // starts a replacement: brokering moved with the leadership.
    tokio::time::sleep(Duration::from_secs(NODE_DEAD_AFTER_S / 2 + 1)).await;
    let v4 = user(&base, "failover", 4).await?;
    let r = launch(&v4, &base, "failover", "shell").await?;
    ensure!(
        r.status == StatusCode::OK,
        "launch after the kill: {} {}",
        r.status,
        r.text()
    );
    let vm4 = r.json()?["vm"].as_str().context("vm")?.to_string();
    let list = wait_vms(
        &admin2,
        "a VM started by the new broker",
        Duration::from_secs(30),
        |l| l.iter().any(|v| v.created_at >= killed_at),
    )
    .await?;
    eprintln!(
        "the new broker started a VM {:?} after the kill",
        killed.elapsed()
    );
    ensure!(
        list.iter().any(|v| v.id == vm4 && v.node != Some(leader)),
        "u4 got a VM of the dead node: {list:#?}"
    );
    owners.insert(vm4, "u4".to_string());
    // It marked the dead node's VMs failed once the node was silent long
    // enough: when, by the broker's own record of the change where the
    // watcher saw it (else by when the watcher saw them gone).
    let (seen, list) = watcher.await??;
    let failed_since = list
        .iter()
        .filter(|v| on_leader.contains(&v.id) && v.state == "failed")
        .map(|v| v.since)
        .max();
    let took = match failed_since {
        Some(since) => Duration::from_secs(since.saturating_sub(killed_at)),
        None => seen,
    };
    eprintln!("the dead node's VMs were failed {took:?} after the kill (seen after {seen:?})");
    ensure!(
        took <= Duration::from_secs(NODE_DEAD_AFTER_S + 20),
        "takeover took {took:?}: {list:#?}"
    );
    // Survivors' assignments stand, to the same users (as they are now).
    let list = vms(&admin2).await?;
    // Survivors' assignments stand, to the same users.
    for v in list.iter().filter(|v| v.node != Some(leader)) {
        if let Some(owner) = owners.get(&v.id) {
            ensure!(
                v.state == "assigned" && v.user.as_ref() == Some(owner),
                "{} changed: {v:?}",
                v.id
            );
        }
    }
    // The pool is refilled on the survivors.
    let list = wait_vms(&admin2, "refilled on the survivors", BOOT, |l| {
        l.iter()
            .filter(|v| v.state == "ready" && v.node != Some(leader))
            .count()
            == 3
    })
    .await?;
    ensure!(
        !list
            .iter()
            .any(|v| v.node == Some(leader) && v.state != "failed"),
        "{list:#?}"
    );
    drop(admin);
    drop(c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_from_the_dead_destroys_the_vms_the_store_forgot() -> Result<()> {
    let (c, admin, _) = setup("stale", shell_pool("shell", 3, 6, 600)?, 0).await?;
    let list = wait_vms(&admin, "three ready", BOOT, |l| {
        l.iter().filter(|v| v.state == "ready").count() == 3
    })
    .await?;
    let leader = c.api(1).cluster().await?.leader.context("leader")?;
    let frozen = c.follower_of(leader);
    let base = c.api(leader).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "stale");
    let stale: Vec<String> = list
        .iter()
        .filter(|v| v.node == Some(frozen))
        .map(|v| v.id.clone())
        .collect();
    ensure!(!stale.is_empty(), "no VM on node {frozen}: {list:#?}");

    // Frozen (a partition, a stalled host): the broker gives its VMs up and
    // forgets them, while their QEMU processes keep running.
    c.pause(frozen)?;
    wait_vms(
        &admin,
        "the frozen node's VMs forgotten",
        Duration::from_secs(60),
        |l| !l.iter().any(|v| stale.contains(&v.id)),
    )
    .await?;
    for vm in &stale {
        ensure!(
            qemu_pid(vm).is_some(),
            "VM {vm} stopped while its node was frozen"
        );
    }
    c.resume(frozen)?;
    // Back, the node finds VMs the store does not know, and destroys them.
    let start = Instant::now();
    while stale.iter().any(|vm| qemu_pid(vm).is_some()) {
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "stale VMs still run: {:?}",
            stale
                .iter()
                .filter(|vm| qemu_pid(vm).is_some())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let list = vms(&admin).await?;
    ensure!(!list.iter().any(|v| stale.contains(&v.id)), "{list:#?}");
    drop(c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_pool_boots_throwaway_overlays_of_one_base() -> Result<()> {
    let images = tempfile::tempdir()?;
    let base = images.path().join("base.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("64M")
        .status()?;
    ensure!(made.success(), "qemu-img create failed");
    let before = std::fs::read(&base)?;
    // No ready line: a disk VM is ready once its SPICE server answers.
    let pool = serde_json::json!({"id": "shell", "provider": "local", "image": {"disk": base},
                                  "memory_mb": 128, "warm": 1, "max": 2});
    let (c, admin, base_url) = setup("disk", pool, 1).await?;
    let list = wait_vms(&admin, "one ready", BOOT, |l| {
        l.iter().any(|v| v.state == "ready")
    })
    .await?;
    let vm = list
        .iter()
        .find(|v| v.state == "ready")
        .context("ready VM")?;
    let dir = broker::vm_dir(c.node(vm.node.context("node")?).data_dir(), &vm.id);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(dir.join("disk.qcow2"))
        .output()?;
    let info: serde_json::Value = serde_json::from_slice(&info.stdout)?;
    ensure!(
        info["backing-filename"] == serde_json::json!(base),
        "the VM's disk is not an overlay of the base: {info}"
    );
    let u1 = user(&base_url, "disk", 1).await?;
    let r = launch(&u1, &base_url, "disk", "shell").await?;
    ensure!(
        r.status == StatusCode::OK && r.json()?["vm"] == vm.id.as_str(),
        "{}",
        r.text()
    );
    u1.post(
        &format!("{base_url}/t/disk/api/v1/logout"),
        serde_json::json!({}),
    )
    .await?;
    let id = vm.id.clone();
    wait_vm_gone(&admin, "released", &id, Duration::from_secs(30)).await?;
    let start = Instant::now();
    while dir.exists() {
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "{} left behind",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(
        std::fs::read(&base)? == before,
        "the shared base image changed"
    );
    drop(c);
    Ok(())
}
