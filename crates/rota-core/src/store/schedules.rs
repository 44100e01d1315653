//! Schedules, their shifts and versions, and the commands that change them.

use std::future::Future;

use jiff::civil::Date;

use super::{Page, PageRequest, StoreResult};
use crate::command::{ShiftEdit, SwapRequest, SwapResult};
use crate::ids::{AgentId, BusinessUnitId, ScheduleId};
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::version::{CommitContext, ScheduleVersion, VersionChanges, VersionRecord};

/// Which shifts of a schedule to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShiftFilter {
    pub agent: Option<AgentId>,
    /// Only open shifts (no owner); `agent`, when given, wins.
    pub open: bool,
}

/// Schedules, their shifts and versions, and the commands that change them. Every command is
/// one transaction that re-checks the rules against what it reads under its write lock.
pub trait ScheduleStore: Send + Sync {
    /// Creates the schedule as version 1 (cause `import`).
    fn import_schedule(
        &self,
        new: &NewSchedule,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
    fn schedule(&self, id: ScheduleId) -> impl Future<Output = StoreResult<Schedule>> + Send;
    fn shift(&self, id: crate::ids::ShiftId) -> impl Future<Output = StoreResult<Shift>> + Send;
    fn find_schedule(
        &self,
        bu: BusinessUnitId,
        week_start: Date,
    ) -> impl Future<Output = StoreResult<Option<Schedule>>> + Send;
    /// Current shifts ordered by start, then id.
    fn shifts(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Shift>>> + Send;
    /// The week's shifts without their activities, ordered like [`Self::shifts`].
    fn shift_slots(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
    ) -> impl Future<Output = StoreResult<Vec<crate::schedule::ShiftSlot>>> + Send;
    /// Newest first.
    fn versions(
        &self,
        id: ScheduleId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<VersionRecord>>> + Send;
    /// The versions after `since` (all of them for `None`), oldest first, with their changes.
    fn changes_since(
        &self,
        id: ScheduleId,
        since: Option<ScheduleVersion>,
    ) -> impl Future<Output = StoreResult<Vec<VersionChanges>>> + Send;
    /// The shifts as they stood at `version`, ordered like [`Self::shifts`].
    fn schedule_as_of(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
    ) -> impl Future<Output = StoreResult<Vec<Shift>>> + Send;
    fn apply_swaps(
        &self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    fn edit_shift(
        &self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    /// Marks the schedule published; a version of its own (cause `publish`, no shift changes).
    fn publish(
        &self,
        id: ScheduleId,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
}
