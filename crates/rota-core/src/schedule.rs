//! Weekly schedules and their shifts.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::directory::{Skill, Zone};
use crate::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
use crate::version::{ScheduleVersion, ScheduleVersionId, ShiftState};

/// The longest shift rota accepts; longer ones are data errors, not shifts.
pub const MAX_SHIFT_MINUTES: i64 = 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ScheduleState {
    Draft,
    Published,
}

impl ScheduleState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// One business unit's week, as its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: ScheduleId,
    pub business_unit_id: BusinessUnitId,
    /// The local date the week starts on, in the business unit's time zone.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub week_start: Date,
    pub state: ScheduleState,
    pub version: ScheduleVersion,
}

impl Schedule {
    pub fn version_id(&self) -> ScheduleVersionId {
        ScheduleVersionId::new(self.id, self.version)
    }

    /// The week as real instants: local midnight of the first day to local midnight seven days on.
    pub fn week_window(&self, zone: &Zone) -> (Timestamp, Timestamp) {
        let end = self
            .week_start
            .checked_add(jiff::Span::new().days(7))
            .unwrap_or(self.week_start);
        (zone.instant(self.week_start, 0), zone.instant(end, 0))
    }
}

/// How [`ShiftError::InvalidWindow`] begins.
pub const WINDOW_RULE: &str = "a shift must end after it starts";

/// An activity code names what a shift is for ("phone", "chat", "training").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$"))]
pub struct ActivityCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    #[error(
        "an activity code must be 1 to 64 characters of letters, digits, '-' or '_'; got `{0}`"
    )]
    InvalidActivityCode(String),
    #[error("{WINDOW_RULE} and last at most {MAX_SHIFT_MINUTES} minutes")]
    InvalidWindow,
    #[error("the shift's activities do not fit the new window: its last activity would vanish")]
    ActivitiesDoNotFit,
    #[error(transparent)]
    Activities(#[from] crate::activity::ActivityError),
}

impl ActivityCode {
    pub fn parse(s: &str) -> Result<Self, ShiftError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ShiftError::InvalidActivityCode(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ActivityCode {
    type Error = ShiftError;
    fn try_from(s: String) -> Result<Self, ShiftError> {
        Self::parse(&s)
    }
}

impl From<ActivityCode> for String {
    fn from(a: ActivityCode) -> String {
        a.0
    }
}

impl fmt::Display for ActivityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[start, end)` in real time: a non-empty window no longer than a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWindow", into = "RawWindow")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeWindow {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    end: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct RawWindow {
    start: Timestamp,
    end: Timestamp,
}

impl TimeWindow {
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self, ShiftError> {
        let minutes = end.duration_since(start).as_mins();
        if end <= start || minutes > MAX_SHIFT_MINUTES {
            return Err(ShiftError::InvalidWindow);
        }
        Ok(Self { start, end })
    }

    pub const fn start(&self) -> Timestamp {
        self.start
    }

    pub const fn end(&self) -> Timestamp {
        self.end
    }

    pub fn minutes(&self) -> i64 {
        self.end.duration_since(self.start).as_mins()
    }
}

impl TryFrom<RawWindow> for TimeWindow {
    type Error = ShiftError;
    fn try_from(w: RawWindow) -> Result<Self, ShiftError> {
        Self::new(w.start, w.end)
    }
}

impl From<TimeWindow> for RawWindow {
    fn from(w: TimeWindow) -> Self {
        Self {
            start: w.start,
            end: w.end,
        }
    }
}

/// A shift as it stands at its schedule's current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shift {
    pub id: ShiftId,
    pub schedule_id: ScheduleId,
    /// `None` for an open shift that anyone qualified may pick up.
    pub owner: Option<AgentId>,
    pub window: TimeWindow,
    pub required_skill: Option<Skill>,
    pub activity_code: ActivityCode,
    /// What the shift is made of, tiling its window (see [`crate::activity`]). Shared: the
    /// write cache hands shifts to every command's snapshot, and a swap never changes them.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Activity>))]
    pub activities: std::sync::Arc<[Activity]>,
    /// The schedule version that last changed this shift. A shift's own version is a schedule
    /// version, so "did this shift change after version v" is one comparison.
    pub version: ScheduleVersion,
}

/// A shift without what it is made of: what a whole week's grid or list shows. Reading a week
/// this way skips each shift's activities, most of its stored size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftSlot {
    pub id: ShiftId,
    pub owner: Option<AgentId>,
    pub window: TimeWindow,
    pub required_skill: Option<Skill>,
    pub version: ScheduleVersion,
}

impl Shift {
    pub fn state(&self) -> ShiftState {
        ShiftState {
            owner: self.owner,
            start: self.window.start(),
            end: self.window.end(),
        }
    }

    /// The shift's activities laid onto the window of `state` (see [`crate::activity::relay`]).
    pub fn activities_at(&self, state: &ShiftState) -> Option<Vec<Activity>> {
        crate::activity::relay(
            &self.activities,
            (self.window.start(), self.window.end()),
            state.start,
            state.end,
        )
    }

    /// The paid minutes of the shift over the window of `state`.
    pub fn paid_minutes_at(&self, state: &ShiftState) -> i64 {
        crate::activity::paid_minutes(
            &self.activities,
            (self.window.start(), self.window.end()),
            (state.start, state.end),
        )
    }

    /// The skills the shift needs of whoever works it: the required skill and each on-queue
    /// activity's.
    pub fn skills(&self) -> impl Iterator<Item = &Skill> {
        let mut skills: Vec<&Skill> = self
            .required_skill
            .iter()
            .chain(self.activities.iter().filter_map(|a| a.skill.as_ref()))
            .collect();
        skills.sort_unstable();
        skills.dedup();
        skills.into_iter()
    }

    /// Takes on the state `after` that version `version` gave it: the one way a committed
    /// change reaches a shift (the in-memory schedule and the store's write cache both apply
    /// commits through it). A window that does not parse leaves the shift as it was.
    pub fn apply(
        &mut self,
        after: &ShiftState,
        version: ScheduleVersion,
    ) -> Result<(), ShiftError> {
        let window = TimeWindow::new(after.start, after.end)?;
        if window != self.window {
            self.activities = self
                .activities_at(after)
                .ok_or(ShiftError::ActivitiesDoNotFit)?
                .into();
        }
        self.window = window;
        self.owner = after.owner;
        self.version = version;
        Ok(())
    }
}

/// A shift to create when a week is imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewShift {
    pub id: ShiftId,
    pub owner: Option<AgentId>,
    pub window: TimeWindow,
    pub required_skill: Option<Skill>,
    pub activity_code: ActivityCode,
    /// Validated against the window (see [`crate::activity::validate`]).
    pub activities: Vec<Activity>,
}

impl NewShift {
    /// A shift with `activities` checked against its window, or, given none, one paid on-queue
    /// activity over the whole of it.
    pub fn new(
        id: ShiftId,
        owner: Option<AgentId>,
        window: TimeWindow,
        required_skill: Option<Skill>,
        activity_code: ActivityCode,
        activities: Vec<Activity>,
    ) -> Result<Self, ShiftError> {
        let activities = if activities.is_empty() {
            crate::activity::whole_shift(&window, &activity_code, required_skill.as_ref())
        } else {
            crate::activity::validate(&window, required_skill.as_ref(), activities)?
        };
        Ok(Self {
            id,
            owner,
            window,
            required_skill,
            activity_code,
            activities,
        })
    }
}

/// A week's shifts to import as version 1 of a new schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub id: ScheduleId,
    pub business_unit_id: BusinessUnitId,
    pub week_start: Date,
    pub shifts: Vec<NewShift>,
}

impl NewSchedule {
    /// The schedule this import creates: a draft at version 1.
    pub fn first_version(&self) -> Schedule {
        Schedule {
            id: self.id,
            business_unit_id: self.business_unit_id,
            week_start: self.week_start,
            state: ScheduleState::Draft,
            version: crate::version::ScheduleVersion::FIRST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + hour * 3600).unwrap()
    }

    fn shift() -> Shift {
        Shift {
            id: ShiftId::new(),
            schedule_id: ScheduleId::new(),
            owner: Some(AgentId::new()),
            window: TimeWindow::new(at(0), at(8)).unwrap(),
            required_skill: None,
            activity_code: ActivityCode::parse("work").unwrap(),
            activities: Vec::new().into(),
            version: ScheduleVersion::FIRST,
        }
    }

    #[test]
    fn a_change_applies_whole_or_not_at_all() {
        let v2 = ScheduleVersion::new(2).unwrap();
        let mut s = shift();
        let moved = ShiftState {
            owner: None,
            start: at(1),
            end: at(9),
        };
        s.apply(&moved, v2).unwrap();
        assert_eq!((s.state(), s.version), (moved, v2));

        let before = s.clone();
        let inverted = ShiftState {
            owner: Some(AgentId::new()),
            start: at(9),
            end: at(1),
        };
        assert!(
            s.apply(&inverted, ScheduleVersion::new(3).unwrap())
                .is_err()
        );
        assert_eq!(s, before, "neither the owner nor the version moved");
    }
}
