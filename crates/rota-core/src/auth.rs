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
    /// Create portal users of any role (admins only).
    CreateUsers,
    /// Issue a one-time sign-in link to an agent user of the unit (supervisors; admins for
    /// anyone): how a locked-out or new agent gets in.
    IssueSignInLinks,
}

impl Principal {
    /// Whether this caller may do `action` in business unit `bu` (the unit the resource
    /// belongs to). Agents are further confined to their own data by the handlers.
    pub fn may(&self, action: Action, bu: BusinessUnitId) -> bool {
        let in_scope = self.business_unit.is_none_or(|own| own == bu);
        match self.role {
            Role::Admin => true,
            Role::Supervisor => {
                in_scope
                    && !matches!(
                        action,
                        Action::Import | Action::SelfService | Action::CreateUsers
                    )
            }
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

/// A person who signs in to the portal: an agent (acting as their agent record), a
/// supervisor of a business unit, or an admin. API clients stay for integrations; a user's
/// requests go through the same authorisation as a client's, as the principal `user:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: crate::ids::UserId,
    /// Unique, lower case: what the person types to sign in.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub business_unit: Option<BusinessUnitId>,
    pub agent: Option<AgentId>,
    /// argon2id in PHC form; `None` until the person sets one (they sign in by a link).
    pub password_hash: Option<String>,
}

impl User {
    pub fn principal(&self) -> Principal {
        Principal {
            client_id: format!("user:{}", self.username),
            role: self.role,
            business_unit: self.business_unit,
            agent: self.agent,
        }
    }
}

/// Why a user cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("a username is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'")]
    InvalidUsername,
    #[error("an agent user acts as exactly one agent record")]
    AgentWithoutRecord,
    #[error("only agent users act as an agent record")]
    RecordWithoutAgent,
    #[error("a supervisor user belongs to a business unit")]
    SupervisorWithoutUnit,
    #[error("integration is a role for API clients, not people")]
    NotAPersonRole,
}

impl User {
    /// A user as asked, or why not: the username is normalised to lower case.
    pub fn new(
        username: &str,
        display_name: &str,
        role: Role,
        business_unit: Option<BusinessUnitId>,
        agent: Option<AgentId>,
    ) -> Result<Self, UserError> {
        let username = username.trim().to_ascii_lowercase();
        if username.is_empty()
            || username.len() > 64
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(UserError::InvalidUsername);
        }
        match role {
            Role::Integration => return Err(UserError::NotAPersonRole),
            Role::Agent if agent.is_none() => return Err(UserError::AgentWithoutRecord),
            Role::Agent => {}
            _ if agent.is_some() => return Err(UserError::RecordWithoutAgent),
            Role::Supervisor if business_unit.is_none() => {
                return Err(UserError::SupervisorWithoutUnit);
            }
            _ => {}
        }
        let display_name = display_name.trim();
        Ok(Self {
            id: crate::ids::UserId::new(),
            display_name: if display_name.is_empty() {
                username.clone()
            } else {
                display_name.to_owned()
            },
            username,
            role,
            business_unit,
            agent,
            password_hash: None,
        })
    }
}

/// How failed password sign-ins lock a user out: after [`Lockout::FREE_FAILURES`] in a row,
/// each further failure locks the password for twice as long as the last, from one minute up
/// to [`Lockout::LONGEST`]. Bounded on purpose: someone who knows a username can keep it
/// locked only by failing again every quarter hour, never for good, and a one-time sign-in
/// link from a supervisor or the CLI still works while the password is locked.
pub struct Lockout;

impl Lockout {
    pub const FREE_FAILURES: u32 = 5;
    pub const LONGEST: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

    /// How long the password is locked after `failures` failures in a row.
    pub fn after(failures: u32) -> Option<jiff::SignedDuration> {
        let over = failures.checked_sub(Self::FREE_FAILURES)?;
        let minutes = 1i64.checked_shl(over.min(8)).unwrap_or(i64::MAX);
        Some(jiff::SignedDuration::from_mins(minutes).min(Self::LONGEST))
    }
}

/// A signed-in browser: found by the hash of its cookie, on any node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// The synchroniser token every state-changing form of this session carries.
    pub csrf_token: String,
    pub expires_at: jiff::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_from_one_minute_to_a_quarter_hour_and_no_further() {
        assert_eq!(Lockout::after(4), None);
        assert_eq!(Lockout::after(5), Some(jiff::SignedDuration::from_mins(1)));
        assert_eq!(Lockout::after(6), Some(jiff::SignedDuration::from_mins(2)));
        assert_eq!(Lockout::after(8), Some(jiff::SignedDuration::from_mins(8)));
        assert_eq!(Lockout::after(9), Some(Lockout::LONGEST));
        assert_eq!(Lockout::after(u32::MAX), Some(Lockout::LONGEST));
    }

    #[test]
    fn users_are_people_with_a_record_that_fits_their_role() {
        let bu = BusinessUnitId::new();
        let agent = AgentId::new();
        let u = User::new(" Ana.Lopez ", "", Role::Agent, Some(bu), Some(agent)).unwrap();
        assert_eq!(u.username, "ana.lopez");
        assert_eq!(u.display_name, "ana.lopez");
        assert_eq!(u.principal().client_id, "user:ana.lopez");
        assert_eq!(
            User::new("ana", "", Role::Agent, Some(bu), None),
            Err(UserError::AgentWithoutRecord)
        );
        assert_eq!(
            User::new("sam", "", Role::Supervisor, None, None),
            Err(UserError::SupervisorWithoutUnit)
        );
        assert_eq!(
            User::new("sam", "", Role::Supervisor, Some(bu), Some(agent)),
            Err(UserError::RecordWithoutAgent)
        );
        assert_eq!(
            User::new("a b", "", Role::Admin, None, None),
            Err(UserError::InvalidUsername)
        );
        assert_eq!(
            User::new("bot", "", Role::Integration, Some(bu), None),
            Err(UserError::NotAPersonRole)
        );
    }

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
        assert!(supervisor.may(Action::IssueSignInLinks, chicago));
        assert!(!supervisor.may(Action::IssueSignInLinks, dallas));
        assert!(!supervisor.may(Action::CreateUsers, chicago));
        assert!(!agent.may(Action::IssueSignInLinks, chicago));
        assert!(!integration.may(Action::IssueSignInLinks, chicago));
        assert!(principal(Role::Admin, None, None).may(Action::CreateUsers, dallas));
    }
}
