//! The VM broker under test: a cluster whose nodes run the test guest as
//! their VMs (TCG unless `OPENCLOUD_TEST_ACCEL` says otherwise), with short
//! timeouts, and helpers for pools, launches and presence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::api::Reply;
use crate::cluster_options::ClusterOptions;
use crate::guest::{ensure_guest_image, READY_LINE};
use crate::site::{TenantAdmin, Visitor, TEST_CAPTCHA};

/// Seconds after which the broker calls a silent node dead, in these tests.
pub const NODE_DEAD_AFTER_S: u64 = 6;

/// Nodes that run test-guest VMs and broker them with test-sized timeouts.
pub fn options() -> Result<ClusterOptions> {
    let accel = crate::guest::accel()?;
    let accel = match accel {
        "kvm:tcg" => "auto",
        other => other,
    };
    Ok(ClusterOptions::default()
        .env("OPENCLOUD_TEST_CAPTCHA_ANSWER", TEST_CAPTCHA)
        .env("OPENCLOUD_QEMU_ACCEL", accel)
        .env("OPENCLOUD_PRESENCE_WRITE_EVERY_S", "1")
        .env(
            "OPENCLOUD_NODE_DEAD_AFTER_S",
            &NODE_DEAD_AFTER_S.to_string(),
        )
        .env("OPENCLOUD_VM_START_TIMEOUT_S", "240")
        .env("OPENCLOUD_FAILED_KEEP_S", "5")
        .env("OPENCLOUD_LAUNCH_WAIT_S", "60"))
}

/// A pool of the test guest: a kernel and initramfs, ready once its shell
/// runs (the guest says so on its serial port).
pub fn shell_pool(id: &str, warm: u32, max: u32, idle_timeout_s: u64) -> Result<Value> {
    let image = ensure_guest_image()?;
    Ok(json!({
        "id": id,
        "provider": "local",
        "image": {
            "kernel": image.join("vmlinuz"),
            "initrd": image.join("initrd.gz"),
            // A TCG guest among many booting at once may fail the kernel's
            // timer check and panic: skip the check, and reboot on a panic.
            "append": "console=tty0 quiet no_timer_check panic=1",
            "ready_line": READY_LINE,
        },
        "memory_mb": 256,
        "vcpus": 1,
        "warm": warm,
        "max": max,
        "idle_timeout_s": idle_timeout_s,
    }))
}

/// A tenant `slug` with pool `shell`, a VM app `shell` on it in profile
/// `staff`, and users `u1`…`u{users}` (password `password-N`).
pub async fn seed(
    operator: &crate::api::Api,
    admin: &TenantAdmin,
    slug: &str,
    pool: Value,
    users: usize,
) -> Result<()> {
    let id = crate::api::fresh_request_id();
    let r = crate::api::retry_busy("creating a tenant", || {
        operator.create_tenant(slug, "Broker Test", Some(&id))
    })
    .await?;
    if r.status != StatusCode::CREATED {
        bail!("creating tenant {slug}: {} {}", r.status, r.text());
    }
    admin.create("pools", pool).await?;
    admin
        .create(
            "apps",
            json!({"id": "shell", "name": "Shell", "kind": "vm", "pool": "shell"}),
        )
        .await?;
    admin
        .create(
            "profiles",
            json!({"id": "staff", "name": "Staff", "apps": ["shell"]}),
        )
        .await?;
    for n in 1..=users {
        admin
            .create(
                "users",
                json!({"login": format!("u{n}"), "password": format!("password-{n}"), "profiles": ["staff"]}),
            )
            .await?;
    }
    Ok(())
}

/// Signs user `u{n}` in at `base`.
pub async fn user(base: &str, slug: &str, n: usize) -> Result<Visitor> {
    let v = Visitor::new()?;
    v.sign_in(base, slug, &format!("u{n}"), &format!("password-{n}"))
        .await?;
    Ok(v)
}

/// `POST …/apps/{app}/launch` as `v`, sent again while the cluster is busy
/// (a launch again gets the user's own VM if the first one was served).
pub async fn launch(v: &Visitor, base: &str, slug: &str, app: &str) -> Result<Reply> {
    let url = format!("{base}/t/{slug}/api/v1/apps/{app}/launch");
    crate::api::retry_busy("launch", || v.post(&url, json!({}))).await
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub starting: u32,
    pub ready: u32,
    pub assigned: u32,
    pub stopping: u32,
    pub failed: u32,
}

/// A VM as the admin API lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct VmInfo {
    pub id: String,
    pub pool: String,
    pub node: Option<u64>,
    pub state: String,
    pub user: Option<String>,
    pub reason: Option<String>,
    pub created_at: u64,
    /// When the VM entered its state (epoch seconds, the broker's clock).
    pub since: u64,
}

pub async fn counts(admin: &TenantAdmin, pool: &str) -> Result<Counts> {
    let r = admin
        .call(Method::GET, &format!("pools/{pool}"), None)
        .await?;
    if r.status != StatusCode::OK {
        bail!("GET pools/{pool}: {} {}", r.status, r.text());
    }
    Ok(serde_json::from_value(r.json()?["counts"].clone())?)
}

pub async fn vms(admin: &TenantAdmin) -> Result<Vec<VmInfo>> {
    let r = admin.call(Method::GET, "vms", None).await?;
    if r.status != StatusCode::OK {
        bail!("GET vms: {} {}", r.status, r.text());
    }
    Ok(serde_json::from_value(r.json()?)?)
}

/// Polls until VM `id`'s record is gone (its QEMU destroyed and its usage
/// recorded); fails with the last list.
pub async fn wait_vm_gone(
    admin: &TenantAdmin,
    what: &str,
    id: &str,
    timeout: Duration,
) -> Result<Vec<VmInfo>> {
    wait_vms(admin, what, timeout, |l| !l.iter().any(|v| v.id == id)).await
}

/// Polls until `done` holds for the VM list; fails with the last list.
pub async fn wait_vms(
    admin: &TenantAdmin,
    what: &str,
    timeout: Duration,
    done: impl Fn(&[VmInfo]) -> bool,
) -> Result<Vec<VmInfo>> {
    let start = Instant::now();
    let mut last = Vec::new();
    while start.elapsed() < timeout {
        // A node may be down or an election under way: keep asking.
        if let Ok(list) = vms(admin).await {
            if done(&list) {
                return Ok(list);
            }
            last = list;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{what}: not within {timeout:?}; VMs: {last:#?}")
}

/// Polls until pool `pool`'s counts satisfy `done`.
pub async fn wait_counts(
    admin: &TenantAdmin,
    pool: &str,
    timeout: Duration,
    done: impl Fn(&Counts) -> bool,
) -> Result<Counts> {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Ok(c) = counts(admin, pool).await {
            if done(&c) {
                return Ok(c);
            }
            last = Some(c);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let list = vms(admin).await.unwrap_or_default();
    bail!("pool {pool}: counts {last:?} after {timeout:?}; VMs: {list:#?}")
}

/// VMs by state, for messages.
pub fn by_state(list: &[VmInfo]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for vm in list {
        *m.entry(vm.state.clone()).or_default() += 1;
    }
    m
}

/// The pid of the QEMU process running VM `id`, from `/proc`.
pub fn qemu_pid(vm_id: &str) -> Option<u32> {
    let wanted = format!("opencloud-{vm_id}");
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == wanted.as_bytes())
        {
            return Some(pid);
        }
    }
    None
}

/// Where node `node_dir`'s local provider keeps VM `vm_id` (its QMP socket,
/// serial log): `<data>/vms/<id>/`.
pub fn vm_dir(node_data: &std::path::Path, vm_id: &str) -> std::path::PathBuf {
    node_data.join("vms").join(vm_id)
}

/// QEMU's own picture of a broker VM's screen, through its QMP socket.
pub async fn screendump(vm_dir: &std::path::Path) -> Result<crate::guest::Screen> {
    let out = tempfile::tempdir()?;
    let path = out.path().join("screen.ppm");
    crate::guest::qmp_at(
        &vm_dir.join("qmp"),
        json!({"execute": "screendump", "arguments": {"filename": path}}),
    )
    .await?;
    crate::guest::parse_ppm(&std::fs::read(&path).context("reading the screendump")?)
}

/// What a broker VM's guest wrote to its serial port since the last read
/// (the local provider keeps it in a QEMU ring buffer, `serial0`).
pub async fn serial_read(vm_dir: &std::path::Path) -> Result<String> {
    let v = crate::guest::qmp_at(
        &vm_dir.join("qmp"),
        json!({"execute": "ringbuf-read",
               "arguments": {"device": "serial0", "size": 65536, "format": "utf8"}}),
    )
    .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// A desktop's presence: pings the events socket every second until
/// dropped, as an open desktop page does every 10 s.
pub struct Presence {
    task: JoinHandle<()>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Presence {
    pub async fn start(v: &Visitor, base: &str, slug: &str) -> Result<Presence> {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let url = format!(
            "{}/t/{slug}/api/v1/events",
            base.replacen("https", "wss", 1)
        );
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("cookie", v.cookie_header().parse()?);
        let connector = tokio_tungstenite::Connector::Rustls(crate::tls_probe::trust_any()?);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, true, Some(connector))
                .await
                .context("events websocket")?;
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            loop {
                if ws
                    .send(Message::Text(r#"{"t":"ping"}"#.into()))
                    .await
                    .is_err()
                {
                    return;
                }
                let deadline = tokio::time::sleep(Duration::from_secs(1));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut deadline => break,
                        m = ws.next() => if m.is_none() { return },
                    }
                }
            }
        });
        Ok(Presence { task })
    }
}
