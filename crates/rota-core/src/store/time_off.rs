//! Time off: requests, balances and allowances.

use std::future::Future;

use jiff::civil::Date;

use super::{Page, PageRequest, StoreResult};
use crate::ids::{AgentId, BusinessUnitId};
use crate::version::CommitContext;

/// Which time-off requests to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeOffFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub agent: Option<AgentId>,
    pub state: Option<crate::timeoff::TimeOffState>,
}

/// Time off: requests, balances and allowances. Every operation that changes a request is one
/// transaction that holds the business unit's time-off lock (so two approvals cannot both take
/// the last place of an allowance), commits the schedule versions an approval makes, and writes
/// `timeoff.request.changed` for every request whose state changed, waitlist promotions
/// included.
pub trait TimeOffStore: Send + Sync {
    /// Files an agent's request and answers it by the business unit's policy.
    fn request_time_off(
        &self,
        new: &crate::timeoff::NewTimeOff,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    fn time_off(
        &self,
        id: crate::ids::TimeOffId,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Newest first.
    fn time_off_requests(
        &self,
        filter: TimeOffFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::timeoff::TimeOffRequest>>> + Send;
    /// A supervisor approves (overriding failed rules if asked) or denies a pending or
    /// waitlisted request.
    fn decide_time_off(
        &self,
        review: &crate::timeoff::TimeOffReview,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Cancels a live request; an approved one only until the business unit's cutoff when
    /// `enforce_cutoff` (the agent's own cancellation), returning what it deducted.
    fn cancel_time_off(
        &self,
        id: crate::ids::TimeOffId,
        expected_version: u32,
        enforce_cutoff: bool,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Replaces the agent's balance of `code`.
    fn set_balance(
        &self,
        agent: AgentId,
        code: &crate::schedule::ActivityCode,
        minutes: i64,
    ) -> impl Future<Output = StoreResult<crate::timeoff::Balance>> + Send;
    fn balances(
        &self,
        agent: AgentId,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::Balance>>> + Send;
    /// Sets the allowance of each named group and day, then promotes the waitlist of those
    /// days where room appeared.
    fn set_allowances(
        &self,
        bu: BusinessUnitId,
        allowances: &[crate::timeoff::Allowance],
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::AllowanceDay>>> + Send;
    /// Each day of `[from, to]` of `group`: its limit and the agents approved and waitlisted.
    fn allowances(
        &self,
        bu: BusinessUnitId,
        group: &str,
        from: Date,
        to: Date,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::AllowanceDay>>> + Send;
}
