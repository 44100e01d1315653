//! A new schedule's checks and its first version.

use jiff::Timestamp;

use crate::command::{Violation, ViolationCode};
use crate::directory::Zone;
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

/// What an import breaks: every shift must start within the imported week. Other rules
/// (availability, rest, hours) are the planner's business at import; swaps and edits enforce
/// them from then on.
pub fn import_violations(new: &NewSchedule, zone: &Zone) -> Vec<Violation> {
    let week = new.first_version().week_window(zone);
    new.shifts
        .iter()
        .filter_map(|s| outside_week(s.id, s.window.start(), week))
        .collect()
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
