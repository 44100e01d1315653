//! A new schedule's checks and its first version.

use jiff::Timestamp;

use crate::command::{Violation, ViolationCode};
use crate::directory::BusinessUnit;
use crate::ids::ShiftId;
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::version::{CommitContext, ScheduleVersion, ShiftChange, VersionCause};

use super::Commit;

/// The violation of a shift of `id` starting at `start` outside `week`, if it does.
pub(super) fn outside_week(
    id: ShiftId,
    start: Timestamp,
    week: (Timestamp, Timestamp),
) -> Option<Violation> {
    (start < week.0 || start >= week.1).then(|| Violation {
        code: ViolationCode::ShiftOutsideWeek,
        agent_id: None,
        shift_id: Some(id),
        detail: format!(
            "shift {id} would start at {start}, outside its schedule's week ({} to {})",
            week.0, week.1
        ),
        coverage: None,
    })
}

/// The years a week may start in.
pub const WEEK_YEARS: std::ops::RangeInclusive<i16> = 2000..=2100;

/// What an import breaks: the week starts on the business unit's first day of the week (weeks
/// that start on other days would overlap their neighbours), in a year of [`WEEK_YEARS`], every
/// shift starts within it, and no agent has two shifts at once. Other rules (availability,
/// rest, hours) are the planner's business at import; swaps and edits enforce them from then
/// on.
pub fn import_violations(new: &NewSchedule, bu: &BusinessUnit) -> Vec<Violation> {
    let first: jiff::civil::Weekday = bu.first_day_of_week.into();
    let mut out = Vec::new();
    if new.week_start.weekday() != first || !WEEK_YEARS.contains(&new.week_start.year()) {
        out.push(Violation::new(
            ViolationCode::InvalidWeekStart,
            None,
            None,
            format!(
                "a week of business unit {} starts on a {first:?} in a year from {} to {}; {} is a {:?}",
                bu.id,
                WEEK_YEARS.start(),
                WEEK_YEARS.end(),
                new.week_start,
                new.week_start.weekday()
            ),
        ));
        return out;
    }
    let week = new.first_version().week_window(&bu.time_zone);
    out.extend(
        new.shifts
            .iter()
            .filter_map(|s| outside_week(s.id, s.window.start(), week)),
    );
    out.extend(double_bookings(new));
    out
}

/// An agent's shifts of the import that overlap one before it, in time order.
fn double_bookings(new: &NewSchedule) -> Vec<Violation> {
    let mut owned: Vec<_> = new
        .shifts
        .iter()
        .filter_map(|s| {
            s.owner
                .map(|owner| (owner, s.window.start(), s.window.end(), s.id))
        })
        .collect();
    owned.sort_unstable();
    owned
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0 && pair[1].1 < pair[0].2)
        .map(|pair| {
            let (agent, start, _, id) = pair[1];
            Violation::new(
                ViolationCode::Overlap,
                Some(agent),
                Some(id),
                format!(
                    "shift {id} of agent {agent} starts at {start}, before their shift {} ends at {}",
                    pair[0].3, pair[0].2
                ),
            )
        })
        .collect()
}

/// An agent's shift already stored in another week of the unit, as the import sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booked {
    pub owner: crate::ids::AgentId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub shift_id: ShiftId,
}

/// The import's shifts that overlap a shift their agent already has in a neighbouring week
/// (a night shift across the week's edge, a week imported with a wrong zone).
pub fn booked_elsewhere(new: &NewSchedule, booked: &[Booked]) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in &new.shifts {
        let Some(owner) = s.owner else { continue };
        if let Some(b) = booked
            .iter()
            .find(|b| b.owner == owner && b.start < s.window.end() && s.window.start() < b.end)
        {
            out.push(Violation::new(
                ViolationCode::Overlap,
                Some(owner),
                Some(s.id),
                format!(
                    "shift {} of agent {owner} ({} to {}) overlaps their shift {} of another week ({} to {})",
                    s.id,
                    s.window.start(),
                    s.window.end(),
                    b.shift_id,
                    b.start,
                    b.end
                ),
            ));
        }
    }
    out
}

/// The first version of an imported week: the schedule, its shifts, and the commit that
/// creates them (every change has no `before`).
pub fn plan_import(new: &NewSchedule, ctx: &CommitContext) -> (Schedule, Vec<Shift>, Commit) {
    let schedule = new.first_version();
    let mut shifts: Vec<Shift> = new
        .shifts
        .iter()
        .map(|s| Shift {
            id: s.id,
            schedule_id: new.id,
            owner: s.owner,
            window: s.window,
            required_skill: s.required_skill.clone(),
            activity_code: s.activity_code.clone(),
            activities: s.activities.clone().into(),
            version: ScheduleVersion::FIRST,
        })
        .collect();
    shifts.sort_unstable_by_key(|s| s.id);
    let changes = shifts
        .iter()
        .map(|s| ShiftChange {
            shift_id: s.id,
            before: None,
            after: s.state(),
        })
        .collect();
    let commit = Commit::new(
        new.id,
        ScheduleVersion::FIRST,
        VersionCause::Import,
        ctx,
        changes,
    );
    (schedule, shifts, commit)
}
