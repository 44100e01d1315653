//! A supervisor's approval of a change the coverage guard held.

use jiff::Timestamp;

use crate::command::{ItemOutcome, Violation, ViolationCode};
use crate::held::HeldChange;

use super::{Plan, Snapshot, Working};

/// Decides the approval of `held` against `snap` (which must hold its shifts and the agents
/// they would go to, with their shifts): refused if a shift it touches changed since it was
/// held, or if any rule but the guard (the supervisor's approval is that decision) breaks now.
pub fn plan_held(
    snap: &Snapshot,
    held: &HeldChange,
    now: Timestamp,
) -> Result<Plan, Vec<Violation>> {
    let mut working = Working::new(snap, now, &[ViolationCode::CoverageBelowRequirement]);
    let mut violations = Vec::new();
    let mut found = Vec::with_capacity(held.shifts.len());
    for h in &held.shifts {
        let Some(shift) = snap
            .shifts
            .get(&h.shift_id)
            .filter(|s| s.schedule_id == snap.schedule.id)
        else {
            violations.push(Violation::new(
                ViolationCode::ShiftNotFound,
                None,
                Some(h.shift_id),
                format!("shift {} does not exist", h.shift_id),
            ));
            continue;
        };
        if shift.version != h.expected_version {
            violations.push(Violation::new(
                ViolationCode::ShiftChangedSinceHeld,
                shift.owner,
                Some(shift.id),
                format!(
                    "shift {} changed in version {}, after the change was held at version {}",
                    shift.id, shift.version, h.expected_version
                ),
            ));
            continue;
        }
        working.check_not_past(shift, h.before.start, &mut violations);
        if (h.after.start, h.after.end) != (h.before.start, h.before.end) {
            working.check_not_past(shift, h.after.start, &mut violations);
        }
        found.push((shift, h));
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    for (shift, h) in &found {
        working.set(shift.id, h.after);
    }
    for (shift, h) in &found {
        if let Some(owner) = h.after.owner
            && h.after != h.before
        {
            working.check_receiver(owner, shift, &mut violations);
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let priors: Vec<_> = found.iter().map(|(s, h)| (*s, h.before)).collect();
    working.guard_and_keep(&priors);
    let version = snap.schedule.version.next();
    Ok(working.plan(vec![ItemOutcome::Applied { version }], Vec::new()))
}
