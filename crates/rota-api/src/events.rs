//! The body of each webhook delivery, typed per event type, and the builders that make an
//! event's payload from what committed. The store writes what these build to the outbox in the
//! change's own transaction; the dispatcher posts it unchanged, so these types are exactly what
//! a receiver parses.

use jiff::Timestamp;
use rota_core::command::{ReasonCode, SwapItem};
use rota_core::coverage::{Slot, WeekGrid};
use rota_core::directory::{Agent, AvailabilityDoc, Skill};
use rota_core::engine::Commit;
use rota_core::ids::{AgentId, BusinessUnitId, EventId, ScheduleId, ShiftId, TimeOffId, TradeId};
use rota_core::schedule::Schedule;
use rota_core::timeoff::{TimeOffRequest, TimeOffState};
use rota_core::trade::{Trade, TradeState};
use rota_core::version::{ScheduleVersion, ScheduleVersionId, VersionCause};
use rota_core::webhook::{EventType, NewEvent};
use serde::{Deserialize, Serialize};

/// What a subscriber receives: one event, the same body on every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// The same on every attempt: receivers de-duplicate on it.
    pub id: EventId,
    pub business_unit_id: BusinessUnitId,
    /// The position in the outbox: increases in commit order for one ordering key.
    pub sequence: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// `type` names the event and `data` carries its payload.
    #[serde(flatten)]
    pub payload: EventPayload,
}

/// An event's type and its payload, as `type` and `data` of the delivery body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    #[serde(rename = "schedule.version.created")]
    ScheduleVersionCreated(ScheduleVersionCreated),
    #[serde(rename = "shift.swap.applied")]
    ShiftSwapApplied(ShiftSwapApplied),
    #[serde(rename = "trade.state.changed")]
    TradeStateChanged(Box<TradeStateChanged>),
    #[serde(rename = "agent.availability.updated")]
    AgentAvailabilityUpdated(AgentAvailabilityUpdated),
    #[serde(rename = "schedule.requirements.changed")]
    RequirementsChanged(RequirementsChanged),
    #[serde(rename = "timeoff.request.changed")]
    TimeOffRequestChanged(Box<TimeOffRequestChanged>),
}

impl EventPayload {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::ScheduleVersionCreated(_) => EventType::ScheduleVersionCreated,
            Self::ShiftSwapApplied(_) => EventType::ShiftSwapApplied,
            Self::TradeStateChanged(_) => EventType::TradeStateChanged,
            Self::AgentAvailabilityUpdated(_) => EventType::AgentAvailabilityUpdated,
            Self::RequirementsChanged(_) => EventType::RequirementsChanged,
            Self::TimeOffRequestChanged(_) => EventType::TimeOffRequestChanged,
        }
    }
}

/// `schedule.version.created`: every committed version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleVersionCreated {
    pub schedule_id: ScheduleId,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub version: ScheduleVersion,
    pub cause: VersionCause,
    pub actor: String,
    pub request_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Shifts the version changed, all of them; `changes` lists the first
    /// [`MAX_LISTED_CHANGES`].
    pub change_count: u32,
    pub changes: Vec<ShiftChangeSummary>,
    /// Whether the version changed more shifts than `changes` lists.
    pub changes_truncated: bool,
}

/// One shift's change in a version; the `…Before` fields are absent when it created the shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShiftChangeSummary {
    pub shift_id: ShiftId,
    pub owner_before: Option<AgentId>,
    pub owner_after: Option<AgentId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_before: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_before: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub start_after: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end_after: Timestamp,
}

/// `shift.swap.applied`: each applied swap, bulk or by trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShiftSwapApplied {
    pub schedule_id: ScheduleId,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub agent_id: AgentId,
    pub original_shift_id: ShiftId,
    pub new_shift_id: ShiftId,
    /// Who owned the new shift before; absent when it was open.
    pub counterpart_agent_id: Option<AgentId>,
    pub reason_code: ReasonCode,
    /// The trade the swap applied, if it was one.
    pub trade_id: Option<TradeId>,
}

/// `trade.state.changed`: every transition of a trade, and its creation (`from` absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradeStateChanged {
    pub trade_id: TradeId,
    pub schedule_id: ScheduleId,
    pub from: Option<TradeState>,
    pub to: TradeState,
    pub version: u32,
    /// The version an approval created.
    #[schema(value_type = Option<rota_core::version::ScheduleVersionId>)]
    pub schedule_version_id: Option<String>,
    pub trade: Trade,
}

/// `agent.availability.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentAvailabilityUpdated {
    pub agent_id: AgentId,
    pub availability: AvailabilityDoc,
}

/// `schedule.requirements.changed`: a version that changed the staffing requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementsChanged {
    pub schedule_id: ScheduleId,
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub version: ScheduleVersion,
    /// Per skill, the span of intervals whose requirement changed.
    pub skills: Vec<RequirementSpan>,
    /// Intervals changed, over all skills.
    pub interval_count: u32,
}

/// The first and the last interval of one skill whose requirement a version changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementSpan {
    pub skill: Skill,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
}

/// The event of a requirement change: `changed` holds `(skill, interval, before, after)`.
pub fn requirements_changed(
    schedule: &Schedule,
    version: ScheduleVersion,
    grid: &WeekGrid,
    changed: &[(Skill, Slot, u32, u32)],
) -> NewEvent {
    let mut spans: Vec<(Skill, Slot, Slot)> = Vec::new();
    for (skill, slot, _, _) in changed {
        match spans.iter_mut().find(|(s, _, _)| s == skill) {
            Some(span) => {
                span.1 = span.1.min(*slot);
                span.2 = span.2.max(*slot);
            }
            None => spans.push((skill.clone(), *slot, *slot)),
        }
    }
    event(
        EventType::RequirementsChanged,
        schedule.business_unit_id,
        schedule.id,
        &RequirementsChanged {
            schedule_id: schedule.id,
            schedule_version_id: ScheduleVersionId::new(schedule.id, version).to_string(),
            version,
            skills: spans
                .into_iter()
                .map(|(skill, first, last)| RequirementSpan {
                    skill,
                    from: grid.slot_start(first),
                    to: grid.slot_start(last.saturating_add(1)),
                })
                .collect(),
            interval_count: u32::try_from(changed.len()).unwrap_or(u32::MAX),
        },
    )
}

/// The changes an event lists at most; `changesTruncated` says when a version had more (an
/// import creates every shift of the week).
pub const MAX_LISTED_CHANGES: usize = 200;

/// An event of `event_type` with payload `data` for business unit `bu`, delivered in order
/// with the others of `ordering_key`.
fn event<T: Serialize>(
    event_type: EventType,
    bu: BusinessUnitId,
    ordering_key: impl ToString,
    data: &T,
) -> NewEvent {
    // The payload types hold ids, times, strings, numbers and lists, never a map with
    // non-string keys: serialising them cannot fail.
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    NewEvent::new(event_type, bu, ordering_key, data)
}

/// `schedule.version.created` for `commit` on `schedule`.
pub fn version_created(schedule: &Schedule, commit: &Commit) -> NewEvent {
    let record = &commit.record;
    let changes = commit
        .changes
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|c| ShiftChangeSummary {
            shift_id: c.shift_id,
            owner_before: c.before.and_then(|b| b.owner),
            owner_after: c.after.owner,
            start_before: c.before.map(|b| b.start),
            end_before: c.before.map(|b| b.end),
            start_after: c.after.start,
            end_after: c.after.end,
        })
        .collect();
    event(
        EventType::ScheduleVersionCreated,
        schedule.business_unit_id,
        schedule.id,
        &ScheduleVersionCreated {
            schedule_id: schedule.id,
            schedule_version_id: ScheduleVersionId::new(schedule.id, record.version).to_string(),
            version: record.version,
            cause: record.cause,
            actor: record.actor.clone(),
            request_id: record.request_id.clone(),
            created_at: record.created_at,
            change_count: record.change_count,
            changes,
            changes_truncated: commit.changes.len() > MAX_LISTED_CHANGES,
        },
    )
}

/// `shift.swap.applied` for `item`, applied in `version`; `counterpart` owned the new shift
/// before (none: it was open).
pub fn swap_applied(
    schedule: &Schedule,
    version: ScheduleVersion,
    item: &SwapItem,
    counterpart: Option<AgentId>,
    trade: Option<TradeId>,
) -> NewEvent {
    event(
        EventType::ShiftSwapApplied,
        schedule.business_unit_id,
        schedule.id,
        &ShiftSwapApplied {
            schedule_id: schedule.id,
            schedule_version_id: ScheduleVersionId::new(schedule.id, version).to_string(),
            agent_id: item.agent_id,
            original_shift_id: item.original_shift_id,
            new_shift_id: item.new_shift_id,
            counterpart_agent_id: counterpart,
            reason_code: item.reason_code,
            trade_id: trade,
        },
    )
}

/// `trade.state.changed` for `trade` as it now stands, coming from `from`.
pub fn trade_changed(trade: &Trade, from: Option<TradeState>) -> NewEvent {
    event(
        EventType::TradeStateChanged,
        trade.business_unit_id,
        trade.id,
        &TradeStateChanged {
            trade_id: trade.id,
            schedule_id: trade.schedule_id,
            from,
            to: trade.state,
            version: trade.version,
            schedule_version_id: trade.applied_version_id.map(|v| v.to_string()),
            trade: trade.clone(),
        },
    )
}

/// `timeoff.request.changed`: a request was made, decided, promoted from the waitlist or
/// cancelled. Ordered per agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeOffRequestChanged {
    pub time_off_id: TimeOffId,
    pub agent_id: AgentId,
    /// `None` for a new request.
    pub from: Option<TimeOffState>,
    pub to: TimeOffState,
    pub version: u32,
    pub request: TimeOffRequest,
}

/// `timeoff.request.changed` for `request` as it now stands, coming from `from`.
pub fn time_off_changed(request: &TimeOffRequest, from: Option<TimeOffState>) -> NewEvent {
    event(
        EventType::TimeOffRequestChanged,
        request.business_unit_id,
        request.agent_id,
        &TimeOffRequestChanged {
            time_off_id: request.id,
            agent_id: request.agent_id,
            from,
            to: request.state,
            version: request.version,
            request: request.clone(),
        },
    )
}

/// `agent.availability.updated` for `agent` as it now stands.
pub fn availability_updated(agent: &Agent) -> NewEvent {
    event(
        EventType::AgentAvailabilityUpdated,
        agent.business_unit_id,
        agent.id,
        &AgentAvailabilityUpdated {
            agent_id: agent.id,
            availability: AvailabilityDoc::from(&agent.availability),
        },
    )
}
