//! Checks for everything an admin (or a signing-in user) can send.
//!
//! Each check returns [`Error::Invalid`] with a message that names the field
//! and the rule, so the admin API can show it as it is. Checks that accept an
//! input also normalise it (lower-case logins, trimmed names, deduplicated
//! lists), and the node stores only what came out of them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::{Error, Result};
use crate::model::{
    App, AppKind, Branding, BrandingInput, Colors, LdapConfig, LdapInput, LdapTls, NewUser,
    Picture, PictureInput, Profile, User, UserPatch, UserSource,
};

pub const MAX_LOGIN: usize = 64;
pub const MAX_ID: usize = 40;
pub const MAX_NAME: usize = 100;
pub const MIN_PASSWORD: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
pub const MAX_PASSWORD: usize = 1024;
pub const MAX_URL: usize = 2048;
pub const MAX_PROFILES_PER_USER: usize = 64;
pub const MAX_APPS_PER_PROFILE: usize = 256;
pub const MAX_GROUP_MAP: usize = 256;
pub const MAX_DN: usize = 1024;
pub const MAX_FILTER: usize = 1024;
pub const MAX_CA_PEM: usize = 64 * 1024;
pub const MAX_LOGO: usize = 128 * 1024;
pub const MAX_WALLPAPER: usize = 768 * 1024;
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// A login: 1–64 characters of `[a-z0-9._@-]` once lower-cased. Returns the
/// lower-case form, which is the user's key.
pub fn login(s: &str) -> Result<String> {
    let lower = s.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > MAX_LOGIN {
        return Err(Error::invalid(format!(
            "login must be 1 to {MAX_LOGIN} characters long"
        )));
    }
    if !lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b))
    {
        return Err(Error::invalid(
            "login may contain only letters, digits and . _ @ -",
        ));
    }
    Ok(lower)
}

/// An id of a profile, app or pool: 1–40 characters of `[a-z0-9_-]`. Ids
/// appear in URLs and store keys, so nothing else is allowed.
pub fn id(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_ID {
        return Err(Error::invalid(format!(
            "{what} must be 1 to {MAX_ID} characters long"
        )));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(format!(
            "{what} may contain only lower-case letters, digits, _ and -"
        )));
    }
    Ok(())
}

/// A human-readable name: 1–100 characters once trimmed, no control
/// characters (they break layouts and logs). Returns the trimmed name.
pub fn name(what: &str, s: &str) -> Result<String> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_NAME {
        return Err(Error::invalid(format!(
            "{what} must be 1 to {MAX_NAME} characters long"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(t.to_string())
}

/// A new password: 8–1024 bytes. Anything else is the user's choice.
pub fn password(s: &str) -> Result<()> {
    if s.len() < MIN_PASSWORD {
        return Err(Error::invalid(format!(
            "password must be at least {MIN_PASSWORD} characters long"
        )));
    }
    if s.len() > MAX_PASSWORD {
        return Err(Error::invalid(format!(
            "password must be at most {MAX_PASSWORD} bytes long"
        )));
    }
    Ok(())
}

/// A web app's address: an absolute http or https URL with a host and no
/// credentials (they would be shown to every user of the app menu). Other
/// schemes, `javascript:` first, never reach a link. Returns the URL as the
/// `url` crate normalises it.
pub fn web_url(s: &str) -> Result<String> {
    if s.len() > MAX_URL {
        return Err(Error::invalid(format!(
            "url must be at most {MAX_URL} characters long"
        )));
    }
    let u = url::Url::parse(s.trim()).map_err(|e| Error::invalid(format!("url: {e}")))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(Error::invalid("url must start with http:// or https://"));
    }
    if !matches!(u.host_str(), Some(h) if !h.is_empty()) {
        return Err(Error::invalid("url must name a host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::invalid(
            "url must not contain a user name or password",
        ));
    }
    Ok(u.to_string())
}

/// A colour as `#rgb` or `#rrggbb`; returned in lower case.
pub fn color(what: &str, s: &str) -> Result<String> {
    let ok = s.len() == 4 || s.len() == 7;
    let hex = s.strip_prefix('#').unwrap_or("");
    if !ok || hex.len() + 1 != s.len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(format!(
            "{what} must be a colour like #1a2b3c or #abc"
        )));
    }
    Ok(s.to_ascii_lowercase())
}

pub fn colors(c: &Colors) -> Result<Colors> {
    Ok(Colors {
        primary: color("colors.primary", &c.primary)?,
        background: color("colors.background", &c.background)?,
        text: color("colors.text", &c.text)?,
    })
}

/// Which picture of the branding, for its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PictureSlot {
    Logo,
    Wallpaper,
}

impl PictureSlot {
    fn max(self) -> usize {
        match self {
            PictureSlot::Logo => MAX_LOGO,
            PictureSlot::Wallpaper => MAX_WALLPAPER,
        }
    }
    fn label(self) -> &'static str {
        match self {
            PictureSlot::Logo => "logo",
            PictureSlot::Wallpaper => "wallpaper",
        }
    }
}

/// Raster formats only: an SVG can carry script.
const PICTURE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp", "image/gif"];

/// Decodes and checks an uploaded picture: an allowed content type, bytes
/// that really are that format (by their magic number, so a browser that
/// sniffs content cannot be handed HTML under an image type), and a size
/// limit on the decoded bytes.
pub fn picture(slot: PictureSlot, input: &PictureInput) -> Result<Picture> {
    let what = slot.label();
    let ct = input.content_type.trim().to_ascii_lowercase();
    if !PICTURE_TYPES.contains(&ct.as_str()) {
        return Err(Error::invalid(format!(
            "{what} must be PNG, JPEG, WebP or GIF (got `{}`)",
            truncate(&input.content_type, 40)
        )));
    }
    // Refuse oversized input before decoding it: 4 base64 characters carry
    // 3 bytes, and a little slack covers padding.
    let max = slot.max();
    if input.data_base64.len() > max.div_ceil(3) * 4 + 4 {
        return Err(Error::invalid(format!(
            "{what} must be at most {} KiB",
            max / 1024
        )));
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let data = engine
        .decode(input.data_base64.trim())
        .map_err(|e| Error::invalid(format!("{what} is not valid base64: {e}")))?;
    if data.len() > max {
        return Err(Error::invalid(format!(
            "{what} must be at most {} KiB",
            max / 1024
        )));
    }
    if !magic_matches(&ct, &data) {
        return Err(Error::invalid(format!(
            "{what} is not a {ct} file (its first bytes do not match)"
        )));
    }
    Ok(Picture {
        content_type: ct,
        data,
    })
}

fn magic_matches(content_type: &str, d: &[u8]) -> bool {
    match content_type {
        "image/png" => d.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => d.starts_with(&[0xff, 0xd8, 0xff]),
        "image/gif" => d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a"),
        "image/webp" => d.len() >= 12 && d.starts_with(b"RIFF") && d.get(8..12) == Some(b"WEBP"),
        _ => false,
    }
}

pub fn branding(input: &BrandingInput) -> Result<Branding> {
    Ok(Branding {
        product_name: name("product name", &input.product_name)?,
        colors: colors(&input.colors)?,
        logo: input
            .logo
            .as_ref()
            .map(|p| picture(PictureSlot::Logo, p))
            .transpose()?,
        wallpaper: input
            .wallpaper
            .as_ref()
            .map(|p| picture(PictureSlot::Wallpaper, p))
            .transpose()?,
    })
}

/// A list of ids: each valid, at most `max`, duplicates dropped (first
/// occurrence kept, so the admin's order survives).
pub fn id_list(what: &str, ids: &[String], max: usize) -> Result<Vec<String>> {
    if ids.len() > max {
        return Err(Error::invalid(format!("at most {max} {what} are allowed")));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for i in ids {
        id(what, i)?;
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    Ok(out)
}

/// Checks a new local user and returns it normalised: lower-case login,
/// a display name (the login when none is given), deduplicated profiles.
/// The password is checked but left in clear for the caller to hash.
pub fn new_user(input: &NewUser) -> Result<NewUser> {
    let login = login(&input.login)?;
    if let Some(p) = &input.password {
        password(p)?;
    }
    let display_name = match &input.display_name {
        Some(d) => name("display name", d)?,
        None => login.clone(),
    };
    Ok(NewUser {
        login,
        password: input.password.clone(),
        display_name: Some(display_name),
        profiles: id_list("profiles", &input.profiles, MAX_PROFILES_PER_USER)?,
        admin: input.admin,
    })
}

/// Checks a change to `user` and returns it normalised. A directory user's
/// password belongs to the directory, so setting one here is refused.
pub fn user_patch(user: &User, patch: &UserPatch) -> Result<UserPatch> {
    if let Some(p) = &patch.password {
        if matches!(user.source, UserSource::Ldap { .. }) {
            return Err(Error::invalid(
                "the password of a directory user is changed in the directory",
            ));
        }
        password(p)?;
    }
    Ok(UserPatch {
        password: patch.password.clone(),
        display_name: patch
            .display_name
            .as_deref()
            .map(|d| name("display name", d))
            .transpose()?,
        profiles: patch
            .profiles
            .as_deref()
            .map(|p| id_list("profiles", p, MAX_PROFILES_PER_USER))
            .transpose()?,
        admin: patch.admin,
        disabled: patch.disabled,
    })
}

pub fn profile(p: &Profile) -> Result<Profile> {
    id("profile id", &p.id)?;
    Ok(Profile {
        id: p.id.clone(),
        name: name("profile name", &p.name)?,
        apps: id_list("apps", &p.apps, MAX_APPS_PER_PROFILE)?,
    })
}

pub fn app(a: &App) -> Result<App> {
    id("app id", &a.id)?;
    let icon = match &a.icon {
        None => None,
        Some(i) if i.starts_with("http://") || i.starts_with("https://") => Some(web_url(i)?),
        Some(i) => {
            id("icon", i).map_err(|_| {
                Error::invalid("icon must be a built-in icon name or an http(s) URL")
            })?;
            Some(i.clone())
        }
    };
    let kind = match &a.kind {
        AppKind::Web { url } => AppKind::Web { url: web_url(url)? },
        AppKind::Vm { pool } => {
            id("pool", pool)?;
            AppKind::Vm { pool: pool.clone() }
        }
    };
    Ok(App {
        id: a.id.clone(),
        name: name("app name", &a.name)?,
        icon,
        kind,
        frame: a.frame,
    })
}

/// Checks the LDAP settings. `current` is what is stored now: an input
/// without `bind_password` keeps its password. The TLS mode must agree
/// with the URL's scheme; `ldaps://` with the default `none` means LDAPS.
pub fn ldap(input: &LdapInput, current: Option<&LdapConfig>) -> Result<LdapConfig> {
    let scheme = ldap_url(&input.url)?;
    let tls = match (scheme, input.tls) {
        ("ldaps", LdapTls::None | LdapTls::Ldaps) => LdapTls::Ldaps,
        ("ldaps", LdapTls::StartTls) => {
            return Err(Error::invalid(
                "StartTLS needs an ldap:// URL; ldaps:// is TLS already",
            ))
        }
        (_, LdapTls::Ldaps) => return Err(Error::invalid("tls `ldaps` needs an ldaps:// URL")),
        (_, t) => t,
    };
    let bind_password = match (&input.bind_password, current) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.bind_password.clone(),
        (None, None) => String::new(),
    };
    if bind_password.is_empty() {
        // An empty simple bind is an anonymous bind: it would "succeed"
        // without proving anything.
        return Err(Error::invalid("bind_password is required"));
    }
    if bind_password.len() > MAX_PASSWORD {
        return Err(Error::invalid(format!(
            "bind_password must be at most {MAX_PASSWORD} bytes long"
        )));
    }
    if let Some(pem) = &input.ca_pem {
        if pem.len() > MAX_CA_PEM || !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::invalid(format!(
                "ca_pem must be PEM certificates, at most {} KiB",
                MAX_CA_PEM / 1024
            )));
        }
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&input.timeout_ms) {
        return Err(Error::invalid(format!(
            "timeout_ms must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
        )));
    }
    Ok(LdapConfig {
        url: input.url.trim().to_string(),
        bind_dn: dn("bind_dn", &input.bind_dn)?,
        bind_password,
        base_dn: dn("base_dn", &input.base_dn)?,
        user_filter: user_filter(&input.user_filter)?,
        group_attribute: attribute("group_attribute", &input.group_attribute)?,
        group_profiles: group_map(&input.group_profiles)?,
        tls,
        ca_pem: input.ca_pem.clone(),
        timeout_ms: input.timeout_ms,
        display_name_attribute: attribute("display_name_attribute", &input.display_name_attribute)?,
    })
}

/// Checks an LDAP URL and returns its scheme (`ldap` or `ldaps`).
fn ldap_url(s: &str) -> Result<&'static str> {
    if s.len() > MAX_URL {
        return Err(Error::invalid("url is too long"));
    }
    let u = url::Url::parse(s.trim()).map_err(|e| Error::invalid(format!("url: {e}")))?;
    let scheme = match u.scheme() {
        "ldap" => "ldap",
        "ldaps" => "ldaps",
        _ => return Err(Error::invalid("url must start with ldap:// or ldaps://")),
    };
    if !matches!(u.host_str(), Some(h) if !h.is_empty()) {
        return Err(Error::invalid("url must name the directory's host"));
    }
    // The base DN and filter have their own fields; an LDAP URL's own
    // DN/query parts would be ignored and only mislead.
    if !(u.path().is_empty() || u.path() == "/") || u.query().is_some() {
        return Err(Error::invalid(
            "url must be only ldap[s]://host[:port]; set base_dn and user_filter separately",
        ));
    }
    Ok(scheme)
}

/// A distinguished name: non-empty, bounded, no control characters. The
/// directory itself is the judge of its syntax.
fn dn(what: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.len() > MAX_DN {
        return Err(Error::invalid(format!(
            "{what} must be 1 to {MAX_DN} characters long"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(t.to_string())
}

/// The search filter: must contain `{username}` (or every user would match
/// every login), and be one parenthesised, balanced filter.
pub fn user_filter(s: &str) -> Result<String> {
    let t = s.trim();
    if t.len() > MAX_FILTER {
        return Err(Error::invalid(format!(
            "user_filter must be at most {MAX_FILTER} characters long"
        )));
    }
    if !t.contains("{username}") {
        return Err(Error::invalid("user_filter must contain {username}"));
    }
    if !t.starts_with('(') || !t.ends_with(')') || t.chars().any(char::is_control) {
        return Err(Error::invalid(
            "user_filter must be an LDAP filter in parentheses, like (uid={username})",
        ));
    }
    let mut depth: i64 = 0;
    for (i, c) in t.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        // Closing the outermost parenthesis before the end would make the
        // rest a second filter.
        if depth < 0 || (depth == 0 && i + 1 < t.len()) {
            return Err(Error::invalid("user_filter has unbalanced parentheses"));
        }
    }
    if depth != 0 {
        return Err(Error::invalid("user_filter has unbalanced parentheses"));
    }
    Ok(t.to_string())
}

/// An attribute description: a name (`memberOf`, `displayName`) or an OID.
fn attribute(what: &str, s: &str) -> Result<String> {
    let ok_name = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let ok_oid = !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if s.len() > 64 || !(ok_name || ok_oid) {
        return Err(Error::invalid(format!(
            "{what} must be an attribute name like memberOf"
        )));
    }
    Ok(s.to_string())
}

fn group_map(m: &BTreeMap<String, Vec<String>>) -> Result<BTreeMap<String, Vec<String>>> {
    if m.len() > MAX_GROUP_MAP {
        return Err(Error::invalid(format!(
            "group_profiles may have at most {MAX_GROUP_MAP} groups"
        )));
    }
    let mut out = BTreeMap::new();
    for (group, profiles) in m {
        let g = dn("a group in group_profiles", group)?;
        out.insert(g, id_list("profiles", profiles, MAX_PROFILES_PER_USER)?);
    }
    Ok(out)
}

/// The first `n` characters of `s`, for quoting hostile input in messages.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
