//! Time off on the wire: requests, decisions, cancellations, balances and allowances.

use jiff::Timestamp;
use jiff::civil::Date;
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::timeoff::{Allowance, Days, Span, TimeOffState};
use serde::{Deserialize, Serialize};

/// `POST /time-off-requests`: whole local days (`days`) or a window (`start` and `end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTimeOffBody {
    /// The agent the request is for: an agent's own id (or none: the caller), or, for a
    /// supervisor, an agent of their business unit.
    pub agent_id: Option<AgentId>,
    /// One of the business unit's codes (`vacation`, `sick`, `personal` by default).
    #[schema(value_type = rota_core::schedule::ActivityCode)]
    pub code: String,
    pub days: Option<Days>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<Timestamp>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

impl NewTimeOffBody {
    /// The span asked for: days, or a window, never both.
    pub fn span(&self) -> Result<Span, &'static str> {
        match (self.days, self.start, self.end) {
            (Some(days), None, None) => Ok(Span::Days(days)),
            (None, Some(start), Some(end)) => Ok(Span::Window(start, end)),
            _ => Err("give either `days` or both `start` and `end`"),
        }
    }
}

/// Which requests to list: an agent's (`agentId`; agents see their own only) or a business
/// unit's (`businessUnitId`, supervisors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeOffQuery {
    pub agent_id: Option<AgentId>,
    pub business_unit_id: Option<BusinessUnitId>,
    pub state: Option<TimeOffState>,
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(
        default = "crate::paging::default_limit",
        deserialize_with = "crate::paging::limit"
    )]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
}

impl Default for TimeOffQuery {
    fn default() -> Self {
        Self {
            agent_id: None,
            business_unit_id: None,
            state: None,
            offset: 0,
            limit: crate::paging::default_limit(),
        }
    }
}

/// A supervisor's decision on a pending or waitlisted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeOffDecisionBody {
    /// The request's version as the caller read it (409 if it moved since).
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub expected_version: u32,
    pub approve: bool,
    /// Approve although balance, allowance or coverage fail; the decision records the rules
    /// overridden, with who and why.
    #[serde(default, rename = "override")]
    pub override_rules: bool,
    pub reason: Option<String>,
}

/// Cancels a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeOffCancelBody {
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub expected_version: u32,
}

/// `PUT /agents/{agentId}/time-off-balances/{code}`: the balance replaces the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalanceBody {
    #[schema(minimum = -10_000_000, maximum = 10_000_000)]
    pub minutes: i64,
}

/// `PUT /business-units/{businessUnitId}/time-off-allowances`: the days named get these
/// limits; the waitlist of those days is promoted where room appeared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowancesBody {
    #[schema(min_items = 1, max_items = 400)]
    pub allowances: Vec<Allowance>,
}

/// Which days of one group's allowance to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllowanceQuery {
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub group: String,
    #[param(value_type = String, format = Date)]
    pub from: Date,
    #[param(value_type = String, format = Date)]
    pub to: Date,
}
