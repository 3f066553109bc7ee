//! A user's launch of a VM app: one VM of the app's pool becomes theirs by
//! a compare-and-swap on its record (so two launches can never take the
//! same VM), gets a fresh SPICE password, and the browser gets a single-use
//! viewer ticket for it.

use std::time::Instant;

use super::model::{
    Assignment, Demand, Demands, NodeBeats, Pool, Pools, ProviderKind, Quotas, Vm, VmState, Vms,
};
use super::vms::{self, transition};
use super::Broker;
use crate::db::{fresh_request_id, PlatformDb, TenantDb};
use crate::http::{AppError, AppResult};
use crate::viewer::{tickets, Target};

/// How long a launch's viewer ticket may wait to be opened.
pub const TICKET_TTL_S: u64 = 60;

/// What the desktop gets back.
#[derive(Debug, serde::Serialize)]
pub struct Launched {
    pub vm: String,
    /// The viewer page with its single-use ticket.
    pub viewer_url: String,
    pub expires_in_s: u64,
    /// Whether the user already had this VM (a second window, a reload).
    pub resumed: bool,
}

/// Who is launching.
pub struct Launcher<'a> {
    pub login: &'a str,
    /// The store key of their session.
    pub session: &'a str,
}

enum Pick {
    Got(Box<Vm>, bool),
    Wait,
}

pub async fn launch(
    broker: &Broker,
    db: &TenantDb,
    who: &Launcher<'_>,
    pool_id: &str,
) -> AppResult<Launched> {
    let pool = db.get::<Pools>(pool_id).await?.ok_or_else(|| {
        AppError::Unavailable(format!(
            "this app's pool `{pool_id}` does not exist; ask your administrator"
        ))
    })?;
    // Without a cloud connection the planner starts nothing for such a
    // pool: say so now rather than after the whole launch wait.
    if pool.provider == ProviderKind::Openstack && broker.openstack.is_none() {
        return Err(AppError::Unavailable(format!(
            "this app's pool `{pool_id}` runs on OpenStack, and this cluster has no OpenStack connection (--openstack); ask your administrator"
        )));
    }
    let started = Instant::now();
    let mut demand: Option<String> = None;
    let picked = loop {
        match pick(broker, db, who, &pool).await {
            Ok(Pick::Got(vm, resumed)) => break Ok((*vm, resumed)),
            Ok(Pick::Wait) if started.elapsed() < broker.cfg.launch_wait => {
                if demand.is_none() {
                    demand = Some(ask_for_vm(broker, db, &pool).await?);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Ok(Pick::Wait) => {
                break Err(AppError::Unavailable(format!(
                    "no virtual machine became free within {} s; try again in a moment",
                    broker.cfg.launch_wait.as_secs()
                )))
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(key) = demand {
        // Served or given up: the planner need not start one for it. A
        // demand left behind lapses on its own.
        let _ = db.delete::<Demands>(&key, fresh_request_id()).await;
    }
    let (vm, resumed) = picked?;
    let vm = wait_password(broker, db, &vm).await?;
    let addr = vm
        .spice_addr
        .clone()
        .ok_or_else(|| AppError::Internal(format!("VM {} has no SPICE address", vm.id)))?;
    let target = Target {
        addr,
        password: vm.spice_password.clone(),
    };
    let now = broker.clock.now_secs();
    let token = tickets::issue(
        &broker.store,
        now,
        &target,
        tickets::Mode::Translate,
        TICKET_TTL_S,
        Some(tickets::Keepalive {
            tenant: db.tenant().to_string(),
            session: who.session.to_string(),
        }),
    )
    .await
    .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(Launched {
        vm: vm.id,
        viewer_url: format!("/viewer/#token={token}"),
        expires_in_s: TICKET_TTL_S,
        resumed,
    })
}

/// Takes the user's VM of this pool (they have one already) or a ready one,
/// with a fresh password; `Wait` when none is ready but one may be soon.
async fn pick(broker: &Broker, db: &TenantDb, who: &Launcher<'_>, pool: &Pool) -> AppResult<Pick> {
    let vms: Vec<Vm> = vms::all(db).await?;
    let now = broker.clock.now_secs();
    let password = crate::viewer::random_hex(16);
    let fresh = |vm: &mut Vm| {
        vm.spice_password = password.clone();
        vm.password_gen += 1;
    };
    let mine = vms.iter().find(|v| {
        v.pool == pool.id
            && v.state == VmState::Assigned
            && v.assigned.as_ref().is_some_and(|a| a.login == who.login)
    });
    if let Some(vm) = mine {
        let session = who.session.to_string();
        let login = who.login.to_string();
        let taken = transition(
            db,
            &vm.id,
            |v| {
                v.state == VmState::Assigned
                    && v.assigned.as_ref().is_some_and(|a| a.login == login)
            },
            |v| {
                fresh(v);
                // The newest window's session keeps it alive from now on.
                if let Some(a) = v.assigned.as_mut() {
                    a.session = session.clone();
                }
            },
        )
        .await?;
        if let Some(vm) = taken {
            return Ok(Pick::Got(Box::new(vm), true));
        }
    }
    let mut ready: Vec<&Vm> = vms
        .iter()
        .filter(|v| v.pool == pool.id && v.state == VmState::Ready)
        .collect();
    // VMs of nodes that beat lately first (a node that just died still has
    // ready VMs until the planner notices), then oldest first: concurrent
    // launches collide on the same record and the losers move on.
    let quiet = quiet_nodes(broker, now).await?;
    ready.sort_by_key(|v| {
        let stale = v.node.is_some_and(|n| quiet.contains(&n));
        (stale, v.since, v.id.clone())
    });
    for vm in ready {
        let assignment = Assignment {
            login: who.login.to_string(),
            session: who.session.to_string(),
            at: now,
            metered_to: None,
        };
        let taken = transition(
            db,
            &vm.id,
            |v| v.state == VmState::Ready,
            |v| {
                v.state = VmState::Assigned;
                v.since = now;
                v.assigned = Some(assignment.clone());
                fresh(v);
            },
        )
        .await?;
        if let Some(vm) = taken {
            return Ok(Pick::Got(Box::new(vm), false));
        }
    }
    // None ready: wait only if one is coming (booting, or a stopping one
    // frees room for another).
    let of_pool = vms.iter().filter(|v| v.pool == pool.id);
    if of_pool
        .clone()
        .any(|v| matches!(v.state, VmState::Starting | VmState::Stopping))
    {
        return Ok(Pick::Wait);
    }
    let counted = of_pool.filter(|v| v.counts()).count() as u32;
    if counted >= pool.max {
        return Err(AppError::Unavailable(format!(
            "all {} virtual machines for this app are in use; try again later",
            pool.max
        )));
    }
    let quota = db.get::<Quotas>("quota").await?.unwrap_or_default();
    if let Some(max) = quota.max_vms {
        let tenant = vms.iter().filter(|v| v.counts()).count() as u32;
        if tenant >= max {
            return Err(AppError::TooManyRequests(format!(
                "your organisation is using all {max} virtual machines of its plan; close an app or ask your administrator for more"
            )));
        }
    }
    // The planner will start one at its next pass.
    Ok(Pick::Wait)
}

/// Nodes whose last beat is older than half the time after which the
/// planner calls a node dead.
async fn quiet_nodes(broker: &Broker, now: u64) -> AppResult<Vec<u64>> {
    let limit = (broker.cfg.node_dead_after.as_secs() / 2).max(1);
    let beats = PlatformDb::new(broker.store.clone())
        .list::<NodeBeats>(1024)
        .await?;
    Ok(beats
        .into_iter()
        .filter(|(_, b)| b.at.saturating_add(limit) < now)
        .filter_map(|(id, _)| id.parse().ok())
        .collect())
}

/// Tells the planner that a launch waits for a VM of `pool`.
async fn ask_for_vm(broker: &Broker, db: &TenantDb, pool: &Pool) -> AppResult<String> {
    let key = format!("{}/{}", pool.id, crate::viewer::random_hex(8));
    let until = broker
        .clock
        .now_secs()
        .saturating_add(broker.cfg.launch_wait.as_secs());
    let demand = Demand {
        pool: pool.id.clone(),
        until,
    };
    db.insert::<Demands>(&key, &demand, fresh_request_id())
        .await?;
    Ok(key)
}

/// Waits until the VM's runner has set the password this launch made.
async fn wait_password(broker: &Broker, db: &TenantDb, vm: &Vm) -> AppResult<Vm> {
    let started = Instant::now();
    let mut current = vm.clone();
    loop {
        if current.password_applied >= vm.password_gen {
            return Ok(current);
        }
        if started.elapsed() >= broker.cfg.password_wait {
            return Err(AppError::Unavailable(
                "the virtual machine did not take its new password in time; try again".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        current = db
            .get::<Vms>(&vm.id)
            .await?
            .filter(|v| v.state == VmState::Assigned)
            .ok_or_else(|| {
                AppError::Unavailable("the virtual machine stopped; try again".into())
            })?;
    }
}
