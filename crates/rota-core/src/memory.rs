//! An in-memory schedule that commits through the same engine as the database backends: the
//! model the property tests drive, and a reference for the store's conformance tests.

use crate::command::{CommandError, ShiftEdit, SwapRequest, SwapResult};
use crate::directory::{Agent, Zone};
use crate::engine::{Commit, Plan, Snapshot, plan_edit, plan_import, plan_swaps};
use crate::ids::{AgentId, ShiftId};
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::version::{CommitContext, VersionCause, VersionChanges};

#[derive(Debug, Clone)]
pub struct MemorySchedule {
    snap: Snapshot,
    history: Vec<VersionChanges>,
}

impl MemorySchedule {
    /// Imports `new` as version 1.
    pub fn import(new: &NewSchedule, zone: Zone, agents: Vec<Agent>, ctx: &CommitContext) -> Self {
        let (schedule, shifts, commit) = plan_import(new, ctx);
        let snap = Snapshot {
            schedule,
            zone,
            shifts: shifts.into_iter().map(|s| (s.id, s)).collect(),
            agents: agents.into_iter().map(|a| (a.id, a)).collect(),
            held: std::collections::HashMap::new(),
        };
        Self {
            snap,
            history: vec![VersionChanges {
                record: commit.record,
                changes: commit.changes,
            }],
        }
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
        let plan = plan_swaps(&self.snap, req, ctx.now)?;
        Ok(self.commit(plan, VersionCause::BulkSwap, ctx))
    }

    pub fn edit_shift(
        &mut self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        let plan = plan_edit(&self.snap, edit, ctx.now)?;
        Ok(self.commit(plan, VersionCause::SupervisorEdit, ctx))
    }

    fn commit(&mut self, plan: Plan, cause: VersionCause, ctx: &CommitContext) -> SwapResult {
        let commit = Commit::after(&self.snap.schedule, cause, ctx, plan.changes);
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
        }
        SwapResult {
            outcomes: plan.outcomes,
            committed: commit.map(|c| c.record),
            current_version_id: self.snap.schedule.version_id(),
        }
    }
}
