//! Time off: an agent's request to be away (whole local days or a window), the business unit's
//! codes, balances, daily allowances and approval policy, and what approval does to the
//! schedule.
//!
//! The lifecycle: a request is refused outright when it overlaps another live request of the
//! agent (`CONFLICTING_TIME_OFF_REQUEST`), starts with less notice than its code needs
//! (`TOO_CLOSE_TO_START`) or names an unknown code. Otherwise it is checked against the rules
//! an approval needs: the paid balance (`INSUFFICIENT_BALANCE`), the daily allowance of its code
//! group (`ALLOWANCE_FULL`) and the staffing requirement (`COVERAGE_BELOW_REQUIREMENT`), and the
//! business unit's approval policy decides: approve, deny, leave it pending for a supervisor, or
//! put it on the waitlist when the allowance alone is full. A waitlisted request is promoted,
//! oldest first, when room appears (a cancellation, a raised allowance).
//!
//! Approval changes the schedule in the same transaction, one version per week it touches
//! (cause `timeOff`): the agent's shifts overlapping the window are trimmed to what lies outside
//! it or opened, as the business unit sets; the window joins the agent's time off, which every
//! later rule check treats as unavailable (`ON_TIME_OFF`). A paid code's approval deducts the
//! paid minutes the agent's shifts lost, plus the business unit's standard day for each whole
//! requested day on which the agent had no shift; cancelling returns exactly what was deducted
//! and leaves the shifts as they are (a version of the cause records the cancellation).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::command::Violation;
use crate::directory::Zone;
use crate::ids::{AgentId, BusinessUnitId, TimeOffId};
use crate::schedule::ActivityCode;
use crate::version::ScheduleVersionId;

/// The longest request: a little over a month of local days.
pub const MAX_DAYS: i32 = 35;
/// The longest note an agent may attach.
pub const MAX_NOTE_CHARS: usize = 1000;

/// One time-off code of a business unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeOffCode {
    #[cfg_attr(feature = "openapi", schema(value_type = ActivityCode, example = "vacation"))]
    pub code: ActivityCode,
    /// Paid codes draw on the agent's balance of the code.
    pub paid: bool,
    /// The allowance group the code counts toward ("planned", "unplanned").
    #[cfg_attr(feature = "openapi", schema(value_type = AllowanceGroup))]
    #[serde(deserialize_with = "group")]
    pub group: String,
    /// How far ahead a request of this code must start.
    pub min_notice_hours: u32,
}

/// How a business unit answers a new request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApprovalPolicy {
    /// Approve at once, whatever balance, allowance and coverage say (the deduction and the
    /// count still happen).
    Always,
    /// Deny at once (a blackout period).
    Never,
    /// Approve when balance, allowance and coverage allow; a full allowance waitlists, any other
    /// failure leaves the request to a supervisor.
    WhenRulesAllow,
    /// Every request waits for a supervisor (a full allowance still waitlists).
    #[default]
    Supervisor,
}

/// What approved time off does to the agent's shifts that overlap it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TimeOffEffect {
    /// Shorten a shift to the part outside the time off; a remainder shorter than
    /// `minRemainderMinutes`, time off inside a shift (rota does not split a shift in two) or a
    /// cut its activities cannot take opens the shift instead.
    #[default]
    Trim,
    /// Open every overlapping shift for others to pick up.
    Open,
}

/// A business unit's time-off policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeOffSettings {
    pub codes: Vec<TimeOffCode>,
    pub approval: ApprovalPolicy,
    pub effect: TimeOffEffect,
    pub min_remainder_minutes: u32,
    /// An approved request may be cancelled until this many hours before it starts.
    pub cancel_cutoff_hours: u32,
    /// What a requested whole day deducts from a paid balance when the agent had no shift that
    /// day.
    pub standard_day_minutes: u32,
    /// Agents who may be off per local day, by code group, where no dated allowance is set; a
    /// group without an entry has no limit.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<AllowanceGroup, u32>))]
    #[serde(deserialize_with = "groups")]
    pub daily_allowance: BTreeMap<String, u32>,
}

impl Default for TimeOffSettings {
    fn default() -> Self {
        // The codes are valid literals: `parse` accepts each, so none is dropped.
        let codes = [
            ("vacation", true, "planned", 48),
            ("personal", false, "planned", 24),
            ("sick", true, "unplanned", 0),
        ]
        .into_iter()
        .filter_map(|(c, paid, group, min_notice_hours)| {
            Some(TimeOffCode {
                code: ActivityCode::parse(c).ok()?,
                paid,
                group: group.into(),
                min_notice_hours,
            })
        })
        .collect();
        Self {
            codes,
            approval: ApprovalPolicy::Supervisor,
            effect: TimeOffEffect::Trim,
            min_remainder_minutes: 60,
            cancel_cutoff_hours: 24,
            standard_day_minutes: 480,
            daily_allowance: BTreeMap::new(),
        }
    }
}

impl TimeOffSettings {
    pub fn code(&self, code: &ActivityCode) -> Option<&TimeOffCode> {
        self.codes.iter().find(|c| &c.code == code)
    }

    /// Checks the settings as a whole: codes unique, groups named.
    pub fn validate(&self) -> Result<(), TimeOffError> {
        for (i, c) in self.codes.iter().enumerate() {
            if self.codes[..i].iter().any(|o| o.code == c.code) {
                return Err(TimeOffError::Invalid(format!(
                    "time-off code `{}` is listed twice",
                    c.code
                )));
            }
            check_group(&c.group)?;
        }
        self.daily_allowance.keys().try_for_each(|g| check_group(g))
    }
}

/// The name of an allowance group ("planned", "unplanned"): 1 to 64 letters, digits, `-` or
/// `_`. Groups stay strings in the model; this is their schema in `/openapi.json`.
#[cfg(feature = "openapi")]
pub struct AllowanceGroup;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for AllowanceGroup {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Za-z0-9_-]{1,64}$"))
            .examples([serde_json::json!("planned")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for AllowanceGroup {}

/// Reads a group name, refusing one that breaks the rule of [`check_group`] as malformed.
fn group<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let group = String::deserialize(d)?;
    check_group(&group).map_err(serde::de::Error::custom)?;
    Ok(group)
}

/// Reads allowances by group, refusing a malformed group name.
fn groups<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u32>, D::Error> {
    let groups = BTreeMap::<String, u32>::deserialize(d)?;
    groups
        .keys()
        .try_for_each(|g| check_group(g))
        .map_err(serde::de::Error::custom)?;
    Ok(groups)
}

fn check_group(group: &str) -> Result<(), TimeOffError> {
    let ok = !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(TimeOffError::Invalid(format!(
            "a code group must be 1 to 64 letters, digits, '-' or '_'; got `{group}`"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TimeOffState {
    /// Waiting for a supervisor.
    Pending,
    /// The allowance was full; approved (or sent to a supervisor, as the policy says) in order
    /// of request when room appears.
    Waitlisted,
    Approved,
    Denied,
    Cancelled,
}

impl TimeOffState {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Waitlisted,
        Self::Approved,
        Self::Denied,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waitlisted => "waitlisted",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the request still claims its window (another request of the agent may not
    /// overlap it).
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Waitlisted | Self::Approved)
    }
}

impl fmt::Display for TimeOffState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whole local days, first to last inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Days {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub first: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub last: Date,
}

/// What a request asks for: whole local days, or a window of real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Days(Days),
    Window(Timestamp, Timestamp),
}

impl Span {
    /// The span's real-time window in `zone`, checked: in order, whole minutes, at most
    /// [`MAX_DAYS`] long.
    pub fn window(&self, zone: &Zone) -> Result<(Timestamp, Timestamp), TimeOffError> {
        let (start, end) = match *self {
            Self::Days(d) => {
                if d.last < d.first {
                    return Err(TimeOffError::Invalid(
                        "the last day comes before the first".into(),
                    ));
                }
                let after = d
                    .last
                    .tomorrow()
                    .map_err(|_| TimeOffError::Invalid("the last day is out of range".into()))?;
                (zone.instant(d.first, 0), zone.instant(after, 0))
            }
            Self::Window(start, end) => {
                if end <= start {
                    return Err(TimeOffError::Invalid("`end` must be after `start`".into()));
                }
                if start.subsec_nanosecond() != 0
                    || start.as_second() % 60 != 0
                    || end.subsec_nanosecond() != 0
                    || end.as_second() % 60 != 0
                {
                    return Err(TimeOffError::Invalid(
                        "`start` and `end` must be whole minutes".into(),
                    ));
                }
                (start, end)
            }
        };
        if end.duration_since(start)
            > jiff::SignedDuration::from_hours(24 * i64::from(MAX_DAYS) + 1)
        {
            return Err(TimeOffError::Invalid(format!(
                "a request spans at most {MAX_DAYS} days"
            )));
        }
        Ok((start, end))
    }
}

/// The local dates `[start, end)` touches in `zone`.
pub fn local_days(zone: &Zone, start: Timestamp, end: Timestamp) -> Vec<Date> {
    let mut days = Vec::new();
    let mut day = zone.local_date(start);
    while zone.instant(day, 0) < end {
        days.push(day);
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    days
}

/// A supervisor's (or the policy's) decision on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeOffDecision {
    /// The client id of the supervisor, or `system` for the policy and the waitlist.
    pub by: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub reason: Option<String>,
    /// The rules a supervisor's approval overrode (recorded with who and why).
    pub overridden: Vec<crate::command::ViolationCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeOffRequest {
    pub id: TimeOffId,
    pub business_unit_id: BusinessUnitId,
    pub agent_id: AgentId,
    #[cfg_attr(feature = "openapi", schema(value_type = ActivityCode))]
    pub code: ActivityCode,
    pub paid: bool,
    pub group: String,
    /// Whole local days, when the request asked for them.
    pub days: Option<Days>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
    pub note: Option<String>,
    pub state: TimeOffState,
    /// Who asked, and in which request.
    pub requested_by: String,
    pub request_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// What the last rule check found: why the request waits, was denied, or what an approval
    /// overrode.
    pub violations: Vec<Violation>,
    pub decision: Option<TimeOffDecision>,
    /// Minutes taken from the agent's balance of the code at approval; returned on cancel.
    pub deducted_minutes: i64,
    /// The versions approval (and cancellation) committed, one per week touched.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub versions: Vec<ScheduleVersionId>,
    /// Bumped by every change of state; a decision or cancellation carries the one it saw.
    pub version: u32,
}

impl TimeOffRequest {
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }
}

/// An agent's balance of one code, in minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    pub agent_id: AgentId,
    #[cfg_attr(feature = "openapi", schema(value_type = ActivityCode))]
    pub code: ActivityCode,
    pub minutes: i64,
}

/// How many agents of a code group may be off on one local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allowance {
    #[cfg_attr(feature = "openapi", schema(value_type = AllowanceGroup))]
    #[serde(deserialize_with = "group")]
    pub group: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub date: Date,
    pub agents: u32,
}

impl Allowance {
    pub fn validate(&self) -> Result<(), TimeOffError> {
        check_group(&self.group)
    }
}

/// A day's use of an allowance: the limit (`None`: no limit) and the agents already off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllowanceDay {
    pub group: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub date: Date,
    pub limit: Option<u32>,
    pub approved: u32,
    pub waitlisted: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeOffError {
    #[error("time-off request {0} does not exist")]
    NotFound(TimeOffId),
    #[error("{0}")]
    Invalid(String),
    #[error("time-off code `{0}` is not one of the business unit's codes")]
    UnknownCode(String),
    /// The request broke a rule that no decision can lift.
    #[error("the request was refused: {}", .0.first().map_or("", |v| v.detail.as_str()))]
    Refused(Vec<Violation>),
    /// An approval's rules failed and the supervisor did not override them; nothing changed.
    #[error("the approval breaks rules: {}", .0.first().map_or("", |v| v.detail.as_str()))]
    RulesFailed(Vec<Violation>),
    #[error("time-off request {} is at version {}, not {expected}", current.id, current.version)]
    VersionConflict {
        expected: u32,
        current: Box<TimeOffRequest>,
    },
    /// The request is in a state that does not allow the operation.
    #[error("time-off request {} is {}: {what}", current.id, current.state)]
    WrongState {
        what: &'static str,
        current: Box<TimeOffRequest>,
    },
}

/// An agent's new request, as the store takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeOff {
    pub agent_id: AgentId,
    pub code: ActivityCode,
    pub span: Span,
    pub note: Option<String>,
}

/// A supervisor's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOffReview {
    pub id: TimeOffId,
    pub expected_version: u32,
    pub approve: bool,
    /// Approve even though rules fail (recorded in the decision).
    pub override_rules: bool,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_default_codes_are_all_there_and_valid() {
        let settings = TimeOffSettings::default();
        assert_eq!(settings.codes.len(), 3);
        assert!(settings.validate().is_ok());
        let sick = settings
            .code(&ActivityCode::parse("sick").unwrap())
            .unwrap();
        assert!(sick.paid);
        assert_eq!(sick.min_notice_hours, 0);
    }

    #[test]
    fn whole_days_are_local_days_even_across_daylight_saving() {
        let zone = Zone::parse("America/Chicago").unwrap();
        // 2026-11-01 is 25 hours long in Chicago.
        let days = Span::Days(Days {
            first: date(2026, 11, 1),
            last: date(2026, 11, 1),
        });
        let (start, end) = days.window(&zone).unwrap();
        assert_eq!(end.duration_since(start).as_hours(), 25);
        assert_eq!(local_days(&zone, start, end), vec![date(2026, 11, 1)]);
        let backwards = Span::Days(Days {
            first: date(2026, 11, 2),
            last: date(2026, 11, 1),
        });
        assert!(backwards.window(&zone).is_err());
        let too_long = Span::Days(Days {
            first: date(2026, 11, 1),
            last: date(2027, 1, 1),
        });
        assert!(too_long.window(&zone).is_err());
    }
}
