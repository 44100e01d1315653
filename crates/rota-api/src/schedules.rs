//! Schedules, shifts and versions as the API shows them.

use rota_core::schedule::{Schedule, Shift};
use rota_core::version::VersionRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub next_offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct ScheduleBody {
    #[serde(flatten)]
    pub schedule: Schedule,
    pub schedule_version_id: String,
    pub shifts: Page<Shift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct VersionBody {
    #[serde(flatten)]
    pub record: VersionRecord,
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
