//! The client side of inter-node traffic: openraft's RPCs and the
//! application's forwarded requests, as HTTP/2 over mutual TLS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::error::Error;
use crate::tls::PeerTls;
use crate::types::{NodeId, TypeConfig};

/// Names the node a peer request is meant for. A node refuses requests
/// meant for another one: a stale or mistyped address must not deliver one
/// node's Raft traffic to another, whose state machine would then act on
/// messages addressed to someone else.
pub const TARGET_HEADER: &str = "x-opencloud-target-node";

/// Paths of the peer API. The same constants route the server side.
pub mod path {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const FORWARD_WRITE: &str = "/raft/forward/write";
    pub const FORWARD_READ: &str = "/raft/forward/read";
    pub const FORWARD_MEMBERSHIP: &str = "/raft/forward/membership";
}

/// An HTTP/2 client for peers, with the addresses this node was told about.
///
/// Addresses given on this node's command line win over those recorded in
/// the membership: each node may reach a peer through its own route (a proxy,
/// a NAT), and a peer's recorded address may be stale.
#[derive(Clone)]
pub struct Peers {
    http: reqwest::Client,
    local: Arc<BTreeMap<NodeId, String>>,
}

/// Why a call to a peer failed.
#[derive(Debug)]
pub enum CallError {
    /// The connection could not be made (the peer is down or cut off).
    Unreachable(reqwest::Error),
    /// The call was made but failed on the way.
    Network(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "unreachable: {e}"),
            CallError::Network(e) => write!(f, "network: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl Peers {
    pub fn new(tls: &PeerTls, local: BTreeMap<NodeId, String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls.client).clone())
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(5))
            .http2_keep_alive_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| Error::Tls(format!("peer client: {e}")))?;
        Ok(Peers {
            http,
            local: Arc::new(local),
        })
    }

    /// The address to dial for `id`, given what the membership says.
    pub fn address(&self, id: NodeId, recorded: Option<&str>) -> Option<String> {
        self.local
            .get(&id)
            .cloned()
            .or_else(|| recorded.map(str::to_string))
    }

    /// Posts `req` to node `target` at `addr` and decodes the answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let body = codec::encode(req).map_err(|e| CallError::Network(e.to_string()))?;
        let resp = self
            .http
            .post(format!("https://{addr}{path}"))
            .header(TARGET_HEADER, target.to_string())
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    CallError::Unreachable(e)
                } else {
                    CallError::Network(e.to_string())
                }
            })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(CallError::Network(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )));
        }
        codec::decode(&bytes).map_err(|e| CallError::Network(format!("bad reply: {e}")))
    }
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerConnection {
        let addr = self.address(target, Some(&node.addr)).unwrap_or_default();
        if addr.is_empty() {
            tracing::warn!("no address known for node {target}; it cannot be reached");
        }
        PeerConnection {
            peers: self.clone(),
            target,
            addr,
        }
    }
}

/// openraft's handle on one peer.
pub struct PeerConnection {
    peers: Peers,
    target: NodeId,
    addr: String,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerConnection {
    async fn rpc<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<Resp, RaftError<NodeId, E>> = self
            .peers
            .call(self.target, &self.addr, path, req, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Network(_) => RPCError::Network(NetworkError::new(&e)),
            })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.rpc(path::APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.rpc(path::SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.rpc(path::VOTE, &rpc, &option).await
    }
}
