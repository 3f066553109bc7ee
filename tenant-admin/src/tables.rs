//! The tenant's tables in the replicated store.
//!
//! All of them are [`Scope::Tenant`]: the table layer
//! ([`opencloud_raft::table::tenant_key`]) puts the tenant id in front of
//! every key, `t/<tenant>/<table>/<key>`, so the keys below are relative to
//! one tenant and a scan can never cross into another tenant's records.
//! Values are JSON, version 1; a change of encoding bumps `VERSION` and
//! teaches `upgrade` the old one.

use opencloud_raft::table::{json_decode, json_encode, Scope, Table};
use opencloud_raft::Result;

use crate::model::{App, Branding, LdapConfig, Profile, User};

/// The key of the tenant's only [`BrandingTable`] record.
pub const BRANDING_KEY: &str = "branding";
/// The key of the tenant's only [`LdapTable`] record.
pub const LDAP_KEY: &str = "ldap";

/// Users, keyed by their lower-case login (see [`crate::validate::login`]).
/// The key is tenant-prefixed by the table layer.
pub struct Users;

impl Table for Users {
    const NAME: &'static str = "users";
    const SCOPE: Scope = Scope::Tenant;
    const VERSION: u16 = 1;
    type Value = User;
    fn encode_value(v: &User) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<User> {
        json_decode(Self::NAME, b)
    }
}

/// Profiles, keyed by id. The key is tenant-prefixed by the table layer.
pub struct Profiles;

impl Table for Profiles {
    const NAME: &'static str = "profiles";
    const SCOPE: Scope = Scope::Tenant;
    const VERSION: u16 = 1;
    type Value = Profile;
    fn encode_value(v: &Profile) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<Profile> {
        json_decode(Self::NAME, b)
    }
}

/// Apps, keyed by id. The key is tenant-prefixed by the table layer.
pub struct Apps;

impl Table for Apps {
    const NAME: &'static str = "apps";
    const SCOPE: Scope = Scope::Tenant;
    const VERSION: u16 = 1;
    type Value = App;
    fn encode_value(v: &App) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<App> {
        json_decode(Self::NAME, b)
    }
}

/// The tenant's branding: one record under [`BRANDING_KEY`], tenant-prefixed
/// by the table layer. A tenant without one gets
/// [`Branding::default_for`] its name.
pub struct BrandingTable;

impl Table for BrandingTable {
    const NAME: &'static str = "branding";
    const SCOPE: Scope = Scope::Tenant;
    const VERSION: u16 = 1;
    type Value = Branding;
    fn encode_value(v: &Branding) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<Branding> {
        json_decode(Self::NAME, b)
    }
}

/// The tenant's LDAP settings: one record under [`LDAP_KEY`], tenant-prefixed
/// by the table layer. No record means local accounts only.
pub struct LdapTable;

impl Table for LdapTable {
    const NAME: &'static str = "ldap";
    const SCOPE: Scope = Scope::Tenant;
    const VERSION: u16 = 1;
    type Value = LdapConfig;
    fn encode_value(v: &LdapConfig) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<LdapConfig> {
        json_decode(Self::NAME, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use opencloud_raft::table::{open, seal, tenant_area, tenant_key};
    use std::collections::BTreeMap;

    #[test]
    fn records_round_trip_through_their_tables() {
        let user = User {
            login: "alice".into(),
            display_name: "Alice".into(),
            password_hash: None,
            source: UserSource::Ldap {
                dn: "uid=alice,dc=example,dc=org".into(),
            },
            profiles: vec!["staff".into()],
            admin: true,
            disabled: false,
            created_at: 42,
        };
        assert_eq!(open::<Users>(&seal::<Users>(&user).unwrap()).unwrap(), user);
        let app = App {
            id: "wiki".into(),
            name: "Wiki".into(),
            icon: Some("book".into()),
            kind: AppKind::Web {
                url: "https://wiki.example/".into(),
            },
            frame: true,
        };
        assert_eq!(open::<Apps>(&seal::<Apps>(&app).unwrap()).unwrap(), app);
        let profile = Profile {
            id: "staff".into(),
            name: "Staff".into(),
            apps: vec!["wiki".into()],
        };
        assert_eq!(
            open::<Profiles>(&seal::<Profiles>(&profile).unwrap()).unwrap(),
            profile
        );
        let mut b = Branding::default_for("Acme");
        b.logo = Some(Picture {
            content_type: "image/png".into(),
            data: b"\x89PNG\r\n\x1a\nrest".to_vec(),
        });
        assert_eq!(
            open::<BrandingTable>(&seal::<BrandingTable>(&b).unwrap()).unwrap(),
            b
        );
        let l = LdapConfig {
            url: "ldap://dir".into(),
            bind_dn: "cn=svc".into(),
            bind_password: "pw".into(),
            base_dn: "dc=x".into(),
            user_filter: "(uid={username})".into(),
            group_attribute: "memberOf".into(),
            group_profiles: BTreeMap::from([("cn=g".into(), vec!["staff".into()])]),
            tls: LdapTls::StartTls,
            ca_pem: None,
            timeout_ms: 5000,
            display_name_attribute: "cn".into(),
        };
        assert_eq!(
            open::<LdapTable>(&seal::<LdapTable>(&l).unwrap()).unwrap(),
            l
        );
    }

    #[test]
    fn keys_are_tenant_scoped_and_corrupt_values_are_errors() {
        let k = tenant_key::<Users>("acme", "alice");
        assert_eq!(k, b"t/acme/users/alice");
        assert!(k.starts_with(&tenant_area("acme")));
        assert_eq!(
            tenant_key::<LdapTable>("acme", LDAP_KEY),
            b"t/acme/ldap/ldap"
        );
        let mut bad = 1u16.to_be_bytes().to_vec();
        bad.extend_from_slice(b"{\"login\":");
        assert!(open::<Users>(&bad).is_err());
    }
}
