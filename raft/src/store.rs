//! [`Store`]: the handle the rest of the node uses. It hides which node leads:
//! writes and reads sent here are forwarded to the leader when this node is
//! not it, and reads are linearizable (the leader confirms its leadership with
//! a quorum before answering).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::log_store::LogStore;
use crate::network::{path, CallError, Peers};
use crate::state_machine::{data_key, StateMachine};
use crate::tls::PeerTls;
use crate::types::{Batch, NodeId, Outcome, Proposal, Query, QueryResult, Raft};

/// A membership change, as sent to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add `id` at `addr`: first as a learner that catches up, then as a voter.
    Add { id: NodeId, addr: String },
    /// Remove `id` from the voters and from the cluster.
    Remove { id: NodeId },
}

/// Why a forwarded request failed on the node that received it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardError {
    /// That node is not the leader (any more); it names the one it knows.
    NotLeader(Option<NodeId>),
    /// That node leads but cannot serve right now (no quorum); try again.
    Unavailable(String),
    /// Anything else, as text for the operator.
    Failed(String),
}

/// What `/api/v1/cluster` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_applied: u64,
    pub last_log_index: u64,
    pub members: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub state: String,
    pub snapshot_index: Option<u64>,
}

/// One member of the replicated store.
pub struct Store {
    id: NodeId,
    raft: Raft,
    batcher: mpsc::Sender<Pending>,
    tree: sled::Tree,
    peers: Peers,
    config: StoreConfig,
}

/// How often a request waiting for a leader looks again.
const LEADER_POLL: Duration = Duration::from_millis(50);

impl Store {
    /// Opens (or creates) this node's database and starts its Raft member and
    /// peer server. The cluster is not initialised here; see [`Store::bootstrap`].
    pub async fn open(config: StoreConfig) -> Result<Arc<Store>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let db = sled::Config::new()
            .path(config.data_dir.join("db"))
            .cache_capacity(config.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // The log flushes explicitly before every acknowledgement; a
            // second, periodic flusher would only contend with it.
            .flush_every_ms(None)
            .open()?;
        let log = LogStore::open(&db)?;
        let sm =
            StateMachine::open(&db, &config.data_dir).map_err(|e| Error::Storage(e.to_string()))?;
        let tree = sm.tree();
        let tls = PeerTls::load(&config.certs_dir, config.id)?;
        let peers = Peers::new(&tls, config.peers.clone())?;
        let raft_config = Arc::new(config.raft_config()?);
        let raft = Raft::new(config.id, raft_config, peers.clone(), log, sm)
            .await
            .map_err(|e| Error::Fatal(e.to_string()))?;
        tokio::spawn(log_role_changes(config.id, raft.metrics()));
        let (batcher, pending) = mpsc::channel(QUEUE);
        tokio::spawn(batch_writes(raft.clone(), pending));
        let store = Arc::new(Store {
            id: config.id,
            raft,
            batcher,
            tree,
            peers,
            config,
        });
        crate::server::spawn(store.clone(), tls).await?;
        Ok(store)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Initialises a brand-new cluster with `members` as voters. Does nothing
    /// if this node already has state (a restart) — that is not an error.
    pub async fn bootstrap(&self, members: BTreeMap<NodeId, String>) -> Result<bool> {
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| Error::Fatal(e.to_string()))?
        {
            return Ok(false);
        }
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(true),
            Err(RaftError::APIError(e)) => {
                tracing::info!("not initialising: {e}");
                Ok(false)
            }
            Err(e) => Err(Error::Fatal(e.to_string())),
        }
    }

    /// The cluster as this node sees it.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let members: Vec<NodeId> = membership.voter_ids().collect();
        let voters: BTreeSet<NodeId> = members.iter().copied().collect();
        let learners = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| !voters.contains(id))
            .collect();
        ClusterStatus {
            node_id: self.id,
            leader: m.current_leader,
            term: m.current_term,
            last_applied: m.last_applied.map(|l| l.index).unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            members,
            learners,
            state: format!("{:?}", m.state),
            snapshot_index: m.snapshot.map(|s| s.index),
        }
    }

    fn leader_addr(&self, leader: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().clone();
        let recorded = m
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone());
        self.peers.address(leader, recorded.as_deref())
    }

    /// Runs `attempt` until it succeeds, the deadline passes, or it fails for
    /// a reason other than leadership. `attempt` gets the leader to forward
    /// to, or `None` when this node should try itself.
    async fn with_leader<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(Option<(NodeId, String)>) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut target: Option<(NodeId, String)> = None;
        let mut last_problem = String::from("no leader elected yet");
        loop {
            match attempt(target.clone()).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Failed(e) => return Err(e),
                Attempt::Redirect(leader) => {
                    target = match leader {
                        Some(l) if l != self.id => match self.leader_addr(l) {
                            Some(addr) => Some((l, addr)),
                            None => {
                                last_problem = format!("no address known for leader {l}");
                                None
                            }
                        },
                        _ => None,
                    };
                    if leader.is_none() {
                        last_problem = "no leader elected yet".into();
                    }
                }
                Attempt::Retry(problem) => {
                    last_problem = problem;
                    target = None;
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Unavailable(last_problem));
            }
            if target.is_none() {
                tokio::time::sleep(LEADER_POLL).await;
            }
        }
    }

    /// Proposes a write and waits until it is committed by a majority and
    /// applied, wherever the leader is.
    pub async fn write(&self, proposal: Proposal) -> Result<Outcome> {
        let timeout = self.config.request_timeout;
        let outcome = self
            .on_leader(path::FORWARD_WRITE, proposal, timeout, |p| {
                self.write_local(p)
            })
            .await?;
        match outcome {
            Outcome::RequestIdReused => Err(Error::RequestIdReused),
            other => Ok(other),
        }
    }

    /// Applies a write on this node if it leads; never forwards. Writes
    /// waiting at the same time share one log entry (see [`batch_writes`]).
    pub(crate) async fn write_local(&self, proposal: Proposal) -> Attempt<Outcome> {
        let (reply, answer) = oneshot::channel();
        if self
            .batcher
            .send(Pending { proposal, reply })
            .await
            .is_err()
        {
            return Attempt::Failed(Error::Fatal("the write batcher stopped".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Attempt::Failed(Error::Fatal("a write batch was dropped".into())))
    }

    /// A linearizable read, wherever the leader is.
    pub async fn read(&self, query: Query) -> Result<QueryResult> {
        let timeout = self.config.request_timeout;
        self.on_leader(path::FORWARD_READ, query, timeout, |q| self.read_local(q))
            .await
    }

    /// Answers a read on this node if it leads (after a quorum confirms it).
    pub(crate) async fn read_local(&self, query: Query) -> Attempt<QueryResult> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => match self.query_tree(&query) {
                Ok(r) => Attempt::Done(r),
                Err(e) => Attempt::Failed(e),
            },
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Attempt::Redirect(f.leader_id)
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                Attempt::Retry(format!("leader cannot reach a quorum: {q}"))
            }
            Err(e) => Attempt::Failed(Error::Fatal(e.to_string())),
        }
    }

    /// Reads this node's own copy, without any check that it is current.
    /// For status pages and tests of replication, never for answers that
    /// must be linearizable.
    pub fn query_tree(&self, query: &Query) -> Result<QueryResult> {
        Ok(match query {
            Query::Get { key } => {
                QueryResult::Value(self.tree.get(data_key(key))?.map(|v| v.to_vec()))
            }
            Query::Scan { prefix, limit } => {
                let mut pairs = Vec::new();
                for item in self.tree.scan_prefix(data_key(prefix)).take(*limit) {
                    let (k, v) = item?;
                    pairs.push((k.get(1..).unwrap_or_default().to_vec(), v.to_vec()));
                }
                QueryResult::Pairs(pairs)
            }
        })
    }

    /// Adds or removes a node, wherever the leader is.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<()> {
        // Adding a learner waits until it has caught up, which can take a
        // snapshot transfer: allow more than a plain write.
        let timeout = self.config.request_timeout * 6;
        self.on_leader(path::FORWARD_MEMBERSHIP, change, timeout, |c| {
            self.change_membership_local(c)
        })
        .await
    }

    /// Runs `local` here when this node leads, or sends `req` to the leader's
    /// `path`, following leadership changes until it succeeds or `timeout`
    /// (plus a grace for the last attempt) has passed.
    async fn on_leader<Req, T, F, Fut>(
        &self,
        path: &str,
        req: Req,
        timeout: Duration,
        local: F,
    ) -> Result<T>
    where
        Req: Serialize + Clone,
        T: serde::de::DeserializeOwned,
        F: Fn(Req) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let local = &local;
        let req = &req;
        let fut = self.with_leader(|target| async move {
            match target {
                None => local(req.clone()).await,
                Some((id, addr)) => {
                    forwarded(id, self.peers.call(id, &addr, path, req, timeout).await)
                }
            }
        });
        tokio::time::timeout(timeout + Duration::from_millis(500), fut)
            .await
            .map_err(|_| Error::Timeout)?
    }

    pub(crate) async fn change_membership_local(&self, change: MembershipChange) -> Attempt<()> {
        let result = match change {
            MembershipChange::Add { id, addr } => {
                match self
                    .raft
                    .add_learner(id, BasicNode { addr: addr.clone() }, true)
                    .await
                {
                    Ok(added) => {
                        // A voter that cannot be reached would leave the
                        // joint configuration without a quorum, and the
                        // cluster taking no writes: promote only a learner
                        // that has caught up.
                        if !self.learner_caught_up(id, added.log_id.index).await {
                            return Attempt::Failed(Error::Membership(format!(
                                "node {id} at {addr} has not caught up (is it running, is the address right?); \
                                 it stays a learner until it has: fix it and add it again, or remove it"
                            )));
                        }
                        let ids = BTreeSet::from([id]);
                        self.raft
                            .change_membership(ChangeMembers::AddVoterIds(ids), false)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            MembershipChange::Remove { id } => {
                let ids = BTreeSet::from([id]);
                self.raft
                    .change_membership(ChangeMembers::RemoveVoters(ids), false)
                    .await
            }
        };
        match result {
            Ok(_) => Attempt::Done(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Attempt::Redirect(f.leader_id)
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Attempt::Failed(Error::Membership(e.to_string()))
            }
            Err(e) => Attempt::Failed(Error::Fatal(e.to_string())),
        }
    }

    /// Waits (a few seconds at most) until this leader's replication to
    /// `id` has reached `index`. The metrics trail replication a little, so
    /// a learner that has just caught up needs a moment to show it.
    async fn learner_caught_up(&self, id: NodeId, index: u64) -> bool {
        let mut metrics = self.raft.metrics();
        let deadline =
            tokio::time::Instant::now() + self.config.request_timeout.min(Duration::from_secs(10));
        loop {
            let matched = metrics
                .borrow()
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten())
                .map(|l| l.index);
            if matches!(matched, Some(m) if m >= index) {
                return true;
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// Makes this node stand for election now. It wins if its log is as
    /// up to date as a majority's; the current leader then steps down. This
    /// is how an operator moves leadership (openraft 0.9 has no leader
    /// transfer), e.g. before restarting the leader's machine.
    pub async fn stand_for_election(&self) -> Result<()> {
        let status = self.status();
        if !status.members.contains(&self.id) {
            return Err(Error::Membership(format!(
                "node {} is not a voter and cannot lead",
                self.id
            )));
        }
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| Error::Fatal(e.to_string()))
    }

    /// Stops the Raft member. The database is flushed on drop.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        if let Err(e) = self.tree.flush_async().await {
            tracing::warn!("flush on shutdown: {e}");
        }
    }
}

/// The result of one try at a leader-only operation.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Try again at this leader (or wait for one if `None`).
    Redirect(Option<NodeId>),
    /// Try again later, from scratch.
    Retry(String),
    Failed(Error),
}

fn forwarded<T>(
    leader: NodeId,
    r: std::result::Result<std::result::Result<T, ForwardError>, CallError>,
) -> Attempt<T> {
    match r {
        Ok(Ok(v)) => Attempt::Done(v),
        Ok(Err(ForwardError::NotLeader(l))) => Attempt::Redirect(l),
        Ok(Err(ForwardError::Unavailable(e))) => Attempt::Retry(format!("leader {leader}: {e}")),
        Ok(Err(ForwardError::Failed(e))) => Attempt::Failed(Error::Peer {
            node: leader,
            reason: e,
        }),
        Err(e) => Attempt::Retry(format!("leader {leader}: {e}")),
    }
}

/// A write waiting for its batch.
struct Pending {
    proposal: Proposal,
    reply: oneshot::Sender<Attempt<Outcome>>,
}

/// Writes that may wait for a batch before new ones are pushed back.
const QUEUE: usize = 16 * 1024;
/// Most proposals in one log entry.
const MAX_BATCH: usize = 1024;
/// Batches in flight at once. More than one lets a new batch be appended
/// while the previous one is still being replicated.
const IN_FLIGHT: usize = 4;

/// Cuts the queue of waiting writes into log entries. With one client every
/// entry holds one write and nothing waits; with many, whatever queued while
/// the previous batches were in flight goes into the next entry.
async fn batch_writes(raft: Raft, mut queue: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (proposals, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|p| (p.proposal, p.reply)).unzip();
            match raft.client_write(Batch(proposals)).await {
                Ok(resp) => {
                    for (reply, outcome) in replies.into_iter().zip(resp.data) {
                        let _ = reply.send(Attempt::Done(outcome));
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    for reply in replies {
                        let _ = reply.send(Attempt::Redirect(f.leader_id));
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Attempt::Failed(Error::Fatal(reason.clone())));
                    }
                }
            }
        });
    }
}

/// Logs every change of leader, term or role, so that an operator reading a
/// node's log can follow elections.
async fn log_role_changes(
    id: NodeId,
    mut metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, BasicNode>>,
) {
    let mut last = None;
    loop {
        let now = {
            let m = metrics.borrow_and_update();
            (m.current_term, m.current_leader, format!("{:?}", m.state))
        };
        if last.as_ref() != Some(&now) {
            let (term, leader, role) = &now;
            match leader {
                Some(l) => tracing::info!("node {id}: {role} in term {term}; leader is node {l}"),
                None => tracing::info!("node {id}: {role} in term {term}; no leader"),
            }
            last = Some(now);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
