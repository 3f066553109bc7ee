//! Typed reads and writes of store tables for the node's features.
//!
//! [`TenantDb`] is the only way the tenant-facing code reaches the store: it
//! is bound to one tenant and forms every key under that tenant's prefix
//! (`t/<tenant>/<table>/...`), so no handler can read or change another
//! tenant's records by building a key of its own.

use std::sync::Arc;

use opencloud_raft::table::{
    open, platform_key, platform_prefix, seal, tenant_key, tenant_prefix, Table,
};
use opencloud_raft::{Command, Outcome, Proposal, Query, QueryResult, Store};

use crate::http::{AppError, AppResult};

/// A fresh request id for a write the node makes on its own behalf.
pub fn fresh_request_id() -> String {
    format!("n:{}", crate::viewer::random_hex(16))
}

/// Up to `limit` records of table `T` under `prefix`, keyed by the rest of
/// their keys, read linearizably.
async fn scan<T: Table>(
    store: &Store,
    prefix: Vec<u8>,
    limit: usize,
) -> AppResult<Vec<(String, T::Value)>> {
    let answer = store.read(scan_query(&prefix, limit)).await?;
    decode_pairs::<T>(&prefix, answer)
}

/// The same from this node's own copy, without asking the leader: it may
/// trail the cluster by the time replication takes. Only for jobs whose
/// every write is a compare-and-swap on what they read, so that acting on
/// a stale record changes nothing.
fn scan_local<T: Table>(
    store: &Store,
    prefix: Vec<u8>,
    limit: usize,
) -> AppResult<Vec<(String, T::Value)>> {
    decode_pairs::<T>(&prefix, store.query_tree(&scan_query(&prefix, limit))?)
}

fn scan_query(prefix: &[u8], limit: usize) -> Query {
    Query::Scan {
        prefix: prefix.to_vec(),
        limit,
    }
}

/// A scan's answer as records of table `T`, keyed by what follows `prefix`.
fn decode_pairs<T: Table>(
    prefix: &[u8],
    answer: QueryResult,
) -> AppResult<Vec<(String, T::Value)>> {
    let QueryResult::Pairs(pairs) = answer else {
        return Err(AppError::Internal("get answer to a scan".into()));
    };
    pairs
        .into_iter()
        .map(|(k, v)| {
            let key = String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default());
            Ok((key.into_owned(), open::<T>(&v)?))
        })
        .collect()
}

/// One tenant's view of the store.
#[derive(Clone)]
pub struct TenantDb {
    store: Arc<Store>,
    tenant: String,
}

impl TenantDb {
    pub fn new(store: Arc<Store>, tenant: &str) -> TenantDb {
        TenantDb {
            store,
            tenant: tenant.to_string(),
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    async fn get_raw<T: Table>(&self, key: &str) -> AppResult<Option<Vec<u8>>> {
        let key = tenant_key::<T>(&self.tenant, key);
        match self.store.read(Query::Get { key }).await? {
            QueryResult::Value(v) => Ok(v),
            QueryResult::Pairs(_) => Err(AppError::Internal("scan answer to a get".into())),
        }
    }

    /// The record `key` of table `T`, read linearizably.
    pub async fn get<T: Table>(&self, key: &str) -> AppResult<Option<T::Value>> {
        match self.get_raw::<T>(key).await? {
            Some(v) => Ok(Some(open::<T>(&v)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` records of table `T` in key order, with their keys.
    pub async fn list<T: Table>(&self, limit: usize) -> AppResult<Vec<(String, T::Value)>> {
        scan::<T>(&self.store, tenant_prefix::<T>(&self.tenant), limit).await
    }

    /// [`TenantDb::list`] from this node's copy (see [`scan_local`]).
    pub fn list_local<T: Table>(&self, limit: usize) -> AppResult<Vec<(String, T::Value)>> {
        scan_local::<T>(&self.store, tenant_prefix::<T>(&self.tenant), limit)
    }

    async fn write(&self, request_id: String, command: Command) -> AppResult<Outcome> {
        Ok(self
            .store
            .write(Proposal {
                request_id,
                command,
            })
            .await?)
    }

    /// Stores `value` under `key` if there is no such record; false if
    /// there was.
    pub async fn insert<T: Table>(
        &self,
        key: &str,
        value: &T::Value,
        request_id: String,
    ) -> AppResult<bool> {
        let command = Command::Insert {
            key: tenant_key::<T>(&self.tenant, key),
            value: seal::<T>(value)?,
        };
        match self.write(request_id, command).await? {
            Outcome::Done => Ok(true),
            Outcome::Exists => Ok(false),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Stores `value` under `key`, whatever was there.
    pub async fn put<T: Table>(
        &self,
        key: &str,
        value: &T::Value,
        request_id: String,
    ) -> AppResult<()> {
        let command = Command::Put {
            key: tenant_key::<T>(&self.tenant, key),
            value: seal::<T>(value)?,
        };
        match self.write(request_id, command).await? {
            Outcome::Done => Ok(()),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Removes `key`; false if there was no such record.
    pub async fn delete<T: Table>(&self, key: &str, request_id: String) -> AppResult<bool> {
        let command = Command::Delete {
            key: tenant_key::<T>(&self.tenant, key),
        };
        match self.write(request_id, command).await? {
            Outcome::Done => Ok(true),
            Outcome::NotFound => Ok(false),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Read-modify-write of one record: `f` gets the current value (or
    /// `None`) and returns the new one (or `None` to remove it), or an error
    /// to give up. Retried on a concurrent change, a few times. The swap
    /// compares the stored bytes, so a record an older version wrote (and
    /// that upgrades on read) is replaced as well.
    pub async fn update<T, F>(&self, key: &str, mut f: F) -> AppResult<Option<T::Value>>
    where
        T: Table,
        F: FnMut(Option<T::Value>) -> AppResult<Option<T::Value>>,
    {
        let mut raw = self.get_raw::<T>(key).await?;
        for _ in 0..8 {
            let current = raw.as_deref().map(open::<T>).transpose()?;
            let new = f(current)?;
            let command = Command::CompareAndSwap {
                key: tenant_key::<T>(&self.tenant, key),
                expected: raw.clone(),
                new: new.as_ref().map(seal::<T>).transpose()?,
            };
            match self.write(fresh_request_id(), command).await? {
                Outcome::Done => return Ok(new),
                Outcome::Conflict { current } => raw = current,
                other => return Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
            }
        }
        Err(AppError::Unavailable(
            "the record keeps changing under this request; retry".into(),
        ))
    }
}

/// The platform's tables (tenants, images, node beats): for the node's own
/// jobs and the operator API, never for tenant-facing handlers.
#[derive(Clone)]
pub struct PlatformDb {
    store: Arc<Store>,
}

impl PlatformDb {
    pub fn new(store: Arc<Store>) -> PlatformDb {
        PlatformDb { store }
    }

    /// The record `key` of table `T`, read linearizably.
    pub async fn get<T: Table>(&self, key: &str) -> AppResult<Option<T::Value>> {
        let key = platform_key::<T>(key);
        match self.store.read(Query::Get { key }).await? {
            QueryResult::Value(Some(v)) => Ok(Some(open::<T>(&v)?)),
            QueryResult::Value(None) => Ok(None),
            QueryResult::Pairs(_) => Err(AppError::Internal("scan answer to a get".into())),
        }
    }

    /// Up to `limit` records of table `T` in key order, with their keys.
    pub async fn list<T: Table>(&self, limit: usize) -> AppResult<Vec<(String, T::Value)>> {
        scan::<T>(&self.store, platform_prefix::<T>(), limit).await
    }

    /// [`PlatformDb::list`] from this node's copy (see [`scan_local`]).
    pub fn list_local<T: Table>(&self, limit: usize) -> AppResult<Vec<(String, T::Value)>> {
        scan_local::<T>(&self.store, platform_prefix::<T>(), limit)
    }

    async fn write(&self, command: Command) -> AppResult<Outcome> {
        self.write_as(fresh_request_id(), command).await
    }

    async fn write_as(&self, request_id: String, command: Command) -> AppResult<Outcome> {
        Ok(self
            .store
            .write(Proposal {
                request_id,
                command,
            })
            .await?)
    }

    /// Stores `value` under `key` if there is no such record; false if
    /// there was. A retry with the same request id replays the first answer.
    pub async fn insert<T: Table>(
        &self,
        key: &str,
        value: &T::Value,
        request_id: String,
    ) -> AppResult<bool> {
        let command = Command::Insert {
            key: platform_key::<T>(key),
            value: seal::<T>(value)?,
        };
        match self.write_as(request_id, command).await? {
            Outcome::Done => Ok(true),
            Outcome::Exists => Ok(false),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Stores `value` under `key`, whatever was there.
    pub async fn put<T: Table>(&self, key: &str, value: &T::Value) -> AppResult<()> {
        let command = Command::Put {
            key: platform_key::<T>(key),
            value: seal::<T>(value)?,
        };
        match self.write(command).await? {
            Outcome::Done => Ok(()),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Removes `key`; false if there was no such record.
    pub async fn delete<T: Table>(&self, key: &str) -> AppResult<bool> {
        let command = Command::Delete {
            key: platform_key::<T>(key),
        };
        match self.write(command).await? {
            Outcome::Done => Ok(true),
            Outcome::NotFound => Ok(false),
            other => Err(AppError::Internal(format!("unexpected outcome {other:?}"))),
        }
    }
}
