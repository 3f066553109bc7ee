//! Sign-in through a tenant's LDAP directory (a real OpenLDAP slapd) on a
//! 3-node cluster: the node binds as the service account, finds the user,
//! binds as the user, maps groups to profiles and provisions the account;
//! a wrong password is refused and a directory that is down gives a clear
//! answer instead of a hang.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::site::{TenantAdmin, Visitor};
use opencloud_tests::slapd::{Slapd, BOB, CAROL};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn app_ids(me: &serde_json::Value) -> Vec<String> {
    me["apps"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_users_sign_in_with_their_groups_profiles() -> Result<()> {
    let mut slapd = Slapd::start().await?;
    let c = Cluster::start(ClusterOptions::default()).await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    admin
        .create(
            "profiles",
            json!({"id": "admin", "name": "Admins", "apps": ["secret"]}),
        )
        .await?;
    let settings = serde_json::to_value(slapd.config())?;
    let r = admin.call(Method::PUT, "ldap", Some(settings)).await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text());
    ensure!(
        !r.text().contains("service-secret"),
        "the bind password came back"
    );

    // Bob is in staff; Carol in admins. Their desktops follow their groups,
    // and they sign in on any node.
    let bob = Visitor::new()?;
    bob.sign_in(c.api(2).url(), "acme", BOB.uid, BOB.password)
        .await?;
    let me = bob
        .get(&format!("{}/t/acme/api/v1/me", c.api(3).url()))
        .await?
        .json()?;
    ensure!(me["display_name"] == BOB.cn, "{me}");
    ensure!(app_ids(&me) == ["mail", "wiki"], "{me}");
    let carol = Visitor::new()?;
    carol
        .sign_in(&base, "acme", CAROL.uid, CAROL.password)
        .await?;
    let me = carol
        .get(&format!("{base}/t/acme/api/v1/me"))
        .await?
        .json()?;
    ensure!(app_ids(&me) == ["secret"], "{me}");

    // Provisioned on first sign-in, as a directory account.
    let rec = admin.call(Method::GET, "users/bob", None).await?.json()?;
    ensure!(rec["source"]["type"] == "ldap", "{rec}");
    ensure!(rec["profiles"] == json!(["staff"]), "{rec}");

    // A wrong password, and a filter injection, are plain refusals.
    for (user, pw) in [(BOB.uid, "wrong-password"), ("*)(uid=*", "x-password")] {
        let r = Visitor::new()?.login(&base, "acme", user, pw).await?;
        ensure!(
            r.status == StatusCode::UNAUTHORIZED,
            "{user}: {} {}",
            r.status,
            r.text()
        );
    }

    // The directory goes down: a clear 503 well within the timeout (5 s),
    // and local accounts still sign in.
    slapd.stop();
    let start = Instant::now();
    let r = Visitor::new()?
        .login(&base, "acme", CAROL.uid, CAROL.password)
        .await?;
    ensure!(
        r.status == StatusCode::SERVICE_UNAVAILABLE,
        "{} {}",
        r.status,
        r.text()
    );
    let msg = r.json()?["error"].as_str().context("error")?.to_string();
    ensure!(msg.contains("directory"), "{msg}");
    ensure!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    Visitor::new()?
        .sign_in(&base, "acme", "alice", "alice-password")
        .await?;
    Ok(())
}
