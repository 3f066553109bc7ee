//! The node's own tenant-scoped records for sign-in: sessions, failed
//! attempts, captchas and last access. Keys are tenant-prefixed by the
//! table layer, so a record of one tenant is never found under another.

use opencloud_raft::table::{json_decode, json_encode, Scope, Table};
use opencloud_raft::Result;
use serde::{Deserialize, Serialize};

macro_rules! json_table {
    ($table:ident, $name:literal, $value:ty) => {
        pub struct $table;

        impl Table for $table {
            const NAME: &'static str = $name;
            const SCOPE: Scope = Scope::Tenant;
            type Value = $value;
            fn encode_value(v: &$value) -> Result<Vec<u8>> {
                json_encode(Self::NAME, v)
            }
            fn decode_value(b: &[u8]) -> Result<$value> {
                json_decode(Self::NAME, b)
            }
        }
    };
}

/// A signed-in browser. Kept under the SHA-256 of the cookie's secret, so
/// that a copy of the store opens no session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub login: String,
    /// Seconds since the Unix epoch, like every time here.
    pub created_at: u64,
    /// The absolute end, whatever the activity.
    pub expires_at: u64,
    /// The last sign of life (a request or a presence ping), written at
    /// most every `presence_write_every_s`.
    pub last_seen: u64,
}

json_table!(Sessions, "sessions", SessionRecord);

/// Failed sign-ins of one account (`a:<login>`) or from one address
/// (`i:<address>`), within the failure window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub first_at: u64,
    pub last_at: u64,
}

json_table!(LoginFailures, "login_failures", Failures);

/// A captcha's answer, until it is used once or expires.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaptchaRecord {
    /// Lower-cased.
    pub answer: String,
    pub expires_at: u64,
    /// The PNG the browser is shown.
    #[serde(with = "b64")]
    pub png: Vec<u8>,
}

json_table!(Captchas, "captchas", CaptchaRecord);

/// When a user last signed in or showed presence; kept apart from the user
/// record so that presence never rewrites it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Access {
    pub at: u64,
}

json_table!(LastAccess, "last_access", Access);

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}
