//! The request types of the admin API. They reject unknown fields, so a
//! typo in an admin's request is an error instead of a silently ignored
//! setting, and become records only through [`crate::validate`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Colors, LdapTls};

/// `POST` body for a new local user.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub login: String,
    /// Without one the user exists but cannot sign in until an admin sets it.
    #[serde(default)]
    pub password: Option<String>,
    /// Defaults to the login.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub admin: bool,
}

/// `PATCH` body for a user: only the fields present change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub profiles: Option<Vec<String>>,
    #[serde(default)]
    pub admin: Option<bool>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `PUT` body for the branding. It replaces the whole record: a picture
/// left out is removed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingInput {
    pub product_name: String,
    pub colors: Colors,
    #[serde(default)]
    pub logo: Option<PictureInput>,
    #[serde(default)]
    pub wallpaper: Option<PictureInput>,
}

/// An uploaded picture, base64 in JSON.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PictureInput {
    pub content_type: String,
    pub data_base64: String,
}

impl std::fmt::Debug for PictureInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PictureInput")
            .field("content_type", &self.content_type)
            .field("base64_len", &self.data_base64.len())
            .finish()
    }
}

/// `PUT` body for the LDAP settings: [`LdapConfig`](super::LdapConfig) with defaults.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapInput {
    pub url: String,
    pub bind_dn: String,
    /// `None` keeps the password already stored, so that an admin can change
    /// other settings without typing the service password again.
    #[serde(default)]
    pub bind_password: Option<String>,
    pub base_dn: String,
    #[cfg_attr(feature = "openapi", schema(default = default_user_filter))]
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    #[cfg_attr(feature = "openapi", schema(default = default_group_attribute))]
    #[serde(default = "default_group_attribute")]
    pub group_attribute: String,
    #[serde(default)]
    pub group_profiles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub tls: LdapTls,
    #[serde(default)]
    pub ca_pem: Option<String>,
    #[cfg_attr(feature = "openapi", schema(default = default_timeout_ms))]
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[cfg_attr(feature = "openapi", schema(default = default_display_name_attribute))]
    #[serde(default = "default_display_name_attribute")]
    pub display_name_attribute: String,
}

fn default_user_filter() -> String {
    "(uid={username})".into()
}
fn default_group_attribute() -> String {
    "memberOf".into()
}
fn default_display_name_attribute() -> String {
    "cn".into()
}
fn default_timeout_ms() -> u64 {
    5000
}
