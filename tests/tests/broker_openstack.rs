//! The broker with the OpenStack provider, against the Nova stand-in
//! (`tests/src/nova/`: no cloud can run here): pools boot servers, a launch
//! reaches the server's SPICE console (a real test guest stands behind it),
//! sign-out deletes the server, and the cloud's refusals and timeouts show
//! in the pool and leave nothing behind.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_tests::broker::{self, launch, seed, user, wait_counts, wait_vm_gone, wait_vms};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::guest::{Guest, GuestOptions};
use opencloud_tests::nova::{NovaStandIn, FLAVOR, IMAGE, NETWORK};
use opencloud_tests::site::TenantAdmin;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START_TIMEOUT_S: u64 = 10;

fn cloud_pool(image: &str, warm: u32) -> Value {
    json!({"id": "shell", "image": {"cloud_image": image, "flavor": FLAVOR, "network": NETWORK},
           "warm": warm, "max": 3})
}

async fn cluster(nova: &NovaStandIn) -> Result<Cluster> {
    let mut opts = broker::options()?
        .env("OPENCLOUD_OPENSTACK", "true")
        .env("OPENCLOUD_OPENSTACK_API_TIMEOUT_S", "5")
        .env("OPENCLOUD_VM_START_TIMEOUT_S", &START_TIMEOUT_S.to_string());
    for (k, v) in nova.os_env() {
        opts = opts.env(&k, &v);
    }
    Cluster::start(opts).await
}

/// Polls until `done` holds for the stand-in's servers.
async fn wait_servers(
    nova: &NovaStandIn,
    what: &str,
    done: impl Fn(&[opencloud_tests::nova::ServerView]) -> bool,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let servers = nova.servers();
        if done(&servers) {
            return Ok(());
        }
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not within 60 s; servers: {servers:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_pool_boots_servers_and_a_launch_reaches_the_console() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let nova = NovaStandIn::start().await?;
    nova.set(|k| {
        k.spice_host = "127.0.0.1".into();
        k.spice_port = guest.spice_port;
        k.build_delay = Duration::from_secs(1);
    });
    let c = cluster(&nova).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "cloudy");
    seed(&c.api(1), &admin, "cloudy", cloud_pool(IMAGE, 1), 1).await?;
    wait_counts(&admin, "shell", Duration::from_secs(60), |n| n.ready == 1).await?;
    let servers = nova.servers();
    ensure!(servers.len() == 1, "{servers:#?}");
    let server = &servers[0];
    ensure!(
        server.status == "ACTIVE"
            && server.name.starts_with("oc-cloudy-")
            && server.image_id == nova.image_id(IMAGE).unwrap_or_default()
            && server.flavor_id == nova.flavor_id(FLAVOR).unwrap_or_default(),
        "{server:#?}"
    );
    let vm_id = server
        .metadata
        .get("opencloud_vm")
        .cloned()
        .context("metadata")?;
    ensure!(
        server.metadata.get("opencloud_tenant").map(String::as_str) == Some("cloudy")
            && server.metadata.get("opencloud_pool").map(String::as_str) == Some("shell"),
        "{server:#?}"
    );

    // A launch gives a viewer of the server's console: the real guest's
    // screen comes through it.
    let u1 = user(&base, "cloudy", 1).await?;
    let r = launch(&u1, &base, "cloudy", "shell").await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text());
    let body = r.json()?;
    ensure!(body["vm"] == vm_id.as_str(), "{body}");
    let token = body["viewer_url"]
        .as_str()
        .context("viewer_url")?
        .trim_start_matches("/viewer/#token=");
    let ws_url = format!(
        "{}/viewer/ws?token={token}",
        base.replacen("https", "wss", 1)
    );
    let mut ws = opencloud_tests::viewer::ws_connect(&ws_url).await?;
    let hello = opencloud_tests::viewer::first_control(&mut ws).await?;
    ensure!(hello["kind"] == "hello", "{hello}");
    let served = nova.requests();
    ensure!(
        served
            .iter()
            .any(|s| s.path.ends_with("/remote-consoles") && s.status == 200),
        "no console was asked of Nova: {served:#?}"
    );
    drop(ws);

    // Sign-out releases the VM: its server is deleted, and the pool boots
    // another.
    u1.post(&format!("{base}/t/cloudy/api/v1/logout"), json!({}))
        .await?;
    wait_servers(&nova, "the released server deleted", |s| {
        !s.iter()
            .any(|x| x.metadata.get("opencloud_vm") == Some(&vm_id))
    })
    .await?;
    wait_counts(&admin, "shell", Duration::from_secs(60), |n| {
        n.ready == 1 && n.assigned == 0
    })
    .await?;
    // The usage is recorded as the VM's record is removed.
    wait_vm_gone(
        &admin,
        "the released VM's record removed",
        &vm_id,
        Duration::from_secs(60),
    )
    .await?;
    let usage = admin.call(Method::GET, "usage", None).await?.json()?;
    ensure!(
        usage[0]["id"] == vm_id.as_str() && usage[0]["login"] == "u1",
        "{usage}"
    );
    drop(c);
    Ok(())
}

/// The latest failure reason of pool `shell`, once it contains `needle`.
async fn wait_failure(admin: &TenantAdmin, needle: &str) -> Result<String> {
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < Duration::from_secs(60) {
        let r = admin.call(Method::GET, "pools/shell", None).await?;
        if r.status == StatusCode::OK {
            last = r.json()?;
            if let Some(why) = last["last_failure"].as_str() {
                if why.contains(needle) {
                    return Ok(why.to_string());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("no failure mentioning {needle:?} within 60 s; pool: {last}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clouds_refusals_and_timeouts_show_and_leave_nothing_behind() -> Result<()> {
    let nova = NovaStandIn::start().await?;
    nova.set(|k| k.instance_quota = Some(0));
    let c = cluster(&nova).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "stormy");
    seed(&c.api(1), &admin, "stormy", cloud_pool(IMAGE, 1), 0).await?;

    // Over the project's quota.
    let why = wait_failure(&admin, "Quota exceeded").await?;
    ensure!(why.starts_with("no room"), "{why}");
    ensure!(nova.servers().is_empty(), "{:#?}", nova.servers());

    // An image the cloud does not have.
    nova.set(|k| k.instance_quota = None);
    let r = admin
        .call(
            Method::PUT,
            "pools/shell",
            Some(cloud_pool("no-such-image", 1)),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{}", r.text());
    wait_failure(&admin, "no-such-image").await?;

    // A server that never leaves BUILD: failed after the start timeout and
    // deleted.
    nova.set(|k| k.never_active = true);
    let r = admin
        .call(Method::PUT, "pools/shell", Some(cloud_pool(IMAGE, 1)))
        .await?;
    ensure!(r.status == StatusCode::OK, "{}", r.text());
    wait_failure(&admin, "did not become ready").await?;
    let list = wait_vms(&admin, "a timed-out VM", Duration::from_secs(5), |l| {
        l.iter().any(|v| {
            v.state == "failed"
                && v.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("did not become ready"))
        })
    })
    .await?;
    let timed_out: Vec<String> = list
        .iter()
        .filter(|v| {
            v.reason
                .as_deref()
                .is_some_and(|r| r.contains("did not become ready"))
        })
        .map(|v| v.id.clone())
        .collect();
    wait_servers(&nova, "timed-out servers deleted", |s| {
        !s.iter().any(|x| {
            x.metadata
                .get("opencloud_vm")
                .is_some_and(|id| timed_out.contains(id))
        })
    })
    .await?;

    // A server of ours that the store does not know is deleted.
    nova.set(|k| k.never_active = false);
    let out = std::process::Command::new(opencloud_tests::cluster_options::opencloud_bin(false)?)
        .args([
            "openstack",
            "boot",
            "--image",
            IMAGE,
            "--flavor",
            FLAVOR,
            "--network",
            NETWORK,
        ])
        .envs(nova.os_env())
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stray: Vec<String> = nova
        .servers()
        .iter()
        .filter(|s| {
            s.metadata
                .get("opencloud_tenant")
                .is_none_or(|t| t != "stormy")
        })
        .map(|s| s.id.clone())
        .collect();
    ensure!(stray.len() == 1, "{:#?}", nova.servers());
    wait_servers(&nova, "the stray server deleted", |s| {
        !s.iter().any(|x| x.id == stray[0])
    })
    .await?;
    drop(c);
    Ok(())
}
