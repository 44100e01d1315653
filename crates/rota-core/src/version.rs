//! The version model: every committed change of a schedule is one version, numbered 1, 2, 3, …

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{AgentId, ScheduleId, ShiftId};

/// The number of a committed version of one schedule; the import is version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleVersion(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("schedule versions start at 1")]
pub struct ZeroVersion;

impl ScheduleVersion {
    pub const FIRST: ScheduleVersion = ScheduleVersion(1);

    pub fn new(n: u64) -> Result<Self, ZeroVersion> {
        if n == 0 {
            Err(ZeroVersion)
        } else {
            Ok(Self(n))
        }
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version the next commit creates.
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl TryFrom<u64> for ScheduleVersion {
    type Error = ZeroVersion;
    fn try_from(n: u64) -> Result<Self, ZeroVersion> {
        Self::new(n)
    }
}

impl From<ScheduleVersion> for u64 {
    fn from(v: ScheduleVersion) -> u64 {
        v.0
    }
}

impl fmt::Display for ScheduleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The opaque name of one version of one schedule.
///
/// The swap request carries no schedule id, so the version id must name the schedule too. It
/// encodes both (base64url of the schedule UUID and the big-endian version number) rather than
/// being a random key, so resolving it costs no lookup and it cannot dangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleVersionId {
    schedule: ScheduleId,
    version: ScheduleVersion,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a schedule version id")]
pub struct InvalidVersionId(pub String);

impl ScheduleVersionId {
    pub const fn new(schedule: ScheduleId, version: ScheduleVersion) -> Self {
        Self { schedule, version }
    }

    pub const fn schedule(&self) -> ScheduleId {
        self.schedule
    }

    pub const fn version(&self) -> ScheduleVersion {
        self.version
    }
}

impl ScheduleVersionId {
    /// What every version id looks like: 32 characters of base64url (24 bytes, no padding).
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{32}$";
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ScheduleVersionId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .min_length(Some(32))
            .max_length(Some(32))
            .description(Some(
                "The opaque name of one version of one schedule (it names the schedule too).",
            ))
            .examples([serde_json::json!("AZKhNt5ycqKLNYPTwBjKmgAAAAAAAAAD")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ScheduleVersionId {}

impl FromStr for ScheduleVersionId {
    type Err = InvalidVersionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidVersionId(s.to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let (uuid, version) = bytes.split_at_checked(16).ok_or_else(invalid)?;
        let uuid = Uuid::from_slice(uuid).map_err(|_| invalid())?;
        let version: [u8; 8] = version.try_into().map_err(|_| invalid())?;
        let version = ScheduleVersion::new(u64::from_be_bytes(version)).map_err(|_| invalid())?;
        Ok(Self::new(ScheduleId::from_uuid(uuid), version))
    }
}

impl fmt::Display for ScheduleVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = [0u8; 24];
        bytes[..16].copy_from_slice(self.schedule.as_uuid().as_bytes());
        bytes[16..].copy_from_slice(&self.version.get().to_be_bytes());
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl Serialize for ScheduleVersionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScheduleVersionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VersionCause {
    Import,
    BulkSwap,
    SelfService,
    SupervisorEdit,
    Publish,
    /// A change of the staffing requirement (no shift changes).
    Requirements,
    /// Approved time off trimmed or opened the agent's shifts, or its cancellation (no shift
    /// changes: the shifts stay as they are).
    TimeOff,
}

impl VersionCause {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::BulkSwap => "bulkSwap",
            Self::SelfService => "selfService",
            Self::SupervisorEdit => "supervisorEdit",
            Self::Publish => "publish",
            Self::Requirements => "requirements",
            Self::TimeOff => "timeOff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Import,
            Self::BulkSwap,
            Self::SelfService,
            Self::SupervisorEdit,
            Self::Publish,
            Self::Requirements,
            Self::TimeOff,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Who made a change and on behalf of which request; recorded with every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitContext {
    pub actor: String,
    pub request_id: String,
    /// The commit's clock reading: rules about the past use it, and the version records it.
    pub now: Timestamp,
    /// The request's idempotency key, if any: the store records it with the command's result
    /// in the command's own transaction, or rolls back if another request recorded it first.
    #[serde(default)]
    pub idempotency: Option<crate::store::IdempotencyRecord>,
}

/// The part of a shift that changes: who works it and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShiftState {
    pub owner: Option<AgentId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
}

/// One shift's change inside a version; `before` is `None` when the version created the shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShiftChange {
    pub shift_id: ShiftId,
    pub before: Option<ShiftState>,
    pub after: ShiftState,
}

/// One entry of a schedule's version history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionRecord {
    pub schedule_id: ScheduleId,
    pub version: ScheduleVersion,
    pub cause: VersionCause,
    pub actor: String,
    pub request_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    pub change_count: u32,
}

impl VersionRecord {
    pub fn id(&self) -> ScheduleVersionId {
        ScheduleVersionId::new(self.schedule_id, self.version)
    }
}

/// A version with its changes, as `changes since` and the replay read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionChanges {
    pub record: VersionRecord,
    pub changes: Vec<ShiftChange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn version_ids_round_trip(bytes in any::<[u8; 16]>(), n in 1u64..) {
            let id = ScheduleVersionId::new(
                ScheduleId::from_uuid(Uuid::from_bytes(bytes)),
                ScheduleVersion::new(n).unwrap(),
            );
            prop_assert_eq!(id.to_string().parse::<ScheduleVersionId>(), Ok(id));
        }

        #[test]
        fn arbitrary_strings_never_panic_the_parser(s in ".{0,40}") {
            let _ = s.parse::<ScheduleVersionId>();
        }
    }

    #[test]
    fn version_zero_and_truncated_ids_are_rejected() {
        let zero = URL_SAFE_NO_PAD.encode([0u8; 24]);
        assert!(zero.parse::<ScheduleVersionId>().is_err());
        let short = URL_SAFE_NO_PAD.encode([1u8; 20]);
        assert!(short.parse::<ScheduleVersionId>().is_err());
        assert!("".parse::<ScheduleVersionId>().is_err());
    }
}
