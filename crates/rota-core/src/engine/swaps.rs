//! Bulk swaps and supervisors' shift edits.

use std::collections::HashSet;

use jiff::Timestamp;

use crate::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ShiftEdit, SwapItem, SwapMode,
    SwapRequest, Violation, ViolationCode,
};
use crate::coverage::Delta;
use crate::held::{HeldShift, NewHeld};
use crate::ids::{HeldChangeId, ShiftId};
use crate::schedule::Shift;
use crate::version::{ScheduleVersion, ShiftState};

use super::import::outside_week;
use super::{Plan, Snapshot, Working, held_for_supervisor};

/// Decides a bulk swap request against `snap`, which must hold every touched shift that exists
/// and every agent [`Snapshot::involved_agents`] names, with their shifts.
pub fn plan_swaps(
    snap: &Snapshot,
    req: &SwapRequest,
    now: Timestamp,
) -> Result<Plan, CommandError> {
    plan_swaps_waiving(snap, req, now, &[])
}

/// [`plan_swaps`] without enforcing the rules `waived` names: a trade approval under settings
/// that allow them.
pub fn plan_swaps_waiving(
    snap: &Snapshot,
    req: &SwapRequest,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<Plan, CommandError> {
    let schedule = &snap.schedule;
    if req.items.is_empty() {
        return Err(CommandError::EmptyRequest);
    }
    if req.base.schedule() != schedule.id {
        return Err(CommandError::ScheduleNotFound(req.base.schedule()));
    }
    let base = req.base.version();
    if base > schedule.version {
        return Err(CommandError::UnknownVersion {
            schedule: schedule.id,
            requested: base,
            current: schedule.version,
        });
    }
    let new_version = schedule.version.next();
    let effective_from = req.effective_date.map(|d| snap.zone.instant(d, 0));
    let mut working = Working::new(snap, now, waived);
    let mut seen: HashSet<ShiftId> = HashSet::with_capacity(req.items.len() * 2);
    let mut outcomes = Vec::with_capacity(req.items.len());

    for item in &req.items {
        let outcome = plan_item(&mut working, item, req.scope, base, effective_from, &seen)
            .map_or_else(
                |o| o,
                |()| ItemOutcome::Applied {
                    version: new_version,
                },
            );
        seen.extend(item.shifts());
        outcomes.push(outcome);
    }

    let all_applied = outcomes.iter().all(ItemOutcome::is_applied);
    if req.mode == SwapMode::Atomic && !all_applied {
        let only_held = outcomes
            .iter()
            .all(|o| matches!(o, ItemOutcome::Applied { .. } | ItemOutcome::Held { .. }));
        if only_held {
            return Ok(hold_whole_request(&mut working, outcomes));
        }
        for outcome in &mut outcomes {
            match outcome {
                ItemOutcome::Applied { .. } => *outcome = ItemOutcome::Skipped,
                // Nothing of a failed atomic request is held; the item says what it would do.
                ItemOutcome::Held { violations, .. } => {
                    *outcome = ItemOutcome::Rejected {
                        violations: std::mem::take(violations),
                    };
                }
                _ => {}
            }
        }
        return Ok(Plan::nothing(outcomes));
    }
    let held = std::mem::take(&mut working.held);
    Ok(working.plan(outcomes, held))
}

/// An atomic request whose only failures are the guard's, held whole: one held change of every
/// item's shifts, applied together or not at all.
fn hold_whole_request(working: &mut Working<'_>, mut outcomes: Vec<ItemOutcome>) -> Plan {
    let id = HeldChangeId::new();
    let snap = working.snap;
    let mut shifts: Vec<HeldShift> = working
        .changes()
        .into_iter()
        .filter_map(|c| {
            let shift = snap.shifts.get(&c.shift_id)?;
            Some(HeldShift {
                shift_id: c.shift_id,
                expected_version: shift.version,
                before: c.before?,
                after: c.after,
            })
        })
        .collect();
    let mut violations = Vec::new();
    for held in working.held.drain(..) {
        shifts.extend(held.shifts);
        violations.extend(held.violations);
    }
    shifts.sort_unstable_by_key(|s| s.shift_id);
    for outcome in &mut outcomes {
        let own = match outcome {
            ItemOutcome::Held { violations, .. } => std::mem::take(violations),
            _ => Vec::new(),
        };
        *outcome = ItemOutcome::Held {
            held_change_id: id,
            violations: own,
        };
    }
    Plan {
        outcomes,
        changes: Vec::new(),
        coverage: Delta::new(),
        relaid: Vec::new(),
        held: vec![NewHeld {
            id,
            shifts,
            violations,
        }],
    }
}

/// One item against the working state; `Err` carries a non-applied outcome.
fn plan_item(
    working: &mut Working<'_>,
    item: &SwapItem,
    scope: ConflictScope,
    base: ScheduleVersion,
    effective_from: Option<Timestamp>,
    seen: &HashSet<ShiftId>,
) -> Result<(), ItemOutcome> {
    let snap = working.snap;
    let rejected = |violations| Err(ItemOutcome::Rejected { violations });
    let item_violation = |code, shift_id: Option<ShiftId>, detail: String| Violation {
        code,
        agent_id: Some(item.agent_id),
        shift_id,
        detail,
        coverage: None,
    };

    if item.original_shift_id == item.new_shift_id {
        return rejected(vec![item_violation(
            ViolationCode::SameShift,
            Some(item.new_shift_id),
            "the original and the new shift are the same shift".into(),
        )]);
    }
    let reused: Vec<Violation> = item
        .shifts()
        .into_iter()
        .filter(|id| seen.contains(id))
        .map(|id| {
            item_violation(
                ViolationCode::ShiftUsedTwice,
                Some(id),
                format!("shift {id} is used by an earlier item of this request"),
            )
        })
        .collect();
    if !reused.is_empty() {
        return rejected(reused);
    }
    let mut missing = Vec::new();
    let mut found = Vec::with_capacity(2);
    for id in item.shifts() {
        match snap.shifts.get(&id) {
            Some(shift) if shift.schedule_id == snap.schedule.id => found.push(shift),
            Some(shift) => missing.push(item_violation(
                ViolationCode::DifferentSchedule,
                Some(id),
                format!(
                    "shift {id} belongs to schedule {}, not {}",
                    shift.schedule_id, snap.schedule.id
                ),
            )),
            None => missing.push(item_violation(
                ViolationCode::ShiftNotFound,
                Some(id),
                format!("shift {id} does not exist"),
            )),
        }
    }
    let [original, new] = found[..] else {
        return rejected(missing);
    };

    let changed: Vec<Shift> = [original, new]
        .into_iter()
        .filter(|s| s.version > base)
        .cloned()
        .collect();
    let schedule_moved = scope == ConflictScope::Schedule && snap.schedule.version > base;
    if !changed.is_empty() || schedule_moved {
        return Err(ItemOutcome::Conflict {
            shifts: changed,
            current_version_id: snap.schedule.version_id(),
        });
    }

    let held: Vec<Violation> = [original, new]
        .into_iter()
        .filter_map(|s| snap.held.get(&s.id).map(|trade| (s, trade)))
        .map(|(s, trade)| {
            item_violation(
                ViolationCode::ShiftInTrade,
                Some(s.id),
                format!(
                    "shift {} is held by trade {trade}, which awaits review",
                    s.id
                ),
            )
        })
        .collect();
    if !held.is_empty() {
        return rejected(held);
    }

    let mut violations = Vec::new();
    let original_state = working.state(original);
    let new_state = working.state(new);
    if original_state.owner != Some(item.agent_id) {
        violations.push(item_violation(
            ViolationCode::ShiftNotOwned,
            Some(original.id),
            format!("agent {} does not own shift {}", item.agent_id, original.id),
        ));
    }
    if new_state.owner == Some(item.agent_id) {
        violations.push(item_violation(
            ViolationCode::SameAgent,
            Some(new.id),
            format!("agent {} already owns shift {}", item.agent_id, new.id),
        ));
    }
    if let Some(counterpart) = item.counterpart_agent_id
        && new_state.owner != Some(counterpart)
    {
        violations.push(Violation {
            code: ViolationCode::CounterpartMismatch,
            agent_id: Some(counterpart),
            shift_id: Some(new.id),
            detail: format!(
                "shift {} is not owned by counterpart agent {counterpart}",
                new.id
            ),
            coverage: None,
        });
    }
    for (shift, state) in [(original, original_state), (new, new_state)] {
        working.check_not_past(shift, state.start, &mut violations);
        if let Some(from) = effective_from
            && state.start < from
        {
            violations.push(item_violation(
                ViolationCode::BeforeEffectiveDate,
                Some(shift.id),
                format!(
                    "shift {} starts at {}, before the request's effective date",
                    shift.id, state.start
                ),
            ));
        }
    }
    if !violations.is_empty() {
        return rejected(violations);
    }
    let violations = working.try_assign(&[(new, Some(item.agent_id)), (original, new_state.owner)]);
    if violations.is_empty() {
        Ok(())
    } else if held_for_supervisor(snap, &violations) {
        let held_change_id = HeldChangeId::new();
        let held = |shift: &Shift, before: ShiftState, owner| HeldShift {
            shift_id: shift.id,
            expected_version: shift.version,
            before,
            after: ShiftState { owner, ..before },
        };
        working.held.push(NewHeld {
            id: held_change_id,
            shifts: vec![
                held(original, original_state, new_state.owner),
                held(new, new_state, Some(item.agent_id)),
            ],
            violations: violations.clone(),
        });
        Err(ItemOutcome::Held {
            held_change_id,
            violations,
        })
    } else {
        rejected(violations)
    }
}

/// Decides a supervisor's single-shift edit against `snap`, which must hold the shift and the
/// agent who would own it afterwards, with their shifts.
pub fn plan_edit(snap: &Snapshot, edit: &ShiftEdit, now: Timestamp) -> Result<Plan, CommandError> {
    plan_edit_waiving(snap, edit, now, &[])
}

/// [`plan_edit`] without enforcing the rules `waived` names.
pub fn plan_edit_waiving(
    snap: &Snapshot,
    edit: &ShiftEdit,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<Plan, CommandError> {
    let shift = snap
        .shifts
        .get(&edit.shift_id)
        .filter(|s| s.schedule_id == snap.schedule.id)
        .ok_or(CommandError::ShiftNotFound(edit.shift_id))?;
    // A version the schedule has not reached is not a stale read but no version at all.
    if edit.expected_version > snap.schedule.version {
        return Err(CommandError::UnknownVersion {
            schedule: snap.schedule.id,
            requested: edit.expected_version,
            current: snap.schedule.version,
        });
    }
    if shift.version != edit.expected_version {
        return Err(CommandError::ShiftVersionConflict {
            expected: edit.expected_version,
            current: Box::new(shift.clone()),
            current_version_id: snap.schedule.version_id(),
        });
    }
    let mut working = Working::new(snap, now, waived);
    let before = shift.state();
    let mut after = before;
    match edit.change {
        EditChange::Move { window } => {
            after.start = window.start();
            after.end = window.end();
        }
        EditChange::Reassign { agent_id } => after.owner = Some(agent_id),
        EditChange::Open => after.owner = None,
    }
    let mut violations = Vec::new();
    if after == before {
        violations.push(Violation {
            code: ViolationCode::NoChange,
            agent_id: before.owner,
            shift_id: Some(shift.id),
            detail: format!("the edit leaves shift {} as it is", shift.id),
            coverage: None,
        });
    }
    working.check_not_past(shift, before.start, &mut violations);
    if after.start != before.start {
        working.check_not_past(shift, after.start, &mut violations);
        if let Some(v) = outside_week(shift.id, after.start, working.week) {
            violations.push(v);
        }
    }
    if (after.start != before.start || after.end != before.end)
        && shift.activities_at(&after).is_none()
    {
        violations.push(Violation::new(
            ViolationCode::ActivitiesDoNotFit,
            before.owner,
            Some(shift.id),
            format!(
                "shift {} cannot become {} minutes long: its last activity would vanish",
                shift.id,
                after.end.duration_since(after.start).as_mins()
            ),
        ));
    }
    if violations.is_empty() {
        working.set(shift.id, after);
        if let Some(owner) = after.owner {
            working.check_receiver(owner, shift, &mut violations);
        }
        violations.retain(|v| !waived.contains(&v.code));
    }
    if violations.is_empty() {
        violations = working.guard(&[(shift, before)]);
        if held_for_supervisor(snap, &violations) {
            let id = HeldChangeId::new();
            return Ok(Plan {
                outcomes: vec![ItemOutcome::Held {
                    held_change_id: id,
                    violations: violations.clone(),
                }],
                changes: Vec::new(),
                coverage: Delta::new(),
                relaid: Vec::new(),
                held: vec![NewHeld {
                    id,
                    shifts: vec![HeldShift {
                        shift_id: shift.id,
                        expected_version: shift.version,
                        before,
                        after,
                    }],
                    violations,
                }],
            });
        }
    }
    if !violations.is_empty() {
        return Err(CommandError::Rejected(violations));
    }
    let version = snap.schedule.version.next();
    Ok(working.plan(vec![ItemOutcome::Applied { version }], Vec::new()))
}
