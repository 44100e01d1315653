//! Who is calling: API clients (OAuth 2.0 client credentials), their roles and scopes, and
//! the rules of what each role may do.

use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, BusinessUnitId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Everything, in every business unit.
    Admin,
    /// Schedules, swaps, edits and publishing, in their business unit (or all, unscoped).
    Supervisor,
    /// Machine access for batch jobs: reads and bulk swaps, in their business unit.
    Integration,
    /// Self-service: their own shifts in published schedules and their own availability.
    Agent,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Integration => "integration",
            Self::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Admin,
            Self::Supervisor,
            Self::Integration,
            Self::Agent,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub client_id: String,
    pub role: Role,
    /// The business unit the client is confined to; `None`: all (admins, unscoped clients).
    pub business_unit: Option<BusinessUnitId>,
    /// For agent clients: the agent they act as.
    pub agent: Option<AgentId>,
}

/// What a request wants to do, for the authorisation check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadDirectory,
    ReadSchedule,
    /// The version history, which shows every agent's changes.
    ReadHistory,
    BulkSwap,
    EditShift,
    Publish,
    Import,
    SetAvailability(AgentId),
    /// Pick up open shifts, release one's own, offer, match and cancel trades: agents, for
    /// themselves.
    SelfService,
    /// See trades (agents: theirs and those open to them, filtered by the handler).
    ReadTrades,
    /// Approve or deny matched trades.
    ReviewTrades,
    /// See, approve or deny the changes the coverage guard held.
    ReviewHeld,
    /// Set the staffing requirement (supervisors, and forecasting integrations).
    SetRequirements,
    /// Webhook subscriptions and the business unit's self-service and trade settings.
    Configure,
    /// Request, read and cancel the time off of this agent: the agent themselves, and
    /// supervisors of their business unit.
    TimeOff(AgentId),
    /// Decide time-off requests, list a business unit's, set allowances.
    ReviewTimeOff,
    /// Set time-off balances (supervisors, and HR integrations).
    SetBalances,
}

impl Principal {
    /// Whether this caller may do `action` in business unit `bu` (the unit the resource
    /// belongs to). Agents are further confined to their own data by the handlers.
    pub fn may(&self, action: Action, bu: BusinessUnitId) -> bool {
        let in_scope = self.business_unit.is_none_or(|own| own == bu);
        match self.role {
            Role::Admin => true,
            Role::Supervisor => in_scope && !matches!(action, Action::Import | Action::SelfService),
            Role::Integration => {
                in_scope
                    && matches!(
                        action,
                        Action::ReadDirectory
                            | Action::ReadSchedule
                            | Action::ReadHistory
                            | Action::BulkSwap
                            | Action::ReadTrades
                            | Action::SetRequirements
                            | Action::SetBalances
                    )
            }
            Role::Agent => {
                in_scope
                    && match action {
                        Action::ReadSchedule | Action::ReadTrades => true,
                        Action::SelfService => self.agent.is_some(),
                        Action::SetAvailability(agent) | Action::TimeOff(agent) => {
                            self.agent == Some(agent)
                        }
                        _ => false,
                    }
            }
        }
    }
}

/// A registered API client; only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub client_id: String,
    pub secret_hash: String,
    pub role: Role,
    pub business_unit: Option<BusinessUnitId>,
    pub agent: Option<AgentId>,
}

impl ApiClient {
    pub fn principal(&self) -> Principal {
        Principal {
            client_id: self.client_id.clone(),
            role: self.role,
            business_unit: self.business_unit,
            agent: self.agent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, bu: Option<BusinessUnitId>, agent: Option<AgentId>) -> Principal {
        Principal {
            client_id: "c".into(),
            role,
            business_unit: bu,
            agent,
        }
    }

    #[test]
    fn roles_and_scopes_decide_what_a_caller_may_do() {
        let (chicago, dallas) = (BusinessUnitId::new(), BusinessUnitId::new());
        let me = AgentId::new();
        let supervisor = principal(Role::Supervisor, Some(chicago), None);
        assert!(supervisor.may(Action::BulkSwap, chicago));
        assert!(!supervisor.may(Action::BulkSwap, dallas));
        assert!(!supervisor.may(Action::Import, chicago));
        let integration = principal(Role::Integration, Some(chicago), None);
        assert!(integration.may(Action::BulkSwap, chicago));
        assert!(!integration.may(Action::Publish, chicago));
        let agent = principal(Role::Agent, Some(chicago), Some(me));
        assert!(agent.may(Action::SetAvailability(me), chicago));
        assert!(!agent.may(Action::SetAvailability(AgentId::new()), chicago));
        assert!(!agent.may(Action::BulkSwap, chicago));
        assert!(!agent.may(Action::EditShift, chicago));
        assert!(agent.may(Action::SelfService, chicago));
        assert!(!agent.may(Action::SelfService, dallas));
        assert!(!agent.may(Action::ReviewTrades, chicago));
        assert!(!agent.may(Action::Configure, chicago));
        assert!(supervisor.may(Action::ReviewTrades, chicago));
        assert!(!supervisor.may(Action::SelfService, chicago));
        assert!(!integration.may(Action::ReviewTrades, chicago));
        assert!(principal(Role::Admin, None, None).may(Action::Import, dallas));
        assert!(agent.may(Action::TimeOff(me), chicago));
        assert!(!agent.may(Action::TimeOff(AgentId::new()), chicago));
        assert!(!agent.may(Action::ReviewTimeOff, chicago));
        assert!(!agent.may(Action::SetBalances, chicago));
        assert!(supervisor.may(Action::TimeOff(me), chicago));
        assert!(!supervisor.may(Action::TimeOff(me), dallas));
        assert!(supervisor.may(Action::ReviewTimeOff, chicago));
        assert!(integration.may(Action::SetBalances, chicago));
        assert!(!integration.may(Action::ReviewTimeOff, chicago));
    }
}
