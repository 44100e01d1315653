//! Events and their delivery to webhook subscribers. Every change writes its events to an
//! outbox in its own transaction; a dispatcher delivers them per subscription, in order per
//! ordering key (the schedule for schedule events).

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{BusinessUnitId, EventId, SubscriptionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "schedule.version.created")]
    ScheduleVersionCreated,
    #[serde(rename = "shift.swap.applied")]
    ShiftSwapApplied,
    #[serde(rename = "trade.state.changed")]
    TradeStateChanged,
    #[serde(rename = "agent.availability.updated")]
    AgentAvailabilityUpdated,
    #[serde(rename = "schedule.requirements.changed")]
    RequirementsChanged,
    #[serde(rename = "timeoff.request.changed")]
    TimeOffRequestChanged,
}

impl EventType {
    pub const ALL: [Self; 6] = [
        Self::ScheduleVersionCreated,
        Self::ShiftSwapApplied,
        Self::TradeStateChanged,
        Self::AgentAvailabilityUpdated,
        Self::RequirementsChanged,
        Self::TimeOffRequestChanged,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ScheduleVersionCreated => "schedule.version.created",
            Self::ShiftSwapApplied => "shift.swap.applied",
            Self::TradeStateChanged => "trade.state.changed",
            Self::AgentAvailabilityUpdated => "agent.availability.updated",
            Self::RequirementsChanged => "schedule.requirements.changed",
            Self::TimeOffRequestChanged => "timeoff.request.changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event a change emits, written in the change's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub business_unit_id: BusinessUnitId,
    /// Deliveries with the same key reach a subscriber in the order they were written: the
    /// schedule for schedule events, the trade or the agent for the others.
    pub ordering_key: String,
    /// The payload as JSON text: serialised once, straight from its typed form, since the
    /// outbox stores it as text.
    pub data: String,
}

impl NewEvent {
    pub fn new(
        event_type: EventType,
        business_unit_id: BusinessUnitId,
        ordering_key: impl ToString,
        data: String,
    ) -> Self {
        Self {
            id: EventId::new(),
            event_type,
            business_unit_id,
            ordering_key: ordering_key.to_string(),
            data,
        }
    }
}

/// What a subscriber receives: the body of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// The same on every attempt: receivers de-duplicate on it.
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub business_unit_id: BusinessUnitId,
    /// The position in the outbox: increases in commit order for one ordering key.
    pub sequence: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: SubscriptionId,
    pub business_unit_id: BusinessUnitId,
    pub url: String,
    pub events: Vec<EventType>,
    /// Whether deliveries are attempted; false after a run of failures (see
    /// `disabledReason`) or when turned off. Turning it on again resumes where it stopped.
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A subscription with the secret deliveries are signed with (never listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub subscription: Subscription,
    pub secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    Pending,
    Delivered,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One event for one subscription: the delivery log's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: SubscriptionId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub sequence: u64,
    pub state: DeliveryState,
    pub attempts: u32,
    /// The receiver's status code on the last attempt, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_attempt_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub delivered_at: Option<Timestamp>,
}

/// A delivery a dispatcher has leased: what it needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub attempt: u32,
    pub subscription_id: SubscriptionId,
    /// The ordering key: deliveries of one subscription and key go out one after another.
    pub queue: String,
    pub url: String,
    pub secret: String,
    pub event: Event,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered {
        status: u16,
    },
    /// Leased behind a delivery of its queue that failed, so not sent: it goes back to the
    /// queue as it was, no attempt counted.
    NotSent,
    Failed {
        status: Option<u16>,
        error: String,
        /// When to try again.
        retry_at: Timestamp,
    },
}

/// The event types some subscription of a business unit wants: a change builds and writes
/// only these, so a business unit without subscribers pays for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted(Vec<EventType>);

impl Wanted {
    pub fn new(types: Vec<EventType>) -> Self {
        Self(types)
    }

    pub fn wants(&self, t: EventType) -> bool {
        self.0.contains(&t)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The event `build` makes, if `t` is wanted.
    pub fn one(&self, t: EventType, build: impl FnOnce() -> NewEvent) -> Vec<NewEvent> {
        if self.wants(t) {
            vec![build()]
        } else {
            Vec::new()
        }
    }
}
