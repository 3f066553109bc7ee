//! Password hashing for local users: argon2id, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which carry their own
//! parameters so they can be raised later without invalidating old hashes.
//!
//! Hashing and verifying are CPU-heavy on purpose (tens of milliseconds and
//! `m_cost_kib` of memory each). Callers on an async runtime must run them in
//! `tokio::task::spawn_blocking`, or one sign-in would stall every other
//! request served by that worker thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory per hash, in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for HashParams {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        HashParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl HashParams {
    /// Cheap parameters so that tests creating many users stay fast. Never
    /// for production: they make offline guessing cheap too.
    pub fn fast_for_tests() -> Self {
        HashParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, None)
            .map_err(|e| Error::Hash(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Stored hashes above these costs are refused by [`verify`] rather than
/// computed: a hash string that asks for gigabytes would otherwise let
/// whoever wrote it exhaust the node's memory at every sign-in.
const MAX_VERIFY_M_COST_KIB: u32 = 1024 * 1024;
const MAX_VERIFY_T_COST: u32 = 64;
const MAX_VERIFY_P_COST: u32 = 16;

/// Hashes `password` with a fresh random salt; returns the PHC string.
pub fn hash(password: &str, params: &HashParams) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    params
        .argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash, another
/// algorithm than argon2id, or absurd costs give `false`, never a panic. The
/// comparison itself is constant-time (done by the `argon2` crate).
pub fn verify(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_M_COST_KIB
        || params.t_cost() > MAX_VERIFY_T_COST
        || params.p_cost() > MAX_VERIFY_P_COST
    {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of a [`verify`] against a hash made with the default
/// parameters, and returns nothing. A sign-in for an unknown login (or one
/// without a password) calls this instead of returning at once, so response
/// times do not tell which logins exist.
pub fn dummy_verify(password: &str) {
    // Verifying is one argon2 computation with the stored parameters, so one
    // computation with the default parameters costs the same. The salt is
    // fixed because nothing is kept.
    let Ok(a) = HashParams::default().argon2() else {
        return;
    };
    let mut out = [0u8; 32];
    let _ = a.hash_password_into(password.as_bytes(), b"opencloud-dummy-salt", &mut out);
    std::hint::black_box(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse", &HashParams::fast_for_tests()).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horsf"));
        assert!(!verify(&h, ""));
        // Salts are random: the same password never gives the same string.
        assert_ne!(
            h,
            hash("correct horse", &HashParams::fast_for_tests()).unwrap()
        );
    }

    #[test]
    fn default_parameters_are_owasps() {
        let h = hash("pw", &HashParams::default()).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "pw"));
    }

    #[test]
    fn malformed_or_hostile_hashes_are_false() {
        let good = hash("pw", &HashParams::fast_for_tests()).unwrap();
        let argon2i = good.replacen("argon2id", "argon2i", 1);
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let slow = "$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        for bad in [
            "",
            "x",
            "$",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$argon2id$v=19$m=0,t=0,p=0$c2FsdHNhbHQ$aGFzaA",
            "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
            huge,
            slow,
            &argon2i,
            &good[..good.len() - 3],
            &format!("{good}\u{0}"),
            "\u{feff}$argon2id$v=19",
        ] {
            assert!(!verify(bad, "pw"), "{bad}");
        }
    }

    #[test]
    fn bad_parameters_are_an_error_not_a_panic() {
        let p = HashParams {
            m_cost_kib: 1,
            t_cost: 0,
            p_cost: 0,
        };
        assert!(matches!(hash("pw", &p), Err(Error::Hash(_))));
    }

    #[test]
    fn dummy_verify_costs_about_what_verify_costs() {
        let h = hash("pw", &HashParams::default()).unwrap();
        // Warm up, then interleave the two so that a build starting on the
        // machine in the middle slows both alike.
        dummy_verify("pw");
        let (mut real, mut dummy) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for _ in 0..4 {
            let t = Instant::now();
            verify(&h, "wrong");
            real += t.elapsed();
            let t = Instant::now();
            dummy_verify("wrong");
            dummy += t.elapsed();
        }
        // Generous bounds: this checks that the dummy does real work of the
        // same size, not a precise timing, on a machine shared with builds.
        assert!(
            dummy * 3 > real && dummy < real * 3,
            "verify {real:?}, dummy {dummy:?}"
        );
    }
}
