//! Sessions: a random secret in a cookie, its SHA-256 in the tenant's store,
//! so any node accepts it and a session of one tenant means nothing on
//! another tenant's URLs. Also the cross-site request check.

use axum::http::{header, HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

use super::records::{SessionRecord, Sessions};
use super::SiteConfig;
use crate::db::{fresh_request_id, TenantDb};
use crate::http::{AppError, AppResult};

/// The session cookie's name.
pub const COOKIE: &str = "oc_session";

/// Secrets are 32 random bytes, hex.
const SECRET_LEN: usize = 64;

/// The store key of a session secret.
pub fn key_of(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The session secret the request's cookies carry, if well formed.
pub fn secret_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| v.len() == SECRET_LEN && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A session that is valid now.
#[derive(Clone, Debug)]
pub struct Current {
    pub key: String,
    pub record: SessionRecord,
}

/// Looks the request's session up in `db`'s tenant; `None` when there is no
/// cookie, no such session, or it has expired.
pub async fn current(
    db: &TenantDb,
    cfg: &SiteConfig,
    headers: &HeaderMap,
    now: u64,
) -> AppResult<Option<Current>> {
    let Some(secret) = secret_from(headers) else {
        return Ok(None);
    };
    let key = key_of(&secret);
    let Some(record) = db.get::<Sessions>(&key).await? else {
        return Ok(None);
    };
    let idle_end = record.last_seen.saturating_add(cfg.session_idle_s);
    if now >= record.expires_at || now >= idle_end {
        return Ok(None);
    }
    Ok(Some(Current { key, record }))
}

/// Creates a session for `login`; returns its secret.
pub async fn create(db: &TenantDb, cfg: &SiteConfig, login: &str, now: u64) -> AppResult<String> {
    let secret = crate::viewer::random_hex(SECRET_LEN / 2);
    let record = SessionRecord {
        login: login.to_string(),
        created_at: now,
        expires_at: now.saturating_add(cfg.session_ttl_s),
        last_seen: now,
    };
    db.put::<Sessions>(&key_of(&secret), &record, fresh_request_id())
        .await?;
    Ok(secret)
}

/// Ends the session stored under `key`.
pub async fn end(db: &TenantDb, key: &str) -> AppResult<()> {
    db.delete::<Sessions>(key, fresh_request_id()).await?;
    Ok(())
}

/// The `Set-Cookie` value that holds `secret` under `path`, or clears the
/// cookie when `secret` is `None`.
pub fn cookie(secret: Option<&str>, path: &str, max_age_s: u64) -> AppResult<HeaderValue> {
    let v = match secret {
        Some(s) => {
            format!(
                "{COOKIE}={s}; Path={path}; Max-Age={max_age_s}; Secure; HttpOnly; SameSite=Lax"
            )
        }
        None => format!("{COOKIE}=; Path={path}; Max-Age=0; Secure; HttpOnly; SameSite=Lax"),
    };
    HeaderValue::from_str(&v).map_err(|e| AppError::Internal(format!("cookie header: {e}")))
}

/// Refuses a state-changing request that a browser says comes from another
/// site: by `Sec-Fetch-Site` where the browser sends it, else by `Origin`
/// against the request's own host. A request with neither (a script, curl)
/// is judged by its credentials alone. `same-site` is refused too, since
/// with a base domain the other tenants' desktops are the same site.
pub fn check_same_origin(method: &Method, headers: &HeaderMap) -> AppResult<()> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let refused = || AppError::Forbidden("cross-site requests are refused".into());
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(refused)?;
    let origin = origin.to_str().map_err(|_| refused())?;
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(refused)?;
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_is_found_among_others_and_junk_is_ignored() {
        let s = "a".repeat(64);
        let h = headers(&[("cookie", &format!("x=1; {COOKIE}={s}; y=2"))]);
        assert_eq!(secret_from(&h), Some(s));
        for bad in ["oc_session=short", "oc_session=", "other=1"] {
            assert_eq!(secret_from(&headers(&[("cookie", bad)])), None, "{bad}");
        }
        let not_hex = format!("{COOKIE}={}", "z".repeat(64));
        assert_eq!(secret_from(&headers(&[("cookie", &not_hex)])), None);
    }

    #[test]
    fn cross_site_requests_are_refused_and_scripts_pass() {
        let post = Method::POST;
        assert!(check_same_origin(&post, &headers(&[])).is_ok());
        assert!(check_same_origin(&post, &headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(check_same_origin(&post, &headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(check_same_origin(&post, &headers(&[("sec-fetch-site", "same-site")])).is_err());
        let same = headers(&[("origin", "https://n1:8443"), ("host", "n1:8443")]);
        assert!(check_same_origin(&post, &same).is_ok());
        let other = headers(&[("origin", "https://evil.example"), ("host", "n1:8443")]);
        assert!(check_same_origin(&post, &other).is_err());
        let null = headers(&[("origin", "null"), ("host", "n1:8443")]);
        assert!(check_same_origin(&post, &null).is_err());
        // Reads are never refused.
        let get = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(check_same_origin(&Method::GET, &get).is_ok());
    }

    #[test]
    fn cookies_are_secure_http_only_and_lax() {
        let c = cookie(Some("abc"), "/t/acme/", 60).unwrap();
        let c = c.to_str().unwrap();
        for part in [
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/t/acme/",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(cookie(None, "/", 0)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }
}
