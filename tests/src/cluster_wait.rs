//! Waiting on a cluster: leaders, applied indexes and catch-up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::api::ClusterInfo;
use crate::cluster::{Cluster, LEADER_TIMEOUT};

impl Cluster {
    /// `/api/v1/cluster` of every running node that answers.
    pub async fn infos(&self) -> BTreeMap<u64, ClusterInfo> {
        let ids = self.running_ids();
        let probes = ids.iter().map(|&id| {
            let api = self.probe(id);
            async move { (id, api.cluster().await) }
        });
        futures::future::join_all(probes)
            .await
            .into_iter()
            .filter_map(|(id, r)| r.ok().map(|info| (id, info)))
            .collect()
    }

    /// The leader right now: a running node that calls itself leader and that
    /// a majority of its reported members (itself included) follow in the
    /// same term. `None` if there is no such node at this instant.
    pub async fn leader_id(&self) -> Option<u64> {
        let infos = self.infos().await;
        infos.iter().find_map(|(&id, info)| {
            if info.leader != Some(id) {
                return None;
            }
            let members = if info.members.is_empty() {
                self.options().nodes as usize
            } else {
                info.members.len()
            };
            let followers = infos
                .values()
                .filter(|o| o.leader == Some(id) && o.term == info.term)
                .filter(|o| info.members.is_empty() || info.members.contains(&o.node_id))
                .count();
            (followers > members / 2).then_some(id)
        })
    }

    /// Waits (bounded) for a leader as defined by `leader_id`.
    pub async fn wait_for_leader(&self) -> Result<u64> {
        self.wait_for_leader_not(None).await
    }

    /// Waits (bounded) for a leader other than `old`.
    pub async fn wait_for_new_leader(&self, old: u64) -> Result<u64> {
        self.wait_for_leader_not(Some(old)).await
    }

    async fn wait_for_leader_not(&self, old: Option<u64>) -> Result<u64> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            if let Some(id) = self.leader_id().await {
                if Some(id) != old {
                    return Ok(id);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no leader (other than {old:?}) after {LEADER_TIMEOUT:?}; views: {:?}",
                    self.infos().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_for_applied(&self, id: u64, index: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Ok(info) = self.probe(id).cluster().await {
                if info.last_applied >= index {
                    return Ok(());
                }
                last = Some(info);
            }
            if Instant::now() > deadline {
                bail!(
                    "node {id} did not apply index {index} within {timeout:?}; last view: {last:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until node `id` has applied everything the leader had applied
    /// when this was called; returns that index.
    pub async fn wait_caught_up(&self, id: u64, timeout: Duration) -> Result<u64> {
        let leader = self.wait_for_leader().await?;
        let target = self.probe(leader).cluster().await?.last_applied;
        self.wait_for_applied(id, target, timeout).await?;
        Ok(target)
    }

    /// Moves leadership to node `id` by killing whichever other node leads,
    /// restarting it and letting it catch up, at most `attempts` times.
    /// Reads served by the leader then come from `id`'s own state, which is
    /// how a test checks what a node itself holds (reads sent to a follower
    /// are forwarded to the leader). Each attempt is a fair election between
    /// two survivors, so `attempts` should be generous (16 leaves a chance of
    /// about 1 in 65,000 to miss).
    pub async fn make_leader(&mut self, id: u64, attempts: usize) -> Result<()> {
        // First ask the node itself to stand; it wins once caught up. Then
        // fall back to killing leaders: each node draws its election timeout
        // once per process, so a node with a long one may never win a race.
        for _ in 0..3 {
            if self.wait_for_leader().await? == id {
                return Ok(());
            }
            let asked = self.api(id).elect().await?;
            anyhow::ensure!(
                asked.status.is_success(),
                "node {id} refused to stand: {} {}",
                asked.status,
                asked.text()
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if self.probe(id).cluster().await.ok().and_then(|c| c.leader) == Some(id)
                    && self.wait_for_leader().await? == id
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for _ in 0..attempts {
            let leader = self.wait_for_leader().await?;
            if leader == id {
                return Ok(());
            }
            self.kill(leader);
            let next = self
                .wait_for_new_leader(leader)
                .await
                .with_context(|| format!("after killing leader {leader}"))?;
            self.restart(leader)
                .await
                .with_context(|| format!("restarting node {leader}"))?;
            self.wait_caught_up(leader, Duration::from_secs(60))
                .await
                .with_context(|| format!("node {leader} catching up after its restart"))?;
            if next == id {
                return Ok(());
            }
        }
        bail!("node {id} did not become leader in {attempts} attempts")
    }

    /// Waits until the leader reports exactly `expected` as its voting
    /// members; returns the leader.
    pub async fn wait_for_members(&self, expected: &[u64], timeout: Duration) -> Result<u64> {
        let mut want = expected.to_vec();
        want.sort_unstable();
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(leader) = self.leader_id().await {
                if let Ok(info) = self.probe(leader).cluster().await {
                    let mut have = info.members.clone();
                    have.sort_unstable();
                    if have == want {
                        return Ok(leader);
                    }
                    last = Some(info);
                }
            }
            if Instant::now() > deadline {
                bail!("members never became {want:?} within {timeout:?}; leader's view: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every running node reports the same leader (a node that
    /// has just started may not have heard from it yet); returns it.
    pub async fn wait_all_agree(&self, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let leader = self.wait_for_leader().await?;
            let infos = self.infos().await;
            let running = self.running_ids();
            if running
                .iter()
                .all(|id| infos.get(id).map(|i| i.leader) == Some(Some(leader)))
            {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                bail!("nodes do not agree on leader {leader} within {timeout:?}: {infos:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
