//! What agents do themselves: pickups, releases, and trades between two agents.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ShiftEdit, SwapItem, SwapMode,
    SwapRequest, Violation, ViolationCode,
};
use crate::ids::{AgentId, ShiftId};
use crate::trade::{SelfServiceSettings, Trade};
use crate::version::ScheduleVersion;

use super::swaps::{plan_edit, plan_edit_waiving, plan_swaps_waiving};
use super::{Plan, Snapshot};

/// What an agent does to one shift through self-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SelfServiceAction {
    /// Take an open shift.
    Pickup,
    /// Give up one's own shift: it becomes open.
    Release,
}

/// Decides an agent's pickup or release of `shift_id`: the self-service policy first, then
/// the same rules and commit path as a supervisor's edit.
pub fn plan_self_service(
    snap: &Snapshot,
    shift_id: ShiftId,
    agent_id: AgentId,
    action: SelfServiceAction,
    seen: Option<crate::version::ScheduleVersion>,
    policy: &SelfServiceSettings,
    now: Timestamp,
) -> Result<Plan, CommandError> {
    let shift = snap
        .shifts
        .get(&shift_id)
        .filter(|s| s.schedule_id == snap.schedule.id)
        .ok_or(CommandError::ShiftNotFound(shift_id))?;
    // What the page showed comes first: a shift changed since is a conflict, whatever the
    // rules would now say about it.
    if let Some(seen) = seen
        && seen <= snap.schedule.version
        && shift.version != seen
    {
        return Err(CommandError::ShiftVersionConflict {
            expected: seen,
            current: Box::new(shift.clone()),
            current_version_id: snap.schedule.version_id(),
        });
    }
    let violation = |code, detail: String| {
        Err(CommandError::Rejected(vec![Violation {
            code,
            agent_id: Some(agent_id),
            shift_id: Some(shift_id),
            detail,
            coverage: None,
        }]))
    };
    let change = match action {
        SelfServiceAction::Pickup => {
            if shift.owner.is_some() {
                return violation(
                    ViolationCode::ShiftNotOpen,
                    format!("shift {shift_id} is not open"),
                );
            }
            EditChange::Reassign { agent_id }
        }
        SelfServiceAction::Release => {
            if shift.owner != Some(agent_id) {
                return violation(
                    ViolationCode::ShiftNotOwned,
                    format!("agent {agent_id} does not own shift {shift_id}"),
                );
            }
            if !policy.allow_release {
                return violation(
                    ViolationCode::ReleaseNotAllowed,
                    "this business unit does not let agents release shifts".into(),
                );
            }
            let notice =
                jiff::SignedDuration::from_hours(i64::from(policy.release_min_hours_before_start));
            if shift.window.start().duration_since(now) < notice {
                return violation(
                    ViolationCode::TooCloseToStart,
                    format!(
                        "shift {shift_id} starts at {}: releases need {} hours' notice",
                        shift.window.start(),
                        policy.release_min_hours_before_start
                    ),
                );
            }
            if let Some(trade) = snap.held.get(&shift_id) {
                return violation(
                    ViolationCode::ShiftInTrade,
                    format!("shift {shift_id} is held by trade {trade}, which awaits review"),
                );
            }
            EditChange::Open
        }
    };
    // A page that showed the shift at `seen` conflicts when the shift changed since, checked
    // here, under the command's lock, like a supervisor's edit.
    let edit = ShiftEdit {
        shift_id,
        expected_version: seen.unwrap_or(shift.version),
        change,
    };
    plan_edit(snap, &edit, now)
}

/// Decides a matched trade against `snap` (which must not count the trade's own holds): it
/// conflicts if a shift of the trade changed after `base` (the version it was matched at);
/// otherwise it is a swap (or, for a shift given away, a reassignment) checked by the same
/// rules as any other, except those `waived`. `Ok` carries the plan and the swap it applies.
pub fn plan_trade(
    snap: &Snapshot,
    trade: &Trade,
    base: ScheduleVersion,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<(Plan, Option<SwapItem>), Vec<Violation>> {
    let violation = |code, shift_id: Option<ShiftId>, detail: String| Violation {
        code,
        agent_id: trade.receiving_agent_id,
        shift_id,
        detail,
        coverage: None,
    };
    let Some(receiver) = trade.receiving_agent_id else {
        return Err(vec![violation(
            ViolationCode::AgentNotFound,
            None,
            format!("trade {} has no receiving agent", trade.id),
        )]);
    };
    let changed: Vec<Violation> = trade
        .shifts()
        .into_iter()
        .filter_map(|id| snap.shifts.get(&id))
        .filter(|s| s.version > base)
        .map(|s| {
            violation(
                ViolationCode::ShiftChangedSinceMatch,
                Some(s.id),
                format!(
                    "shift {} changed in version {}, after the trade was matched at version {base}",
                    s.id, s.version
                ),
            )
        })
        .collect();
    if !changed.is_empty() {
        return Err(changed);
    }
    let refused = |e: CommandError| match e {
        CommandError::Rejected(violations) => violations,
        other => vec![violation(
            ViolationCode::ShiftNotFound,
            Some(trade.initiating_shift_id),
            other.to_string(),
        )],
    };
    match trade.receiving_shift_id {
        Some(new_shift_id) => {
            let item = SwapItem {
                agent_id: trade.initiating_agent_id,
                original_shift_id: trade.initiating_shift_id,
                new_shift_id,
                reason_code: crate::command::ReasonCode::Preference,
                counterpart_agent_id: Some(receiver),
            };
            let req = SwapRequest {
                base: snap.schedule.version_id(),
                items: vec![item],
                effective_date: None,
                mode: SwapMode::Atomic,
                scope: ConflictScope::Shifts,
            };
            let plan = plan_swaps_waiving(snap, &req, now, waived).map_err(refused)?;
            match plan.outcomes.first() {
                Some(ItemOutcome::Applied { .. }) => Ok((plan, Some(item))),
                Some(ItemOutcome::Rejected { violations }) => Err(violations.clone()),
                _ => Err(vec![violation(
                    ViolationCode::ShiftChangedSinceMatch,
                    Some(new_shift_id),
                    "a shift of the trade changed".into(),
                )]),
            }
        }
        None => {
            let shift = snap
                .shifts
                .get(&trade.initiating_shift_id)
                .ok_or_else(|| refused(CommandError::ShiftNotFound(trade.initiating_shift_id)))?;
            let edit = ShiftEdit {
                shift_id: shift.id,
                expected_version: shift.version,
                change: EditChange::Reassign { agent_id: receiver },
            };
            plan_edit_waiving(snap, &edit, now, waived)
                .map(|plan| (plan, None))
                .map_err(refused)
        }
    }
}
