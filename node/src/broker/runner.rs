//! Runners drive VMs through their life with their provider: create what is
//! starting, mark it ready once it boots, set passwords of assignments,
//! destroy what stops or fails, and destroy what the provider has that the
//! store does not know. Every node runs one for its own QEMU processes; the
//! leader runs one for cloud VMs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::{NodeBeat, NodeBeats, ProviderKind, Vm, VmState, Vms};
use super::provider::{Provider, ProviderError, VmSpec, VmStatus};
use super::vms::{self, set_state, transition, SCAN_LIMIT};
use super::Broker;
use crate::db::{PlatformDb, TenantDb};
use crate::http::AppResult;
use crate::records::Tenants;

/// Which VMs a runner drives.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    /// Local VMs placed on this node.
    Node(u64),
    /// Cloud VMs of this provider kind, while this node leads.
    Cloud(ProviderKind),
}

impl Owner {
    fn owns(self, vm: &Vm) -> bool {
        match self {
            Owner::Node(id) => vm.provider == ProviderKind::Local && vm.node == Some(id),
            Owner::Cloud(kind) => vm.provider == kind && vm.node.is_none(),
        }
    }
}

struct Runner<P: Provider> {
    broker: Arc<Broker>,
    provider: Arc<P>,
    owner: Owner,
    /// VMs with a step in flight: one step per VM at a time.
    busy: Mutex<HashSet<String>>,
    /// Provider ids the store does not know, since when.
    unknown: Mutex<HashMap<String, Instant>>,
    /// Failed VMs this runner has destroyed (forgotten with their records).
    finished: Mutex<HashSet<String>>,
}

pub fn spawn<P: Provider>(broker: Arc<Broker>, provider: Arc<P>, owner: Owner, every: Duration) {
    let runner = Arc::new(Runner {
        broker,
        provider,
        owner,
        busy: Mutex::new(HashSet::new()),
        unknown: Mutex::new(HashMap::new()),
        finished: Mutex::new(HashSet::new()),
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Owner::Cloud(_) = owner {
                let status = runner.broker.store.status();
                if status.leader != Some(status.node_id) {
                    continue;
                }
            }
            if let Err(e) = runner.pass().await {
                tracing::debug!("VM runner: {e}");
            }
        }
    });
}

/// Writes this node's sign of life every `beat_every`.
pub fn spawn_beats(broker: Arc<Broker>) {
    tokio::spawn(async move {
        let db = PlatformDb::new(broker.store.clone());
        let me = broker.store.id().to_string();
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(broker.cfg.beat_every);
        loop {
            tick.tick().await;
            seq += 1;
            let beat = NodeBeat {
                seq,
                at: broker.clock.now_secs(),
                max_vms: broker.cfg.max_vms,
                max_booting: broker.cfg.max_booting,
                local_vms: broker.local.is_some(),
            };
            if let Err(e) = db.put::<NodeBeats>(&me, &beat).await {
                tracing::debug!("node beat not written: {e}");
            }
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: Provider> Runner<P> {
    async fn pass(self: &Arc<Self>) -> AppResult<()> {
        let mut known = HashSet::new();
        let mut records = HashSet::new();
        // This node's copy: a launch's new password is seen as soon as it
        // is replicated, without a round trip to the leader at every pass;
        // every write below is a compare-and-swap, so a stale record
        // changes nothing.
        let tenants =
            PlatformDb::new(self.broker.store.clone()).list_local::<Tenants>(SCAN_LIMIT)?;
        for (tenant, _) in tenants {
            let db = TenantDb::new(self.broker.store.clone(), &tenant);
            for (_, vm) in db.list_local::<Vms>(SCAN_LIMIT)? {
                if !self.owner.owns(&vm) {
                    continue;
                }
                if let Some(pid) = &vm.provider_id {
                    known.insert(pid.clone());
                }
                // A create in flight has no provider id in the store yet.
                known.insert(vm.id.clone());
                records.insert(vm.id.clone());
                if !lock(&self.busy).insert(vm.id.clone()) {
                    continue;
                }
                let me = self.clone();
                let db = db.clone();
                tokio::spawn(async move {
                    let id = vm.id.clone();
                    if let Err(e) = me.step(&db, vm).await {
                        tracing::warn!("VM {id}: {e}");
                    }
                    lock(&me.busy).remove(&id);
                });
            }
        }
        lock(&self.finished).retain(|id| records.contains(id));
        self.destroy_unknown(&known).await;
        Ok(())
    }

    /// Destroys what the provider runs for us that no record names, once it
    /// has been unknown for the grace period.
    async fn destroy_unknown(&self, known: &HashSet<String>) {
        let have = match self.provider.list().await {
            Ok(have) => have,
            Err(e) => {
                tracing::debug!("cannot list the provider's VMs: {e}");
                return;
            }
        };
        let now = Instant::now();
        let doomed: Vec<String> = {
            let mut unknown = lock(&self.unknown);
            unknown.retain(|id, _| !known.contains(id) && have.contains(id));
            have.iter()
                .filter(|id| !known.contains(*id))
                .filter(|id| {
                    let since = *unknown.entry((*id).clone()).or_insert(now);
                    now.duration_since(since) >= self.broker.cfg.orphan_grace
                })
                .cloned()
                .collect()
        };
        for id in doomed {
            tracing::warn!(
                "destroying VM {id}: its provider runs it but the store does not know it"
            );
            if let Err(e) = self.provider.destroy(&id).await {
                tracing::warn!("VM {id} not destroyed: {e}");
            }
            lock(&self.unknown).remove(&id);
        }
    }

    fn now(&self) -> u64 {
        self.broker.clock.now_secs()
    }

    async fn fail(&self, db: &TenantDb, vm: &Vm, reason: String) -> AppResult<()> {
        tracing::warn!("VM {} of pool {} failed: {reason}", vm.id, vm.pool);
        let live = [VmState::Starting, VmState::Ready, VmState::Assigned];
        set_state(db, &vm.id, &live, VmState::Failed, self.now(), Some(reason)).await?;
        if let Some(pid) = &vm.provider_id {
            // Failed, it is destroyed again at the next pass if this fails.
            if let Err(e) = self.provider.destroy(pid).await {
                tracing::warn!("VM {} not destroyed yet: {e}", vm.id);
            }
        }
        Ok(())
    }

    async fn step(&self, db: &TenantDb, vm: Vm) -> AppResult<()> {
        match (vm.state, vm.provider_id.clone()) {
            (VmState::Starting, None) => self.create(db, &vm).await,
            (VmState::Starting, Some(pid)) => match self.provider.status(&pid).await {
                Ok(VmStatus::Running) => self.mark_ready(db, &vm, &pid).await,
                Ok(VmStatus::Booting) => Ok(()),
                Ok(VmStatus::Gone) => self.fail(db, &vm, "its provider lost it".into()).await,
                Ok(VmStatus::Error(why)) => self.fail(db, &vm, why).await,
                Err(e) => Err(e.into()),
            },
            (VmState::Ready | VmState::Assigned, Some(pid)) => {
                match self.provider.status(&pid).await {
                    Ok(VmStatus::Running | VmStatus::Booting) => {}
                    Ok(VmStatus::Gone) => {
                        return self.fail(db, &vm, "its provider lost it".into()).await
                    }
                    Ok(VmStatus::Error(why)) => return self.fail(db, &vm, why).await,
                    Err(e) => return Err(e.into()),
                }
                if vm.password_gen > vm.password_applied {
                    self.apply_password(db, &vm, &pid).await?;
                }
                Ok(())
            }
            (VmState::Ready | VmState::Assigned, None) => {
                self.fail(db, &vm, "it has no provider id".into()).await
            }
            (VmState::Stopping, pid) => {
                if let Some(pid) = pid {
                    self.provider.destroy(&pid).await?;
                }
                vms::finish(db, &vm, self.now()).await
            }
            (VmState::Failed, Some(pid)) => {
                // Destroyed when it failed, unless that call failed too:
                // once more, then never again for this record.
                if lock(&self.finished).insert(vm.id.clone()) {
                    self.provider.destroy(&pid).await?;
                }
                Ok(())
            }
            (VmState::Failed, None) => Ok(()),
        }
    }

    async fn create(&self, db: &TenantDb, vm: &Vm) -> AppResult<()> {
        let Some(pool) = db.get::<super::model::Pools>(&vm.pool).await? else {
            let why = format!("its pool `{}` was removed", vm.pool);
            return self.fail(db, vm, why).await;
        };
        let spec = VmSpec {
            vm_id: vm.id.clone(),
            tenant: db.tenant().to_string(),
            pool: vm.pool.clone(),
            image: pool.image.clone(),
            memory_mb: pool.memory_mb,
            vcpus: pool.vcpus,
            password: vm.spice_password.clone(),
        };
        let pid = match self.provider.create(&spec).await {
            Ok(pid) => pid,
            Err(e) => {
                let why = match &e {
                    ProviderError::Capacity(m) => format!("no room: {m}"),
                    other => other.to_string(),
                };
                return self.fail(db, vm, why).await;
            }
        };
        let recorded = transition(
            db,
            &vm.id,
            |v| v.state == VmState::Starting && v.provider_id.is_none(),
            |v| v.provider_id = Some(pid.clone()),
        )
        .await?;
        if recorded.is_none() {
            // Failed or removed meanwhile (a start timeout): do not leak it.
            self.provider.destroy(&pid).await?;
        }
        Ok(())
    }

    async fn mark_ready(&self, db: &TenantDb, vm: &Vm, pid: &str) -> AppResult<()> {
        let console = self.provider.console(pid).await?;
        let now = self.now();
        transition(
            db,
            &vm.id,
            |v| v.state == VmState::Starting,
            |v| {
                v.state = VmState::Ready;
                v.since = now;
                v.spice_addr = Some(console.addr.clone());
                v.spice_password = console.password.clone();
                v.password_applied = v.password_gen;
            },
        )
        .await?;
        Ok(())
    }

    async fn apply_password(&self, db: &TenantDb, vm: &Vm, pid: &str) -> AppResult<()> {
        let set = self.provider.set_password(pid, &vm.spice_password).await?;
        // Where the provider cannot set one, the console's password stands.
        let console = if set {
            None
        } else {
            Some(self.provider.console(pid).await?)
        };
        let generation = vm.password_gen;
        transition(
            db,
            &vm.id,
            |v| v.password_gen == generation,
            |v| {
                v.password_applied = generation;
                if let Some(c) = &console {
                    v.spice_addr = Some(c.addr.clone());
                    v.spice_password = c.password.clone();
                }
            },
        )
        .await?;
        Ok(())
    }
}

impl From<ProviderError> for crate::http::AppError {
    fn from(e: ProviderError) -> Self {
        crate::http::AppError::Unavailable(e.to_string())
    }
}
