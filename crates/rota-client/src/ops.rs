//! Every operation of the rota API as the SDK calls it: method and path template, spelled as in
//! `/openapi.json`. The SDK builds every request path from these, and a test compares
//! [`ALL`] with the served document, so an endpoint without an SDK method fails the build's
//! tests.

use std::fmt::Display;

use reqwest::Method;

/// One operation: its method and path template (`{name}` for each path parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    pub template: &'static str,
}

impl Operation {
    const fn new(method: Method, template: &'static str) -> Self {
        Self { method, template }
    }

    /// The template with its parameters filled in order by `params`. Parameters are ids
    /// (UUIDs, version ids of UUID and number): nothing in them needs escaping.
    pub fn path(&self, params: &[&(dyn Display + Sync)]) -> String {
        let mut out = String::with_capacity(self.template.len() + 40 * params.len());
        let mut params = params.iter();
        let mut rest = self.template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            if let Some(p) = params.next() {
                out.push_str(&p.to_string());
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        out
    }
}

pub const TOKEN: Operation = Operation::new(Method::POST, "/oauth/token");
pub const HEALTH: Operation = Operation::new(Method::GET, "/healthz");
pub const READY: Operation = Operation::new(Method::GET, "/readyz");
pub const METRICS: Operation = Operation::new(Method::GET, "/metrics");
pub const BUSINESS_UNITS: Operation = Operation::new(Method::GET, "/api/v2/wfm/business-units");
pub const AGENTS: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/business-units/{businessUnitId}/agents",
);
pub const SET_AVAILABILITY: Operation =
    Operation::new(Method::PUT, "/api/v2/wfm/agents/{agentId}/availability");
pub const FIND_SCHEDULE: Operation = Operation::new(Method::GET, "/api/v2/wfm/schedules");
pub const IMPORT_SCHEDULE: Operation = Operation::new(Method::POST, "/api/v2/wfm/schedules");
pub const SCHEDULE: Operation = Operation::new(Method::GET, "/api/v2/wfm/schedules/{scheduleId}");
pub const VERSIONS: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/schedules/{scheduleId}/versions");
pub const SCHEDULE_AS_OF: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/schedules/{scheduleId}/versions/{versionId}",
);
pub const PUBLISH: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/schedules/{scheduleId}/publish");
pub const EDIT_SHIFT: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/shifts/{shiftId}/edits");
pub const SHIFT_SWAPS: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/schedules/shift-swaps");
pub const MY_SCHEDULE: Operation = Operation::new(Method::GET, "/api/v2/wfm/agents/me/schedule");
pub const PICKUP: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/agents/me/shifts/{shiftId}/pickup",
);
pub const RELEASE: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/agents/me/shifts/{shiftId}/release",
);
pub const CREATE_TRADE: Operation = Operation::new(Method::POST, "/api/v2/wfm/trades");
pub const TRADES: Operation = Operation::new(Method::GET, "/api/v2/wfm/trades");
pub const TRADE: Operation = Operation::new(Method::GET, "/api/v2/wfm/trades/{tradeId}");
pub const MATCH_TRADE: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/trades/{tradeId}/match");
pub const CANCEL_TRADE: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/trades/{tradeId}/cancel");
pub const REVIEW_TRADES: Operation = Operation::new(Method::POST, "/api/v2/wfm/trades/reviews");
pub const CREATE_WEBHOOK: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/business-units/{businessUnitId}/webhooks",
);
pub const WEBHOOKS: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/business-units/{businessUnitId}/webhooks",
);
pub const WEBHOOK: Operation = Operation::new(Method::GET, "/api/v2/wfm/webhooks/{webhookId}");
pub const UPDATE_WEBHOOK: Operation =
    Operation::new(Method::PATCH, "/api/v2/wfm/webhooks/{webhookId}");
pub const DELETE_WEBHOOK: Operation =
    Operation::new(Method::DELETE, "/api/v2/wfm/webhooks/{webhookId}");
pub const WEBHOOK_DELIVERIES: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/webhooks/{webhookId}/deliveries");
pub const SETTINGS: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/business-units/{businessUnitId}/settings",
);
pub const SET_SETTINGS: Operation = Operation::new(
    Method::PUT,
    "/api/v2/wfm/business-units/{businessUnitId}/settings",
);
pub const SET_REQUIREMENTS: Operation = Operation::new(
    Method::PUT,
    "/api/v2/wfm/schedules/{scheduleId}/requirements",
);
pub const COVERAGE: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/schedules/{scheduleId}/coverage");
pub const HELD_CHANGES: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/business-units/{businessUnitId}/held-changes",
);
pub const HELD_CHANGE: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/held-changes/{heldChangeId}");
pub const DECIDE_HELD: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/held-changes/{heldChangeId}/decision",
);
pub const REQUEST_TIME_OFF: Operation =
    Operation::new(Method::POST, "/api/v2/wfm/time-off-requests");
pub const TIME_OFF_REQUESTS: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/time-off-requests");
pub const TIME_OFF: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/time-off-requests/{timeOffId}");
pub const DECIDE_TIME_OFF: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/time-off-requests/{timeOffId}/decision",
);
pub const CANCEL_TIME_OFF: Operation = Operation::new(
    Method::POST,
    "/api/v2/wfm/time-off-requests/{timeOffId}/cancel",
);
pub const BALANCES: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/agents/{agentId}/time-off-balances",
);
pub const SET_BALANCE: Operation = Operation::new(
    Method::PUT,
    "/api/v2/wfm/agents/{agentId}/time-off-balances/{code}",
);
pub const SET_ALLOWANCES: Operation = Operation::new(
    Method::PUT,
    "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances",
);
pub const ALLOWANCES: Operation = Operation::new(
    Method::GET,
    "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances",
);

pub const MATCH_CHECK: Operation =
    Operation::new(Method::GET, "/api/v2/wfm/trades/{tradeId}/match-check");
pub const CREATE_USER: Operation = Operation::new(Method::POST, "/api/v2/users");
pub const SIGN_IN_LINK: Operation =
    Operation::new(Method::POST, "/api/v2/users/{userId}/sign-in-links");

/// Every operation the SDK has a method for.
pub const ALL: &[Operation] = &[
    TOKEN,
    HEALTH,
    READY,
    METRICS,
    BUSINESS_UNITS,
    AGENTS,
    SET_AVAILABILITY,
    FIND_SCHEDULE,
    IMPORT_SCHEDULE,
    SCHEDULE,
    VERSIONS,
    SCHEDULE_AS_OF,
    PUBLISH,
    EDIT_SHIFT,
    SHIFT_SWAPS,
    MY_SCHEDULE,
    PICKUP,
    RELEASE,
    CREATE_TRADE,
    TRADES,
    TRADE,
    MATCH_TRADE,
    CANCEL_TRADE,
    REVIEW_TRADES,
    CREATE_WEBHOOK,
    WEBHOOKS,
    WEBHOOK,
    UPDATE_WEBHOOK,
    DELETE_WEBHOOK,
    WEBHOOK_DELIVERIES,
    SETTINGS,
    SET_SETTINGS,
    SET_REQUIREMENTS,
    COVERAGE,
    HELD_CHANGES,
    HELD_CHANGE,
    DECIDE_HELD,
    REQUEST_TIME_OFF,
    TIME_OFF_REQUESTS,
    TIME_OFF,
    DECIDE_TIME_OFF,
    CANCEL_TIME_OFF,
    BALANCES,
    SET_BALANCE,
    SET_ALLOWANCES,
    ALLOWANCES,
    CREATE_USER,
    SIGN_IN_LINK,
    MATCH_CHECK,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_fills_each_parameter_in_order() {
        assert_eq!(
            SCHEDULE_AS_OF.path(&[&"s-1", &"v-2"]),
            "/api/v2/wfm/schedules/s-1/versions/v-2"
        );
        assert_eq!(SHIFT_SWAPS.path(&[]), "/api/v2/wfm/schedules/shift-swaps");
    }
}
