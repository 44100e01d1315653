//! Portal users on the wire: creating one and issuing one-time sign-in links.

use jiff::Timestamp;
use rota_core::auth::Role;
use rota_core::ids::{AgentId, BusinessUnitId, UserId};
use serde::{Deserialize, Serialize};

/// `POST /api/v2/users`: a person who signs in to the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUserBody {
    /// 1 to 64 of a-z, 0-9, '.', '_', '-' (upper case is taken as lower).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub username: String,
    /// The name pages show (the username when absent).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    /// `agent`, `supervisor` or `admin`; `integration` is for API clients.
    pub role: Role,
    /// Required for supervisors; for agents it follows from the agent record.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub business_unit_id: Option<BusinessUnitId>,
    /// Required for agents: the agent record the person is.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub business_unit_id: Option<BusinessUnitId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
    /// Whether the person has chosen a password yet.
    pub has_password: bool,
}

impl From<&rota_core::auth::User> for UserBody {
    fn from(u: &rota_core::auth::User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            business_unit_id: u.business_unit,
            agent_id: u.agent,
            has_password: u.password_hash.is_some(),
        }
    }
}

/// A one-time sign-in link: the path to open on the service, once, before `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInLinkBody {
    /// `/portal/link/…`; only its hash is stored.
    pub path: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The answer to `POST /api/v2/users`: the user and their first sign-in link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewUserResponse {
    pub user: UserBody,
    pub sign_in_link: SignInLinkBody,
}
