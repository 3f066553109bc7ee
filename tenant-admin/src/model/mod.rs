//! The tenant's records as stored, and the request types of the admin API.
//!
//! Stored records (`User`, `Profile`, `App`, `Branding`, `LdapConfig`) are
//! what the tables of [`crate::tables`] hold. Request types (`NewUser`,
//! `UserPatch`, `BrandingInput`, `LdapInput`) reject unknown fields, so a
//! typo in an admin's request is an error instead of a silently ignored
//! setting; they become records only through [`crate::validate`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod input;
pub use input::*;

/// A person who can sign in to the tenant's desktop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Lower-case login, also the key of the record.
    pub login: String,
    pub display_name: String,
    /// Argon2id PHC string; `None` for directory users and for local users
    /// who have no password yet (they cannot sign in).
    pub password_hash: Option<String>,
    pub source: UserSource,
    /// Profile ids; the desktop shows the union of their apps.
    pub profiles: Vec<String>,
    /// Tenant admin: may change users, profiles, apps, branding and LDAP.
    pub admin: bool,
    /// A disabled user cannot sign in; the record is kept for audit.
    pub disabled: bool,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

/// Where a user's identity comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserSource {
    /// Created by an admin; signs in with the password hashed here.
    Local,
    /// Found in the tenant's directory at sign-in; the directory checks the
    /// password, and `dn` is where it found the user last time.
    Ldap { dn: String },
}

/// What an admin or the API may see of a user: everything but the hash.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub login: String,
    pub display_name: String,
    pub source: UserSource,
    pub profiles: Vec<String>,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: u64,
    /// Whether a local password is set (so the admin UI can say "no
    /// password yet" without seeing the hash).
    pub has_password: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            login: u.login.clone(),
            display_name: u.display_name.clone(),
            source: u.source.clone(),
            profiles: u.profiles.clone(),
            admin: u.admin,
            disabled: u.disabled,
            created_at: u.created_at,
            has_password: u.password_hash.is_some(),
        }
    }
}

impl User {
    /// The view that leaves the hash out.
    pub fn view(&self) -> UserView {
        UserView::from(self)
    }

    /// A local user from a request that went through
    /// [`crate::validate::new_user`], with its password already hashed
    /// (hashing is slow, so the caller does it off the async runtime).
    pub fn from_new(input: NewUser, password_hash: Option<String>, created_at: u64) -> User {
        User {
            display_name: input.display_name.unwrap_or_else(|| input.login.clone()),
            login: input.login,
            password_hash,
            source: UserSource::Local,
            profiles: input.profiles,
            admin: input.admin,
            disabled: false,
            created_at,
        }
    }

    /// Applies a patch that went through [`crate::validate::user_patch`].
    /// `new_password_hash` is the hash of `patch.password` when it is set;
    /// the clear password in the patch is never stored.
    pub fn apply(&mut self, patch: UserPatch, new_password_hash: Option<String>) {
        if let Some(d) = patch.display_name {
            self.display_name = d;
        }
        if let Some(p) = patch.profiles {
            self.profiles = p;
        }
        if let Some(a) = patch.admin {
            self.admin = a;
        }
        if let Some(d) = patch.disabled {
            self.disabled = d;
        }
        if let Some(h) = new_password_hash {
            self.password_hash = Some(h);
        }
    }
}

/// A set of apps that users with this profile see on their desktop.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: String,
    pub name: String,
    /// App ids.
    #[serde(default)]
    pub apps: Vec<String>,
}

/// The admin API's body for a new profile is the profile itself.
pub type NewProfile = Profile;

/// One entry of the desktop's app menu.
///
/// Its JSON is flat, `{"id":"shell","name":"Shell","kind":"vm","pool":"shell"}`
/// or `{"id":"wiki","name":"Wiki","kind":"web","url":"https://..."}`. It goes
/// through [`AppWire`] because serde cannot deny unknown fields on a struct
/// with a flattened enum, and a typo like `"poll"` must be an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AppWire", into = "AppWire")]
pub struct App {
    pub id: String,
    pub name: String,
    /// A built-in icon name (id syntax) or an http(s) URL.
    pub icon: Option<String>,
    pub kind: AppKind,
    /// Web apps: shown inside a desktop window (the default), or opened in
    /// a new tab for sites that refuse to be framed. The admin says which:
    /// finding out would mean the node fetching any URL an admin names.
    pub frame: bool,
}

/// The admin API's body for a new app is the app itself.
pub type NewApp = App;

/// What launching an app does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppKind {
    /// Opens a web application in a new tab.
    Web { url: String },
    /// Assigns a VM from the pool and shows it through the SPICE translator.
    Vm { pool: String },
}

/// The flat JSON form of [`App`].
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        as = App,
        description = "One entry of the desktop's app menu: a web app (`kind: web` with `url`) \
                       or a VM app (`kind: vm` with `pool`)."
    )
)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppWire {
    id: String,
    name: String,
    /// A built-in icon name (id syntax) or an http(s) URL.
    #[serde(default)]
    icon: Option<String>,
    /// `web` (with `url`, no `pool`) or `vm` (with `pool`, no `url`).
    #[cfg_attr(feature = "openapi", schema(value_type = AppKindName))]
    kind: String,
    /// The web app's address (`kind: web` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// The VM pool the app's VMs come from (`kind: vm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
    /// `kind: web` only: `false` opens the app in a new tab instead of a
    /// desktop window (for sites that refuse to be framed). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame: Option<bool>,
}

/// What launching an app does: `web` or `vm` (the OpenAPI document's
/// name for the values of `AppWire::kind`).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum AppKindName {
    Web,
    Vm,
}

/// [`App`]'s schema is its flat JSON form, [`AppWire`].
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for App {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <AppWire as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for App {
    fn name() -> std::borrow::Cow<'static, str> {
        <AppWire as utoipa::ToSchema>::name()
    }
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <AppWire as utoipa::ToSchema>::schemas(schemas)
    }
}

impl TryFrom<AppWire> for App {
    type Error = String;
    fn try_from(w: AppWire) -> Result<Self, String> {
        let kind = match (w.kind.as_str(), w.url, w.pool) {
            ("web", Some(url), None) => AppKind::Web { url },
            ("vm", None, Some(pool)) => AppKind::Vm { pool },
            ("web", _, _) => return Err("a web app needs `url` and no `pool`".into()),
            ("vm", _, _) => return Err("a vm app needs `pool` and no `url`".into()),
            _ => return Err("`kind` must be `web` or `vm`".into()),
        };
        if matches!(kind, AppKind::Vm { .. }) && w.frame.is_some() {
            return Err("`frame` is for web apps".into());
        }
        Ok(App {
            id: w.id,
            name: w.name,
            icon: w.icon,
            kind,
            frame: w.frame.unwrap_or(true),
        })
    }
}

impl From<App> for AppWire {
    fn from(a: App) -> Self {
        let (kind, url, pool) = match a.kind {
            AppKind::Web { url } => ("web", Some(url), None),
            AppKind::Vm { pool } => ("vm", None, Some(pool)),
        };
        AppWire {
            id: a.id,
            name: a.name,
            icon: a.icon,
            kind: kind.into(),
            url,
            pool,
            frame: (!a.frame).then_some(false),
        }
    }
}

/// How the tenant's sign-in page and desktop look.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    pub product_name: String,
    pub colors: Colors,
    pub logo: Option<Picture>,
    pub wallpaper: Option<Picture>,
}

impl Branding {
    /// Branding for a tenant that has not set any: its name and neutral
    /// colours that read well together, no pictures.
    pub fn default_for(tenant_name: &str) -> Branding {
        // A tenant name is validated elsewhere by other rules; fall back to
        // the product's own name rather than show something odd.
        let product_name = match crate::validate::name("product name", tenant_name) {
            Ok(n) => n,
            Err(_) => "Opencloud".to_string(),
        };
        Branding {
            product_name,
            colors: Colors::default(),
            logo: None,
            wallpaper: None,
        }
    }
}

/// CSS colours, `#rgb` or `#rrggbb` only: nothing an attacker could use to
/// escape a stylesheet.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Colors {
    pub primary: String,
    pub background: String,
    pub text: String,
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            primary: "#2563eb".into(),
            background: "#0f172a".into(),
            text: "#f8fafc".into(),
        }
    }
}

/// An image as stored: its checked content type and bytes. In JSON the
/// bytes are base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    pub content_type: String,
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Picture {
    // Kilobytes of image in a log line help nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picture")
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// How the node reaches the tenant's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// The service account that searches for users.
    pub bind_dn: String,
    /// Kept in the store as given: the node needs it to bind. Never returned
    /// by the API (see [`LdapView`]).
    pub bind_password: String,
    pub base_dn: String,
    /// LDAP filter with `{username}` where the escaped login goes.
    pub user_filter: String,
    /// Attribute listing the user's groups, `memberOf` on AD and OpenLDAP
    /// with the memberof overlay.
    pub group_attribute: String,
    /// Group (DN or plain name, compared case-insensitively) → profile ids.
    pub group_profiles: BTreeMap<String, Vec<String>>,
    pub tls: LdapTls,
    /// PEM certificates of a private CA that signs the directory's
    /// certificate; `None` trusts the system's roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Bound on a whole sign-in against the directory, in milliseconds.
    pub timeout_ms: u64,
    pub display_name_attribute: String,
}

/// Transport security towards the directory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LdapTls {
    /// Plain LDAP: only for a directory on a trusted network.
    #[default]
    None,
    /// `ldap://` upgraded with the StartTLS extended operation.
    #[serde(alias = "starttls")]
    StartTls,
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
}

/// The LDAP settings as the API shows them: without the bind password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapView {
    pub url: String,
    pub bind_dn: String,
    pub bind_password_set: bool,
    pub base_dn: String,
    pub user_filter: String,
    pub group_attribute: String,
    pub group_profiles: BTreeMap<String, Vec<String>>,
    pub tls: LdapTls,
    pub ca_pem: Option<String>,
    pub timeout_ms: u64,
    pub display_name_attribute: String,
}

impl From<&LdapConfig> for LdapView {
    fn from(c: &LdapConfig) -> Self {
        LdapView {
            url: c.url.clone(),
            bind_dn: c.bind_dn.clone(),
            bind_password_set: !c.bind_password.is_empty(),
            base_dn: c.base_dn.clone(),
            user_filter: c.user_filter.clone(),
            group_attribute: c.group_attribute.clone(),
            group_profiles: c.group_profiles.clone(),
            tls: c.tls,
            ca_pem: c.ca_pem.clone(),
            timeout_ms: c.timeout_ms,
            display_name_attribute: c.display_name_attribute.clone(),
        }
    }
}

/// Serde for byte vectors as standard base64 strings.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apps_serialize_flat_with_their_kind() {
        let shell = App {
            id: "shell".into(),
            name: "Shell".into(),
            icon: None,
            kind: AppKind::Vm {
                pool: "shell".into(),
            },
            frame: true,
        };
        let v = serde_json::to_value(&shell).unwrap();
        assert_eq!(
            v,
            json!({"id":"shell","name":"Shell","icon":null,"kind":"vm","pool":"shell"})
        );
        let wiki: App = serde_json::from_value(
            json!({"id":"wiki","name":"Wiki","kind":"web","url":"https://wiki.example"}),
        )
        .unwrap();
        assert_eq!(
            wiki.kind,
            AppKind::Web {
                url: "https://wiki.example".into()
            }
        );
        for bad in [
            json!({"id":"x","name":"X","kind":"ftp"}),
            json!({"id":"x","name":"X","kind":"vm","poll":"p"}),
            json!({"id":"x","name":"X","kind":"vm","pool":"p","url":"https://x"}),
            json!({"id":"x","name":"X","kind":"web"}),
        ] {
            assert!(serde_json::from_value::<App>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_source_is_internally_tagged() {
        let s = serde_json::to_value(UserSource::Ldap {
            dn: "uid=a,dc=x".into(),
        })
        .unwrap();
        assert_eq!(s, json!({"type":"ldap","dn":"uid=a,dc=x"}));
        assert_eq!(
            serde_json::to_value(UserSource::Local).unwrap(),
            json!({"type":"local"})
        );
    }

    #[test]
    fn pictures_are_base64_in_json() {
        let p = Picture {
            content_type: "image/png".into(),
            data: vec![0, 1, 2, 255],
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["data"], "AAEC/w==");
        assert_eq!(serde_json::from_value::<Picture>(v).unwrap(), p);
    }

    #[test]
    fn requests_reject_unknown_fields_and_fill_defaults() {
        assert!(serde_json::from_value::<NewUser>(json!({"login":"a","root":true})).is_err());
        let u: NewUser = serde_json::from_value(json!({"login":"a"})).unwrap();
        assert!(u.profiles.is_empty() && !u.admin && u.password.is_none());
        assert!(serde_json::from_value::<UserPatch>(json!({"pasword":"x"})).is_err());
        let l: LdapInput = serde_json::from_value(json!({
            "url":"ldap://dir","bind_dn":"cn=svc","bind_password":"pw","base_dn":"dc=x"
        }))
        .unwrap();
        assert_eq!(l.user_filter, "(uid={username})");
        assert_eq!(l.group_attribute, "memberOf");
        assert_eq!(l.display_name_attribute, "cn");
        assert_eq!(l.timeout_ms, 5000);
        assert_eq!(l.tls, LdapTls::None);
        let t: LdapTls = serde_json::from_value(json!("start_tls")).unwrap();
        assert_eq!(t, LdapTls::StartTls);
    }

    #[test]
    fn the_user_view_has_no_hash() {
        let u = User {
            login: "a".into(),
            display_name: "A".into(),
            password_hash: Some("$argon2id$secret".into()),
            source: UserSource::Local,
            profiles: vec![],
            admin: false,
            disabled: false,
            created_at: 1,
        };
        let text = serde_json::to_string(&u.view()).unwrap();
        assert!(!text.contains("argon2"), "{text}");
        assert!(u.view().has_password);
    }

    #[test]
    fn default_branding_uses_the_tenant_name_or_falls_back() {
        assert_eq!(Branding::default_for("Acme Corp").product_name, "Acme Corp");
        assert_eq!(Branding::default_for("").product_name, "Opencloud");
        assert_eq!(Branding::default_for("a\u{7}b").product_name, "Opencloud");
    }
}
