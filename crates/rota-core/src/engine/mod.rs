//! The commit-time engine: decides, against a snapshot read inside the write transaction, what a
//! command changes. Pure: every backend and the in-memory model commit through it, so there is
//! one implementation of the conflict and rule semantics.
//!
//! - `swaps`: bulk swaps and supervisors' shift edits.
//! - `self_service`: pickups, releases and trades.
//! - `import`: a new schedule's checks and first version.
//! - `time_off`: what approved time off does to the agent's shifts.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::command::{ItemOutcome, SwapItem, Violation, ViolationCode};
use crate::coverage::{self, CellsBySkill, Delta, GuardCheck, WeekGrid};
use crate::directory::{Agent, Zone};
use crate::held::NewHeld;
use crate::ids::{AgentId, ScheduleId, ShiftId, TradeId};
use crate::schedule::{Schedule, Shift};
use crate::version::{
    CommitContext, ScheduleVersion, ShiftChange, ShiftState, VersionCause, VersionRecord,
};

/// How far around its week a schedule's rules look for an agent's other shifts: minimum rest is
/// at most this long, so shifts further away cannot break a rule.
pub const NEIGHBOURHOOD_MINUTES: i64 = 24 * 60;

/// What a command needs to see, read under the transaction's write lock: the schedule, the
/// touched shifts, and every agent who could receive a shift with all of their shifts within
/// [`NEIGHBOURHOOD_MINUTES`] of the week.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub schedule: Schedule,
    pub zone: Zone,
    pub shifts: HashMap<ShiftId, Shift>,
    pub agents: HashMap<AgentId, Agent>,
    /// The touched shifts that a matched trade holds, with the trade.
    pub held: HashMap<ShiftId, TradeId>,
    /// How this command's coverage is checked; `None`: not at all.
    pub guard: Option<GuardCheck>,
    /// The coverage of the intervals the touched shifts span (and, for a move, the intervals
    /// of the new window), before the command: what the guard checks against. Read only when
    /// `guard` is set.
    pub coverage: CellsBySkill,
}

impl Snapshot {
    /// The agents whose shifts and rules a swap request involves, given its touched shifts:
    /// the item agents, the counterparts, and the current owners of the touched shifts.
    pub fn involved_agents<'a>(
        items: &[SwapItem],
        touched: impl IntoIterator<Item = &'a Shift>,
    ) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = items
            .iter()
            .flat_map(|i| [Some(i.agent_id), i.counterpart_agent_id])
            .chain(touched.into_iter().map(|s| s.owner))
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// What a command decided: per-item outcomes, the net shift changes to commit, what they do
/// to coverage, and the changes held for a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub outcomes: Vec<ItemOutcome>,
    pub changes: Vec<ShiftChange>,
    pub coverage: Delta,
    pub held: Vec<NewHeld>,
    /// The activities of the changed shifts whose start alone moved (see
    /// [`crate::activity`]): they no longer sit at their stored offsets from the start.
    pub relaid: Vec<Relaid>,
}

/// A shift's activities laid out anew, with the start they are laid from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relaid {
    pub shift_id: ShiftId,
    pub start: Timestamp,
    pub activities: Vec<crate::activity::Activity>,
}

impl Plan {
    /// A plan that changes nothing.
    pub fn nothing(outcomes: Vec<ItemOutcome>) -> Self {
        Self {
            outcomes,
            changes: Vec::new(),
            coverage: Delta::new(),
            held: Vec::new(),
            relaid: Vec::new(),
        }
    }
}

/// A version ready to write: the record, its changes, and what they do to coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub record: VersionRecord,
    pub changes: Vec<ShiftChange>,
    pub coverage: Delta,
    pub relaid: Vec<Relaid>,
}

impl Commit {
    /// The version that `changes` make on top of `schedule`, or `None` if there are none.
    pub fn after(
        schedule: &Schedule,
        cause: VersionCause,
        ctx: &CommitContext,
        changes: Vec<ShiftChange>,
    ) -> Option<Self> {
        if changes.is_empty() {
            return None;
        }
        Some(Self::new(
            schedule.id,
            schedule.version.next(),
            cause,
            ctx,
            changes,
        ))
    }

    pub fn new(
        schedule_id: ScheduleId,
        version: ScheduleVersion,
        cause: VersionCause,
        ctx: &CommitContext,
        changes: Vec<ShiftChange>,
    ) -> Self {
        Self {
            record: VersionRecord {
                schedule_id,
                version,
                cause,
                actor: ctx.actor.clone(),
                request_id: ctx.request_id.clone(),
                created_at: ctx.now,
                change_count: u32::try_from(changes.len()).unwrap_or(u32::MAX),
            },
            changes,
            coverage: Delta::new(),
            relaid: Vec::new(),
        }
    }

    /// The version `plan` makes on top of `schedule`, with its coverage delta; `None` if it
    /// changes nothing.
    pub fn of_plan(
        schedule: &Schedule,
        cause: VersionCause,
        ctx: &CommitContext,
        plan: &Plan,
    ) -> Option<Self> {
        let mut commit = Self::after(schedule, cause, ctx, plan.changes.clone())?;
        commit.coverage = plan.coverage.clone();
        commit.relaid = plan.relaid.clone();
        Some(commit)
    }
}

/// The shifts of a snapshot as the command has changed them so far.
struct Working<'a> {
    snap: &'a Snapshot,
    now: Timestamp,
    week: (Timestamp, Timestamp),
    overrides: HashMap<ShiftId, ShiftState>,
    /// The overridden shifts by an owner they were given (entries can be stale: `shifts_of`
    /// checks the current state), so an agent's shifts are found without scanning every
    /// change of the command.
    gained: HashMap<AgentId, Vec<ShiftId>>,
    /// The snapshot's shifts by their owner before the command, so a rule check reads one
    /// agent's shifts instead of the whole snapshot.
    by_owner: HashMap<AgentId, Vec<&'a Shift>>,
    /// Rules not enforced for this command (what a trade's settings allow).
    waived: &'a [ViolationCode],
    grid: WeekGrid,
    /// With the guard on, the coverage delta of the steps it let through so far: the
    /// snapshot's coverage with it is what the next step is checked against, and it is the
    /// plan's delta, since a shift's coverage depends only on its state (the steps' deltas add up to
    /// the net changes' one) and a step the guard refuses is undone.
    guarded: Delta,
    /// Items held for a supervisor so far.
    held: Vec<NewHeld>,
}

impl<'a> Working<'a> {
    fn new(snap: &'a Snapshot, now: Timestamp, waived: &'a [ViolationCode]) -> Self {
        let mut by_owner: HashMap<AgentId, Vec<&'a Shift>> = HashMap::new();
        for shift in snap.shifts.values() {
            if let Some(owner) = shift.owner {
                by_owner.entry(owner).or_default().push(shift);
            }
        }
        let week = snap.schedule.week_window(&snap.zone);
        Self {
            snap,
            now,
            week,
            overrides: HashMap::new(),
            gained: HashMap::new(),
            by_owner,
            waived,
            grid: WeekGrid::new(week),
            guarded: Delta::new(),
            held: Vec::new(),
        }
    }

    /// The plan of what the command did so far: its net changes and their coverage delta.
    fn plan(&self, outcomes: Vec<ItemOutcome>, held: Vec<NewHeld>) -> Plan {
        let changes = self.changes();
        let mut relaid = Vec::new();
        for c in &changes {
            if let Some(shift) = self.snap.shifts.get(&c.shift_id)
                && c.after.start != shift.window.start()
                && c.after.end == shift.window.end()
                && let Some(activities) = shift.activities_at(&c.after)
            {
                relaid.push(Relaid {
                    shift_id: shift.id,
                    start: c.after.start,
                    activities,
                });
            }
        }
        let delta = if self.snap.guard.is_some() {
            let mut delta = self.guarded.clone();
            delta.drop_zeros();
            debug_assert_eq!(delta, self.net_delta(&changes), "the guarded steps' delta");
            delta
        } else {
            self.net_delta(&changes)
        };
        Plan {
            outcomes,
            changes,
            coverage: delta,
            held,
            relaid,
        }
    }

    /// The coverage delta of `changes`, computed afresh.
    fn net_delta(&self, changes: &[ShiftChange]) -> Delta {
        let mut delta = Delta::new();
        for c in changes {
            if let Some(shift) = self.snap.shifts.get(&c.shift_id) {
                coverage::add_change(
                    &mut delta,
                    &self.grid,
                    shift,
                    c.before.as_ref(),
                    &c.after,
                    &self.snap.agents,
                );
            }
        }
        delta.drop_zeros();
        delta
    }

    /// The coverage guard on the step that took each of `priors` from its state there to its
    /// working state: the violations (one per skill) if the step leaves intervals short, else
    /// the step's coverage counts for the rest of the command.
    fn guard(&mut self, priors: &[(&Shift, ShiftState)]) -> Vec<Violation> {
        self.check_coverage(priors, false)
    }

    /// [`Self::guard`] for a step the command keeps whatever the guard finds (time off, whose
    /// approval policy decides on the violation; a held change a supervisor approves): its
    /// coverage counts for the rest of the command and the plan either way.
    fn guard_and_keep(&mut self, priors: &[(&Shift, ShiftState)]) -> Vec<Violation> {
        self.check_coverage(priors, true)
    }

    fn check_coverage(&mut self, priors: &[(&Shift, ShiftState)], keep: bool) -> Vec<Violation> {
        // Unchecked, the steps' coverage is never read: the plan's delta comes from its net
        // changes at the end.
        if self.snap.guard.is_none() {
            return Vec::new();
        }
        let mut delta = Delta::new();
        for (shift, prior) in priors {
            coverage::add_change(
                &mut delta,
                &self.grid,
                shift,
                Some(prior),
                &self.state(shift),
                &self.snap.agents,
            );
        }
        if let Some(check) = self.snap.guard
            && !self
                .waived
                .contains(&ViolationCode::CoverageBelowRequirement)
        {
            let short = coverage::shortfalls(
                &self.grid,
                (&self.snap.coverage, &self.guarded),
                &delta,
                check.tolerance,
            );
            if !short.is_empty() {
                if keep {
                    self.guarded.add_all(&delta);
                }
                return short.into_iter().map(coverage_violation).collect();
            }
        }
        self.guarded.add_all(&delta);
        Vec::new()
    }

    fn set(&mut self, id: ShiftId, state: ShiftState) {
        if let Some(owner) = state.owner {
            let gained = self.gained.entry(owner).or_default();
            if !gained.contains(&id) {
                gained.push(id);
            }
        }
        self.overrides.insert(id, state);
    }

    fn state(&self, shift: &Shift) -> ShiftState {
        self.overrides
            .get(&shift.id)
            .copied()
            .unwrap_or_else(|| shift.state())
    }

    /// The agent's shifts as the command has left them: those they owned before it that the
    /// command did not give away, and those it gave them.
    fn shifts_of(&self, agent: AgentId) -> impl Iterator<Item = (&'a Shift, ShiftState)> + '_ {
        let owned = self
            .by_owner
            .get(&agent)
            .into_iter()
            .flatten()
            .copied()
            .filter(|s| !self.overrides.contains_key(&s.id));
        let changed = self
            .gained
            .get(&agent)
            .into_iter()
            .flatten()
            .filter(|id| self.overrides.contains_key(id))
            .filter_map(|id| self.snap.shifts.get(id));
        owned
            .chain(changed)
            .map(|s| (s, self.state(s)))
            .filter(move |(_, st)| st.owner == Some(agent))
    }

    /// The net changes so far, in shift order so that the stored history is deterministic.
    fn changes(&self) -> Vec<ShiftChange> {
        let mut changes: Vec<ShiftChange> = self
            .overrides
            .iter()
            .filter_map(|(id, after)| {
                let before = self.snap.shifts.get(id)?.state();
                (before != *after).then_some(ShiftChange {
                    shift_id: *id,
                    before: Some(before),
                    after: *after,
                })
            })
            .collect();
        changes.sort_unstable_by_key(|c| c.shift_id);
        changes
    }

    fn check_not_past(&self, shift: &Shift, start: Timestamp, out: &mut Vec<Violation>) {
        if start < self.now {
            out.push(Violation::new(
                ViolationCode::ShiftInPast,
                None,
                Some(shift.id),
                format!(
                    "shift {} starts at {start}, before now ({}); past shifts are immutable",
                    shift.id, self.now
                ),
            ));
        }
    }

    /// The rules for `agent` working `shift` with the working state as it stands (which already
    /// holds the shift as theirs).
    fn check_receiver(&self, agent_id: AgentId, shift: &Shift, out: &mut Vec<Violation>) {
        let violation =
            |code, detail: String| Violation::new(code, Some(agent_id), Some(shift.id), detail);
        // An agent of another unit is answered as one that does not exist, in the same
        // words: nobody learns from a swap or an edit which ids live elsewhere.
        let Some(agent) = self
            .snap
            .agents
            .get(&agent_id)
            .filter(|a| a.business_unit_id == self.snap.schedule.business_unit_id)
        else {
            out.push(violation(
                ViolationCode::AgentNotFound,
                format!("agent {agent_id} is not an agent of this business unit"),
            ));
            return;
        };
        let state = self.state(shift);
        for skill in shift.skills().filter(|s| !agent.skills.contains(s)) {
            out.push(violation(
                ViolationCode::SkillMissing,
                format!(
                    "agent {agent_id} lacks skill `{skill}` that shift {} requires",
                    shift.id
                ),
            ));
        }
        if !agent
            .availability
            .covers(&self.snap.zone, state.start, state.end)
        {
            out.push(violation(
                ViolationCode::NotAvailable,
                format!(
                    "agent {agent_id} is not available for the whole of shift {} ({} to {}, local time {})",
                    shift.id,
                    state.start,
                    state.end,
                    self.snap.zone.name()
                ),
            ));
        }
        if let Some(away) = agent.time_off_during(state.start, state.end) {
            out.push(violation(
                ViolationCode::OnTimeOff,
                format!(
                    "agent {agent_id} has approved time off from {} to {} (request {}), during shift {}",
                    away.start, away.end, away.request_id, shift.id
                ),
            ));
        }
        let rest = jiff::SignedDuration::from_mins(i64::from(agent.min_rest_minutes));
        let mut week_minutes = 0i64;
        for (other, other_state) in self.shifts_of(agent_id) {
            if other_state.start >= self.week.0 && other_state.start < self.week.1 {
                week_minutes += other.paid_minutes_at(&other_state);
            }
            if other.id == shift.id {
                continue;
            }
            if other_state.start < state.end && state.start < other_state.end {
                out.push(violation(
                    ViolationCode::Overlap,
                    format!(
                        "shift {} overlaps shift {} that agent {agent_id} already works",
                        shift.id, other.id
                    ),
                ));
                continue;
            }
            let gap = if other_state.start >= state.end {
                other_state.start.duration_since(state.end)
            } else {
                state.start.duration_since(other_state.end)
            };
            if gap < rest {
                out.push(violation(
                    ViolationCode::MinRest,
                    format!(
                        "only {} minutes between shift {} and shift {}; agent {agent_id} needs {} minutes of rest",
                        gap.as_mins(),
                        shift.id,
                        other.id,
                        agent.min_rest_minutes
                    ),
                ));
            }
        }
        if week_minutes > i64::from(agent.max_paid_minutes_per_week) {
            out.push(violation(
                ViolationCode::WeeklyMaxExceeded,
                format!(
                    "agent {agent_id} would work {week_minutes} paid minutes this week, over their maximum of {}",
                    agent.max_paid_minutes_per_week
                ),
            ));
        }
    }

    /// Tries to give each shift its new owner; keeps the change only if every receiver obeys
    /// the rules afterwards and the coverage guard lets it through.
    fn try_assign(&mut self, assignments: &[(&'a Shift, Option<AgentId>)]) -> Vec<Violation> {
        let saved: Vec<(ShiftId, Option<ShiftState>)> = assignments
            .iter()
            .map(|(s, _)| (s.id, self.overrides.get(&s.id).copied()))
            .collect();
        let priors: Vec<(&Shift, ShiftState)> = assignments
            .iter()
            .map(|(s, _)| (*s, self.state(s)))
            .collect();
        for (shift, owner) in assignments {
            let mut state = self.state(shift);
            state.owner = *owner;
            self.set(shift.id, state);
        }
        let mut violations = Vec::new();
        for (shift, owner) in assignments {
            if let Some(agent) = owner {
                self.check_receiver(*agent, shift, &mut violations);
            }
        }
        violations.retain(|v| !self.waived.contains(&v.code));
        if violations.is_empty() {
            violations = self.guard(&priors);
        }
        if !violations.is_empty() {
            for (id, prior) in saved {
                match prior {
                    Some(state) => self.set(id, state),
                    None => {
                        self.overrides.remove(&id);
                    }
                }
            }
        }
        violations
    }
}

/// The guard's violation for one skill's short intervals.
fn coverage_violation(short: coverage::CoverageShortfall) -> Violation {
    let worst = short.intervals.iter().min_by_key(|i| {
        i.scheduled_minutes_after - i64::from(i.required) * coverage::INTERVAL_MINUTES
    });
    let detail = match worst {
        Some(i) => format!(
            "the change would leave skill `{}` short of its staffing requirement in {} interval(s), \
             e.g. {} to {}: {} agent(s) required, {} on-queue agent-minutes before, {} after",
            short.skill,
            short.intervals.len(),
            i.start,
            i.end,
            i.required,
            i.scheduled_minutes_before,
            i.scheduled_minutes_after
        ),
        None => format!("the change would leave skill `{}` short", short.skill),
    };
    Violation {
        code: ViolationCode::CoverageBelowRequirement,
        agent_id: None,
        shift_id: None,
        detail,
        coverage: Some(short),
    }
}

/// Whether a refusal is the guard's alone, and the guard holds such changes for a supervisor.
fn held_for_supervisor(snap: &Snapshot, violations: &[Violation]) -> bool {
    snap.guard.is_some_and(|g| g.hold)
        && !violations.is_empty()
        && violations
            .iter()
            .all(|v| v.code == ViolationCode::CoverageBelowRequirement)
}

mod held;
mod import;
mod self_service;
mod swaps;
#[cfg(test)]
mod tests;
mod time_off;

pub use held::plan_held;
pub use import::{Booked, booked_elsewhere, import_violations, plan_import};
pub use self_service::{SelfServiceAction, plan_self_service, plan_trade};
pub use swaps::{plan_edit, plan_edit_waiving, plan_swaps, plan_swaps_waiving};
pub use time_off::{TimeOffPlan, plan_time_off};
