//! Sign-in against the tenant's directory (OpenLDAP, Active Directory, ...).
//!
//! The flow is the usual "search, then bind": bind as the service account,
//! find the one entry that matches the login, then bind as that entry with
//! the user's password. The directory checks the password; nothing of it is
//! kept here.
//!
//! Every outcome falls into one of three errors, so the sign-in page can be
//! honest: [`Error::InvalidCredentials`] (unknown user, several matches,
//! wrong or empty password; never told apart, so the page cannot be used to
//! probe which logins exist), [`Error::DirectoryUnavailable`] (no answer,
//! connection refused or cut, timeout) and [`Error::DirectoryMisconfigured`]
//! (the directory answered, but the tenant's settings do not work with it).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ldap3::asn1::{StructureTag, PL};
use ldap3::{ldap_escape, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use ldap3::{Ldap, SearchOptions};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};
use crate::model::{LdapConfig, LdapTls, User, UserSource};
use crate::validate::{MAX_PASSWORD, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};

/// What the directory told about a user who signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's distinguished name.
    pub dn: String,
    /// The first value of the configured display-name attribute.
    pub display_name: Option<String>,
    /// The values of the configured group attribute (DNs with `memberOf`).
    pub groups: Vec<String>,
}

/// Longer usernames are refused before anything is sent: no directory has
/// logins that long, and it keeps hostile input out of the filter.
const MAX_USERNAME: usize = 256;

// LDAP result codes (RFC 4511, appendix A) that change what we report.
const RC_SUCCESS: u32 = 0;
const RC_SIZE_LIMIT_EXCEEDED: u32 = 4;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_BUSY: u32 = 51;
const RC_UNAVAILABLE: u32 = 52;

/// Checks `username` and `password` against the directory described by
/// `cfg`. The whole exchange (connect, TLS, both binds and the search) is
/// bounded by `cfg.timeout_ms`: a directory that accepts the connection but
/// never answers gives [`Error::DirectoryUnavailable`] when it runs out.
///
/// Only [`Error::InvalidCredentials`], [`Error::DirectoryUnavailable`] and
/// [`Error::DirectoryMisconfigured`] come out of it.
pub async fn authenticate(
    cfg: &LdapConfig,
    username: &str,
    password: &str,
) -> Result<DirectoryUser> {
    // An LDAP simple bind with a DN and an empty password is an
    // "unauthenticated bind" that many directories answer with success, so
    // an empty password must never reach the second bind.
    if password.is_empty()
        || password.len() > MAX_PASSWORD
        || username.is_empty()
        || username.len() > MAX_USERNAME
        || username.chars().any(char::is_control)
    {
        return Err(Error::InvalidCredentials);
    }
    let budget = budget(cfg);
    let tls = tls_config(cfg)?;
    match tokio::time::timeout(budget, exchange(cfg, tls, username, password, budget)).await {
        Ok(result) => result,
        Err(_) => Err(no_answer(cfg)),
    }
}

/// The time one sign-in may take, from the settings (bounded again here in
/// case they were not validated).
fn budget(cfg: &LdapConfig) -> Duration {
    Duration::from_millis(cfg.timeout_ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS))
}

/// The one message for running out of time, whether the overall bound or
/// ldap3's connect timeout fired first.
fn no_answer(cfg: &LdapConfig) -> Error {
    Error::DirectoryUnavailable(format!(
        "{} did not answer within {} ms",
        cfg.url,
        budget(cfg).as_millis()
    ))
}

/// Aborts the connection's driver task when the exchange ends, however it
/// ends (including the overall timeout dropping the exchange mid-way), so a
/// silent directory never keeps a task and a socket alive.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange(
    cfg: &LdapConfig,
    tls: Option<Arc<ClientConfig>>,
    username: &str,
    password: &str,
    budget: Duration,
) -> Result<DirectoryUser> {
    let url = directory_url(cfg)?;
    let mut settings = LdapConnSettings::new().set_conn_timeout(budget);
    if let Some(tls) = tls {
        settings = settings
            .set_config(tls)
            .set_starttls(cfg.tls == LdapTls::StartTls);
    }
    let (conn, mut ldap) = LdapConnAsync::from_url_with_settings(settings, &url)
        .await
        .map_err(|e| transport("connecting", cfg, e))?;
    let _driver = Driver(tokio::spawn(async move {
        // The connection's errors surface in the operations that use it.
        let _ = conn.drive().await;
    }));

    // 1. The service account.
    let bound = ldap
        .simple_bind(&cfg.bind_dn, &cfg.bind_password)
        .await
        .map_err(|e| transport("binding as the service account", cfg, e))?;
    match bound.rc {
        RC_SUCCESS => {}
        RC_BUSY | RC_UNAVAILABLE => {
            return Err(Error::DirectoryUnavailable(format!(
                "the directory is busy or unavailable: {}",
                describe(bound.rc, &bound.text)
            )))
        }
        RC_INVALID_CREDENTIALS => {
            return Err(Error::DirectoryMisconfigured(
                "the directory refused the service account: check bind_dn and bind_password".into(),
            ))
        }
        rc => {
            return Err(Error::DirectoryMisconfigured(format!(
                "the directory refused the service account's bind: {}",
                describe(rc, &bound.text)
            )))
        }
    }

    // 2. The user's entry: exactly one, or nobody signs in.
    let dn_and_attrs = find_user(&mut ldap, cfg, username, budget).await?;
    let (dn, attrs) = dn_and_attrs;

    // 3. The user's own bind proves the password.
    let user_bind = ldap
        .simple_bind(&dn, password)
        .await
        .map_err(|e| transport("checking the password", cfg, e))?;
    match user_bind.rc {
        RC_SUCCESS => {}
        RC_BUSY | RC_UNAVAILABLE => {
            return Err(Error::DirectoryUnavailable(format!(
                "the directory is busy or unavailable: {}",
                describe(user_bind.rc, &user_bind.text)
            )))
        }
        // Wrong password, locked or expired account, inappropriate
        // authentication: all "you cannot sign in" to the person.
        _ => return Err(Error::InvalidCredentials),
    }
    // Best effort: the driver is aborted right after anyway.
    let _ = ldap.unbind().await;

    let values = |attr: &str| -> Vec<String> {
        attrs
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(attr))
            .flat_map(|(_, v)| v.iter())
            .filter_map(|b| String::from_utf8(b.clone()).ok())
            .collect()
    };
    Ok(DirectoryUser {
        display_name: values(&cfg.display_name_attribute)
            .into_iter()
            .find(|v| !v.trim().is_empty()),
        groups: values(&cfg.group_attribute),
        dn,
    })
}

type Attributes = Vec<(String, Vec<Vec<u8>>)>;

async fn find_user(
    ldap: &mut Ldap,
    cfg: &LdapConfig,
    username: &str,
    budget: Duration,
) -> Result<(String, Attributes)> {
    // RFC 4515 escaping: `*`, `(`, `)`, `\` and NUL in the login become
    // `\2a` and so on, so a login like `*)(uid=*` is one literal value.
    let filter = cfg
        .user_filter
        .replace("{username}", &ldap_escape(username));
    let seconds = i32::try_from(budget.as_secs().max(1)).unwrap_or(i32::MAX);
    // A size limit of 2 is enough to tell "one" from "several" without
    // letting a filter that matches everyone fetch the whole directory.
    let options = SearchOptions::new().sizelimit(2).timelimit(seconds);
    let found = ldap
        .with_search_options(options)
        .search(
            &cfg.base_dn,
            Scope::Subtree,
            &filter,
            vec![
                cfg.display_name_attribute.as_str(),
                cfg.group_attribute.as_str(),
            ],
        )
        .await
        .map_err(|e| transport("searching for the user", cfg, e))?;
    let (entries, result) = (found.0, found.1);
    match result.rc {
        RC_SUCCESS => {}
        // More than two matched: the same answer as "several".
        RC_SIZE_LIMIT_EXCEEDED => return Err(Error::InvalidCredentials),
        RC_NO_SUCH_OBJECT => {
            return Err(Error::DirectoryMisconfigured(format!(
                "base_dn `{}` does not exist in the directory",
                cfg.base_dn
            )))
        }
        RC_BUSY | RC_UNAVAILABLE => {
            return Err(Error::DirectoryUnavailable(describe(
                result.rc,
                &result.text,
            )))
        }
        rc => {
            return Err(Error::DirectoryMisconfigured(format!(
                "the user search failed: {}",
                describe(rc, &result.text)
            )))
        }
    }
    // Referrals to other servers are not followed: the entry must be here.
    let mut users = entries.iter().filter(|e| !e.is_ref());
    match (users.next(), users.next()) {
        (Some(entry), None) => parse_entry(&entry.0).ok_or_else(|| {
            Error::DirectoryUnavailable("the directory sent a malformed entry".into())
        }),
        _ => Err(Error::InvalidCredentials),
    }
}

/// Reads a SearchResultEntry (RFC 4511 §4.5.2) without panicking.
/// `ldap3::SearchEntry::construct` panics on malformed BER, and the
/// directory is a server the tenant runs, not one we trust not to.
fn parse_entry(entry: &StructureTag) -> Option<(String, Attributes)> {
    fn constructed(t: &StructureTag) -> Option<&[StructureTag]> {
        match &t.payload {
            PL::C(v) => Some(v),
            PL::P(_) => None,
        }
    }
    fn primitive(t: &StructureTag) -> Option<&[u8]> {
        match &t.payload {
            PL::P(v) => Some(v),
            PL::C(_) => None,
        }
    }
    let parts = constructed(entry)?;
    let dn = String::from_utf8(primitive(parts.first()?)?.to_vec()).ok()?;
    let mut attrs = Vec::new();
    for attr in constructed(parts.get(1)?)? {
        let attr = constructed(attr)?;
        let name = String::from_utf8(primitive(attr.first()?)?.to_vec()).ok()?;
        let values = constructed(attr.get(1)?)?
            .iter()
            .map(|v| primitive(v).map(<[u8]>::to_vec))
            .collect::<Option<Vec<_>>>()?;
        attrs.push((name, values));
    }
    Some((dn, attrs))
}

/// The configured URL, checked for what `ldap3` would otherwise panic on
/// (a URL without a host).
fn directory_url(cfg: &LdapConfig) -> Result<url::Url> {
    let url = url::Url::parse(&cfg.url)
        .map_err(|e| Error::DirectoryMisconfigured(format!("url `{}`: {e}", cfg.url)))?;
    let has_host = matches!(url.host_str(), Some(h) if !h.is_empty());
    if !has_host || !matches!(url.scheme(), "ldap" | "ldaps") {
        return Err(Error::DirectoryMisconfigured(format!(
            "url `{}` must be ldap://host or ldaps://host",
            cfg.url
        )));
    }
    if url.scheme() == "ldaps" && cfg.tls == LdapTls::StartTls {
        return Err(Error::DirectoryMisconfigured(
            "StartTLS needs an ldap:// URL".into(),
        ));
    }
    Ok(url)
}

/// The rustls configuration for StartTLS or LDAPS: the tenant's CA when it
/// gave one, otherwise the system's roots. The crypto provider is named
/// here rather than taken from a process default, which may be unset.
fn tls_config(cfg: &LdapConfig) -> Result<Option<Arc<ClientConfig>>> {
    let needs_tls = cfg.tls != LdapTls::None || cfg.url.trim_start().starts_with("ldaps:");
    if !needs_tls {
        return Ok(None);
    }
    let roots = match &cfg.ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    Error::DirectoryMisconfigured(format!("ca_pem cannot be read: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    Error::DirectoryMisconfigured(format!("ca_pem holds a bad certificate: {e}"))
                })?;
            }
            if roots.is_empty() {
                return Err(Error::DirectoryMisconfigured(
                    "ca_pem holds no certificate".into(),
                ));
            }
            Arc::new(roots)
        }
        None => system_roots(),
    };
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::DirectoryMisconfigured(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// The system's trusted roots, read once: parsing the bundle costs more than
/// a sign-in should.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            // Unreadable certificates in the bundle are skipped; a directory
            // signed by one of them fails as "not trusted", which is right.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(roots)
        })
        .clone()
}

/// Turns a failure below the LDAP protocol into one of our three cases.
fn transport(stage: &str, cfg: &LdapConfig, e: LdapError) -> Error {
    let url = &cfg.url;
    match e {
        // tokio-rustls reports a failed handshake (an untrusted
        // certificate, a server that does not speak TLS) as an I/O error
        // wrapping the rustls error; that is a settings problem, not an
        // outage.
        LdapError::Io { source }
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            Error::DirectoryMisconfigured(format!(
                "{stage} ({url}): TLS failed: {source}; check tls and ca_pem"
            ))
        }
        LdapError::Io { source } => {
            Error::DirectoryUnavailable(format!("{stage} ({url}): {source}"))
        }
        LdapError::Timeout { .. } => no_answer(cfg),
        LdapError::OpSend { .. } | LdapError::ResultRecv { .. } | LdapError::EndOfStream => {
            Error::DirectoryUnavailable(format!("{stage} ({url}): the connection was closed"))
        }
        LdapError::Rustls { source } => Error::DirectoryMisconfigured(format!(
            "{stage} ({url}): TLS failed: {source}; check tls and ca_pem"
        )),
        LdapError::DNSName { source } => Error::DirectoryMisconfigured(format!(
            "{stage} ({url}): the host is not a valid TLS server name: {source}"
        )),
        LdapError::LdapResult { result } => Error::DirectoryMisconfigured(format!(
            "{stage} ({url}): {}",
            describe(result.rc, &result.text)
        )),
        LdapError::FilterParsing => {
            Error::DirectoryMisconfigured("user_filter is not a valid LDAP filter".into())
        }
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
            Error::DirectoryMisconfigured(format!("url `{url}` is not a usable LDAP URL"))
        }
        other => Error::DirectoryUnavailable(format!("{stage} ({url}): {other}")),
    }
}

fn describe(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        8 => "stronger authentication required",
        13 => "confidentiality required",
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        _ => "error",
    };
    let text = text.trim();
    if text.is_empty() {
        format!("{name} (result code {rc})")
    } else {
        format!("{name} (result code {rc}): {text}")
    }
}

/// The profiles that the user's groups give, per `cfg.group_profiles`,
/// deduplicated and sorted. A group matches a configured key when both are
/// the same DN (case and spaces around `,` and `=` ignored), or when one is
/// a plain name equal to the other's first RDN value (`staff` and
/// `cn=staff,ou=groups,...`), so admins may write either form.
pub fn profiles_for(cfg: &LdapConfig, groups: &[String]) -> Vec<String> {
    let groups: Vec<String> = groups.iter().map(|g| normalize_dn(g)).collect();
    let mut out = BTreeSet::new();
    for (key, profiles) in &cfg.group_profiles {
        let key = normalize_dn(key);
        if groups.iter().any(|g| group_matches(&key, g)) {
            out.extend(profiles.iter().cloned());
        }
    }
    out.into_iter().collect()
}

fn group_matches(a: &str, b: &str) -> bool {
    a == b
        || (!a.contains('=') && first_rdn_value(b) == Some(a))
        || (!b.contains('=') && first_rdn_value(a) == Some(b))
}

/// Lower-cases a DN and drops the spaces around its separators. Escaped
/// separators (`\,`) are rare in group names and are treated like the rest;
/// both sides of a comparison go through the same function.
fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

fn first_rdn_value(dn: &str) -> Option<&str> {
    let first = dn.split(',').next()?;
    let (_, value) = first.split_once('=')?;
    Some(value)
}

impl User {
    /// The record of a user who just signed in through the directory:
    /// display name, DN and profiles come from the directory at every
    /// sign-in (the directory is the source of truth for group
    /// membership); admin and disabled flags and the creation time stay
    /// as the tenant's admins set them on `previous`.
    pub fn from_directory(
        login: String,
        found: &DirectoryUser,
        profiles: Vec<String>,
        previous: Option<&User>,
        now: u64,
    ) -> User {
        let display_name = found
            .display_name
            .as_deref()
            .and_then(|d| crate::validate::name("display name", d).ok())
            .unwrap_or_else(|| login.clone());
        User {
            login,
            display_name,
            password_hash: None,
            source: UserSource::Ldap {
                dn: found.dn.clone(),
            },
            profiles,
            admin: previous.is_some_and(|p| p.admin),
            disabled: previous.is_some_and(|p| p.disabled),
            created_at: previous.map_or(now, |p| p.created_at),
        }
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
