//! The platform records this node keeps in the replicated store.

use opencloud_raft::table::{json_decode, json_encode, Scope, Table};
use opencloud_raft::Result;
use serde::{Deserialize, Serialize};

/// A tenant: one company with its own desktop, users and apps.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tenant {
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

pub struct Tenants;

impl Table for Tenants {
    const NAME: &'static str = "tenants";
    const SCOPE: Scope = Scope::Platform;
    type Value = Tenant;
    fn encode_value(v: &Tenant) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<Tenant> {
        json_decode(Self::NAME, b)
    }
}

/// Operators' settings: opaque values under short keys.
pub struct OperatorKv;

impl Table for OperatorKv {
    const NAME: &'static str = "kv";
    const SCOPE: Scope = Scope::Platform;
    type Value = Vec<u8>;
    fn encode_value(v: &Vec<u8>) -> Result<Vec<u8>> {
        Ok(v.clone())
    }
    fn decode_value(b: &[u8]) -> Result<Vec<u8>> {
        Ok(b.to_vec())
    }
}

/// Platform secrets and settings, such as the operator token's hash.
pub struct System;

impl Table for System {
    const NAME: &'static str = "sys";
    const SCOPE: Scope = Scope::Platform;
    type Value = String;
    fn encode_value(v: &String) -> Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> Result<String> {
        json_decode(Self::NAME, b)
    }
}

/// Slugs name tenants in URLs and host names: lower-case letters, digits and
/// inner hyphens, 2 to 40 characters, and not a word the product uses itself.
pub fn check_slug(slug: &str) -> std::result::Result<(), String> {
    const RESERVED: &[&str] = &["api", "admin", "www", "static", "assets", "portal", "t"];
    if slug.len() < 2 || slug.len() > 40 {
        return Err("slug must be 2 to 40 characters long".into());
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("slug may contain only lower-case letters, digits and hyphens".into());
    }
    if slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        return Err("slug must not start or end with a hyphen, nor repeat one".into());
    }
    if RESERVED.contains(&slug) {
        return Err(format!("`{slug}` is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_slug;

    #[test]
    fn slugs() {
        assert!(check_slug("acme").is_ok());
        assert!(check_slug("acme-2").is_ok());
        for bad in [
            "a",
            "Acme",
            "ac me",
            "-acme",
            "acme-",
            "a--b",
            "api",
            "é",
            &"x".repeat(41),
        ] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
