//! Metering: the VM-seconds of each assignment, as usage events in the
//! tenant's `usage` table (billing reads them). A long assignment is
//! recorded in whole periods while it runs, so that a bill can cut it at a
//! period's end; the rest is recorded when the VM goes.
//!
//! Every event's id is derived from the VM and the event's end, and its
//! content from the VM record alone, so a planner that crashed between
//! recording a period and marking it recorded writes the very same event
//! again, which the store keeps once (insert if absent).

use super::model::{Usage, UsageEvent, Vm, VmState};
use super::vms::transition;
use crate::db::{fresh_request_id, TenantDb};
use crate::http::AppResult;

/// Most periods recorded for one VM in one pass (a leader that was down for
/// a long time catches up over a few passes).
const MAX_PERIODS_PER_PASS: u64 = 1000;

fn event(tenant: &str, vm: &Vm, id: String, start: u64, end: u64) -> Option<UsageEvent> {
    let a = vm.assigned.as_ref()?;
    Some(UsageEvent {
        id,
        kind: "vm_seconds".into(),
        tenant: tenant.to_string(),
        login: a.login.clone(),
        pool: vm.pool.clone(),
        start,
        end,
        vm_seconds: end.saturating_sub(start),
    })
}

/// The usage an ended assignment of `vm` adds to the tenant's bill beyond
/// its recorded periods. Its id is the VM's.
pub fn usage_of(tenant: &str, vm: &Vm, now: u64) -> Option<UsageEvent> {
    let a = vm.assigned.as_ref()?;
    let start = a.metered_to.unwrap_or(a.at).max(a.at);
    let end = vm.released_at.unwrap_or(now).max(start);
    event(tenant, vm, vm.id.clone(), start, end)
}

/// The whole periods of `every` seconds of `vm`'s assignment that ended by
/// `now` and are not recorded yet, as (start, end).
pub fn due_periods(vm: &Vm, every: u64, now: u64) -> Vec<(u64, u64)> {
    let Some(a) = vm.assigned.as_ref().filter(|_| every > 0) else {
        return Vec::new();
    };
    let from = a.metered_to.unwrap_or(a.at).max(a.at);
    let whole = (now.saturating_sub(from) / every).min(MAX_PERIODS_PER_PASS);
    (0..whole)
        .map(|k| (from + k * every, from + (k + 1) * every))
        .collect()
}

/// Records the whole periods of an assigned VM's usage that are due, then
/// marks them recorded on the VM (a compare-and-swap: another planner's
/// record of the same periods wins and this one's changes nothing).
pub async fn checkpoint(db: &TenantDb, vm: &Vm, every: u64, now: u64) -> AppResult<()> {
    let periods = due_periods(vm, every, now);
    let Some(&(_, last)) = periods.last() else {
        return Ok(());
    };
    for (start, end) in periods {
        let id = format!("{}@{end}", vm.id);
        if let Some(e) = event(db.tenant(), vm, id, start, end) {
            db.insert::<Usage>(&e.id, &e, fresh_request_id()).await?;
        }
    }
    let recorded = vm.assigned.as_ref().and_then(|a| a.metered_to);
    transition(
        db,
        &vm.id,
        |v| {
            v.state == VmState::Assigned
                && v.assigned.as_ref().and_then(|a| a.metered_to) == recorded
        },
        |v| {
            if let Some(a) = v.assigned.as_mut() {
                a.metered_to = Some(last);
            }
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::model::Assignment;

    fn assigned(at: u64, metered_to: Option<u64>) -> Vm {
        let json = serde_json::json!({
            "id": "vm-1", "pool": "shell", "provider": "local", "node": 1,
            "state": "assigned", "pool_version": "v", "provider_id": null,
            "spice_addr": null, "spice_password": "", "password_gen": 0,
            "password_applied": 0, "assigned": null, "created_at": 0,
            "since": 0, "released_at": null, "reason": null,
        });
        let mut vm: Vm = serde_json::from_value(json).expect("a VM record");
        vm.assigned = Some(Assignment {
            login: "u1".into(),
            session: "s".into(),
            at,
            metered_to,
        });
        vm
    }

    #[test]
    fn whole_periods_from_the_last_recorded_one() {
        let vm = assigned(100, None);
        assert_eq!(due_periods(&vm, 60, 159), vec![]);
        assert_eq!(due_periods(&vm, 60, 160), vec![(100, 160)]);
        assert_eq!(due_periods(&vm, 60, 279), vec![(100, 160), (160, 220)]);
        let vm = assigned(100, Some(220));
        assert_eq!(due_periods(&vm, 60, 290), vec![(220, 280)]);
        assert_eq!(due_periods(&vm, 0, 10_000), vec![]);
        // A clock behind the assignment records nothing.
        assert_eq!(due_periods(&vm, 60, 50), vec![]);
    }

    #[test]
    fn the_end_covers_what_the_periods_did_not() {
        let mut vm = assigned(100, Some(220));
        vm.released_at = Some(250);
        let e = usage_of("acme", &vm, 999).expect("an event");
        assert_eq!(
            (e.id.as_str(), e.start, e.end, e.vm_seconds),
            ("vm-1", 220, 250, 30)
        );
        // Released right at a recorded period's end: an empty remainder.
        vm.released_at = Some(220);
        assert_eq!(usage_of("acme", &vm, 999).map(|e| e.vm_seconds), Some(0));
        let vm = assigned(100, None);
        assert_eq!(
            usage_of("acme", &vm, 130).map(|e| (e.start, e.end)),
            Some((100, 130))
        );
    }

    #[test]
    fn a_long_absence_catches_up_in_bounded_passes() {
        let vm = assigned(0, None);
        let p = due_periods(&vm, 1, 1_000_000);
        assert_eq!(p.len() as u64, MAX_PERIODS_PER_PASS);
        assert_eq!(p.last(), Some(&(999, 1000)));
    }
}
