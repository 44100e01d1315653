//! Shift trades, the self-service way to swap: an agent offers a shift, another agent matches
//! it, the business unit's settings or a supervisor review it, and approval applies it through
//! the engine like any swap. Also the business unit's self-service and trade settings.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::command::{Violation, ViolationCode};
use crate::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId, TradeId};
use crate::schedule::Shift;
use crate::version::{ScheduleVersion, ScheduleVersionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TradeState {
    Unmatched,
    Matched,
    Approved,
    Denied,
    Canceled,
    Expired,
}

impl TradeState {
    pub const ALL: [Self; 6] = [
        Self::Unmatched,
        Self::Matched,
        Self::Approved,
        Self::Denied,
        Self::Canceled,
        Self::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unmatched => "Unmatched",
            Self::Matched => "Matched",
            Self::Approved => "Approved",
            Self::Denied => "Denied",
            Self::Canceled => "Canceled",
            Self::Expired => "Expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Still waiting for a match or a review.
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Unmatched | Self::Matched)
    }

    /// The valid transitions. A match may end the trade at once when the automatic review
    /// approves or denies it.
    pub const fn may_become(self, next: Self) -> bool {
        use TradeState::{Approved, Canceled, Denied, Expired, Matched, Unmatched};
        matches!(
            (self, next),
            (Unmatched, Matched | Approved | Denied | Canceled | Expired)
                | (Matched, Approved | Denied | Canceled | Expired)
        )
    }
}

impl fmt::Display for TradeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[start, end)`: a time the initiator would accept a shift in return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawInterval", into = "RawInterval")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    end: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct RawInterval {
    start: Timestamp,
    end: Timestamp,
}

impl TryFrom<RawInterval> for Interval {
    type Error = String;

    fn try_from(raw: RawInterval) -> Result<Self, String> {
        Self::new(raw.start, raw.end)
    }
}

impl From<Interval> for RawInterval {
    fn from(i: Interval) -> Self {
        Self {
            start: i.start,
            end: i.end,
        }
    }
}

/// How an inverted [`Interval`]'s error begins.
pub const INTERVAL_RULE: &str = "an interval must end after it starts";

impl Interval {
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self, String> {
        if end <= start {
            return Err(format!(
                "{INTERVAL_RULE}: it ends at {end}, at or before {start}"
            ));
        }
        Ok(Self { start, end })
    }

    pub const fn start(&self) -> Timestamp {
        self.start
    }

    pub const fn end(&self) -> Timestamp {
        self.end
    }

    pub fn contains(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start <= start && end <= self.end
    }
}

/// The rules a business unit's trade settings act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TradeRule {
    UnequalPaidTime,
    WeeklyMax,
    MinRest,
    Skill,
    MinHoursBeforeStart,
    /// The trade would leave intervals short of their staffing requirement.
    Coverage,
}

impl TradeRule {
    /// The rule a violation breaks, if the settings can act on it; every other violation
    /// (availability, overlap, ownership…) always denies.
    pub const fn of(code: ViolationCode) -> Option<Self> {
        match code {
            ViolationCode::UnequalPaidTime => Some(Self::UnequalPaidTime),
            ViolationCode::WeeklyMaxExceeded => Some(Self::WeeklyMax),
            ViolationCode::MinRest => Some(Self::MinRest),
            ViolationCode::SkillMissing => Some(Self::Skill),
            ViolationCode::TooCloseToStart => Some(Self::MinHoursBeforeStart),
            ViolationCode::CoverageBelowRequirement => Some(Self::Coverage),
            _ => None,
        }
    }

    const fn code(self) -> ViolationCode {
        match self {
            Self::UnequalPaidTime => ViolationCode::UnequalPaidTime,
            Self::WeeklyMax => ViolationCode::WeeklyMaxExceeded,
            Self::MinRest => ViolationCode::MinRest,
            Self::Skill => ViolationCode::SkillMissing,
            Self::MinHoursBeforeStart => ViolationCode::TooCloseToStart,
            Self::Coverage => ViolationCode::CoverageBelowRequirement,
        }
    }
}

/// What the automatic review does with a trade that breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RuleAction {
    /// The business unit tolerates it in trades: the rule is not enforced for them.
    Allow,
    /// The trade is denied.
    Deny,
    /// A supervisor decides; approving accepts the breach.
    Supervisor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradeRuleActions {
    pub unequal_paid_time: RuleAction,
    pub weekly_max: RuleAction,
    pub min_rest: RuleAction,
    pub skill: RuleAction,
    pub min_hours_before_start: RuleAction,
    pub coverage: RuleAction,
}

impl Default for TradeRuleActions {
    fn default() -> Self {
        Self {
            unequal_paid_time: RuleAction::Supervisor,
            weekly_max: RuleAction::Deny,
            min_rest: RuleAction::Deny,
            skill: RuleAction::Deny,
            min_hours_before_start: RuleAction::Deny,
            coverage: RuleAction::Supervisor,
        }
    }
}

impl TradeRuleActions {
    pub const fn action(&self, rule: TradeRule) -> RuleAction {
        match rule {
            TradeRule::UnequalPaidTime => self.unequal_paid_time,
            TradeRule::WeeklyMax => self.weekly_max,
            TradeRule::MinRest => self.min_rest,
            TradeRule::Skill => self.skill,
            TradeRule::MinHoursBeforeStart => self.min_hours_before_start,
            TradeRule::Coverage => self.coverage,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradeSettings {
    /// When false, every matched trade waits for a supervisor.
    pub auto_review: bool,
    /// Trades must be approved at least this many hours before either shift starts.
    pub min_hours_before_start: u32,
    pub rules: TradeRuleActions,
}

impl Default for TradeSettings {
    fn default() -> Self {
        Self {
            auto_review: true,
            min_hours_before_start: 24,
            rules: TradeRuleActions::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelfServiceSettings {
    /// Whether agents may release their shifts (which then become open).
    pub allow_release: bool,
    /// A release must come at least this many hours before the shift starts.
    pub release_min_hours_before_start: u32,
}

impl Default for SelfServiceSettings {
    fn default() -> Self {
        Self {
            allow_release: true,
            release_min_hours_before_start: 48,
        }
    }
}

/// A business unit's policies for agent self-service and trades.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusinessUnitSettings {
    pub self_service: SelfServiceSettings,
    pub trades: TradeSettings,
    pub coverage: crate::coverage::CoverageGuard,
    pub time_off: crate::timeoff::TimeOffSettings,
}

/// What the review of a trade concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    Approve,
    Supervisor,
    Deny,
}

/// The rule check of a matched trade, shown before anyone approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradeCheck {
    pub violations: Vec<Violation>,
    /// Rules broken that the settings send to a supervisor.
    pub needs_supervisor: Vec<TradeRule>,
    pub verdict: Verdict,
}

impl TradeSettings {
    /// Reviews a trade by its violations: any that the settings deny (or that no setting can
    /// allow) deny it; any sent to a supervisor, or a business unit without automatic
    /// review, leave it to a supervisor; otherwise it is approved.
    pub fn review(&self, violations: Vec<Violation>) -> TradeCheck {
        let mut needs_supervisor = Vec::new();
        let mut denied = false;
        for v in &violations {
            match TradeRule::of(v.code).map(|r| (r, self.rules.action(r))) {
                Some((_, RuleAction::Allow)) => {}
                Some((rule, RuleAction::Supervisor)) => {
                    if !needs_supervisor.contains(&rule) {
                        needs_supervisor.push(rule);
                    }
                }
                Some((_, RuleAction::Deny)) | None => denied = true,
            }
        }
        let verdict = if denied {
            Verdict::Deny
        } else if !needs_supervisor.is_empty() || !self.auto_review {
            Verdict::Supervisor
        } else {
            Verdict::Approve
        };
        TradeCheck {
            violations,
            needs_supervisor,
            verdict,
        }
    }

    /// The violation codes an approval does not enforce: the rules the settings allow, and
    /// with a supervisor's approval also those sent to a supervisor.
    pub fn waived(&self, by_supervisor: bool) -> Vec<ViolationCode> {
        [
            TradeRule::UnequalPaidTime,
            TradeRule::WeeklyMax,
            TradeRule::MinRest,
            TradeRule::Skill,
            TradeRule::MinHoursBeforeStart,
            TradeRule::Coverage,
        ]
        .into_iter()
        .filter(|r| match self.rules.action(*r) {
            RuleAction::Allow => true,
            RuleAction::Supervisor => by_supervisor,
            RuleAction::Deny => false,
        })
        .map(TradeRule::code)
        .collect()
    }

    /// The rules of trades themselves (the engine checks the rest): equal paid time, and
    /// enough notice before either shift starts.
    pub fn trade_violations(
        &self,
        initiating: &Shift,
        receiving: Option<&Shift>,
        now: Timestamp,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        let paid = |s: &Shift| s.paid_minutes_at(&s.state());
        if let Some(receiving) = receiving
            && paid(receiving) != paid(initiating)
        {
            out.push(Violation::new(
                ViolationCode::UnequalPaidTime,
                receiving.owner,
                Some(receiving.id),
                format!(
                    "shift {} has {} paid minutes, shift {} has {}",
                    initiating.id,
                    paid(initiating),
                    receiving.id,
                    paid(receiving)
                ),
            ));
        }
        let notice = jiff::SignedDuration::from_hours(i64::from(self.min_hours_before_start));
        for shift in std::iter::once(initiating).chain(receiving) {
            if shift.window.start().duration_since(now) < notice {
                out.push(Violation {
                    code: ViolationCode::TooCloseToStart,
                    agent_id: shift.owner,
                    shift_id: Some(shift.id),
                    detail: format!(
                        "shift {} starts at {}, less than {} hours from now",
                        shift.id,
                        shift.window.start(),
                        self.min_hours_before_start
                    ),
                    coverage: None,
                });
            }
        }
        out
    }
}

/// Who decided a trade, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// The client id of the supervisor, or `system` for the automatic review and expiry.
    pub by: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub reason: Option<String>,
    /// Why an approval could not apply (the shifts changed or a rule broke at commit).
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trade {
    pub id: TradeId,
    pub business_unit_id: BusinessUnitId,
    pub schedule_id: ScheduleId,
    pub initiating_agent_id: AgentId,
    pub initiating_shift_id: ShiftId,
    /// Only this agent may match, when given.
    pub target_agent_id: Option<AgentId>,
    /// Times the initiator accepts a shift in return; none: the shift is given away.
    pub acceptable_intervals: Vec<Interval>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    pub state: TradeState,
    pub receiving_agent_id: Option<AgentId>,
    pub receiving_shift_id: Option<ShiftId>,
    /// The schedule version the match was checked against: approval conflicts if a shift of
    /// the trade changed after it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub matched_version: Option<ScheduleVersion>,
    pub check: Option<TradeCheck>,
    pub decision: Option<Decision>,
    /// The version the approval created.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub applied_version_id: Option<ScheduleVersionId>,
    /// The trade's own version: every change bumps it; changes carry the one they saw.
    pub version: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl Trade {
    /// The shifts the trade holds once matched.
    pub fn shifts(&self) -> Vec<ShiftId> {
        std::iter::once(self.initiating_shift_id)
            .chain(self.receiving_shift_id)
            .collect()
    }

    pub fn is_giveaway(&self) -> bool {
        self.acceptable_intervals.is_empty()
    }

    /// Whether `receiver` may match with `receiving` (their shift in return, or none to take
    /// a shift given away), as the trade stands.
    pub fn check_match(
        &self,
        receiver: AgentId,
        receiving: Option<&Shift>,
    ) -> Result<(), TradeError> {
        let invalid = |detail: String| Err(TradeError::Invalid(detail));
        if receiver == self.initiating_agent_id {
            return invalid("an agent cannot match their own trade".into());
        }
        if self.target_agent_id.is_some_and(|t| t != receiver) {
            return Err(TradeError::Forbidden(format!(
                "trade {} is offered to another agent",
                self.id
            )));
        }
        match (self.is_giveaway(), receiving) {
            (true, None) => Ok(()),
            (true, Some(_)) => {
                invalid("this trade gives a shift away: match it without a shift".into())
            }
            (false, None) => {
                invalid("this trade asks for a shift in return: give `shiftId`".into())
            }
            (false, Some(shift)) => {
                if shift.owner != Some(receiver) {
                    return invalid(format!("shift {} is not yours", shift.id));
                }
                if shift.schedule_id != self.schedule_id {
                    return invalid(format!(
                        "shift {} is in another schedule than the trade's",
                        shift.id
                    ));
                }
                let (start, end) = (shift.window.start(), shift.window.end());
                if !self
                    .acceptable_intervals
                    .iter()
                    .any(|i| i.contains(start, end))
                {
                    return invalid(format!(
                        "shift {} is outside the times the initiator accepts",
                        shift.id
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Why a trade operation was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeError {
    #[error("trade {0} does not exist")]
    NotFound(TradeId),
    #[error("trade {} is at version {}, not {expected}", current.id, current.version)]
    VersionConflict { expected: u32, current: Box<Trade> },
    #[error("a trade cannot go from {from} to {to}")]
    InvalidTransition { from: TradeState, to: TradeState },
    #[error("trade {0} has expired")]
    Expired(TradeId),
    #[error("shift {shift} is held by trade {trade}")]
    ShiftInTrade { shift: ShiftId, trade: TradeId },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(code: ViolationCode) -> Violation {
        Violation {
            code,
            agent_id: None,
            shift_id: None,
            detail: String::new(),
            coverage: None,
        }
    }

    #[test]
    fn only_valid_transitions_are_allowed() {
        use TradeState::*;
        assert!(Unmatched.may_become(Matched));
        assert!(Matched.may_become(Approved));
        assert!(!Matched.may_become(Unmatched));
        for done in [Approved, Denied, Canceled, Expired] {
            for next in TradeState::ALL {
                assert!(!done.may_become(next), "{done} -> {next}");
            }
        }
    }

    #[test]
    fn the_review_follows_the_settings_rule_by_rule() {
        let mut settings = TradeSettings::default();
        let none = settings.review(vec![]);
        assert_eq!(none.verdict, Verdict::Approve);
        let unequal = settings.review(vec![violation(ViolationCode::UnequalPaidTime)]);
        assert_eq!(unequal.verdict, Verdict::Supervisor);
        assert_eq!(unequal.needs_supervisor, vec![TradeRule::UnequalPaidTime]);
        let rest = settings.review(vec![
            violation(ViolationCode::UnequalPaidTime),
            violation(ViolationCode::MinRest),
        ]);
        assert_eq!(rest.verdict, Verdict::Deny);
        let overlap = settings.review(vec![violation(ViolationCode::Overlap)]);
        assert_eq!(
            overlap.verdict,
            Verdict::Deny,
            "no setting can allow an overlap"
        );
        settings.rules.min_rest = RuleAction::Allow;
        settings.rules.unequal_paid_time = RuleAction::Allow;
        assert_eq!(
            settings
                .review(vec![violation(ViolationCode::MinRest)])
                .verdict,
            Verdict::Approve
        );
        assert_eq!(
            settings.waived(false),
            vec![ViolationCode::UnequalPaidTime, ViolationCode::MinRest]
        );
        settings.auto_review = false;
        assert_eq!(settings.review(vec![]).verdict, Verdict::Supervisor);
    }
}
