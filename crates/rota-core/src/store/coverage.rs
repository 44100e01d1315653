//! Staffing requirements, coverage, and the changes the coverage guard held.

use std::future::Future;

use super::{Page, PageRequest, StoreResult};
use crate::ids::{BusinessUnitId, ScheduleId};
use crate::schedule::Schedule;
use crate::version::{CommitContext, ScheduleVersion};

/// A schedule's coverage at one version: the schedule as of it, its week's intervals, and the
/// cells with anything required or scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageReport {
    pub schedule: crate::schedule::Schedule,
    pub grid: crate::coverage::WeekGrid,
    pub cells: crate::coverage::Cells,
}

/// Which held changes to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub state: Option<crate::held::HeldState>,
}

/// A supervisor's decision on a held change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDecision {
    pub id: crate::ids::HeldChangeId,
    pub expected_version: u32,
    pub approve: bool,
    pub reason: Option<String>,
}

/// Staffing requirements, coverage, and the changes the coverage guard held.
pub trait CoverageStore: Send + Sync {
    /// Sets the requirement of each interval the runs name (the others keep theirs), as one
    /// version of cause `requirements`; the skills must be skills of the business unit's agents.
    fn set_requirements(
        &self,
        id: ScheduleId,
        runs: &[crate::coverage::RequirementRun],
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
    /// The coverage as maintained, now or as of `version`.
    fn coverage(
        &self,
        id: ScheduleId,
        version: Option<ScheduleVersion>,
    ) -> impl Future<Output = StoreResult<CoverageReport>> + Send;
    fn held_change(
        &self,
        id: crate::ids::HeldChangeId,
    ) -> impl Future<Output = StoreResult<crate::held::HeldChange>> + Send;
    /// Oldest first.
    fn held_changes(
        &self,
        filter: HeldFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::held::HeldChange>>> + Send;
    /// Approves (applying the change, every rule but the guard checked now) or denies.
    fn decide_held(
        &self,
        decision: &HeldDecision,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::held::HeldChange>> + Send;
}
