//! Sign-in, sessions and the tenant admin API on a 3-node cluster, over
//! HTTPS as a browser or a script would use them (docs/DESKTOP-API.md).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::site::{TenantAdmin, Visitor, TEST_CAPTCHA};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn cluster() -> Result<Cluster> {
    Cluster::start(ClusterOptions::default().env("OPENCLOUD_TEST_CAPTCHA_ANSWER", TEST_CAPTCHA))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_answers_with_the_right_statuses() -> Result<()> {
    let c = cluster().await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;

    // Lists, reads, duplicates and bad input.
    let users = admin.call(Method::GET, "users", None).await?;
    ensure!(users.status == StatusCode::OK, "{}", users.text());
    let logins: Vec<String> = users
        .json()?
        .as_array()
        .context("users")?
        .iter()
        .filter_map(|u| u["login"].as_str().map(str::to_string))
        .collect();
    ensure!(logins == ["alice", "boss"], "{logins:?}");
    ensure!(
        !users.text().contains("argon2"),
        "a list leaked a password hash"
    );
    let dup = admin
        .call(Method::POST, "users", Some(json!({"login": "alice"})))
        .await?;
    ensure!(
        dup.status == StatusCode::CONFLICT && dup.is_json_error(),
        "{}",
        dup.text()
    );
    for bad in [
        json!({"login": "Not Valid!"}),
        json!({"login": "eve", "password": "short"}),
        json!({"login": "eve", "profiles": ["nope"]}),
        json!({"login": "eve", "unknown_field": 1}),
    ] {
        let r = admin.call(Method::POST, "users", Some(bad.clone())).await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST && r.is_json_error(),
            "{bad}: {} {}",
            r.status,
            r.text()
        );
    }
    let bad_app = admin
        .call(
            Method::POST,
            "apps",
            Some(json!({"id": "x", "name": "X", "kind": "web", "url": "javascript:alert(1)"})),
        )
        .await?;
    ensure!(
        bad_app.status == StatusCode::BAD_REQUEST,
        "{}",
        bad_app.text()
    );
    let bad_colour = admin.call(Method::PUT, "branding", Some(json!({"product_name": "Acme", "colors": {"primary": "red;}", "background": "#000", "text": "#fff"}}))).await?;
    ensure!(
        bad_colour.status == StatusCode::BAD_REQUEST,
        "{}",
        bad_colour.text()
    );
    let missing = admin.call(Method::GET, "users/nobody", None).await?;
    ensure!(missing.status == StatusCode::NOT_FOUND && missing.is_json_error());

    // Updates and deletes, read back on another node.
    let r = admin
        .call(
            Method::PATCH,
            "users/alice",
            Some(json!({"display_name": "Alice Liddell"})),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{}", r.text());
    let other = TenantAdmin::new(c.client(), c.api(2).url(), "acme");
    let alice = other.call(Method::GET, "users/alice", None).await?.json()?;
    ensure!(alice["display_name"] == "Alice Liddell", "{alice}");
    ensure!(
        other
            .call(Method::DELETE, "apps/secret", None)
            .await?
            .status
            == StatusCode::NO_CONTENT
    );
    ensure!(
        other
            .call(Method::DELETE, "apps/secret", None)
            .await?
            .status
            == StatusCode::NOT_FOUND
    );

    // No token: not signed in. A user without the admin role: forbidden.
    let anon = Visitor::new()?;
    let r = anon.get(&admin.url("users")).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED && r.is_json_error(),
        "{} {}",
        r.status,
        r.text()
    );
    anon.sign_in(&base, "acme", "alice", "alice-password")
        .await?;
    let r = anon.get(&admin.url("users")).await?;
    ensure!(
        r.status == StatusCode::FORBIDDEN && r.is_json_error(),
        "{} {}",
        r.status,
        r.text()
    );
    // A tenant admin may.
    let boss = Visitor::new()?;
    boss.sign_in(&base, "acme", "boss", "boss-password").await?;
    let r = boss
        .post(
            &admin.url("profiles"),
            json!({"id": "empty", "name": "Empty"}),
        )
        .await?;
    ensure!(r.status == StatusCode::CREATED, "{} {}", r.status, r.text());

    // A web app that refuses to be framed is marked so and opens in a tab.
    let bad = admin
        .call(
            Method::POST,
            "apps",
            Some(json!({"id": "vmx", "name": "V", "kind": "vm", "pool": "p", "frame": false})),
        )
        .await?;
    ensure!(
        bad.status == StatusCode::BAD_REQUEST,
        "frame on a vm app: {}",
        bad.text()
    );
    let bank = admin
        .create("apps", json!({"id": "bank", "name": "Bank", "kind": "web", "url": "https://bank.example/", "frame": false}))
        .await?;
    ensure!(bank["frame"] == json!(false), "{bank}");
    admin
        .create(
            "profiles",
            json!({"id": "tellers", "name": "Tellers", "apps": ["bank", "wiki"]}),
        )
        .await?;
    admin
        .create(
            "users",
            json!({"login": "carl", "password": "carl-password", "profiles": ["tellers"]}),
        )
        .await?;
    let carl = Visitor::new()?;
    carl.sign_in(&base, "acme", "carl", "carl-password").await?;
    let me = carl
        .get(&format!("{base}/t/acme/api/v1/me"))
        .await?
        .json()?;
    let frames: Vec<(String, bool)> = me["apps"]
        .as_array()
        .context("apps")?
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("").to_string(),
                a["frameable"] == json!(true),
            )
        })
        .collect();
    ensure!(
        frames == [("bank".to_string(), false), ("wiki".to_string(), true)],
        "{frames:?}"
    );

    // Unknown tenants are a clear 404, for pages and APIs.
    let r = anon.get(&format!("{base}/t/nosuch/login")).await?;
    ensure!(
        r.status == StatusCode::NOT_FOUND && r.text().contains("nosuch"),
        "{}",
        r.text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_work_on_every_node_and_end_at_sign_out() -> Result<()> {
    let c = cluster().await?;
    let admin = TenantAdmin::new(c.client(), c.api(1).url(), "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    let v = Visitor::new()?;

    // Not signed in: the desktop sends the browser to the sign-in page.
    let r = v.get(&format!("{}/t/acme/", c.api(1).url())).await?;
    ensure!(r.status.is_redirection(), "{}", r.status);
    ensure!(
        v.get(&format!("{}/t/acme/login", c.api(1).url()))
            .await?
            .status
            == StatusCode::OK
    );

    let r = v
        .login(c.api(1).url(), "acme", "Alice", "alice-password")
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text());
    let set = v
        .last_set_cookie
        .lock()
        .map(|s| s.join("\n"))
        .unwrap_or_default();
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/t/acme/"] {
        ensure!(set.contains(attr), "cookie without {attr}: {set}");
    }

    // Any node honours the session, and `me` lists exactly the profile's apps.
    for api in c.apis() {
        let me = v.get(&format!("{}/t/acme/api/v1/me", api.url())).await?;
        ensure!(me.status == StatusCode::OK, "{}: {}", api.url(), me.text());
        let me = me.json()?;
        let apps: Vec<&str> = me["apps"]
            .as_array()
            .context("apps")?
            .iter()
            .filter_map(|a| a["id"].as_str())
            .collect();
        ensure!(apps == ["mail", "wiki"], "{apps:?}");
        ensure!(me["login"] == "alice");
        let page = v.get(&format!("{}/t/acme/", api.url())).await?;
        ensure!(
            page.status == StatusCode::OK && page.text().contains("<html"),
            "{}",
            page.status
        );
    }

    // Cross-site state changes are refused, whether the browser says so
    // (Sec-Fetch-Site) or only its Origin tells; a script (no browser
    // headers) is judged by its cookie alone.
    let logout = format!("{}/t/acme/api/v1/logout", c.api(2).url());
    for header in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let r = v.send(Method::POST, &logout, None, &[header]).await?;
        ensure!(
            r.status == StatusCode::FORBIDDEN,
            "logout with {header:?}: {}",
            r.status
        );
    }

    // Sign-out ends the session on every node.
    let r = v
        .send(
            Method::POST,
            &logout,
            None,
            &[("sec-fetch-site", "same-origin")],
        )
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text()
    );
    for api in c.apis() {
        let me = v.get(&format!("{}/t/acme/api/v1/me", api.url())).await?;
        ensure!(
            me.status == StatusCode::UNAUTHORIZED,
            "{}: {}",
            api.url(),
            me.status
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_bring_a_captcha_and_delays_and_never_reveal_accounts() -> Result<()> {
    let c = cluster().await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, "acme");
    admin.seed(&c.api(1), "Acme Corp").await?;
    let v = Visitor::new()?;

    // A wrong password and an unknown account read the same.
    let known = v.login(&base, "acme", "alice", "wrong-password").await?;
    let unknown = v.login(&base, "acme", "nobody", "wrong-password").await?;
    ensure!(known.status == StatusCode::UNAUTHORIZED && unknown.status == StatusCode::UNAUTHORIZED);
    ensure!(
        known.json()?["error"] == unknown.json()?["error"],
        "{} vs {}",
        known.text(),
        unknown.text()
    );

    // The third failure from this address asks for a captcha.
    let third = v.login(&base, "acme", "alice", "wrong-password").await?;
    let third = third.json()?;
    ensure!(third["captcha_required"] == true, "{third}");
    let id = third["captcha"]["id"]
        .as_str()
        .context("captcha id")?
        .to_string();
    let img = v
        .get(&format!(
            "{base}{}",
            third["captcha"]["image_url"].as_str().context("url")?
        ))
        .await?;
    ensure!(
        img.status == StatusCode::OK && img.body.starts_with(b"\x89PNG"),
        "{}",
        img.status
    );

    // The right password without the captcha is refused, with a new captcha
    // (and may be told to wait: the delays grow from here on).
    let r = v.login(&base, "acme", "alice", "alice-password").await?;
    ensure!(
        matches!(
            r.status,
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ),
        "{}",
        r.text()
    );

    // Once any wait is over, the right captcha and password open the desktop;
    // the used captcha cannot be used again.
    let mut captcha_id = id;
    for _ in 0..40 {
        let r = v
            .post(
                &format!("{base}/t/acme/api/v1/login"),
                json!({
            "username": "alice", "password": "alice-password",
            "captcha": {"id": captcha_id, "answer": TEST_CAPTCHA}}),
            )
            .await?;
        match r.status {
            StatusCode::OK => {
                let me = v
                    .get(&format!("{}/t/acme/api/v1/me", c.api(3).url()))
                    .await?;
                ensure!(me.status == StatusCode::OK, "{}", me.text());
                let again = Visitor::new()?
                    .post(
                        &format!("{base}/t/acme/api/v1/login"),
                        json!({
                    "username": "alice", "password": "alice-password",
                    "captcha": {"id": captcha_id, "answer": TEST_CAPTCHA}}),
                    )
                    .await?;
                // The address still needs a captcha, and this one is spent.
                ensure!(again.status != StatusCode::OK, "a captcha worked twice");
                return Ok(());
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = r.json()?["retry_after_s"].as_u64().unwrap_or(1);
                ensure!(wait <= 30, "wait of {wait} s");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            StatusCode::UNAUTHORIZED => {
                // The earlier attempt spent our captcha: take the new one.
                let j = r.json()?;
                captcha_id = j["captcha"]["id"]
                    .as_str()
                    .context("new captcha")?
                    .to_string();
            }
            s => anyhow::bail!("unexpected {s}: {}", r.text()),
        }
    }
    anyhow::bail!("never signed in with the right captcha")
}

/// Pings the events socket every 500 ms for `for_s` seconds; returns
/// whether the session was still alive at the end (a pong to the last ping).
async fn keep_present(v: &Visitor, base: &str, for_s: u64) -> Result<bool> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/t/acme/api/v1/events", base.replacen("https", "wss", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("cookie", v.cookie_header().parse()?);
    let connector = tokio_tungstenite::Connector::Rustls(opencloud_tests::tls_probe::trust_any()?);
    let Ok((mut ws, _)) =
        tokio_tungstenite::connect_async_tls_with_config(req, None, true, Some(connector)).await
    else {
        return Ok(false);
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(for_s);
    let mut alive = false;
    while tokio::time::Instant::now() < end {
        ws.send(Message::Text(r#"{"t":"ping"}"#.into())).await?;
        alive = false;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            match m {
                Message::Text(t) if t.contains("pong") => {
                    alive = true;
                    break;
                }
                Message::Text(t) if t.contains("signed_out") => return Ok(false),
                Message::Close(_) => return Ok(false),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(alive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_and_at_their_absolute_limit() -> Result<()> {
    let c = Cluster::start(
        ClusterOptions::default()
            .env("OPENCLOUD_SESSION_IDLE_S", "3")
            .env("OPENCLOUD_SESSION_TTL_S", "8"),
    )
    .await?;
    let base = c.api(1).url().to_string();
    TenantAdmin::new(c.client(), &base, "acme")
        .seed(&c.api(1), "Acme Corp")
        .await?;
    let me = |v: Visitor, b: String| async move {
        Ok::<_, anyhow::Error>(v.get(&format!("{b}/t/acme/api/v1/me")).await?.status)
    };

    // Idle: no desktop pinging, so the session ends after 3 s.
    let idle = Visitor::new()?;
    idle.sign_in(&base, "acme", "alice", "alice-password")
        .await?;
    ensure!(me(idle.clone(), base.clone()).await? == StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(
        me(idle.clone(), base.clone()).await? == StatusCode::UNAUTHORIZED,
        "idle session lived on"
    );

    // Present: a pinging desktop keeps it past the idle limit (through
    // another node), but not past the absolute one.
    let present = Visitor::new()?;
    present
        .sign_in(&base, "acme", "alice", "alice-password")
        .await?;
    ensure!(
        keep_present(&present, c.api(2).url(), 5).await?,
        "presence did not keep the session"
    );
    ensure!(
        me(present.clone(), base.clone()).await? == StatusCode::OK,
        "present session ended early"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    ensure!(
        me(present.clone(), base.clone()).await? == StatusCode::UNAUTHORIZED,
        "session outlived its absolute limit"
    );
    Ok(())
}
