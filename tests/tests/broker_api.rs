//! The broker's API guards: host paths are the operator's, tenant admins
//! pick registered images, bad pools are refused with clear errors, and no
//! tenant reaches another's pools, VMs or apps. No VM boots here (warm 0).

use anyhow::{ensure, Result};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::site::{TenantAdmin, Visitor};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn kernel_image(id: &str) -> Value {
    json!({"id": id, "name": "Test shell", "provider": "local",
           "source": {"kernel": "/srv/images/vmlinuz", "initrd": "/srv/images/initrd.gz",
                      "append": "console=tty0"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_paths_are_the_operators_and_tenants_stay_apart() -> Result<()> {
    let c = Cluster::start(opencloud_tests::broker::options()?).await?;
    let base = c.api(1).url().to_string();
    let op = c.client();
    let a = TenantAdmin::new(op.clone(), &base, "acme");
    let b = TenantAdmin::new(op.clone(), c.api(2).url(), "bolt");
    a.seed(&c.api(1), "Acme").await?;
    b.seed(&c.api(1), "Bolt").await?;

    // The operator registers an image; only the operator sees the list.
    let r = op
        .post(format!("{base}/api/v1/images"))
        .json(&kernel_image("shell"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.text().await?);
    let r = op
        .post(format!("{base}/api/v1/images"))
        .json(&kernel_image("shell"))
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::CONFLICT,
        "duplicate image: {}",
        r.status()
    );
    let mut relative = kernel_image("rel");
    relative["source"]["kernel"] = json!("vmlinuz");
    let r = op
        .post(format!("{base}/api/v1/images"))
        .json(&relative)
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::BAD_REQUEST,
        "relative path: {}",
        r.status()
    );

    let boss = Visitor::new()?;
    boss.sign_in(&base, "acme", "boss", "boss-password").await?;
    let images = boss.get(&format!("{base}/api/v1/images")).await?;
    ensure!(
        images.status == StatusCode::UNAUTHORIZED,
        "{}",
        images.status
    );

    // A tenant admin may not name a host file, only a registered image.
    let pools = format!("{base}/t/acme/api/v1/pools");
    let inline =
        json!({"id": "p1", "image": {"kernel": "/etc/shadow", "initrd": "/etc/passwd"}, "warm": 0});
    let r = boss.post(&pools, inline.clone()).await?;
    ensure!(
        r.status == StatusCode::FORBIDDEN && r.text().contains("registered image"),
        "inline image by a tenant admin: {} {}",
        r.status,
        r.text()
    );
    let r = boss
        .post(&pools, json!({"id": "p1", "image": "nope", "warm": 0}))
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST && r.text().contains("no image `nope`"),
        "{}",
        r.text()
    );
    let r = boss
        .post(
            &pools,
            json!({"id": "p1", "image": "shell", "warm": 0, "max": 3}),
        )
        .await?;
    ensure!(r.status == StatusCode::CREATED, "{} {}", r.status, r.text());
    let pool = r.json()?;
    ensure!(
        pool["image_id"] == "shell"
            && pool["idle_timeout_s"] == 600
            && pool["counts"]["ready"] == 0,
        "{pool}"
    );
    // The operator may give one inline.
    let r = a
        .call(
            Method::POST,
            "pools",
            Some(json!({"id": "p2", "image": inline["image"], "warm": 0})),
        )
        .await?;
    ensure!(r.status == StatusCode::CREATED, "{} {}", r.status, r.text());

    for (bad, why) in [
        (
            json!({"id": "p3", "image": "shell", "warm": 5, "max": 2}),
            "warm must not exceed max",
        ),
        (
            json!({"id": "p3", "image": "shell", "memory_mb": 1}),
            "memory_mb",
        ),
        (
            json!({"id": "p3", "image": "shell", "idle_timeout_s": 0}),
            "idle_timeout_s",
        ),
        (
            json!({"id": "p3", "image": "shell", "colour": "red"}),
            "unknown field",
        ),
        (json!({"id": "Bad Id", "image": "shell"}), "id"),
        (
            json!({"id": "p1", "image": "shell", "warm": 0}),
            "already exists",
        ),
    ] {
        let r = boss.post(&pools, bad.clone()).await?;
        ensure!(
            r.status.is_client_error() && r.text().contains(why),
            "{bad}: {} {}",
            r.status,
            r.text()
        );
    }

    // A plain user may neither read pools nor VMs.
    let alice = Visitor::new()?;
    alice
        .sign_in(&base, "acme", "alice", "alice-password")
        .await?;
    for path in ["pools", "pools/p1", "vms", "usage"] {
        let r = alice.get(&format!("{base}/t/acme/api/v1/{path}")).await?;
        ensure!(
            r.status == StatusCode::FORBIDDEN,
            "alice GET {path}: {}",
            r.status
        );
    }
    // Quotas are the operator's.
    let r = boss
        .send(
            Method::PUT,
            &format!("{base}/api/v1/tenants/acme/quota"),
            Some(json!({"max_vms": 100})),
            &[],
        )
        .await?;
    ensure!(r.status == StatusCode::UNAUTHORIZED, "{}", r.status);

    // Another tenant's admin and users reach nothing of acme's.
    let bolt_boss = Visitor::new()?;
    bolt_boss
        .sign_in(c.api(2).url(), "bolt", "boss", "boss-password")
        .await?;
    // Same cookies, sent to acme's paths, on every node.
    for node in c.ids() {
        let url = c.api(node).url().to_string();
        for path in ["pools", "pools/p1", "vms", "usage"] {
            let r = bolt_boss
                .get(&format!("{url}/t/acme/api/v1/{path}"))
                .await?;
            ensure!(
                r.status == StatusCode::UNAUTHORIZED,
                "bolt's boss GET acme {path}: {}",
                r.status
            );
        }
        let r = bolt_boss
            .post(
                &format!("{url}/t/acme/api/v1/pools"),
                json!({"id": "evil", "image": "shell"}),
            )
            .await?;
        ensure!(r.status == StatusCode::UNAUTHORIZED, "{}", r.status);
        let r = bolt_boss
            .post(&format!("{url}/t/acme/api/v1/apps/wiki/launch"), json!({}))
            .await?;
        ensure!(r.status == StatusCode::UNAUTHORIZED, "{}", r.status);
    }
    // Bolt's own pools are its own: acme's are not among them.
    let r = b.call(Method::GET, "pools", None).await?;
    ensure!(
        r.status == StatusCode::OK && r.json()? == json!([]),
        "{}",
        r.text()
    );

    // A VM app on a missing pool and a web app say why they do not launch.
    a.create(
        "apps",
        json!({"id": "ghost", "name": "Ghost", "kind": "vm", "pool": "nowhere"}),
    )
    .await?;
    a.call(
        Method::PUT,
        "profiles/staff",
        Some(json!({"id": "staff", "name": "Staff", "apps": ["wiki", "ghost"]})),
    )
    .await?;
    let r = alice
        .post(
            &format!("{base}/t/acme/api/v1/apps/ghost/launch"),
            json!({}),
        )
        .await?;
    ensure!(
        r.status == StatusCode::SERVICE_UNAVAILABLE && r.text().contains("nowhere"),
        "{} {}",
        r.status,
        r.text()
    );
    // A cloud pool on a cluster started without --openstack says so at
    // once, instead of waiting for a VM nobody will start.
    let cloud = json!({"id": "cloud", "name": "Cloud", "provider": "openstack",
        "source": {"cloud_image": "debian-12", "flavor": "m1.small", "network": "private"}});
    let r = op
        .post(format!("{base}/api/v1/images"))
        .json(&cloud)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.text().await?);
    let pool = a
        .create(
            "pools",
            json!({"id": "cloudy", "image": "cloud", "warm": 1}),
        )
        .await?;
    ensure!(
        pool["problem"]
            .as_str()
            .is_some_and(|p| p.contains("no OpenStack connection")),
        "the pool does not say why it gets no VMs: {pool}"
    );
    // A local pool has no such problem.
    let local = a.call(Method::GET, "pools/p1", None).await?.json()?;
    ensure!(local.get("problem").is_none(), "{local}");
    a.create(
        "apps",
        json!({"id": "skyapp", "name": "Sky", "kind": "vm", "pool": "cloudy"}),
    )
    .await?;
    a.call(
        Method::PUT,
        "profiles/staff",
        Some(json!({"id": "staff", "name": "Staff", "apps": ["wiki", "ghost", "skyapp"]})),
    )
    .await?;
    let r = alice
        .post(
            &format!("{base}/t/acme/api/v1/apps/skyapp/launch"),
            json!({}),
        )
        .await?;
    ensure!(
        r.status == StatusCode::SERVICE_UNAVAILABLE && r.text().contains("no OpenStack connection"),
        "{} {}",
        r.status,
        r.text()
    );
    let r = alice
        .post(&format!("{base}/t/acme/api/v1/apps/wiki/launch"), json!({}))
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST && r.text().contains("web app"),
        "{} {}",
        r.status,
        r.text()
    );
    let r = alice
        .post(
            &format!("{base}/t/acme/api/v1/apps/secret/launch"),
            json!({}),
        )
        .await?;
    ensure!(
        r.status == StatusCode::NOT_FOUND,
        "{} {}",
        r.status,
        r.text()
    );
    drop(c);
    Ok(())
}
