//! Who asks: the principal a bearer token or a portal session resolved to, and the one way a
//! command checks what they may do.

use rota_core::auth::{Action, Principal, Role};
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::StoreError;
use std::fmt::Display;

use crate::error::{AppError, AppResult};

/// The authenticated caller of a command or a read.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// `NOT_FOUND` when `bu` is outside the caller's business unit, `FORBIDDEN` when the
    /// caller's role may not do `action`. `asked` names what the caller asked for (its kind and
    /// id): outside their unit it reads exactly as an id that does not exist, so the answer
    /// tells nothing of what lives elsewhere.
    pub fn require(
        &self,
        action: Action,
        bu: BusinessUnitId,
        asked: (&'static str, impl Display),
    ) -> AppResult<()> {
        if self.0.may(action, bu) {
            Ok(())
        } else if self.0.business_unit.is_some_and(|own| own != bu) {
            let (kind, id) = asked;
            Err(StoreError::not_found(kind, id).into())
        } else {
            Err(AppError::Forbidden(format!(
                "client {} ({}) may not do this",
                self.0.client_id,
                self.0.role.as_str()
            )))
        }
    }

    pub fn is_agent(&self) -> bool {
        self.0.role == Role::Agent
    }

    /// The agent a self-service caller acts as; `FORBIDDEN` for any other client.
    pub fn me(&self) -> AppResult<AgentId> {
        self.0.agent.ok_or_else(|| {
            AppError::Forbidden(format!(
                "client {} acts for no agent: self-service and trades are for agent clients",
                self.0.client_id
            ))
        })
    }
}

/// The id a request is known by in logs, error answers and the version history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
