//! An in-memory schedule that commits through the same engine as the database backends: the
//! model the property tests drive, and a reference for the store's conformance tests.

use crate::command::{CommandError, ShiftEdit, SwapRequest, SwapResult};
use crate::coverage::{self, Cells, CellsBySkill, CoverageGuard, Guarded, Slot, WeekGrid};
use crate::directory::Skill;
use crate::directory::{Agent, Zone};
use crate::engine::{Commit, Plan, Snapshot, plan_edit, plan_import, plan_swaps};
use crate::ids::{AgentId, ShiftId};
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::version::{CommitContext, VersionCause, VersionChanges};

#[derive(Debug, Clone)]
pub struct MemorySchedule {
    /// The whole schedule; its coverage is the whole week's.
    snap: Snapshot,
    history: Vec<VersionChanges>,
    guard: CoverageGuard,
}

impl MemorySchedule {
    /// Imports `new` as version 1.
    pub fn import(new: &NewSchedule, zone: Zone, agents: Vec<Agent>, ctx: &CommitContext) -> Self {
        let (schedule, shifts, commit) = plan_import(new, ctx);
        let grid = WeekGrid::new(schedule.week_window(&zone));
        let agents: std::collections::HashMap<AgentId, Agent> =
            agents.into_iter().map(|a| (a.id, a)).collect();
        let mut cells = CellsBySkill::default();
        cells.apply(&coverage::scheduled(&grid, &shifts, &agents));
        let snap = Snapshot {
            schedule,
            zone,
            shifts: shifts.into_iter().map(|s| (s.id, s)).collect(),
            agents,
            held: std::collections::HashMap::new(),
            guard: None,
            coverage: cells,
        };
        Self {
            snap,
            history: vec![VersionChanges {
                record: commit.record,
                changes: commit.changes,
            }],
            guard: CoverageGuard::default(),
        }
    }

    pub fn set_guard(&mut self, guard: CoverageGuard) {
        self.guard = guard;
    }

    pub fn grid(&self) -> WeekGrid {
        WeekGrid::new(self.snap.schedule.week_window(&self.snap.zone))
    }

    /// Sets the requirement of each `(skill, interval)` given, as a version of its own.
    pub fn set_requirements(&mut self, requirements: &[(Skill, Slot, u32)], ctx: &CommitContext) {
        for (skill, slot, required) in requirements {
            self.snap.coverage.set_required(skill, *slot, *required);
        }
        let version = self.snap.schedule.version.next();
        let commit = Commit::new(
            self.snap.schedule.id,
            version,
            VersionCause::Requirements,
            ctx,
            Vec::new(),
        );
        self.snap.schedule.version = version;
        self.history.push(VersionChanges {
            record: commit.record,
            changes: commit.changes,
        });
    }

    /// The week's coverage as maintained commit by commit (cells with nothing required and
    /// nothing scheduled left out).
    pub fn coverage(&self) -> Cells {
        self.snap.coverage.to_cells()
    }

    pub fn schedule(&self) -> &Schedule {
        &self.snap.schedule
    }

    pub fn shift(&self, id: ShiftId) -> Option<&Shift> {
        self.snap.shifts.get(&id)
    }

    pub fn shifts(&self) -> impl Iterator<Item = &Shift> {
        self.snap.shifts.values()
    }

    pub fn history(&self) -> &[VersionChanges] {
        &self.history
    }

    pub fn agent(&self, id: AgentId) -> Option<&Agent> {
        self.snap.agents.get(&id)
    }

    pub fn apply_swaps(
        &mut self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        if req.base.schedule() != self.snap.schedule.id {
            return Err(CommandError::ScheduleNotFound(req.base.schedule()));
        }
        self.snap.guard = self.guard.check(Guarded::BulkSwap);
        let plan = plan_swaps(&self.snap, req, ctx.now)?;
        Ok(self.commit(plan, VersionCause::BulkSwap, ctx))
    }

    pub fn edit_shift(
        &mut self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        self.snap.guard = self.guard.check(Guarded::SupervisorEdit);
        let plan = plan_edit(&self.snap, edit, ctx.now)?;
        Ok(self.commit(plan, VersionCause::SupervisorEdit, ctx))
    }

    /// Approves time off `[from, to)` of `agent` as the store does under the policy `always`:
    /// refused if it overlaps their approved time off, else their shifts in the window are
    /// trimmed or opened (one version, if any changed) and the window is theirs.
    pub fn approve_time_off(
        &mut self,
        agent: AgentId,
        window: (jiff::Timestamp, jiff::Timestamp),
        effect: crate::timeoff::TimeOffEffect,
        min_remainder_minutes: u32,
        ctx: &CommitContext,
    ) -> Result<SwapResult, crate::timeoff::TimeOffError> {
        let found =
            self.snap.agents.get(&agent).ok_or_else(|| {
                crate::timeoff::TimeOffError::Invalid(format!("no agent {agent}"))
            })?;
        if let Some(other) = found.time_off_during(window.0, window.1) {
            return Err(crate::timeoff::TimeOffError::Refused(vec![
                crate::command::Violation::new(
                    crate::command::ViolationCode::ConflictingTimeOffRequest,
                    Some(agent),
                    None,
                    format!("request {} overlaps this one", other.request_id),
                ),
            ]));
        }
        self.snap.guard = None;
        let planned = crate::engine::plan_time_off(
            &self.snap,
            agent,
            window,
            effect,
            min_remainder_minutes,
            ctx.now,
        );
        let result = self.commit(planned.plan, VersionCause::TimeOff, ctx);
        if let Some(a) = self.snap.agents.get_mut(&agent) {
            a.time_off.push(crate::directory::TimeOffWindow {
                request_id: crate::ids::TimeOffId::new(),
                start: window.0,
                end: window.1,
            });
        }
        Ok(result)
    }

    fn commit(&mut self, plan: Plan, cause: VersionCause, ctx: &CommitContext) -> SwapResult {
        let commit = Commit::of_plan(&self.snap.schedule, cause, ctx, &plan);
        if let Some(commit) = &commit {
            let version = commit.record.version;
            for change in &commit.changes {
                if let Some(shift) = self.snap.shifts.get_mut(&change.shift_id) {
                    // The engine plans windows that parse; a change that did not would leave
                    // the shift as it was, as the store's write cache drops it.
                    let _ = shift.apply(&change.after, version);
                }
            }
            self.snap.schedule.version = version;
            self.history.push(VersionChanges {
                record: commit.record.clone(),
                changes: commit.changes.clone(),
            });
            self.snap.coverage.apply(&commit.coverage);
        }
        SwapResult {
            outcomes: plan.outcomes,
            committed: commit.map(|c| c.record),
            current_version_id: self.snap.schedule.version_id(),
        }
    }
}
