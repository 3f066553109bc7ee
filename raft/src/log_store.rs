//! The Raft log and vote on sled.
//!
//! Durability is the whole point of this file: openraft must not count an
//! entry or a vote before it is on disk, or a crash can make a node forget a
//! vote (two leaders in one term) or an acknowledged write. sled only makes
//! writes durable on `flush`, so every mutation here ends in a flush before
//! it is reported complete.
//!
//! Appends are group-committed: `append` writes the entries and hands the
//! completion callback to a flusher task, which drains every callback that is
//! waiting, flushes once and then completes them all. Under load one fsync
//! covers many appends, which is what makes a fsync-bound store fast.

use std::fmt::Debug;
use std::ops::RangeBounds;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};
use std::sync::mpsc;

use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last_purged";
const COMMITTED: &[u8] = b"committed";

/// The log, vote and purge marker of one node.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    flusher: mpsc::Sender<LogFlushed<TypeConfig>>,
}

fn io_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(ErrorSubject::Logs, verb, AnyError::new(&e)),
    }
}

fn vote_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(ErrorSubject::Vote, verb, AnyError::new(&e)),
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// Opens the log trees of `db` and starts the group-commit flusher.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let log = db.open_tree("raft_log")?;
        let meta = db.open_tree("raft_meta")?;
        let (tx, rx) = mpsc::channel();
        let flushing = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher(flushing, rx))?;
        Ok(LogStore {
            db: db.clone(),
            log,
            meta,
            flusher: tx,
        })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let Some(raw) = self.meta.get(key).map_err(|e| io_err(ErrorVerb::Read, e))? else {
            return Ok(None);
        };
        crate::codec::decode(&raw)
            .map(Some)
            .map_err(|e| io_err(ErrorVerb::Read, e))
    }

    fn write_meta<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let raw = crate::codec::encode(value).map_err(|e| io_err(ErrorVerb::Write, e))?;
        self.meta
            .insert(key, raw)
            .map_err(|e| io_err(ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.db
            .flush_async()
            .await
            .map_err(|e| io_err(ErrorVerb::Write, e))?;
        Ok(())
    }

    /// Removes the entries whose keys fall in `range`, in one batch.
    fn remove_range<R: RangeBounds<[u8; 8]>>(&self, range: R) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (key, _) = item.map_err(|e| io_err(ErrorVerb::Delete, e))?;
            batch.remove(key);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorVerb::Delete, e))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let Some((_, raw)) = self.log.last().map_err(|e| io_err(ErrorVerb::Read, e))? else {
            return Ok(None);
        };
        let entry: Entry = crate::codec::decode(&raw).map_err(|e| io_err(ErrorVerb::Read, e))?;
        Ok(Some(entry.log_id))
    }
}

/// Flushes once for every batch of waiting appends, then completes them.
///
/// A dedicated thread that blocks in `flush` keeps the fsync off the async
/// workers, and while it flushes the next appends queue up, so one fsync
/// covers all of them.
fn flusher(db: sled::Db, rx: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        batch.extend(rx.try_iter());
        let result = db.flush().map(|_| ());
        for callback in batch.drain(..) {
            let outcome = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            callback.log_io_completed(outcome);
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self.log.range(index_key(start)..) {
            let (key, raw) = item.map_err(|e| io_err(ErrorVerb::Read, e))?;
            let index = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| io_err(ErrorVerb::Read, std::io::Error::other("bad log key")))?,
            );
            if !range.contains(&index) {
                break;
            }
            out.push(crate::codec::decode(&raw).map_err(|e| io_err(ErrorVerb::Read, e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let raw = crate::codec::encode(vote).map_err(|e| vote_err(ErrorVerb::Write, e))?;
        self.meta
            .insert(VOTE, raw)
            .map_err(|e| vote_err(ErrorVerb::Write, e))?;
        // A vote that is not on disk can be cast twice after a crash.
        self.db
            .flush_async()
            .await
            .map_err(|e| vote_err(ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let Some(raw) = self
            .meta
            .get(VOTE)
            .map_err(|e| vote_err(ErrorVerb::Read, e))?
        else {
            return Ok(None);
        };
        crate::codec::decode(&raw)
            .map(Some)
            .map_err(|e| vote_err(ErrorVerb::Read, e))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not needed for safety; it lets a restarted node re-apply up to the
        // last known commit without waiting for the leader. The next flush
        // makes it durable.
        self.write_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let raw = crate::codec::encode(&entry).map_err(|e| io_err(ErrorVerb::Write, e))?;
            batch.insert(&index_key(entry.log_id.index), raw);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorVerb::Write, e))?;
        // The flusher completes the callback only after the data is durable.
        if let Err(mpsc::SendError(callback)) = self.flusher.send(callback) {
            let flushed = self.db.flush_async().await.map(|_| ());
            callback.log_io_completed(flushed.map_err(|e| std::io::Error::other(e.to_string())));
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range(index_key(log_id.index)..)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: if we crash half-way, the log state
        // still reports a consistent (if slightly stale) first index.
        self.write_meta(LAST_PURGED, &log_id)?;
        self.remove_range(..=index_key(log_id.index))?;
        self.flush().await
    }
}
