//! Identifiers: UUID newtypes that cannot be mixed up with one another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identifier string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected a UUID)")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7), so new rows land at the end of their index.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId {
                    kind: $kind,
                    value: s.to_owned(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

uuid_id!(
    /// A business unit: one site or region with its own time zone ("Chicago").
    BusinessUnitId,
    "business unit"
);
uuid_id!(
    /// A management unit: a team of agents inside a business unit.
    ManagementUnitId,
    "management unit"
);
uuid_id!(
    /// An agent who works shifts.
    AgentId,
    "agent"
);
uuid_id!(
    /// One week's schedule of one business unit.
    ScheduleId,
    "schedule"
);
uuid_id!(
    /// One shift inside a schedule.
    ShiftId,
    "shift"
);
uuid_id!(
    /// An agent's offer to trade one of their shifts.
    TradeId,
    "trade"
);
uuid_id!(
    /// A change the coverage guard held for a supervisor's decision.
    HeldChangeId,
    "held change"
);
uuid_id!(
    /// A bulk swap batch a supervisor started from the portal.
    BatchRunId,
    "batch run"
);
uuid_id!(
    /// A person who signs in to the portal.
    UserId,
    "user"
);
uuid_id!(
    /// An agent's request for time off.
    TimeOffId,
    "time-off request"
);
uuid_id!(
    /// A webhook subscription of a business unit.
    SubscriptionId,
    "webhook subscription"
);
uuid_id!(
    /// One event of the outbox: what receivers de-duplicate on.
    EventId,
    "event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = ShiftId::new();
        assert_eq!(id.to_string().parse::<ShiftId>(), Ok(id));
    }

    #[test]
    fn a_malformed_id_names_its_kind_and_value() {
        let err = "nope".parse::<AgentId>().unwrap_err();
        assert_eq!(err.kind, "agent");
        assert_eq!(err.value, "nope");
    }
}
