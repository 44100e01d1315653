//! What approved time off does to the agent's shifts in one schedule.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::command::{ItemOutcome, Violation};
use crate::ids::AgentId;
use crate::schedule::Shift;
use crate::timeoff::TimeOffEffect;
use crate::version::ShiftState;

use super::{Plan, Snapshot, Working};

/// What approving time off does to one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOffPlan {
    pub plan: Plan,
    /// Paid minutes the agent's shifts lose: what a paid code deducts.
    pub removed_paid_minutes: i64,
    /// The local days on which the agent had a shift that the time off touched.
    pub days_with_shifts: Vec<Date>,
    /// What the coverage guard found, when `snap.guard` is set: the plan holds the changes
    /// anyway; whoever approves decides.
    pub coverage: Vec<Violation>,
}

/// The state the time off `[from, to)` leaves `shift` (worked by `agent`) in: trimmed to the
/// part outside it, or open (see [`TimeOffEffect`]).
fn effect_on(
    shift: &Shift,
    agent: AgentId,
    (from, to): (Timestamp, Timestamp),
    effect: TimeOffEffect,
    min_remainder_minutes: u32,
) -> ShiftState {
    let before = shift.state();
    let open = ShiftState {
        owner: None,
        ..before
    };
    if effect == TimeOffEffect::Open {
        return open;
    }
    let (start, end) = (shift.window.start(), shift.window.end());
    let trimmed = if from <= start && to < end {
        ShiftState {
            owner: Some(agent),
            start: to,
            end,
        }
    } else if start < from && end <= to {
        ShiftState {
            owner: Some(agent),
            start,
            end: from,
        }
    } else {
        // Covered whole, or time off inside the shift: rota does not split a shift in two.
        return open;
    };
    let long_enough =
        trimmed.end.duration_since(trimmed.start).as_mins() >= i64::from(min_remainder_minutes);
    if long_enough && shift.activities_at(&trimmed).is_some() {
        trimmed
    } else {
        open
    }
}

/// Plans approved time off `[from, to)` of `agent` on the schedule of `snap` (which must hold
/// the agent with their shifts): every shift of theirs in this schedule that overlaps the window
/// and has not ended by `now` is trimmed or opened. With `snap.guard` set, the coverage guard
/// reports the intervals the change leaves short.
pub fn plan_time_off(
    snap: &Snapshot,
    agent: AgentId,
    window: (Timestamp, Timestamp),
    effect: TimeOffEffect,
    min_remainder_minutes: u32,
    now: Timestamp,
) -> TimeOffPlan {
    let mut working = Working::new(snap, now, &[]);
    let mut shifts: Vec<&Shift> = snap
        .shifts
        .values()
        .filter(|s| s.schedule_id == snap.schedule.id && s.owner == Some(agent))
        .filter(|s| s.window.start() < window.1 && window.0 < s.window.end())
        .filter(|s| s.window.end() > now)
        .collect();
    shifts.sort_unstable_by_key(|s| (s.window.start(), s.id));
    let mut removed = 0;
    let mut days = Vec::new();
    let mut priors = Vec::with_capacity(shifts.len());
    for shift in &shifts {
        let before = shift.state();
        let after = effect_on(shift, agent, window, effect, min_remainder_minutes);
        removed += shift.paid_minutes_at(&before);
        if after.owner == Some(agent) {
            removed -= shift.paid_minutes_at(&after);
        }
        let day = snap.zone.local_date(before.start);
        if !days.contains(&day) {
            days.push(day);
        }
        working.set(shift.id, after);
        priors.push((*shift, before));
    }
    let coverage = if priors.is_empty() {
        Vec::new()
    } else {
        working.guard_and_keep(&priors)
    };
    let outcomes = vec![ItemOutcome::Applied {
        version: snap.schedule.version.next(),
    }];
    TimeOffPlan {
        plan: working.plan(outcomes, Vec::new()),
        removed_paid_minutes: removed,
        days_with_shifts: days,
        coverage,
    }
}
