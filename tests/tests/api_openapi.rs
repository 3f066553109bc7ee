//! The node's OpenAPI document (`GET /api/openapi.json`) against a real
//! node: it is public and OpenAPI 3.1; every operation it documents is
//! routed (no "no such page", no 405) and answers, without credentials, one
//! of its documented statuses with a body of the documented schema; every
//! method it does not document on its paths is a 405, and paths it does not
//! have are 404. Answers to the operator and to a signed-in user match
//! their schemas too, so the document cannot drift from the handlers.

use std::collections::BTreeSet;

use anyhow::{bail, ensure, Context, Result};
use opencloud_tests::cluster::Cluster;
use opencloud_tests::cluster_options::ClusterOptions;
use opencloud_tests::openapi_check::{check_answer, operations, send, stranger, Answer};
use opencloud_tests::site::{TenantAdmin, Visitor, TEST_CAPTCHA};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SLUG: &str = "acme";

/// A request and the status it must get: whether the operator sends it
/// (else `boss`, an admin of the tenant), the method, the documented path,
/// the URL's path, the JSON body.
type Call<'a> = (bool, &'a str, &'a str, &'a str, Option<&'a Value>, u16);

/// A plausible value for a path or query parameter.
fn value_for(path: &str, name: &str) -> String {
    match name {
        "slug" => SLUG.into(),
        "login" => "alice".into(),
        "id" if path.starts_with("/api/v1/cluster") => "7".into(),
        "id" if path.contains("/captcha/") => "0123456789abcdef0123456789abcdef".into(),
        "id" if path.contains("/profiles/") => "staff".into(),
        "id" => "wiki".into(),
        "key" => "openapi-test".into(),
        "picture" => "logo".into(),
        "file" => "login.html".into(),
        "path" => "spice_auto.html".into(),
        "token" => "not-a-ticket".into(),
        other => format!("x-{other}"),
    }
}

fn fill(path: &str, params: &[Value]) -> String {
    let mut url = path.to_string();
    let mut query = Vec::new();
    for p in params {
        let name = p["name"].as_str().unwrap_or_default();
        match p["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &value_for(path, name)),
            Some("query") if p["required"] == true => {
                query.push(format!("{name}={}", value_for(path, name)))
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    url
}

fn spice_html5_installed() -> bool {
    std::path::Path::new("/usr/share/spice-html5/spice_auto.html").exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_the_router_and_the_answers() -> Result<()> {
    let mut c = Cluster::start(
        ClusterOptions::default()
            .nodes(1)
            .env("OPENCLOUD_TEST_CAPTCHA_ANSWER", TEST_CAPTCHA),
    )
    .await?;
    let base = c.api(1).url().to_string();
    let admin = TenantAdmin::new(c.client(), &base, SLUG);
    admin.seed(&c.api(1), "Acme Corp").await?;
    let anon = stranger()?;

    // The document is public JSON, OpenAPI 3.1.
    let got = send(anon.get(format!("{base}/api/openapi.json"))).await?;
    ensure!(
        got.status == StatusCode::OK,
        "{} {}",
        got.status,
        got.text()
    );
    ensure!(got.content_type.starts_with("application/json"));
    let doc = got.json().context("the document is not JSON")?;
    ensure!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .context("paths")?
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/api/v1/cluster",
        "/api/v1/tenants",
        "/api/v1/tenants/{slug}",
        "/api/v1/kv/{key}",
        "/api/v1/viewer/tickets",
        "/viewer/ws",
        "/t/{slug}/api/v1/login",
        "/t/{slug}/api/v1/me",
        "/t/{slug}/api/v1/events",
        "/t/{slug}/api/v1/users/{login}",
        "/t/{slug}/api/v1/ldap",
        "/api/v1/images",
        "/api/v1/images/{id}",
        "/api/v1/tenants/{slug}/quota",
        "/t/{slug}/api/v1/pools",
        "/t/{slug}/api/v1/pools/{id}",
        "/t/{slug}/api/v1/vms",
        "/t/{slug}/api/v1/usage",
    ] {
        ensure!(paths.contains(p), "{p} is not documented");
    }
    let ops = operations(&doc);
    ensure!(ops.len() > 50, "only {} operations", ops.len());

    // Every documented operation is routed and answers a stranger as
    // documented.
    let mut failures = Vec::new();
    for (path, method, op) in &ops {
        let what = format!("{} {path}", method.to_uppercase());
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let url = format!("{base}{}", fill(path, &params));
        let m = Method::from_bytes(method.to_uppercase().as_bytes())?;
        let mut req = anon.request(m, &url);
        if op["responses"].get("101").is_some() {
            req = req
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("sec-websocket-protocol", "binary");
        }
        let content = &op["requestBody"]["content"];
        if content.get("application/json").is_some() {
            req = req.json(&json!({}));
        } else if content.get("application/x-www-form-urlencoded").is_some() {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body("");
        } else if content.get("application/octet-stream").is_some() {
            req = req.body("x");
        }
        let a = send(req).await.with_context(|| what.clone())?;
        println!("{what:55} -> {}", a.status);
        if path.starts_with("/spice-html5/") && !spice_html5_installed() {
            continue;
        }
        if a.is_no_such_page() {
            failures.push(format!("{what}: the router has no such route"));
        } else if a.status == StatusCode::METHOD_NOT_ALLOWED {
            failures.push(format!("{what}: 405 {}", a.text()));
        } else if let Err(e) = check_answer(&doc, path, method, &a) {
            failures.push(format!("{e:#}"));
        }
    }

    // Methods the document does not list on its paths are refused by the
    // router; paths it does not list do not exist.
    for path in &paths {
        if path.starts_with("/spice-html5/") && !spice_html5_installed() {
            continue;
        }
        let item = &doc["paths"][*path];
        let url = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .fold(format!("{base}{path}"), |u, name| {
                u.replace(&format!("{{{name}}}"), &value_for(path, name))
            });
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                continue;
            }
            let method = Method::from_bytes(m.to_uppercase().as_bytes())?;
            let a = send(anon.request(method, &url)).await?;
            if a.status != StatusCode::METHOD_NOT_ALLOWED || a.json().is_none() {
                failures.push(format!(
                    "{} {path} is not documented but answered {} {}",
                    m.to_uppercase(),
                    a.status,
                    a.text()
                ));
            }
        }
    }
    for p in [
        "/api/v1/nope",
        "/api/v2/tenants",
        "/api/openapi.yaml",
        "/openapi.json",
        "/t/acme/api/v1/nope",
        "/t/acme/api/v1/users/alice/extra",
        "/t/acme/api/v2/me",
        "/viewer/nope",
    ] {
        let a = send(anon.get(format!("{base}{p}"))).await?;
        if !a.is_no_such_page() {
            failures.push(format!(
                "GET {p} is not documented but answered {} {}",
                a.status,
                a.text()
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{} problems:\n{}", failures.len(), failures.join("\n"));
    }

    // Answers to the operator and to signed-in users match their schemas.
    let op = c.client();
    let t = |p: &str| admin.url(p);
    let mut checks: Vec<(&str, &str, Answer)> = Vec::new();
    let tenants = format!("{base}/api/v1/tenants");
    checks.push((
        "/api/v1/tenants",
        "post",
        send(
            op.post(&tenants)
                .json(&json!({"slug": "beta", "name": "Beta"})),
        )
        .await?,
    ));
    checks.push(("/api/v1/tenants", "get", send(op.get(&tenants)).await?));
    checks.push((
        "/api/v1/tenants/{slug}",
        "get",
        send(op.get(format!("{tenants}/acme"))).await?,
    ));
    checks.push((
        "/api/v1/viewer/tickets",
        "post",
        send(
            op.post(format!("{base}/api/v1/viewer/tickets"))
                .json(&json!({"addr": "127.0.0.1:5900", "mode": "passthrough", "ttl_s": 30})),
        )
        .await?,
    ));
    checks.push((
        "/api/v1/cluster",
        "get",
        send(op.get(format!("{base}/api/v1/cluster"))).await?,
    ));
    let users = "/t/{slug}/api/v1/users";
    checks.push((users, "get", send(op.get(t("users"))).await?));
    checks.push((
        users,
        "post",
        send(
            op.post(t("users"))
                .json(&json!({"login": "carol", "display_name": "Carol"})),
        )
        .await?,
    ));
    checks.push((
        users,
        "post",
        send(op.post(t("users")).json(&json!({"login": "carol"}))).await?,
    ));
    let user = "/t/{slug}/api/v1/users/{login}";
    checks.push((user, "get", send(op.get(t("users/alice"))).await?));
    checks.push((
        user,
        "patch",
        send(op.patch(t("users/carol")).json(&json!({"disabled": true}))).await?,
    ));
    checks.push((user, "delete", send(op.delete(t("users/carol"))).await?));
    checks.push((user, "get", send(op.get(t("users/carol"))).await?));
    checks.push((
        "/t/{slug}/api/v1/profiles",
        "get",
        send(op.get(t("profiles"))).await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/profiles/{id}",
        "put",
        send(
            op.put(t("profiles/ops"))
                .json(&json!({"id": "ops", "name": "Ops", "apps": ["wiki"]})),
        )
        .await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/profiles/{id}",
        "get",
        send(op.get(t("profiles/ops"))).await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/apps",
        "post",
        send(
            op.post(t("apps"))
                .json(&json!({"id": "shell", "name": "Shell", "kind": "vm", "pool": "shell"})),
        )
        .await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/apps",
        "get",
        send(op.get(t("apps"))).await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/apps/{id}",
        "get",
        send(op.get(t("apps/shell"))).await?,
    ));
    let ldap = "/t/{slug}/api/v1/ldap";
    checks.push((ldap, "get", send(op.get(t("ldap"))).await?));
    checks.push((
        ldap,
        "put",
        send(op.put(t("ldap")).json(&json!({
            "url": "ldap://127.0.0.1:1", "bind_dn": "cn=svc,dc=example,dc=org",
            "bind_password": "pw", "base_dn": "dc=example,dc=org",
            "group_profiles": {"staff": ["staff"]}})))
        .await?,
    ));
    checks.push((ldap, "get", send(op.get(t("ldap"))).await?));
    checks.push((ldap, "delete", send(op.delete(t("ldap"))).await?));
    checks.push((
        "/t/{slug}/api/v1/branding",
        "put",
        send(
            op.put(t("branding"))
                .json(&json!({"product_name": "Acme Desktop",
            "colors": {"primary": "#123", "background": "#000000", "text": "#fff"}})),
        )
        .await?,
    ));
    checks.push((
        "/t/{slug}/api/v1/branding",
        "get",
        send(anon.get(t("branding"))).await?,
    ));

    // The broker: images and quotas (operator), pools and VMs (tenant
    // admin). Pools keep no VM warm (`warm: 0`) and boot nothing that
    // exists, so no VM starts.
    let boss = Visitor::new()?;
    boss.sign_in(&base, SLUG, "boss", "boss-password").await?;
    let kernel = json!({"kernel": "/nonexistent/vmlinuz", "initrd": "/nonexistent/initrd.img",
        "append": "console=ttyS0"});
    let tiny = json!({"id": "tiny", "name": " Tiny ", "provider": "local", "source": kernel});
    let relative = json!({"id": "rel", "name": "Relative", "provider": "local",
        "source": {"kernel": "vmlinuz", "initrd": "/nonexistent/initrd.img"}});
    let cloud_on_local = json!({"id": "cloud", "name": "Cloud", "provider": "local",
        "source": {"cloud_image": "debian-12", "flavor": "m1.small"}});
    let bad_id = json!({"id": "Bad Id", "name": "Bad", "provider": "local", "source": kernel});
    let disk = json!({"id": "disk", "name": "Disk", "provider": "local",
        "source": {"disk": "/nonexistent/base.qcow2", "ready_line": "login:"}});
    let cloud = json!({"id": "cloud", "name": "Cloud", "provider": "openstack",
        "source": {"cloud_image": "debian-12", "flavor": "m1.small", "network": "private"}});
    // No VM at all for acme: its launches answer 429.
    let no_vms = json!({"max_vms": 0});
    let some_vms = json!({"max_vms": 1});
    let not_a_quota = json!({"max_vms": "ten"});
    // An inline image is the operator's: the `shell` app's pool.
    let shell = json!({"id": "shell", "image": kernel, "warm": 0, "max": 2});
    let mine = json!({"id": "mine", "image": kernel, "warm": 0});
    // A tenant admin picks a registered image.
    let office = json!({"id": "office", "image": "tiny", "warm": 0, "memory_mb": 1024,
        "vcpus": 2, "max": 3, "idle_timeout_s": 300});
    let no_image = json!({"id": "nope", "image": "no-such-image", "warm": 0});
    let too_warm = json!({"id": "big", "image": "tiny", "warm": 5, "max": 2});
    let wrong_provider =
        json!({"id": "cloudy", "image": "tiny", "provider": "openstack", "warm": 0});
    let unknown_field = json!({"id": "odd", "image": "tiny", "warm": 0, "colour": "red"});
    let smaller = json!({"id": "office", "image": "tiny", "warm": 0, "max": 1});
    let other_id = json!({"id": "other", "image": "tiny", "warm": 0});
    let office_inline = json!({"id": "office", "image": kernel, "warm": 0});
    let cloud_pool = json!({"id": "cloud", "image": "cloud", "warm": 0});
    let (images, image) = ("/api/v1/images", "/api/v1/images/{id}");
    let quota = "/api/v1/tenants/{slug}/quota";
    let (pools, pool) = ("/t/{slug}/api/v1/pools", "/t/{slug}/api/v1/pools/{id}");
    let vms = "/t/{slug}/api/v1/vms";
    let usage = "/t/{slug}/api/v1/usage";
    const OP: bool = true;
    const BOSS: bool = false;
    #[rustfmt::skip]
    let calls: &[Call] = &[
        (OP, "post", images, "/api/v1/images", Some(&tiny), 201),
        (OP, "post", images, "/api/v1/images", Some(&tiny), 409),
        (OP, "post", images, "/api/v1/images", Some(&relative), 400),
        (OP, "post", images, "/api/v1/images", Some(&cloud_on_local), 400),
        (OP, "post", images, "/api/v1/images", Some(&bad_id), 400),
        (OP, "post", images, "/api/v1/images", Some(&disk), 201),
        (OP, "post", images, "/api/v1/images", Some(&cloud), 201),
        (OP, "get", images, "/api/v1/images", None, 200),
        (OP, "get", image, "/api/v1/images/tiny", None, 200),
        (OP, "delete", image, "/api/v1/images/disk", None, 204),
        (OP, "delete", image, "/api/v1/images/disk", None, 404),
        (OP, "get", image, "/api/v1/images/disk", None, 404),
        (OP, "get", quota, "/api/v1/tenants/acme/quota", None, 200),
        (OP, "put", quota, "/api/v1/tenants/acme/quota", Some(&no_vms), 200),
        (OP, "get", quota, "/api/v1/tenants/acme/quota", None, 200),
        (OP, "put", quota, "/api/v1/tenants/nope/quota", Some(&some_vms), 404),
        (OP, "put", quota, "/api/v1/tenants/acme/quota", Some(&not_a_quota), 400),
        (OP, "post", pools, "/t/acme/api/v1/pools", Some(&shell), 201),
        (OP, "post", pools, "/t/acme/api/v1/pools", Some(&shell), 409),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&mine), 403),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&office), 201),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&no_image), 400),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&too_warm), 400),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&wrong_provider), 400),
        (BOSS, "post", pools, "/t/acme/api/v1/pools", Some(&unknown_field), 400),
        (BOSS, "get", pools, "/t/acme/api/v1/pools", None, 200),
        (OP, "get", pools, "/t/acme/api/v1/pools", None, 200),
        (OP, "get", pool, "/t/acme/api/v1/pools/shell", None, 200),
        (OP, "get", pool, "/t/acme/api/v1/pools/nope", None, 404),
        (BOSS, "put", pool, "/t/acme/api/v1/pools/office", Some(&smaller), 200),
        (BOSS, "put", pool, "/t/acme/api/v1/pools/office", Some(&other_id), 400),
        (BOSS, "put", pool, "/t/acme/api/v1/pools/office", Some(&office_inline), 403),
        (OP, "put", pool, "/t/acme/api/v1/pools/cloud", Some(&cloud_pool), 200),
        (BOSS, "delete", pool, "/t/acme/api/v1/pools/office", None, 204),
        (BOSS, "delete", pool, "/t/acme/api/v1/pools/office", None, 404),
        (BOSS, "get", vms, "/t/acme/api/v1/vms", None, 200),
        (BOSS, "get", usage, "/t/acme/api/v1/usage", None, 200),
    ];
    let boss_cookie = boss.cookie_header();
    for &(by_operator, method, path, url, body, want) in calls {
        let m = Method::from_bytes(method.to_uppercase().as_bytes())?;
        let mut req = if by_operator {
            op.request(m, format!("{base}{url}"))
        } else {
            anon.request(m, format!("{base}{url}"))
                .header("cookie", boss_cookie.clone())
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let a = send(req).await?;
        ensure!(
            a.status.as_u16() == want,
            "{} {url} {}: {} instead of {want}: {}",
            method.to_uppercase(),
            body.unwrap_or(&Value::Null),
            a.status,
            a.text()
        );
        checks.push((path, method, a));
    }

    // Alice's desktop gets VM apps: one of the `shell` pool, one of a pool
    // that does not exist.
    admin
        .create(
            "apps",
            json!({"id": "nopool", "name": "No pool", "kind": "vm", "pool": "missing"}),
        )
        .await?;
    admin
        .create(
            "profiles",
            json!({"id": "vms", "name": "VMs", "apps": ["shell", "nopool"]}),
        )
        .await?;
    let r = admin
        .call(
            Method::PATCH,
            "users/alice",
            Some(json!({"profiles": ["staff", "vms"]})),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text());

    // A signed-in user (cookie only) and a non-admin at the admin API.
    let alice = Visitor::new()?;
    alice
        .sign_in(&base, SLUG, "alice", "alice-password")
        .await?;
    let cookie = alice.cookie_header();
    let as_alice = |req: reqwest::RequestBuilder| req.header("cookie", cookie.clone());
    checks.push((
        "/t/{slug}/api/v1/me",
        "get",
        send(as_alice(anon.get(t("me")))).await?,
    ));
    checks.push((users, "get", send(as_alice(anon.get(t("users")))).await?));
    // A web app (400), an app not on her desktop (404), a VM app of a
    // missing pool (503), one the tenant's quota of 0 refuses (429).
    let launch = "/t/{slug}/api/v1/apps/{id}/launch";
    for (app, want) in [
        ("wiki", StatusCode::BAD_REQUEST),
        ("secret", StatusCode::NOT_FOUND),
        ("nopool", StatusCode::SERVICE_UNAVAILABLE),
        ("shell", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let a = send(as_alice(anon.post(t(&format!("apps/{app}/launch"))))).await?;
        ensure!(a.status == want, "launch {app}: {} {}", a.status, a.text());
        checks.push((launch, "post", a));
    }
    // Refused launches ask for no VM, and pools are for admins only.
    let a = send(op.get(t("vms"))).await?;
    ensure!(
        a.json() == Some(json!([])),
        "VMs: {} {}",
        a.status,
        a.text()
    );
    let a = send(as_alice(anon.get(t("pools")))).await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN,
        "{} {}",
        a.status,
        a.text()
    );
    checks.push((pools, "get", a));
    let desktop = send(as_alice(anon.get(format!("{base}/t/{SLUG}/")))).await?;
    checks.push(("/t/{slug}/", "get", desktop));
    checks.push((
        "/t/{slug}/api/v1/logout",
        "post",
        send(as_alice(anon.post(t("logout")))).await?,
    ));

    // Failed sign-ins: refusals, captchas, then waiting.
    let mut captcha: Option<Value> = None;
    let mut waited = false;
    for _ in 0..10 {
        let mut body = json!({"username": "mallory", "password": "wrong-password"});
        if let Some(c) = &captcha {
            body["captcha"] = json!({"id": c["id"], "answer": TEST_CAPTCHA});
        }
        let a = send(anon.post(t("login")).json(&body)).await?;
        captcha = a.json().and_then(|v| v.get("captcha").cloned());
        let status = a.status;
        checks.push(("/t/{slug}/api/v1/login", "post", a));
        if status == StatusCode::TOO_MANY_REQUESTS {
            waited = true;
            break;
        }
    }
    ensure!(
        waited,
        "ten failed sign-ins in a row were never asked to wait"
    );

    let statuses: BTreeSet<u16> = checks.iter().map(|(_, _, a)| a.status.as_u16()).collect();
    for s in [200, 201, 204, 400, 401, 403, 404, 409, 429, 503] {
        ensure!(
            statuses.contains(&s),
            "no answer {s} was checked: {statuses:?}"
        );
    }
    let problems: Vec<String> = checks
        .iter()
        .filter_map(|(path, method, a)| check_answer(&doc, path, method, a).err())
        .map(|e| format!("{e:#}"))
        .collect();
    ensure!(
        problems.is_empty(),
        "{} answers differ from the document:\n{}",
        problems.len(),
        problems.join("\n")
    );
    c.check_no_crash()?;
    Ok(())
}
