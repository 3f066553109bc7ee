//! Tenant isolation: with users and data in tenants `alpha` and `beta`,
//! every tenant page and API is tried against `beta` with `alpha`'s
//! sessions (a user's and an admin's) and with no session at all. None may
//! read or change `beta`, which is checked by comparing `beta`'s records
//! before and after and by `beta`'s own users still working.

use anyhow::{ensure, Result};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::site::{TenantAdmin, Visitor};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Every tenant route, with a body that would change something if it were
/// accepted.
fn attempts() -> Vec<(Method, &'static str, Option<Value>)> {
    let user = json!({"login": "mallory", "password": "mallory-password", "admin": true});
    let app = json!({"id": "wiki", "name": "Owned", "kind": "web", "url": "https://evil.example/"});
    let profile = json!({"id": "staff", "name": "Owned", "apps": []});
    vec![
        (Method::GET, "api/v1/me", None),
        (Method::GET, "api/v1/users", None),
        (Method::POST, "api/v1/users", Some(user)),
        (Method::GET, "api/v1/users/alice", None),
        (
            Method::PATCH,
            "api/v1/users/alice",
            Some(json!({"password": "changed-password"})),
        ),
        (
            Method::PATCH,
            "api/v1/users/alice",
            Some(json!({"disabled": true})),
        ),
        (Method::DELETE, "api/v1/users/alice", None),
        (Method::GET, "api/v1/profiles", None),
        (
            Method::POST,
            "api/v1/profiles",
            Some(json!({"id": "new", "name": "New"})),
        ),
        (Method::GET, "api/v1/profiles/staff", None),
        (Method::PUT, "api/v1/profiles/staff", Some(profile)),
        (Method::DELETE, "api/v1/profiles/staff", None),
        (Method::GET, "api/v1/apps", None),
        (
            Method::POST,
            "api/v1/apps",
            Some(json!({"id": "new", "name": "New", "kind": "web", "url": "https://x.example/"})),
        ),
        (Method::GET, "api/v1/apps/wiki", None),
        (Method::PUT, "api/v1/apps/wiki", Some(app)),
        (Method::DELETE, "api/v1/apps/wiki", None),
        (Method::POST, "api/v1/apps/wiki/launch", None),
        (
            Method::PUT,
            "api/v1/branding",
            Some(
                json!({"product_name": "Owned", "colors": {"primary": "#f00", "background": "#000", "text": "#fff"}}),
            ),
        ),
        (Method::GET, "api/v1/ldap", None),
        (
            Method::PUT,
            "api/v1/ldap",
            Some(
                json!({"url": "ldap://127.0.0.1:1/", "bind_dn": "cn=x", "bind_password": "x", "base_dn": "dc=x"}),
            ),
        ),
        (Method::DELETE, "api/v1/ldap", None),
        (Method::GET, "api/v1/events", None),
        (Method::GET, "api/v1/pools", None),
        (Method::POST, "api/v1/pools", Some(pool("new"))),
        (Method::GET, "api/v1/pools/shell", None),
        (Method::PUT, "api/v1/pools/shell", Some(pool("shell"))),
        (Method::DELETE, "api/v1/pools/shell", None),
        (Method::GET, "api/v1/vms", None),
        (Method::GET, "api/v1/usage", None),
        (Method::GET, "", None),
    ]
}

/// A pool of a registered image, with no warm VM (nothing boots here).
fn pool(id: &str) -> Value {
    json!({"id": id, "image": "shell", "warm": 0, "max": 5})
}

/// What an operator sees of a tenant: its users, profiles, apps and branding.
async fn snapshot(admin: &TenantAdmin) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for path in [
        "users", "profiles", "apps", "branding", "ldap", "pools", "vms",
    ] {
        let r = admin.call(Method::GET, path, None).await?;
        out.push(format!("{path}: {} {}", r.status, r.text()));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_sessions_cannot_reach_another_tenant() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let base = c.api(1).url().to_string();
    let alpha = TenantAdmin::new(c.client(), &base, "alpha");
    let beta = TenantAdmin::new(c.client(), &base, "beta");
    alpha.seed(&c.api(1), "Alpha Ltd").await?;
    beta.seed(&c.api(1), "Beta Inc").await?;
    let image = json!({"id": "shell", "name": "Shell", "provider": "local",
        "source": {"kernel": "/srv/vmlinuz", "initrd": "/srv/initrd.gz"}});
    let r = c
        .client()
        .post(format!("{base}/api/v1/images"))
        .json(&image)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.text().await?);
    for t in [&alpha, &beta] {
        t.create("pools", pool("shell")).await?;
    }

    let alpha_user = Visitor::new()?;
    alpha_user
        .sign_in(&base, "alpha", "alice", "alice-password")
        .await?;
    let alpha_admin = Visitor::new()?;
    alpha_admin
        .sign_in(&base, "alpha", "boss", "boss-password")
        .await?;
    let beta_user = Visitor::new()?;
    beta_user
        .sign_in(&base, "beta", "alice", "alice-password")
        .await?;
    // Alpha's credentials do not open beta, and beta's not alpha.
    let r = Visitor::new()?
        .login(&base, "beta", "boss", "boss-password")
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "beta's own boss signs in: {}",
        r.text()
    );
    let before = snapshot(&beta).await?;

    let nobody = Visitor::new()?;
    let mut tried = 0;
    for (who, v) in [
        ("alpha's user", &alpha_user),
        ("alpha's admin", &alpha_admin),
        ("no session", &nobody),
    ] {
        for api in c.apis() {
            for (method, path, body) in attempts() {
                let url = format!("{}/t/beta/{path}", api.url());
                let r = v.send(method.clone(), &url, body, &[]).await?;
                tried += 1;
                let refused = matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                    || (path.is_empty() && r.status.is_redirection());
                ensure!(
                    refused,
                    "{who}: {method} {url} answered {} {}",
                    r.status,
                    r.text()
                );
            }
        }
    }
    // Alpha's session cookie replayed on beta's sign-out ends nothing there.
    // (Through a copy of its jar: this jar ignores cookie paths, and the
    // answer clears beta's cookie, which a browser keeps apart from alpha's.)
    let logout = format!("{base}/t/beta/api/v1/logout");
    let replay = Visitor::new()?;
    replay.set_cookies(alpha_user.cookies());
    replay.send(Method::POST, &logout, None, &[]).await?;
    tried += 1;

    let after = snapshot(&beta).await?;
    ensure!(
        before == after,
        "beta changed:\nbefore {before:#?}\nafter {after:#?}"
    );
    let me = beta_user.get(&format!("{base}/t/beta/api/v1/me")).await?;
    ensure!(
        me.status == StatusCode::OK,
        "beta's session was ended: {}",
        me.text()
    );
    let r = Visitor::new()?
        .login(&base, "beta", "alice", "alice-password")
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "beta's alice can no longer sign in: {}",
        r.text()
    );
    // And alpha still works for alpha.
    let me = alpha_user.get(&format!("{base}/t/alpha/api/v1/me")).await?;
    ensure!(me.status == StatusCode::OK, "{}", me.text());
    eprintln!(
        "tenant isolation: {tried} attempts on beta with alpha's sessions or none, all refused"
    );
    ensure!(tried >= 200, "only {tried} attempts");
    Ok(())
}
