//! A browser-like HTTP client for the tenants' sites (docs/DESKTOP-API.md):
//! no operator token, its own cookie jar, and helpers for the admin API
//! (which it calls with the operator token when asked to).

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api::{fresh_request_id, retry_busy, Reply};

/// The captcha answer the test cluster's nodes are started with
/// (`OPENCLOUD_TEST_CAPTCHA_ANSWER`), so tests can solve captchas.
pub const TEST_CAPTCHA: &str = "tcapt";

/// One visitor: a cookie jar shared by clones, talking to any node.
#[derive(Clone)]
pub struct Visitor {
    client: reqwest::Client,
    cookies: Arc<Mutex<Vec<(String, String)>>>,
    /// The `Set-Cookie` headers of the last answer, verbatim.
    pub last_set_cookie: Arc<Mutex<Vec<String>>>,
}

impl Visitor {
    pub fn new() -> Result<Visitor> {
        let client = reqwest::Client::builder()
            // Each node has its own self-signed HTTPS certificate.
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Visitor {
            client,
            cookies: Arc::default(),
            last_set_cookie: Arc::default(),
        })
    }

    /// The cookie header this visitor sends.
    pub fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Replaces the jar (to replay one visitor's cookies as another).
    pub fn set_cookies(&self, cookies: Vec<(String, String)>) {
        *self.cookies.lock().unwrap_or_else(|e| e.into_inner()) = cookies;
    }

    pub fn cookies(&self) -> Vec<(String, String)> {
        self.cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a request with this visitor's cookies and `headers`; keeps the
    /// cookies the answer sets.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut h = HeaderMap::new();
        let cookie = self.cookie_header();
        if !cookie.is_empty() {
            h.insert(COOKIE, HeaderValue::from_str(&cookie)?);
        }
        for (k, v) in headers {
            h.insert(
                HeaderName::from_bytes(k.as_bytes())?,
                HeaderValue::from_str(v)?,
            );
        }
        let mut req = self.client.request(method, url).headers(h);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| url.to_string())?;
        let set: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        {
            let mut jar = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
            for c in &set {
                let Some((name, rest)) = c.split_once('=') else {
                    continue;
                };
                let value = rest.split(';').next().unwrap_or("").to_string();
                jar.retain(|(n, _)| n != name);
                if !value.is_empty() && !c.contains("Max-Age=0") {
                    jar.push((name.to_string(), value));
                }
            }
        }
        *self
            .last_set_cookie
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = set;
        let status = resp.status();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }

    pub async fn get(&self, url: &str) -> Result<Reply> {
        self.send(Method::GET, url, None, &[]).await
    }

    pub async fn post(&self, url: &str, body: Value) -> Result<Reply> {
        self.send(Method::POST, url, Some(body), &[]).await
    }

    /// Signs in to `slug` on the node at `base`; the reply as it came.
    pub async fn login(&self, base: &str, slug: &str, user: &str, pw: &str) -> Result<Reply> {
        self.post(
            &format!("{base}/t/{slug}/api/v1/login"),
            json!({"username": user, "password": pw}),
        )
        .await
    }

    /// Signs in and fails unless it worked.
    pub async fn sign_in(&self, base: &str, slug: &str, user: &str, pw: &str) -> Result<()> {
        let r = retry_busy(&format!("sign-in of {user}"), || {
            self.login(base, slug, user, pw)
        })
        .await?;
        if r.status != StatusCode::OK {
            bail!(
                "sign-in of {user} to {slug} failed: {} {}",
                r.status,
                r.text()
            );
        }
        Ok(())
    }
}

/// The operator's calls to a tenant's admin API on the node at `base`.
pub struct TenantAdmin {
    client: reqwest::Client,
    base: String,
    slug: String,
}

impl TenantAdmin {
    /// `client` sends the operator token (see `Cluster::client`).
    pub fn new(client: reqwest::Client, base: &str, slug: &str) -> TenantAdmin {
        TenantAdmin {
            client,
            base: base.to_string(),
            slug: slug.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/t/{}/api/v1/{path}", self.base, self.slug)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Reply> {
        self.call_with_id(method, path, body, None).await
    }

    /// [`Self::call`] with an `X-Request-Id`.
    pub async fn call_with_id(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        request_id: Option<&str>,
    ) -> Result<Reply> {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(id) = request_id {
            req = req.header("X-Request-Id", id);
        }
        let resp = req.send().await?;
        let status = resp.status();
        Ok(Reply {
            status,
            body: resp.bytes().await?.to_vec(),
        })
    }

    /// Creates a record and fails unless the answer is 201 (retrying while
    /// the cluster is busy).
    pub async fn create(&self, path: &str, body: Value) -> Result<Value> {
        let id = fresh_request_id();
        let r = retry_busy(&format!("POST {path}"), || {
            self.call_with_id(Method::POST, path, Some(body.clone()), Some(&id))
        })
        .await?;
        if r.status != StatusCode::CREATED {
            bail!("POST {path} {body}: {} {}", r.status, r.text());
        }
        r.json()
    }

    /// A tenant with a profile `staff` of web apps `wiki` and `mail`, an
    /// app `secret` in no profile, an admin `boss` and a user `alice`.
    pub async fn seed(&self, operator: &crate::api::Api, name: &str) -> Result<()> {
        let id = fresh_request_id();
        let r = retry_busy("creating a tenant", || {
            operator.create_tenant(&self.slug, name, Some(&id))
        })
        .await?;
        if r.status != StatusCode::CREATED {
            bail!("creating tenant {}: {} {}", self.slug, r.status, r.text());
        }
        for (id, n) in [("wiki", "Wiki"), ("mail", "Mail"), ("secret", "Secret")] {
            self.create(
                "apps",
                json!({"id": id, "name": n, "kind": "web",
                       "url": format!("https://{id}.{}.example/", self.slug)}),
            )
            .await?;
        }
        self.create(
            "profiles",
            json!({"id": "staff", "name": "Staff", "apps": ["wiki", "mail"]}),
        )
        .await?;
        self.create(
            "users",
            json!({"login": "alice", "password": "alice-password", "profiles": ["staff"]}),
        )
        .await?;
        self.create(
            "users",
            json!({"login": "boss", "password": "boss-password", "profiles": ["staff"], "admin": true}),
        )
        .await?;
        Ok(())
    }
}
