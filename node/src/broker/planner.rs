//! The planner, run by the Raft leader: keeps pools warm, places VMs on
//! live nodes, and ends what should end (idle assignments, signed-out
//! sessions, VMs stuck starting, VMs of dead nodes, removed pools).
//!
//! It holds no state the store does not have beyond when it last saw each
//! node's beat change: a new leader starts by trusting every node for
//! `node_dead_after`, then judges them by their beats.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::model::{
    Demands, NodeBeat, NodeBeats, Pool, Pools, ProviderKind, Quotas, Vm, VmState, Vms,
};
use super::vms::{self, set_state, SCAN_LIMIT};
use super::Broker;
use crate::db::{fresh_request_id, PlatformDb, TenantDb};
use crate::desktop::records::Sessions;
use crate::http::AppResult;

/// When the planner last saw each node's beat change.
#[derive(Default)]
struct Liveness {
    seen: HashMap<u64, (u64, Instant)>,
}

impl Liveness {
    fn observe(&mut self, beats: &[(u64, NodeBeat)], now: Instant) {
        for (id, beat) in beats {
            let entry = self.seen.entry(*id).or_insert((beat.seq, now));
            if entry.0 != beat.seq {
                *entry = (beat.seq, now);
            }
        }
    }

    fn alive(&self, node: u64, now: Instant, dead_after: std::time::Duration) -> bool {
        self.seen
            .get(&node)
            .is_some_and(|(_, at)| now.duration_since(*at) < dead_after)
    }
}

pub fn spawn(broker: Arc<Broker>) {
    tokio::spawn(async move {
        let mut liveness: Option<Liveness> = None;
        let mut tick = tokio::time::interval(broker.cfg.plan_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let status = broker.store.status();
            if status.leader != Some(status.node_id) {
                if liveness.take().is_some() {
                    tracing::info!("no longer brokering VMs (not the leader)");
                }
                continue;
            }
            let live = liveness.get_or_insert_with(|| {
                tracing::info!("brokering VMs (this node leads)");
                Liveness::default()
            });
            if let Err(e) = plan(&broker, live).await {
                tracing::debug!("broker pass: {e}");
            }
        }
    });
}

/// What a node runs and may run.
#[derive(Clone, Copy, Default)]
struct Load {
    vms: u32,
    max_vms: u32,
    booting: u32,
    max_booting: u32,
}

/// The nodes that may take a new local VM, with their loads.
struct Placement {
    load: BTreeMap<u64, Load>,
}

impl Placement {
    /// The least loaded node with room for one more VM and one more boot,
    /// counted as busier by it.
    fn pick(&mut self) -> Option<u64> {
        let (&node, _) = self
            .load
            .iter()
            .filter(|(_, l)| l.vms < l.max_vms && (l.max_booting == 0 || l.booting < l.max_booting))
            .min_by_key(|(id, l)| (l.vms, **id))?;
        if let Some(l) = self.load.get_mut(&node) {
            l.vms += 1;
            l.booting += 1;
        }
        Some(node)
    }
}

async fn plan(broker: &Arc<Broker>, live: &mut Liveness) -> AppResult<()> {
    let now_i = Instant::now();
    let beats: Vec<(u64, NodeBeat)> = PlatformDb::new(broker.store.clone())
        .list::<NodeBeats>(1024)
        .await?
        .into_iter()
        .filter_map(|(id, b)| id.parse().ok().map(|id| (id, b)))
        .collect();
    live.observe(&beats, now_i);
    let dead_after = broker.cfg.node_dead_after;
    let alive = |n: u64| live.alive(n, now_i, dead_after);

    let tenants = vms::tenants(&broker.store).await?;
    let mut all = Vec::new();
    for tenant in tenants {
        let db = TenantDb::new(broker.store.clone(), &tenant);
        let vms: Vec<Vm> = vms::all(&db).await?;
        all.push((db, vms));
    }
    let mut placement = Placement {
        load: beats
            .iter()
            .filter(|(id, b)| b.local_vms && alive(*id))
            .map(|(id, b)| {
                let load = Load {
                    max_vms: b.max_vms,
                    max_booting: b.max_booting,
                    ..Load::default()
                };
                (*id, load)
            })
            .collect(),
    };
    for (_, vms) in &all {
        for vm in vms.iter().filter(|v| v.counts()) {
            if let Some(l) = vm.node.and_then(|n| placement.load.get_mut(&n)) {
                l.vms += 1;
                l.booting += u32::from(vm.state == VmState::Starting);
            }
        }
    }
    for (db, vms) in &all {
        let pools: BTreeMap<String, Pool> =
            db.list::<Pools>(SCAN_LIMIT).await?.into_iter().collect();
        for vm in vms {
            let pool = pools.get(&vm.pool);
            end_if_due(broker, db, vm, pool, &alive).await?;
        }
        let vms: Vec<Vm> = vms::all(db).await?;
        let demands = demands(broker, db).await?;
        if retire(broker, db, &pools, &vms, &demands).await? {
            continue; // refilled at the next pass, from what is left
        }
        refill(broker, db, &pools, &vms, &demands, &mut placement).await?;
    }
    Ok(())
}

/// Ends `vm` when its time has come.
async fn end_if_due(
    broker: &Broker,
    db: &TenantDb,
    vm: &Vm,
    pool: Option<&Pool>,
    alive: &impl Fn(u64) -> bool,
) -> AppResult<()> {
    let now = broker.clock.now_secs();
    let cfg = &broker.cfg;
    let live = [VmState::Starting, VmState::Ready, VmState::Assigned];
    let dead_node = vm.provider == ProviderKind::Local && vm.node.is_some_and(|n| !alive(n));
    if dead_node {
        if vm.state == VmState::Stopping {
            return vms::finish(db, vm, now).await;
        }
        if live.contains(&vm.state) {
            let why = format!("its node {} stopped answering", vm.node.unwrap_or(0));
            tracing::warn!("VM {} of pool {}: {why}", vm.id, vm.pool);
            set_state(db, &vm.id, &live, VmState::Failed, now, Some(why)).await?;
            return Ok(());
        }
    }
    match vm.state {
        VmState::Failed if now >= vm.since.saturating_add(cfg.failed_keep_s) => {
            vms::finish(db, vm, now).await?;
        }
        VmState::Starting if now >= vm.since.saturating_add(cfg.start_timeout_s) => {
            let why = format!("it did not become ready within {} s", cfg.start_timeout_s);
            set_state(
                db,
                &vm.id,
                &[VmState::Starting],
                VmState::Failed,
                now,
                Some(why),
            )
            .await?;
        }
        VmState::Starting | VmState::Ready if pool.is_none() => {
            let why = Some("its pool was removed".to_string());
            set_state(db, &vm.id, &[vm.state], VmState::Stopping, now, why).await?;
        }
        VmState::Assigned => {
            if let Some(why) = reap_reason(db, vm, pool, now).await? {
                tracing::info!("releasing VM {} of {}: {why}", vm.id, db.tenant());
                set_state(
                    db,
                    &vm.id,
                    &[VmState::Assigned],
                    VmState::Stopping,
                    now,
                    Some(why),
                )
                .await?;
            } else {
                super::metering::checkpoint(db, vm, cfg.usage_checkpoint_s, now).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why an assigned VM should be released now, if it should.
async fn reap_reason(
    db: &TenantDb,
    vm: &Vm,
    pool: Option<&Pool>,
    now: u64,
) -> AppResult<Option<String>> {
    let Some(a) = &vm.assigned else {
        return Ok(Some("it has no user".into()));
    };
    let Some(session) = db.get::<Sessions>(&a.session).await? else {
        return Ok(Some("its user's session ended".into()));
    };
    if now >= session.expires_at {
        return Ok(Some("its user's session expired".into()));
    }
    let idle = pool.map_or(super::api::DEFAULT_IDLE_TIMEOUT_S, |p| p.idle_timeout_s);
    let last = session.last_seen.max(a.at);
    if now >= last.saturating_add(idle) {
        return Ok(Some(format!("no presence from its user for {idle} s")));
    }
    Ok(None)
}

/// The launches waiting per pool; lapsed demands are removed.
async fn demands(broker: &Broker, db: &TenantDb) -> AppResult<BTreeMap<String, u32>> {
    let now = broker.clock.now_secs();
    let mut demands: BTreeMap<String, u32> = BTreeMap::new();
    for (key, d) in db.list::<Demands>(SCAN_LIMIT).await? {
        if now >= d.until {
            db.delete::<Demands>(&key, fresh_request_id()).await?;
        } else {
            *demands.entry(d.pool).or_default() += 1;
        }
    }
    Ok(demands)
}

/// Stops unused VMs a pool no longer wants: made of an older version of
/// the pool (a new image, another size), or ready beyond its warm count
/// (it was lowered). Assigned VMs stay until their users leave. Whether it
/// stopped any.
async fn retire(
    broker: &Broker,
    db: &TenantDb,
    pools: &BTreeMap<String, Pool>,
    vms: &[Vm],
    demands: &BTreeMap<String, u32>,
) -> AppResult<bool> {
    let now = broker.clock.now_secs();
    let mut stopped = false;
    for pool in pools.values() {
        let version = pool.version();
        let idle = [VmState::Starting, VmState::Ready];
        let mut ready = Vec::new();
        for vm in vms
            .iter()
            .filter(|v| v.pool == pool.id && idle.contains(&v.state))
        {
            if vm.pool_version != version {
                let why = Some("its pool changed".to_string());
                set_state(db, &vm.id, &idle, VmState::Stopping, now, why).await?;
                stopped = true;
            } else if vm.state == VmState::Ready {
                ready.push(vm);
            }
        }
        let wanted = (pool.warm + demands.get(&pool.id).copied().unwrap_or(0)) as usize;
        // The newest go first: the oldest have waited longest to be used.
        ready.sort_by_key(|v| std::cmp::Reverse((v.since, v.id.clone())));
        for vm in ready.iter().take(ready.len().saturating_sub(wanted)) {
            let why = Some("its pool keeps fewer VMs warm".to_string());
            set_state(db, &vm.id, &[VmState::Ready], VmState::Stopping, now, why).await?;
            stopped = true;
        }
    }
    Ok(stopped)
}

/// Starts VMs so that each pool has `warm` ready or starting, plus one for
/// each launch waiting, within its maximum and the tenant's quota.
async fn refill(
    broker: &Broker,
    db: &TenantDb,
    pools: &BTreeMap<String, Pool>,
    vms: &[Vm],
    demands: &BTreeMap<String, u32>,
    placement: &mut Placement,
) -> AppResult<()> {
    let now = broker.clock.now_secs();
    let quota = db.get::<Quotas>("quota").await?.unwrap_or_default();
    let mut tenant_count = vms.iter().filter(|v| v.counts()).count() as u32;
    for pool in pools.values() {
        let of_pool = || vms.iter().filter(|v| v.pool == pool.id);
        let counted = of_pool().filter(|v| v.counts()).count() as u32;
        let waiting = of_pool()
            .filter(|v| matches!(v.state, VmState::Starting | VmState::Ready))
            .count() as u32;
        let wanted = pool.warm + demands.get(&pool.id).copied().unwrap_or(0);
        let mut want = wanted
            .saturating_sub(waiting)
            .min(pool.max.saturating_sub(counted));
        if let Some(max) = quota.max_vms {
            want = want.min(max.saturating_sub(tenant_count));
        }
        for _ in 0..want {
            let node = match pool.provider {
                ProviderKind::Local => match placement.pick() {
                    Some(n) => Some(n),
                    None => {
                        tracing::debug!("pool {}: no node has room for a VM", pool.id);
                        break;
                    }
                },
                ProviderKind::Openstack if broker.openstack.is_some() => None,
                ProviderKind::Openstack => {
                    tracing::debug!(
                        "pool {}: this cluster has no OpenStack (--openstack)",
                        pool.id
                    );
                    break;
                }
            };
            let vm = Vm {
                id: format!("vm-{}", crate::viewer::random_hex(8)),
                pool: pool.id.clone(),
                provider: pool.provider,
                node,
                state: VmState::Starting,
                pool_version: pool.version(),
                provider_id: None,
                spice_addr: None,
                spice_password: crate::viewer::random_hex(16),
                password_gen: 0,
                password_applied: 0,
                assigned: None,
                created_at: now,
                since: now,
                released_at: None,
                reason: None,
            };
            db.insert::<Vms>(&vm.id, &vm, fresh_request_id()).await?;
            tenant_count += 1;
        }
    }
    Ok(())
}
