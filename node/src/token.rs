//! The operator's bearer token. Only its SHA-256 is kept (in memory when it
//! comes from the environment, in the store when it was generated), so a copy
//! of the data dir does not hand out operator access.

use std::sync::Arc;

use opencloud_raft::table::{open, platform_key, seal};
use opencloud_raft::{Command, Outcome, Proposal, Query, QueryResult, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use crate::records::System;

const TOKEN_KEY: &str = "operator_token_sha256";

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks bearer tokens against the operator token's hash.
pub struct OperatorAuth {
    hash: OnceCell<[u8; 32]>,
}

impl OperatorAuth {
    pub fn new() -> Arc<Self> {
        Arc::new(OperatorAuth {
            hash: OnceCell::new(),
        })
    }

    /// `None` while the token is not set up yet (no quorum at start).
    pub fn check(&self, presented: &str) -> Option<bool> {
        let want = self.hash.get()?;
        Some(bool::from(hash(presented).ct_eq(want)))
    }

    /// Sets the token up: from the environment, from the store, or by
    /// generating one. Returns a freshly generated token, to be printed once.
    pub async fn set_up(
        &self,
        store: &Store,
        from_env: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        if let Some(token) = from_env {
            let _ = self.hash.set(hash(token));
            return Ok(None);
        }
        let key = platform_key::<System>(TOKEN_KEY);
        loop {
            if let QueryResult::Value(Some(v)) = store.read(Query::Get { key: key.clone() }).await?
            {
                let stored = open::<System>(&v)?;
                let bytes = hex::decode(stored)?;
                let arr: [u8; 32] = bytes.try_into().map_err(|_| {
                    anyhow::anyhow!("stored operator token hash has the wrong length")
                })?;
                let _ = self.hash.set(arr);
                return Ok(None);
            }
            let mut raw = [0u8; 24];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = hex::encode(raw);
            let value = seal::<System>(&hex::encode(hash(&token)))?;
            let proposal = Proposal {
                request_id: format!("operator-token-{}", hex::encode(&raw[..8])),
                command: Command::Insert {
                    key: key.clone(),
                    value,
                },
            };
            if store.write(proposal).await? == Outcome::Done {
                let _ = self.hash.set(hash(&token));
                return Ok(Some(token));
            }
            // Another node generated one first: read theirs.
        }
    }
}
