//! Changes to VM records that more than one part of the broker makes. Every
//! change is a compare-and-swap on the record as read, so two nodes acting
//! on the same VM at once cannot both win.

use opencloud_raft::Store;
use std::sync::Arc;

use super::model::{Usage, Vm, VmState, Vms};
use crate::db::{fresh_request_id, PlatformDb, TenantDb};
use crate::http::{AppError, AppResult};
use crate::records::Tenants;

/// Most records of one kind the broker reads per tenant in one pass.
pub const SCAN_LIMIT: usize = 100_000;

/// The slugs of every tenant.
pub async fn tenants(store: &Arc<Store>) -> AppResult<Vec<String>> {
    let all = PlatformDb::new(store.clone())
        .list::<Tenants>(SCAN_LIMIT)
        .await?;
    Ok(all.into_iter().map(|(slug, _)| slug).collect())
}

/// Every VM of the tenant.
pub async fn all(db: &TenantDb) -> AppResult<Vec<Vm>> {
    Ok(db
        .list::<Vms>(SCAN_LIMIT)
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Changes VM `id` with `change` if `expect` holds for it as stored; the
/// new record, or `None` when it is gone or no longer as expected.
pub async fn transition(
    db: &TenantDb,
    id: &str,
    expect: impl Fn(&Vm) -> bool,
    mut change: impl FnMut(&mut Vm),
) -> AppResult<Option<Vm>> {
    let mut moved = true;
    let out = db
        .update::<Vms, _>(id, |current| {
            match current {
                Some(mut vm) if expect(&vm) => {
                    change(&mut vm);
                    moved = true;
                    Ok(Some(vm))
                }
                // Nothing to do: say so by an error the caller never sees.
                _ => {
                    moved = false;
                    Err(AppError::Conflict(String::new()))
                }
            }
        })
        .await;
    match out {
        Ok(vm) if moved => Ok(vm),
        Ok(_) => Ok(None),
        Err(AppError::Conflict(m)) if m.is_empty() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Moves VM `id` to `state` (from any state in `from`), with a reason.
pub async fn set_state(
    db: &TenantDb,
    id: &str,
    from: &[VmState],
    state: VmState,
    now: u64,
    reason: Option<String>,
) -> AppResult<Option<Vm>> {
    transition(
        db,
        id,
        |vm| from.contains(&vm.state),
        |vm| {
            if vm.state == VmState::Assigned && vm.released_at.is_none() {
                vm.released_at = Some(now);
            }
            vm.state = state;
            vm.since = now;
            if reason.is_some() {
                vm.reason = reason.clone();
            }
        },
    )
    .await
}

/// Removes a destroyed VM's record, recording its usage first: the event's
/// id is the VM's, so doing this twice (after a crash between the two
/// writes) records it once.
pub async fn finish(db: &TenantDb, vm: &Vm, now: u64) -> AppResult<()> {
    if let Some(event) = super::metering::usage_of(db.tenant(), vm, now) {
        db.insert::<Usage>(&event.id, &event, fresh_request_id())
            .await?;
    }
    db.delete::<Vms>(&vm.id, fresh_request_id()).await?;
    Ok(())
}

/// Releases the VMs a session launched (the user signed out): they stop at
/// once rather than at the next reaping.
pub async fn release_session(db: &TenantDb, session: &str, now: u64) -> AppResult<usize> {
    let mut released = 0;
    for (id, vm) in db.list::<Vms>(SCAN_LIMIT).await? {
        let theirs = vm.state == VmState::Assigned
            && vm.assigned.as_ref().is_some_and(|a| a.session == session);
        if !theirs {
            continue;
        }
        let reason = Some("the user signed out".to_string());
        if set_state(
            db,
            &id,
            &[VmState::Assigned],
            VmState::Stopping,
            now,
            reason,
        )
        .await?
        .is_some()
        {
            released += 1;
        }
    }
    Ok(released)
}
