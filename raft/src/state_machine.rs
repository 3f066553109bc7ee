//! The replicated state machine on sled, and its snapshots.
//!
//! All state lives in one sled tree so that a batch of applied entries, the
//! new `last_applied` and the membership land atomically. Key prefixes:
//! - `d` + table key: user data (see [`crate::table`]);
//! - `r` + request id: the outcome of an applied request (idempotency);
//! - `i` + index + request id: the same, ordered by log index, for pruning;
//! - `m` + name: applied log id and membership.
//!
//! The state machine is not flushed after every apply: the log is durable, and
//! on restart openraft re-applies what sled lost. Snapshots are written to a
//! file (write, fsync, rename) before the tree is replaced, and on start a
//! snapshot newer than the tree is installed again, so a crash half-way through
//! an install cannot lose data. The file only ever moves forward: a build that
//! finishes after a newer install leaves it be (see [`SnapshotFile`]).

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StorageIOError,
};
use serde::{Deserialize, Serialize};

use crate::types::{
    Command, Entry, LogId, Outcome, Proposal, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};

const APPLIED: &[u8] = b"mapplied";
const MEMBERSHIP: &[u8] = b"mmembership";
/// How many log entries a request id is remembered for. A client retry
/// arrives within seconds; this covers far more than that at any rate the
/// store can sustain.
pub const DEDUPE_WINDOW: u64 = 100_000;
const SNAPSHOT_FORMAT: u32 = 1;

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(ErrorSubject::StateMachine, verb, AnyError::new(&e)),
    }
}

fn snap_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(ErrorSubject::Snapshot(None), verb, AnyError::new(&e)),
    }
}

/// Prefixes a table key for the data area of the tree.
pub(crate) fn data_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(b'd');
    k.extend_from_slice(key);
    k
}

fn request_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 1);
    k.push(b'r');
    k.extend_from_slice(id.as_bytes());
    k
}

/// A request id may end with `#` and a fingerprint of the request it was
/// sent with (the node adds one for client-chosen ids): the id is what
/// identifies retries, the fingerprint tells a retry from a different
/// request that reuses the id.
fn split_request_id(request_id: &str) -> (&str, Option<&str>) {
    match request_id.rsplit_once('#') {
        Some((id, print)) => (id, Some(print)),
        None => (request_id, None),
    }
}

fn request_index_key(index: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 9);
    k.push(b'i');
    k.extend_from_slice(&index.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The body of a snapshot: every pair of the tree except the `m` area, whose
/// content travels in the snapshot's metadata instead.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    format: u32,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A snapshot as kept on disk.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The state machine of one node.
pub struct StateMachine {
    tree: sled::Tree,
    snapshot_file: SnapshotFile,
    snapshot_counter: u64,
}

/// The snapshot file, written by the state machine task (installs) and by
/// builder tasks that run beside it. A build captures the state when it
/// starts; an install that lands while it serialises is newer, and openraft
/// purges the log up to it. The file must never go back to the older build,
/// or a restart finds logs purged beyond its snapshot and cannot start.
#[derive(Clone)]
struct SnapshotFile {
    path: PathBuf,
    /// The last log id of the snapshot in the file, under the lock that
    /// serialises writing it.
    last: Arc<Mutex<Option<LogId>>>,
}

impl SnapshotFile {
    fn read(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let raw = match std::fs::read(&self.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(snap_err(ErrorVerb::Read, e)),
        };
        crate::codec::decode(&raw)
            .map(Some)
            .map_err(|e| snap_err(ErrorVerb::Read, e))
    }

    /// Makes `stored` the snapshot on disk unless the file already holds a
    /// newer one; says whether it did.
    fn write(&self, stored: &StoredSnapshot) -> Result<bool, StorageError> {
        let raw = crate::codec::encode(stored).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if stored.meta.last_log_id < *last {
            return Ok(false);
        }
        write_durably(&self.path, &raw).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        *last = stored.meta.last_log_id;
        Ok(true)
    }
}

impl StateMachine {
    /// Opens the state machine in `db`, keeping snapshots under `dir`.
    pub fn open(db: &sled::Db, dir: &Path) -> Result<Self, StorageError> {
        let tree = db
            .open_tree("state")
            .map_err(|e| sm_err(ErrorVerb::Read, e))?;
        let mut sm = StateMachine {
            tree,
            snapshot_file: SnapshotFile {
                path: dir.join("snapshot.bin"),
                last: Arc::new(Mutex::new(None)),
            },
            snapshot_counter: 0,
        };
        let stored = sm.snapshot_file.read()?;
        *sm.snapshot_file
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = stored.as_ref().and_then(|s| s.meta.last_log_id);
        // Finish an install that a crash interrupted.
        if let Some(stored) = stored {
            let (applied, _) = sm.read_applied()?;
            if stored.meta.last_log_id > applied {
                tracing::warn!(
                    "re-installing snapshot {} after an interrupted install",
                    stored.meta.snapshot_id
                );
                sm.replace_tree(&stored.meta, &stored.data)?;
            }
        }
        Ok(sm)
    }

    /// A handle on the tree for linearizable reads done outside the state
    /// machine task.
    pub fn tree(&self) -> sled::Tree {
        self.tree.clone()
    }

    fn read_applied(&self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = match self
            .tree
            .get(APPLIED)
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
        {
            Some(raw) => crate::codec::decode(&raw).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => None,
        };
        let membership = match self
            .tree
            .get(MEMBERSHIP)
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
        {
            Some(raw) => crate::codec::decode(&raw).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    fn write_stored_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.to_vec(),
        };
        if !self.snapshot_file.write(&stored)? {
            // openraft installs only snapshots newer than what it applied,
            // and builds capture no more than that: this cannot happen.
            return Err(snap_err(
                ErrorVerb::Write,
                std::io::Error::other(format!(
                    "snapshot {} is older than the one on disk",
                    meta.snapshot_id
                )),
            ));
        }
        Ok(())
    }

    /// Replaces the whole tree with a snapshot's content and makes it durable.
    fn replace_tree(&mut self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let body: SnapshotBody =
            crate::codec::decode(data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        if body.format != SNAPSHOT_FORMAT {
            return Err(snap_err(
                ErrorVerb::Read,
                std::io::Error::other(format!("unknown snapshot format {}", body.format)),
            ));
        }
        self.tree.clear().map_err(|e| sm_err(ErrorVerb::Write, e))?;
        let mut batch = sled::Batch::default();
        for (k, v) in body.pairs {
            batch.insert(k, v);
        }
        let applied =
            crate::codec::encode(&meta.last_log_id).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        let membership =
            crate::codec::encode(&meta.last_membership).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        batch.insert(APPLIED, applied);
        batch.insert(MEMBERSHIP, membership);
        self.tree
            .apply_batch(batch)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        self.tree.flush().map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` so that either the old or the new content
/// survives a crash: temp file, fsync, rename, fsync of the directory.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Applies one batch of entries with read-your-writes inside the batch.
struct Applier<'a> {
    tree: &'a sled::Tree,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Applier<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        Ok(self
            .tree
            .get(key)
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
            .map(|v| v.to_vec()))
    }

    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.overlay.insert(key, value);
    }

    fn command(&mut self, command: Command) -> Result<Outcome, StorageError> {
        Ok(match command {
            Command::Put { key, value } => {
                self.set(data_key(&key), Some(value));
                Outcome::Done
            }
            Command::Insert { key, value } => {
                let k = data_key(&key);
                if self.get(&k)?.is_some() {
                    Outcome::Exists
                } else {
                    self.set(k, Some(value));
                    Outcome::Done
                }
            }
            Command::Delete { key } => {
                let k = data_key(&key);
                if self.get(&k)?.is_some() {
                    self.set(k, None);
                    Outcome::Done
                } else {
                    Outcome::NotFound
                }
            }
            Command::CompareAndSwap { key, expected, new } => {
                let k = data_key(&key);
                let current = self.get(&k)?;
                if current == expected {
                    self.set(k, new);
                    Outcome::Done
                } else {
                    Outcome::Conflict { current }
                }
            }
        })
    }

    fn proposal(&mut self, index: u64, proposal: Proposal) -> Result<Outcome, StorageError> {
        let (id, print) = split_request_id(&proposal.request_id);
        let rkey = request_key(id);
        if let Some(raw) = self.get(&rkey)? {
            // Already applied: a retry answers as the first time. The same
            // id on a different request is refused instead, or its caller
            // would be told of an outcome that is not its own.
            return match crate::codec::decode::<(u64, Outcome, Option<String>)>(&raw) {
                Ok((_, _, Some(seen))) if print.is_some_and(|p| p != seen) => {
                    Ok(Outcome::RequestIdReused)
                }
                Ok((_, outcome, _)) => Ok(outcome),
                // Remembered before requests carried fingerprints.
                Err(_) => {
                    let (_, outcome): (u64, Outcome) =
                        crate::codec::decode(&raw).map_err(|e| sm_err(ErrorVerb::Read, e))?;
                    Ok(outcome)
                }
            };
        }
        let outcome = self.command(proposal.command)?;
        let remembered = crate::codec::encode(&(index, &outcome, print))
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        self.set(rkey, Some(remembered));
        self.set(request_index_key(index, id), Some(Vec::new()));
        Ok(outcome)
    }

    /// Forgets request ids older than the dedupe window.
    fn prune(&mut self, index: u64) -> Result<(), StorageError> {
        let Some(horizon) = index.checked_sub(DEDUPE_WINDOW) else {
            return Ok(());
        };
        let end = request_index_key(horizon, "");
        for item in self.tree.range(b"i".to_vec()..end) {
            let (k, _) = item.map_err(|e| sm_err(ErrorVerb::Read, e))?;
            let id = k.get(9..).unwrap_or_default();
            let mut rkey = vec![b'r'];
            rkey.extend_from_slice(id);
            self.set(rkey, None);
            self.set(k.to_vec(), None);
        }
        Ok(())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.read_applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Outcome>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut applier = Applier {
            tree: &self.tree,
            overlay: BTreeMap::new(),
        };
        let mut outcomes = Vec::new();
        let mut last = None;
        for entry in entries {
            let index = entry.log_id.index;
            last = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => outcomes.push(Vec::new()),
                EntryPayload::Normal(batch) => {
                    let mut answers = Vec::with_capacity(batch.0.len());
                    for p in batch.0 {
                        answers.push(applier.proposal(index, p)?);
                    }
                    outcomes.push(answers);
                }
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(entry.log_id), m);
                    let raw =
                        crate::codec::encode(&stored).map_err(|e| sm_err(ErrorVerb::Write, e))?;
                    applier.set(MEMBERSHIP.to_vec(), Some(raw));
                    outcomes.push(Vec::new());
                }
            }
        }
        let Some(last) = last else {
            return Ok(outcomes);
        };
        applier.prune(last.index)?;
        let raw = crate::codec::encode(&Some(last)).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        applier.set(APPLIED.to_vec(), Some(raw));
        let mut batch = sled::Batch::default();
        for (k, v) in applier.overlay {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.snapshot_counter += 1;
        // Copy the state now, in the state machine task, so the snapshot is
        // consistent with `last_applied` even though applying goes on while
        // the builder serialises it.
        SnapshotBuilder {
            state: self.capture(),
            snapshot_file: self.snapshot_file.clone(),
            counter: self.snapshot_counter,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        // Durable copy first: if we crash while replacing the tree, `open`
        // installs it again.
        self.write_stored_snapshot(meta, &data)?;
        self.replace_tree(meta, &data)?;
        tracing::info!(snapshot = %meta.snapshot_id, "installed snapshot");
        crate::metrics::SNAPSHOTS_INSTALLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.snapshot_file.read()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// State captured for a snapshot.
struct Captured {
    applied: Option<LogId>,
    membership: StoredMembership,
    /// Data pairs, or why reading them failed (reported by the builder).
    pairs: Result<Pairs, String>,
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

impl StateMachine {
    fn capture(&self) -> Captured {
        let (applied, membership, failure) = match self.read_applied() {
            Ok((a, m)) => (a, m, None),
            Err(e) => (None, StoredMembership::default(), Some(e.to_string())),
        };
        let pairs = self
            .tree
            .iter()
            .filter(|item| !matches!(item, Ok((k, _)) if k.first() == Some(&b'm')))
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| e.to_string())
            })
            .collect();
        let pairs = match failure {
            Some(e) => Err(e),
            None => pairs,
        };
        Captured {
            applied,
            membership,
            pairs,
        }
    }
}

/// Serialises a captured state into a snapshot and keeps it on disk.
pub struct SnapshotBuilder {
    state: Captured,
    snapshot_file: SnapshotFile,
    counter: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let pairs = std::mem::replace(&mut self.state.pairs, Ok(Vec::new()))
            .map_err(|e| snap_err(ErrorVerb::Read, std::io::Error::other(e)))?;
        let body = SnapshotBody {
            format: SNAPSHOT_FORMAT,
            pairs,
        };
        let data = crate::codec::encode(&body).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let snapshot_id = match &self.state.applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, self.counter),
            None => format!("none-{}", self.counter),
        };
        let meta = SnapshotMeta {
            last_log_id: self.state.applied,
            last_membership: self.state.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        if !self.snapshot_file.write(&stored)? {
            // A newer snapshot was installed while this one was being built:
            // the file keeps it, and openraft ignores a built snapshot older
            // than the one it has.
            tracing::debug!(
                snapshot = %stored.meta.snapshot_id,
                "built snapshot superseded by an installed one"
            );
        }
        crate::metrics::SNAPSHOTS_BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}
