//! Staffing requirements and coverage: for each skill and 15-minute interval of a schedule's
//! week, how many agents must be on queue, how many are, and the guard that checks every change
//! against it.
//!
//! Intervals are counted in real time from the week's first instant (local midnight of its
//! first day), so a week has 672 of them, 668 or 676 on the weeks daylight saving time starts
//! or ends. Scheduled coverage is kept in agent-minutes: an agent on queue for the whole interval
//! counts 15, one whose shift starts at :10 counts 5. An agent on queue counts toward each of
//! their skills (multi-skill routing serves them all), so a swap between agents of different
//! skills moves coverage, while a swap of two same-time shifts between agents of the same skills
//! leaves it as it was. On-queue time outside the week (a shift
//! starting late on the last day) counts toward no interval of this schedule.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::activity::on_queue_at;
use crate::directory::Skill;
use crate::ids::AgentId;
use crate::schedule::Shift;
use crate::trade::RuleAction;
use crate::version::ShiftState;

pub const INTERVAL_MINUTES: i64 = 15;

/// An interval's index in its week.
pub type Slot = u16;

/// The intervals of one week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekGrid {
    start: Timestamp,
    slots: Slot,
}

impl WeekGrid {
    /// The grid of the week `[start, end)` (a schedule's `week_window`).
    pub fn new((start, end): (Timestamp, Timestamp)) -> Self {
        let minutes = end.duration_since(start).as_mins().max(0);
        Self {
            start,
            slots: Slot::try_from(minutes / INTERVAL_MINUTES).unwrap_or(Slot::MAX),
        }
    }

    pub const fn slots(&self) -> Slot {
        self.slots
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn slot_start(&self, slot: Slot) -> Timestamp {
        self.start
            .checked_add(SignedDuration::from_mins(
                i64::from(slot) * INTERVAL_MINUTES,
            ))
            .unwrap_or(self.start)
    }

    /// The interval starting at `at`, if `at` is one of this week's interval boundaries.
    pub fn slot_at(&self, at: Timestamp) -> Option<Slot> {
        let offset = at.duration_since(self.start);
        let secs = offset.as_secs();
        if offset.subsec_nanos() != 0 || secs < 0 || secs % (INTERVAL_MINUTES * 60) != 0 {
            return None;
        }
        Slot::try_from(secs / (INTERVAL_MINUTES * 60))
            .ok()
            .filter(|s| *s < self.slots)
    }

    /// The intervals `[start, end)` overlaps, with the minutes of each it covers.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> impl Iterator<Item = (Slot, i64)> {
        let step = INTERVAL_MINUTES * 60;
        let from = start.duration_since(self.start).as_secs();
        let to = end.duration_since(self.start).as_secs();
        let week = i64::from(self.slots) * step;
        let (from, to) = (from.max(0), to.min(week));
        let first = from / step;
        let last = if to > from {
            (to - 1) / step
        } else {
            first - 1
        };
        (first..=last).filter_map(move |slot| {
            let seconds = to.min((slot + 1) * step) - from.max(slot * step);
            let slot = Slot::try_from(slot).ok()?;
            (seconds > 0).then_some((slot, seconds / 60))
        })
    }
}

/// One skill's interval: agents required and agent-minutes scheduled on queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub required: u32,
    pub scheduled_minutes: i64,
}

impl Cell {
    /// The least agent-minutes on queue the guard accepts, given its tolerance in agents.
    pub fn floor(&self, tolerance: u32) -> i64 {
        i64::from(self.required.saturating_sub(tolerance)) * INTERVAL_MINUTES
    }
}

/// Cells keyed by skill and interval; a missing cell is zero required, zero scheduled.
pub type Cells = BTreeMap<(Skill, Slot), Cell>;

mod by_skill;
pub use by_skill::{CellsBySkill, Delta};

/// The skills of the agents a computation involves: the owners before and after each change.
pub trait SkillsOf {
    fn skills_of(&self, agent: AgentId) -> Option<&BTreeSet<Skill>>;
}

impl SkillsOf for std::collections::HashMap<AgentId, crate::directory::Agent> {
    fn skills_of(&self, agent: AgentId) -> Option<&BTreeSet<Skill>> {
        self.get(&agent).map(|a| &a.skills)
    }
}

impl SkillsOf for std::collections::HashMap<AgentId, BTreeSet<Skill>> {
    fn skills_of(&self, agent: AgentId) -> Option<&BTreeSet<Skill>> {
        self.get(&agent)
    }
}

/// Adds to `delta` what `shift` going from `before` to `after` does to on-queue time: its
/// on-queue minutes count toward every skill of whoever works it.
pub fn add_change(
    delta: &mut Delta,
    grid: &WeekGrid,
    shift: &Shift,
    before: Option<&ShiftState>,
    after: &ShiftState,
    agents: &impl SkillsOf,
) {
    let skills = |state: &ShiftState| state.owner.and_then(|o| agents.skills_of(o));
    let minutes = |state: &ShiftState| -> Vec<(Slot, i64)> {
        on_queue_at(
            &shift.activities,
            (shift.window.start(), shift.window.end()),
            state.start,
            state.end,
        )
        .flat_map(|(s, e)| grid.overlaps(s, e))
        .collect()
    };
    let mut add = |skill: &Skill, slots: &[(Slot, i64)], sign: i64| delta.add(skill, slots, sign);
    let after_skills = skills(after);
    let Some(before) = before else {
        let slots = minutes(after);
        for skill in after_skills.into_iter().flatten() {
            add(skill, &slots, 1);
        }
        return;
    };
    let before_skills = skills(before);
    if (before.start, before.end) == (after.start, after.end) {
        // Same times, another owner (a swap, a pickup, a release): a skill both owners have
        // loses and gains the same minutes, so only the skills one of them lacks move.
        let empty = BTreeSet::new();
        let (was, now) = (
            before_skills.unwrap_or(&empty),
            after_skills.unwrap_or(&empty),
        );
        if was == now {
            return;
        }
        let slots = minutes(after);
        for skill in was.difference(now) {
            add(skill, &slots, -1);
        }
        for skill in now.difference(was) {
            add(skill, &slots, 1);
        }
        return;
    }
    let (old, new) = (minutes(before), minutes(after));
    for skill in before_skills.into_iter().flatten() {
        add(skill, &old, -1);
    }
    for skill in after_skills.into_iter().flatten() {
        add(skill, &new, 1);
    }
}

/// The coverage of `shifts` as they stand, from scratch: what the maintained coverage must
/// always equal (the property tests compare them), and the first version's.
pub fn scheduled(grid: &WeekGrid, shifts: &[Shift], agents: &impl SkillsOf) -> Delta {
    let mut delta = Delta::new();
    for shift in shifts {
        add_change(&mut delta, grid, shift, None, &shift.state(), agents);
    }
    delta.drop_zeros();
    delta
}

/// What the guard does with a change that leaves an interval short, per cause of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageGuard {
    /// Agents per interval an interval may fall below its requirement before the guard acts.
    pub tolerance: u32,
    pub bulk_swap: RuleAction,
    pub supervisor_edit: RuleAction,
    /// A pickup only adds on-queue time, so it never leaves an interval shorter; the setting
    /// exists so that every cause is named.
    pub pickup: RuleAction,
    pub release: RuleAction,
}

impl Default for CoverageGuard {
    fn default() -> Self {
        Self {
            tolerance: 0,
            bulk_swap: RuleAction::Allow,
            supervisor_edit: RuleAction::Allow,
            pickup: RuleAction::Allow,
            release: RuleAction::Supervisor,
        }
    }
}

/// The causes the guard tells apart. Trades are reviewed by the trade settings, whose rule
/// `coverage` acts on the guard's violation like on any other rule a trade breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    BulkSwap,
    SupervisorEdit,
    Pickup,
    Release,
    Trade,
    /// Approving time off: the business unit's approval policy decides on the violation.
    TimeOff,
}

/// How the engine checks one command's coverage: `hold` sends a change that leaves intervals
/// short to a supervisor instead of refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardCheck {
    pub hold: bool,
    pub tolerance: u32,
}

impl CoverageGuard {
    /// The check for a command of `cause`; `None` when the business unit allows such changes
    /// whatever they do to coverage.
    pub const fn check(&self, cause: Guarded) -> Option<GuardCheck> {
        let action = match cause {
            Guarded::BulkSwap => self.bulk_swap,
            Guarded::SupervisorEdit => self.supervisor_edit,
            Guarded::Pickup => self.pickup,
            Guarded::Release => self.release,
            // The trade settings decide through the violation.
            Guarded::Trade | Guarded::TimeOff => RuleAction::Deny,
        };
        match action {
            RuleAction::Allow => None,
            RuleAction::Deny => Some(GuardCheck {
                hold: false,
                tolerance: self.tolerance,
            }),
            RuleAction::Supervisor => Some(GuardCheck {
                hold: true,
                tolerance: self.tolerance,
            }),
        }
    }
}

/// One short interval of a skill: what a change would leave it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShortInterval {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
    pub required: u32,
    /// On-queue agent-minutes in the interval before the change.
    pub scheduled_minutes_before: i64,
    pub scheduled_minutes_after: i64,
}

/// What [`crate::command::ViolationCode::CoverageBelowRequirement`] names: the skill and its
/// intervals the change would leave below their requirement (less the tolerance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageShortfall {
    pub skill: Skill,
    pub intervals: Vec<ShortInterval>,
}

/// The intervals `delta` takes below their floor, by skill, on `cells` with `earlier` (the
/// command's steps so far) applied: an interval is short when the change lowers it and leaves
/// it under the requirement less `tolerance`. An interval already short that the change does
/// not lower is not the change's doing.
pub fn shortfalls(
    grid: &WeekGrid,
    (cells, earlier): (&CellsBySkill, &Delta),
    delta: &Delta,
    tolerance: u32,
) -> Vec<CoverageShortfall> {
    let mut out: Vec<CoverageShortfall> = Vec::new();
    for (skill, slot, change) in delta.iter() {
        if change >= 0 {
            continue;
        }
        let mut cell = cells.get(skill, slot);
        cell.scheduled_minutes += earlier.get(skill, slot);
        let after = cell.scheduled_minutes + change;
        if after >= cell.floor(tolerance) {
            continue;
        }
        let interval = ShortInterval {
            start: grid.slot_start(slot),
            end: grid.slot_start(slot + 1),
            required: cell.required,
            scheduled_minutes_before: cell.scheduled_minutes,
            scheduled_minutes_after: after,
        };
        match out.last_mut() {
            Some(last) if last.skill == *skill => last.intervals.push(interval),
            _ => out.push(CoverageShortfall {
                skill: skill.clone(),
                intervals: vec![interval],
            }),
        }
    }
    out
}

/// A run of a skill's requirement: `required[i]` agents in the interval starting
/// `start + 15·i` minutes. A week is one run of 672 (or 668, 676) per skill; a range is less.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequirementRun {
    pub skill: Skill,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    pub required: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error("requirement run {index} starts at {start}, not on a 15-minute interval of the week")]
    Misaligned { index: usize, start: Timestamp },
    #[error("requirement run {index} runs past the end of the week ({slots} intervals)")]
    PastWeek { index: usize, slots: Slot },
    #[error("requirement run {index} is empty")]
    Empty { index: usize },
    #[error("requirement runs {first} and {second} set the same interval of skill `{skill}`")]
    Overlapping {
        first: usize,
        second: usize,
        skill: Skill,
    },
    #[error("no agent of the business unit has skill `{0}`")]
    UnknownSkill(Skill),
    #[error("at most 100000 agents may be required in an interval")]
    TooMany,
}

/// The most agents a requirement may name for one interval: a sanity bound, not a policy.
pub const MAX_REQUIRED: u32 = 100_000;

/// The cells `runs` set, checked against `grid` and the business unit's `skills`.
pub fn requirement_cells(
    grid: &WeekGrid,
    runs: &[RequirementRun],
    skills: &std::collections::BTreeSet<Skill>,
) -> Result<Vec<(Skill, Slot, u32)>, RequirementError> {
    let mut seen: BTreeMap<(Skill, Slot), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        if !skills.contains(&run.skill) {
            return Err(RequirementError::UnknownSkill(run.skill.clone()));
        }
        if run.required.is_empty() {
            return Err(RequirementError::Empty { index });
        }
        let first = grid
            .slot_at(run.start)
            .ok_or(RequirementError::Misaligned {
                index,
                start: run.start,
            })?;
        let past = || RequirementError::PastWeek {
            index,
            slots: grid.slots(),
        };
        let count = Slot::try_from(run.required.len()).map_err(|_| past())?;
        if first
            .checked_add(count)
            .is_none_or(|end| end > grid.slots())
        {
            return Err(past());
        }
        for (slot, required) in (first..).zip(&run.required) {
            if *required > MAX_REQUIRED {
                return Err(RequirementError::TooMany);
            }
            if let Some(earlier) = seen.insert((run.skill.clone(), slot), index) {
                return Err(RequirementError::Overlapping {
                    first: earlier,
                    second: index,
                    skill: run.skill.clone(),
                });
            }
            out.push((run.skill.clone(), slot, *required));
        }
    }
    Ok(out)
}

/// Applies `delta` to `cells`.
pub fn apply(cells: &mut Cells, delta: &Delta) {
    for (skill, slot, change) in delta.iter() {
        cells
            .entry((skill.clone(), slot))
            .or_default()
            .scheduled_minutes += change;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_400 + minute * 60).unwrap()
    }

    #[test]
    fn overlaps_clip_to_the_week_and_split_partial_intervals() {
        let grid = WeekGrid::new((t(0), t(7 * 24 * 60)));
        assert_eq!(grid.slots(), 672);
        let got: Vec<_> = grid.overlaps(t(10), t(40)).collect();
        assert_eq!(got, vec![(0, 5), (1, 15), (2, 10)]);
        let tail: Vec<_> = grid
            .overlaps(t(7 * 24 * 60 - 5), t(7 * 24 * 60 + 60))
            .collect();
        assert_eq!(tail, vec![(671, 5)]);
        assert_eq!(grid.overlaps(t(-60), t(-1)).count(), 0);
        assert_eq!(grid.slot_at(t(30)), Some(2));
        assert_eq!(grid.slot_at(t(31)), None);
        assert_eq!(grid.slot_at(t(7 * 24 * 60)), None);
    }

    #[test]
    fn only_a_lowered_interval_under_its_floor_is_short() {
        let grid = WeekGrid::new((t(0), t(7 * 24 * 60)));
        let sales = Skill::parse("sales").unwrap();
        let mut cells = Cells::new();
        cells.insert(
            (sales.clone(), 0),
            Cell {
                required: 2,
                scheduled_minutes: 30,
            },
        );
        cells.insert(
            (sales.clone(), 1),
            Cell {
                required: 2,
                scheduled_minutes: 15,
            },
        );
        cells.insert(
            (sales.clone(), 2),
            Cell {
                required: 2,
                scheduled_minutes: 45,
            },
        );
        let delta: Delta = [
            ((sales.clone(), 0), -15),
            ((sales.clone(), 1), 15),
            ((sales.clone(), 2), -15),
        ]
        .into_iter()
        .collect();
        let cells = CellsBySkill::new(&cells);
        let none = Delta::new();
        let short = shortfalls(&grid, (&cells, &none), &delta, 0);
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].intervals.len(), 1);
        assert_eq!(short[0].intervals[0].scheduled_minutes_after, 15);
        assert!(
            shortfalls(&grid, (&cells, &none), &delta, 1).is_empty(),
            "one agent of tolerance"
        );
    }
}
