//! Schedules, shifts and versions as the API shows them; the import and edit bodies.

use jiff::Timestamp;
use jiff::civil::Date;
use rota_core::command::EditChange;
use rota_core::ids::{AgentId, ScheduleId};
use rota_core::schedule::{Schedule, Shift, ShiftError, TimeWindow};
use rota_core::version::{ScheduleVersion, VersionChanges, VersionRecord};
use serde::{Deserialize, Serialize};

pub use crate::paging::Page;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct ScheduleBody {
    #[serde(flatten)]
    pub schedule: Schedule,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub shifts: Page<Shift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct VersionBody {
    #[serde(flatten)]
    pub record: VersionRecord,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
}

impl From<VersionRecord> for VersionBody {
    fn from(record: VersionRecord) -> Self {
        Self {
            schedule_version_id: record.id().to_string(),
            record,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    #[param(format = Uuid)]
    pub business_unit_id: String,
    #[param(value_type = String, format = Date)]
    pub week_date: Date,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(
        default = "crate::paging::default_shift_limit",
        deserialize_with = "crate::paging::limit"
    )]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
    #[param(format = Uuid)]
    pub agent_id: Option<String>,
}

impl ReadQuery {
    /// The first `limit` shifts: `with_limit(1)` reads little more than the version.
    pub fn with_limit(limit: u32) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }
}

impl Default for ReadQuery {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: crate::paging::default_shift_limit(),
            agent_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(
        default = "crate::paging::default_shift_limit",
        deserialize_with = "crate::paging::limit"
    )]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
    #[param(value_type = Option<rota_core::version::ScheduleVersionId>)]
    pub since: Option<String>,
}

impl Default for VersionsQuery {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: crate::paging::default_shift_limit(),
            since: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VersionsBody {
    Page(Page<VersionBody>),
    Changes(Vec<VersionChanges>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct AsOfBody {
    pub schedule_id: ScheduleId,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub version: ScheduleVersion,
    pub shifts: Vec<Shift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct EditBody {
    /// The shift's version as the caller read it (409 if it changed since).
    #[schema(minimum = 1)]
    pub expected_version: u64,
    pub change: EditChangeBody,
}

/// A supervisor's change to one shift. A window that does not end after it starts, or lasts
/// longer than a shift may, is refused with 422 `UNPROCESSABLE` naming `change.window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
#[schema(as = EditChange)]
pub enum EditChangeBody {
    /// New start and end; the owner stays.
    Move { window: WindowBody },
    /// A new owner.
    // The field is renamed on the variant as well as by `rename_all_fields`: the OpenAPI
    // schema follows the variant's attribute only, and the wire must match the document.
    #[serde(rename_all = "camelCase")]
    Reassign { agent_id: AgentId },
    /// Take the owner away: the shift becomes open.
    Open,
}

/// `[start, end)` as a request states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = TimeWindow)]
pub struct WindowBody {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

impl From<EditChange> for EditChangeBody {
    fn from(change: EditChange) -> Self {
        match change {
            EditChange::Move { window } => Self::Move {
                window: WindowBody {
                    start: window.start(),
                    end: window.end(),
                },
            },
            EditChange::Reassign { agent_id } => Self::Reassign { agent_id },
            EditChange::Open => Self::Open,
        }
    }
}

impl TryFrom<EditChangeBody> for EditChange {
    type Error = ShiftError;

    fn try_from(body: EditChangeBody) -> Result<Self, ShiftError> {
        Ok(match body {
            EditChangeBody::Move { window } => Self::Move {
                window: TimeWindow::new(window.start, window.end)?,
            },
            EditChangeBody::Reassign { agent_id } => Self::Reassign { agent_id },
            EditChangeBody::Open => Self::Open,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ImportBody {
    #[schema(format = Uuid)]
    pub business_unit_id: String,
    #[schema(value_type = String, format = Date)]
    pub week_start: Date,
    pub shifts: Vec<ImportShift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ImportShift {
    #[schema(format = Uuid)]
    pub id: Option<String>,
    #[schema(format = Uuid)]
    pub agent_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    #[schema(value_type = Option<rota_core::directory::Skill>)]
    pub required_skill: Option<String>,
    #[schema(value_type = rota_core::schedule::ActivityCode)]
    pub activity_code: String,
    /// What the shift is made of, tiling its window in time order; none: one paid on-queue
    /// activity over the whole shift.
    #[serde(default)]
    pub activities: Vec<rota_core::activity::Activity>,
}
