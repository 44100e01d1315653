//! Agent self-service and shift trades: request and response bodies.

use jiff::{Timestamp, civil::Date};
use rota_core::ids::{AgentId, ShiftId, TradeId};
use rota_core::schedule::Shift;
use rota_core::trade::{Interval, Trade};
use serde::{Deserialize, Serialize};

use crate::paging::default_limit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WeekQuery {
    /// The first day of the week (local date of the business unit).
    #[param(value_type = String, format = Date)]
    pub week_date: Date,
}

/// An agent's week: their shifts and the open shifts they could pick up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MySchedule {
    #[schema(value_type = String, format = Uuid)]
    pub schedule_id: rota_core::ids::ScheduleId,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    #[schema(value_type = String, format = Date)]
    pub week_start: Date,
    pub shifts: Vec<Shift>,
    pub open_shifts: Vec<Shift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTradeBody {
    /// The caller's shift on offer.
    #[schema(value_type = String, format = Uuid)]
    pub shift_id: ShiftId,
    /// Only this agent may match.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub target_agent_id: Option<AgentId>,
    /// Times the caller would take a shift in; empty or absent: the shift is given away.
    #[serde(default)]
    pub acceptable_intervals: Vec<IntervalBody>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// `[start, end)`: a time the initiator would accept a shift in return. One that does not end
/// after it starts is refused with 422 `UNPROCESSABLE` naming the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Interval)]
pub struct IntervalBody {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

impl From<Interval> for IntervalBody {
    fn from(i: Interval) -> Self {
        Self {
            start: i.start(),
            end: i.end(),
        }
    }
}

/// `GET /trades/{tradeId}/match-check`: what a match would find, before matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatchCheckQuery {
    /// The trade's version the caller saw.
    #[param(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub version: u32,
    /// The caller's shift in return (none for a shift given away).
    #[param(value_type = Option<String>, format = Uuid)]
    pub shift_id: Option<rota_core::ids::ShiftId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TradeQuery {
    /// Unmatched, Matched, Approved, Denied, Canceled or Expired.
    #[param(value_type = Option<rota_core::trade::TradeState>)]
    pub state: Option<String>,
    /// For unscoped supervisors and admins.
    #[param(format = Uuid)]
    pub business_unit_id: Option<String>,
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(default = "default_limit", deserialize_with = "crate::paging::limit")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
}

impl Default for TradeQuery {
    fn default() -> Self {
        Self {
            state: None,
            business_unit_id: None,
            offset: 0,
            limit: default_limit(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchBody {
    /// The trade's version as the caller saw it (409 TRADE_VERSION_CONFLICT otherwise).
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub version: u32,
    /// The caller's shift in return; absent to take a shift given away.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub shift_id: Option<ShiftId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub version: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ReviewDecision {
    Approve,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewItem {
    #[schema(value_type = String, format = Uuid)]
    pub trade_id: TradeId,
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub version: u32,
    pub decision: ReviewDecision,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewBody {
    #[schema(min_items = 1)]
    pub reviews: Vec<ReviewItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ReviewOutcome {
    /// Approved and applied: `trade.appliedVersionId` is the version it created.
    Approved,
    /// Denied: by the supervisor, or because the approval could not apply (the violations
    /// are in `trade.decision.violations`).
    Denied,
    /// Nothing changed: `error` says why (stale version, wrong state, expired, not allowed).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResult {
    #[schema(value_type = String, format = Uuid)]
    pub trade_id: TradeId,
    pub outcome: ReviewOutcome,
    pub trade: Option<Trade>,
    pub error: Option<ReviewError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewError {
    pub status: u16,
    pub code: crate::problem::ErrorCode,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResponse {
    pub results: Vec<ReviewResult>,
}
