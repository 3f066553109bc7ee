//! Typed tables over the store's byte keys.
//!
//! Key layout (the invariant every table keeps):
//! - platform records: `p/<table>/<key>`;
//! - tenant data: `t/<tenant id>/<table>/<key>` — the tenant id always comes
//!   first, so a scan can never cross tenants and a tenant's data is one
//!   contiguous range.
//!
//! Values are stored as a 2-byte big-endian version followed by the encoded
//! value. Reading a value written by an older version goes through
//! [`Table::upgrade`], so records upgrade on read and no migration has to stop
//! the cluster.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Where a table's keys live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Records of the platform itself (tenants, operator settings).
    Platform,
    /// Records that belong to one tenant; every key carries its id.
    Tenant,
}

/// A table of typed records.
pub trait Table {
    /// Short stable name; part of every key. Never reuse or rename one.
    const NAME: &'static str;
    const SCOPE: Scope;
    /// The version written now. Bump it when the value's encoding changes,
    /// and teach [`Table::upgrade`] the old one.
    const VERSION: u16 = 1;
    type Value;

    fn encode_value(value: &Self::Value) -> Result<Vec<u8>>;
    fn decode_value(bytes: &[u8]) -> Result<Self::Value>;

    /// Turns a value stored with an older `version` into the current type.
    fn upgrade(version: u16, _bytes: &[u8]) -> Result<Self::Value> {
        Err(Error::Corrupt {
            table: Self::NAME,
            reason: format!("unknown record version {version}"),
        })
    }
}

/// Encodes a value with serde_json: readable in dumps, and tolerant of added
/// optional fields. Tables of structured records use this.
pub fn json_encode<T: Serialize>(table: &'static str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Corrupt {
        table,
        reason: e.to_string(),
    })
}

pub fn json_decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        table,
        reason: e.to_string(),
    })
}

/// The byte key of `key` in platform table `T`.
pub fn platform_key<T: Table>(key: &str) -> Vec<u8> {
    debug_assert_eq!(T::SCOPE, Scope::Platform);
    format!("p/{}/{}", T::NAME, key).into_bytes()
}

/// The prefix of all keys of platform table `T`.
pub fn platform_prefix<T: Table>() -> Vec<u8> {
    format!("p/{}/", T::NAME).into_bytes()
}

/// The byte key of `key` in tenant table `T` for `tenant`.
pub fn tenant_key<T: Table>(tenant: &str, key: &str) -> Vec<u8> {
    debug_assert_eq!(T::SCOPE, Scope::Tenant);
    format!("t/{tenant}/{}/{}", T::NAME, key).into_bytes()
}

/// The prefix of all keys of tenant table `T` for `tenant`. It ends with a
/// separator so that tenant `acme` never matches tenant `acme2`.
pub fn tenant_prefix<T: Table>(tenant: &str) -> Vec<u8> {
    format!("t/{tenant}/{}/", T::NAME).into_bytes()
}

/// Prefix of every record of one tenant, for deleting a tenant's data.
pub fn tenant_area(tenant: &str) -> Vec<u8> {
    format!("t/{tenant}/").into_bytes()
}

/// Wraps an encoded value with its version.
pub fn seal<T: Table>(value: &T::Value) -> Result<Vec<u8>> {
    let body = T::encode_value(value)?;
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(&T::VERSION.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads a stored value, upgrading older versions.
pub fn open<T: Table>(stored: &[u8]) -> Result<T::Value> {
    let (Some(hi), Some(lo)) = (stored.first(), stored.get(1)) else {
        return Err(Error::Corrupt {
            table: T::NAME,
            reason: "record shorter than its version".into(),
        });
    };
    let version = u16::from_be_bytes([*hi, *lo]);
    let body = stored.get(2..).unwrap_or_default();
    if version == T::VERSION {
        T::decode_value(body)
    } else {
        T::upgrade(version, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Notes;
    impl Table for Notes {
        const NAME: &'static str = "notes";
        const SCOPE: Scope = Scope::Tenant;
        const VERSION: u16 = 2;
        type Value = (String, u32);
        fn encode_value(v: &Self::Value) -> Result<Vec<u8>> {
            json_encode(Self::NAME, v)
        }
        fn decode_value(b: &[u8]) -> Result<Self::Value> {
            json_decode(Self::NAME, b)
        }
        fn upgrade(version: u16, b: &[u8]) -> Result<Self::Value> {
            match version {
                1 => Ok((json_decode(Self::NAME, b)?, 0)),
                v => Err(Error::Corrupt {
                    table: Self::NAME,
                    reason: format!("version {v}"),
                }),
            }
        }
    }

    #[test]
    fn values_round_trip_and_old_versions_upgrade() {
        let sealed = seal::<Notes>(&("hi".into(), 7)).unwrap();
        assert_eq!(open::<Notes>(&sealed).unwrap(), ("hi".to_string(), 7));
        let mut v1 = 1u16.to_be_bytes().to_vec();
        v1.extend_from_slice(b"\"old\"");
        assert_eq!(open::<Notes>(&v1).unwrap(), ("old".to_string(), 0));
        assert!(open::<Notes>(&[0]).is_err());
        let mut v9 = 9u16.to_be_bytes().to_vec();
        v9.extend_from_slice(b"{}");
        assert!(open::<Notes>(&v9).is_err());
    }

    #[test]
    fn tenant_keys_start_with_the_tenant_and_never_overlap() {
        let k = tenant_key::<Notes>("acme", "x");
        assert!(k.starts_with(&tenant_area("acme")));
        assert!(!k.starts_with(&tenant_prefix::<Notes>("acm")));
        assert!(!tenant_key::<Notes>("acme2", "x").starts_with(&tenant_area("acme")));
    }
}
