//! Agent self-service and shift trades.

use std::future::Future;

use super::{Page, PageRequest, StoreResult};
use crate::command::SwapResult;
use crate::ids::{AgentId, BusinessUnitId};
use crate::version::{CommitContext, ScheduleVersion};

/// An agent's new trade offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrade {
    pub initiating_agent_id: AgentId,
    pub shift_id: crate::ids::ShiftId,
    pub target_agent_id: Option<AgentId>,
    pub acceptable_intervals: Vec<crate::trade::Interval>,
    pub expires_at: jiff::Timestamp,
}

/// Which trades to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub state: Option<crate::trade::TradeState>,
    /// Only the trades this agent may see: theirs, offered to them, or open to anyone.
    pub visible_to: Option<AgentId>,
}

/// A supervisor's decision on a matched trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeReview {
    pub trade_id: crate::ids::TradeId,
    pub expected_version: u32,
    pub approve: bool,
    pub reason: Option<String>,
}

/// Agent self-service and shift trades. Every operation is one transaction; those that change
/// a schedule commit through the engine like a swap, and every one writes its events to the
/// outbox in that transaction.
pub trait TradeStore: Send + Sync {
    fn settings(
        &self,
        bu: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<crate::trade::BusinessUnitSettings>> + Send;
    fn set_settings(
        &self,
        bu: BusinessUnitId,
        settings: &crate::trade::BusinessUnitSettings,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// An agent picks up an open shift or releases their own (published schedules only). With
    /// `seen` (the shift's version a page showed), a shift changed since is a
    /// `ShiftVersionConflict`.
    fn self_service(
        &self,
        shift: crate::ids::ShiftId,
        agent: AgentId,
        action: crate::engine::SelfServiceAction,
        seen: Option<ScheduleVersion>,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    fn create_trade(
        &self,
        new: &NewTrade,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    fn trade(
        &self,
        id: crate::ids::TradeId,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// Newest first.
    fn trades(
        &self,
        filter: TradeFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::trade::Trade>>> + Send;
    /// `receiver` matches the trade, offering `shift` in return (or none for a shift given
    /// away). The rule check runs at once; the automatic review may approve (applying the
    /// swap) or deny the trade in the same transaction.
    fn match_trade(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<crate::ids::ShiftId>,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// What matching would find, without matching: the same checks as [`Self::match_trade`]
    /// (the trade open, the shift the receiver's and acceptable, the rules and the business
    /// unit's review), in a transaction that writes nothing. An answer for now: the match
    /// checks again when it commits.
    fn preview_match(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<crate::ids::ShiftId>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<crate::trade::TradeCheck>> + Send;
    /// The initiator withdraws the trade.
    fn cancel_trade(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        by: AgentId,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// A supervisor approves (applying the swap, rules checked at commit) or denies.
    fn review_trade(
        &self,
        review: &TradeReview,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// Expires every open trade whose expiry is at or before `now`; returns them.
    fn expire_trades(
        &self,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<crate::trade::Trade>>> + Send;
}
