//! Commands that change a schedule (bulk swaps, single-shift edits) and what they answer.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, ScheduleId, ShiftId};
use crate::schedule::{Shift, TimeWindow};
use crate::version::{ScheduleVersion, ScheduleVersionId, VersionRecord};

/// Why a swap is asked for; reported in the history and to downstream systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReasonCode {
    Personal,
    Coverage,
    Preference,
    Supervisor,
    Other,
}

impl ReasonCode {
    /// The code as the API and the history spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Coverage => "coverage",
            Self::Preference => "preference",
            Self::Supervisor => "supervisor",
            Self::Other => "other",
        }
    }
}

/// One swap: `agent_id` gives up `original_shift_id` and takes `new_shift_id`; the new shift's
/// owner receives the original shift (or, if the new shift is open, the original becomes open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwapItem {
    pub agent_id: AgentId,
    pub original_shift_id: ShiftId,
    pub new_shift_id: ShiftId,
    pub reason_code: ReasonCode,
    /// When given, the new shift must be owned by this agent at commit time.
    pub counterpart_agent_id: Option<AgentId>,
}

impl SwapItem {
    pub fn shifts(&self) -> [ShiftId; 2] {
        [self.original_shift_id, self.new_shift_id]
    }
}

/// What makes a swap item conflict with changes made after its base version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConflictScope {
    /// Only a change to a shift the item touches.
    #[default]
    Shifts,
    /// Any change to the schedule at all (strict optimistic locking of the whole schedule).
    Schedule,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SwapMode {
    /// All items apply or none does.
    #[default]
    Atomic,
    /// Valid, unconflicted items apply; the others are reported.
    Partial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapRequest {
    pub base: ScheduleVersionId,
    pub items: Vec<SwapItem>,
    /// Shifts starting before this local date (business unit time) may not be swapped.
    pub effective_date: Option<Date>,
    pub mode: SwapMode,
    pub scope: ConflictScope,
}

impl SwapRequest {
    /// The shifts the request touches, sorted: the order in which a backend that locks rows
    /// takes its locks, so two requests never wait on each other in a cycle.
    pub fn touched_shifts(&self) -> Vec<ShiftId> {
        let mut ids: Vec<ShiftId> = self.items.iter().flat_map(SwapItem::shifts).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// A supervisor's change to one shift, guarded by the shift's own version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftEdit {
    pub shift_id: ShiftId,
    pub expected_version: ScheduleVersion,
    pub change: EditChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EditChange {
    /// New start and end; the owner stays.
    Move { window: TimeWindow },
    /// A new owner.
    // The field is renamed on the variant as well as by `rename_all_fields`: the OpenAPI
    // schema follows the variant's attribute only, and the wire must match the document.
    #[serde(rename_all = "camelCase")]
    Reassign { agent_id: AgentId },
    /// Take the owner away: the shift becomes open.
    Open,
}

/// The rule a change broke. Each code is stable: clients match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ViolationCode {
    ShiftNotFound,
    /// No agent of the schedule's business unit has the id: one of another unit is answered
    /// the same way, so nobody learns which ids live elsewhere.
    AgentNotFound,
    ShiftNotOwned,
    CounterpartMismatch,
    SameAgent,
    SameShift,
    ShiftUsedTwice,
    DifferentSchedule,
    BeforeEffectiveDate,
    ShiftInPast,
    NotAvailable,
    Overlap,
    MinRest,
    WeeklyMaxExceeded,
    SkillMissing,
    NoChange,
    /// The shift is held by a matched trade awaiting review.
    ShiftInTrade,
    /// A trade's shifts are not the same length.
    UnequalPaidTime,
    /// Less notice before the shift starts than the business unit requires.
    TooCloseToStart,
    /// The business unit does not let agents release shifts.
    ReleaseNotAllowed,
    /// Only an open shift can be picked up.
    ShiftNotOpen,
    /// A shift of a trade changed after the trade was matched.
    ShiftChangedSinceMatch,
    /// A shift must start within its schedule's week (local midnight of the first day to seven
    /// days on): a week's schedule holds the shifts that start in it.
    ShiftOutsideWeek,
    /// The change would take an interval of a skill below its staffing requirement (less the
    /// business unit's tolerance); `coverage` names the skill and the intervals.
    CoverageBelowRequirement,
    /// A move would leave no room for the shift's last activity.
    ActivitiesDoNotFit,
    /// A shift of a held change changed after the change was held.
    ShiftChangedSinceHeld,
    /// A paid time-off request needs more minutes than the agent's balance of its code holds.
    InsufficientBalance,
    /// The day's allowance of the request's code group is taken.
    AllowanceFull,
    /// The request overlaps another live request of the same agent.
    ConflictingTimeOffRequest,
    /// The agent has approved time off during the shift.
    OnTimeOff,
    /// An imported week must start on its business unit's first day of the week, in a year
    /// from 2000 to 2100.
    InvalidWeekStart,
}

impl ViolationCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ShiftNotFound => "SHIFT_NOT_FOUND",
            Self::AgentNotFound => "AGENT_NOT_FOUND",
            Self::ShiftNotOwned => "SHIFT_NOT_OWNED",
            Self::CounterpartMismatch => "COUNTERPART_MISMATCH",
            Self::SameAgent => "SAME_AGENT",
            Self::SameShift => "SAME_SHIFT",
            Self::ShiftUsedTwice => "SHIFT_USED_TWICE",
            Self::DifferentSchedule => "DIFFERENT_SCHEDULE",
            Self::BeforeEffectiveDate => "BEFORE_EFFECTIVE_DATE",
            Self::ShiftInPast => "SHIFT_IN_PAST",
            Self::NotAvailable => "NOT_AVAILABLE",
            Self::Overlap => "OVERLAP",
            Self::MinRest => "MIN_REST",
            Self::WeeklyMaxExceeded => "WEEKLY_MAX_EXCEEDED",
            Self::SkillMissing => "SKILL_MISSING",
            Self::NoChange => "NO_CHANGE",
            Self::ShiftInTrade => "SHIFT_IN_TRADE",
            Self::UnequalPaidTime => "UNEQUAL_PAID_TIME",
            Self::TooCloseToStart => "TOO_CLOSE_TO_START",
            Self::ReleaseNotAllowed => "RELEASE_NOT_ALLOWED",
            Self::ShiftNotOpen => "SHIFT_NOT_OPEN",
            Self::ShiftChangedSinceMatch => "SHIFT_CHANGED_SINCE_MATCH",
            Self::ShiftOutsideWeek => "SHIFT_OUTSIDE_WEEK",
            Self::CoverageBelowRequirement => "COVERAGE_BELOW_REQUIREMENT",
            Self::ActivitiesDoNotFit => "ACTIVITIES_DO_NOT_FIT",
            Self::ShiftChangedSinceHeld => "SHIFT_CHANGED_SINCE_HELD",
            Self::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Self::AllowanceFull => "ALLOWANCE_FULL",
            Self::ConflictingTimeOffRequest => "CONFLICTING_TIME_OFF_REQUEST",
            Self::OnTimeOff => "ON_TIME_OFF",
            Self::InvalidWeekStart => "INVALID_WEEK_START",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broken rule, naming the agent and shift it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    pub code: ViolationCode,
    pub agent_id: Option<AgentId>,
    pub shift_id: Option<ShiftId>,
    pub detail: String,
    /// For `COVERAGE_BELOW_REQUIREMENT`: the skill and the intervals left short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::coverage::CoverageShortfall>,
}

impl Violation {
    pub fn new(
        code: ViolationCode,
        agent_id: Option<AgentId>,
        shift_id: Option<ShiftId>,
        detail: String,
    ) -> Self {
        Self {
            code,
            agent_id,
            shift_id,
            detail,
            coverage: None,
        }
    }
}

/// What happened to one swap item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "status"
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ItemOutcome {
    /// Committed; both shifts now carry `version`.
    Applied { version: ScheduleVersion },
    /// A shift the item touches changed after the base version (or, in `schedule` scope, the
    /// schedule did); `shifts` is their current state.
    #[serde(rename_all = "camelCase")]
    Conflict {
        shifts: Vec<Shift>,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::version::ScheduleVersionId))]
        current_version_id: ScheduleVersionId,
    },
    /// The item breaks rules.
    Rejected { violations: Vec<Violation> },
    /// Valid, but not applied because another item of the atomic request failed.
    Skipped,
    /// Valid, but it would leave intervals short of their staffing requirement and the
    /// business unit sends such changes to a supervisor: held as `held_change_id` until one
    /// approves or denies it. Every item of an atomic request is held together, as one.
    #[serde(rename_all = "camelCase")]
    Held {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        held_change_id: crate::ids::HeldChangeId,
        violations: Vec<Violation>,
    },
}

impl ItemOutcome {
    pub const fn is_applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }
}

/// The answer to a swap request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapResult {
    pub outcomes: Vec<ItemOutcome>,
    /// The version this request created; `None` when nothing applied.
    pub committed: Option<VersionRecord>,
    /// The schedule's version after the request.
    pub current_version_id: ScheduleVersionId,
}

/// Why a command was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("schedule {0} does not exist")]
    ScheduleNotFound(ScheduleId),
    #[error("shift {0} does not exist")]
    ShiftNotFound(ShiftId),
    #[error(
        "version {requested} of schedule {schedule} is unknown: the current version is {current}"
    )]
    UnknownVersion {
        schedule: ScheduleId,
        requested: ScheduleVersion,
        current: ScheduleVersion,
    },
    #[error("the request has no swap items")]
    EmptyRequest,
    #[error("shift {} changed after version {expected}: it is now at version {}", current.id, current.version)]
    ShiftVersionConflict {
        expected: ScheduleVersion,
        current: Box<Shift>,
        current_version_id: ScheduleVersionId,
    },
    #[error("the change breaks {} rule(s)", .0.len())]
    Rejected(Vec<Violation>),
}
