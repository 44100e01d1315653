//! Changes the coverage guard held for a supervisor: a bulk swap item (or a whole atomic
//! request), a supervisor's edit or an agent's release that would leave intervals short, where
//! the business unit's setting for that cause is `supervisor`. Nothing of a held change is
//! applied until a supervisor approves it; approval applies it as it was asked for, provided no
//! shift it touches changed in the meantime (the same precision as a swap), with every rule but
//! the guard checked again at that moment.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::command::Violation;
use crate::ids::{BusinessUnitId, HeldChangeId, ScheduleId, ShiftId};
use crate::trade::Decision;
use crate::version::{ScheduleVersion, ScheduleVersionId, ShiftState, VersionCause};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HeldState {
    /// Waiting for a supervisor.
    Pending,
    /// Approved and applied: `appliedVersionId` names the version.
    Approved,
    Denied,
    /// Approved, but a shift it touches had changed since it was held, or a rule broke at
    /// approval: nothing was applied (the decision's violations say why).
    Failed,
}

impl HeldState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Approved, Self::Denied, Self::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for HeldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One shift of a held change: the state it was in (at `expected_version`) and the state the
/// change gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldShift {
    pub shift_id: ShiftId,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub expected_version: ScheduleVersion,
    pub before: ShiftState,
    pub after: ShiftState,
}

/// What the engine decided to hold: the store gives it its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHeld {
    pub id: HeldChangeId,
    pub shifts: Vec<HeldShift>,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldChange {
    pub id: HeldChangeId,
    pub business_unit_id: BusinessUnitId,
    pub schedule_id: ScheduleId,
    /// The cause the change is committed under when approved.
    pub cause: VersionCause,
    /// Who asked for the change, and in which request.
    pub requested_by: String,
    pub request_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    pub shifts: Vec<HeldShift>,
    /// Why it was held: the intervals it would leave short.
    pub violations: Vec<Violation>,
    pub state: HeldState,
    pub decision: Option<Decision>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub applied_version_id: Option<ScheduleVersionId>,
    /// Bumped by every decision; a decision carries the one it saw.
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeldError {
    #[error("held change {0} does not exist")]
    NotFound(HeldChangeId),
    #[error("held change {} is at version {}, not {expected}", current.id, current.version)]
    VersionConflict {
        expected: u32,
        current: Box<HeldChange>,
    },
    #[error("held change {} was already decided: it is {}", .0.id, .0.state)]
    Decided(Box<HeldChange>),
}
