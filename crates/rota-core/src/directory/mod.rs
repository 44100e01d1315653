//! Business units, management units and agents, with the availability that rules check.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, BusinessUnitId, ManagementUnitId};

mod availability;

pub use availability::{
    ALL_WEEKDAYS, Availability, AvailabilityDoc, DatedExceptionDoc, DayOfWeek, LocalSpan,
    MINUTES_PER_DAY, WeeklyWindowDoc, WindowDoc,
};

/// Why a directory value was refused when parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("`{0}` is not an IANA time zone known to rota")]
    UnknownTimeZone(String),
    #[error("a name must be 1 to {max} characters, not blank", max = NAME_MAX)]
    InvalidName,
    #[error("a skill must be 1 to 64 characters of letters, digits, '-', '_' or '.'; got `{0}`")]
    InvalidSkill(String),
    #[error("`{0}` is not a local time (expected HH:MM from 00:00 to 24:00)")]
    InvalidLocalTime(String),
    #[error("availability window {start}–{end} is empty or inverted")]
    EmptyWindow { start: String, end: String },
}

const NAME_MAX: usize = 200;

fn check_name(name: &str) -> Result<String, DirectoryError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > NAME_MAX {
        return Err(DirectoryError::InvalidName);
    }
    Ok(trimmed.to_owned())
}

/// An IANA time zone, parsed against the bundled tz database so that a business unit can never
/// hold a zone the rules cannot evaluate.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub fn parse(name: &str) -> Result<Self, DirectoryError> {
        let tz =
            TimeZone::get(name).map_err(|_| DirectoryError::UnknownTimeZone(name.to_owned()))?;
        Ok(Self {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The instant a local date and minute of day names here. A time skipped by a
    /// daylight-saving gap maps forward and a repeated one to its first occurrence (RFC 5545's
    /// "compatible" choice), so every local window has a well-defined span of real time.
    pub fn instant(&self, date: Date, minute_of_day: u16) -> Timestamp {
        let (day, minute) = if minute_of_day >= MINUTES_PER_DAY {
            (date.tomorrow().unwrap_or(date), 0)
        } else {
            (date, minute_of_day)
        };
        let hour = i8::try_from(minute / 60).unwrap_or(0);
        let min = i8::try_from(minute % 60).unwrap_or(0);
        self.tz
            .to_ambiguous_zoned_datetime(day.at(hour, min, 0, 0))
            .compatible()
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// The local date of an instant here.
    pub fn local_date(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.tz.clone()).date()
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Zone::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusinessUnit {
    pub id: BusinessUnitId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub time_zone: Zone,
    pub first_day_of_week: DayOfWeek,
}

impl BusinessUnit {
    pub fn new(
        name: &str,
        time_zone: Zone,
        first_day_of_week: DayOfWeek,
    ) -> Result<Self, DirectoryError> {
        Ok(Self {
            id: BusinessUnitId::new(),
            name: check_name(name)?,
            time_zone,
            first_day_of_week,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManagementUnit {
    pub id: ManagementUnitId,
    pub business_unit_id: BusinessUnitId,
    pub name: String,
}

impl ManagementUnit {
    pub fn new(business_unit_id: BusinessUnitId, name: &str) -> Result<Self, DirectoryError> {
        Ok(Self {
            id: ManagementUnitId::new(),
            business_unit_id,
            name: check_name(name)?,
        })
    }
}

/// A skill an agent has and a shift may require ("billing", "spanish").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$"))]
pub struct Skill(String);

impl Skill {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(DirectoryError::InvalidSkill(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Skill {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, DirectoryError> {
        Self::parse(&s)
    }
}

impl From<Skill> for String {
    fn from(s: Skill) -> String {
        s.0
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agent as a list of a whole unit needs them: who, and what they can work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub id: AgentId,
    pub name: String,
    pub skills: BTreeSet<Skill>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: AgentId,
    pub business_unit_id: BusinessUnitId,
    pub management_unit_id: Option<ManagementUnitId>,
    pub name: String,
    pub skills: BTreeSet<Skill>,
    pub max_paid_minutes_per_week: u32,
    pub min_rest_minutes: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = AvailabilityDoc))]
    pub availability: Availability,
    /// Approved time off ending after a week ago: every rule check treats the agent as
    /// unavailable in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_off: Vec<TimeOffWindow>,
}

/// A window of an agent's approved time off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeOffWindow {
    pub request_id: crate::ids::TimeOffId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: jiff::Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: jiff::Timestamp,
}

impl Agent {
    /// The approved time off overlapping `[start, end)`, if any.
    pub fn time_off_during(
        &self,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> Option<&TimeOffWindow> {
        self.time_off
            .iter()
            .find(|w| w.start < end && start < w.end)
    }

    pub fn new(
        business_unit_id: BusinessUnitId,
        management_unit_id: Option<ManagementUnitId>,
        name: &str,
        skills: BTreeSet<Skill>,
        max_paid_minutes_per_week: u32,
        min_rest_minutes: u32,
        availability: Availability,
    ) -> Result<Self, DirectoryError> {
        Ok(Self {
            id: AgentId::new(),
            business_unit_id,
            management_unit_id,
            name: check_name(name)?,
            skills,
            max_paid_minutes_per_week,
            min_rest_minutes,
            availability,
            time_off: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Weekday;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn chicago() -> Zone {
        Zone::parse("America/Chicago").unwrap()
    }

    fn at(zone: &Zone, d: Date, h: i8, m: i8) -> Timestamp {
        zone.tz()
            .to_ambiguous_zoned_datetime(d.at(h, m, 0, 0))
            .compatible()
            .unwrap()
            .timestamp()
    }

    #[test]
    fn overlapping_and_touching_windows_are_merged() {
        let a = Availability::new(
            [
                (Weekday::Monday, LocalSpan::parse("08:00", "12:00").unwrap()),
                (Weekday::Monday, LocalSpan::parse("11:00", "13:00").unwrap()),
                (Weekday::Monday, LocalSpan::parse("13:00", "14:00").unwrap()),
                (Weekday::Monday, LocalSpan::parse("20:00", "21:00").unwrap()),
            ],
            [],
        );
        assert_eq!(
            a.weekly(Weekday::Monday),
            &[
                LocalSpan::new(480, 840).unwrap(),
                LocalSpan::new(1200, 1260).unwrap()
            ]
        );
    }

    #[test]
    fn empty_inverted_and_malformed_windows_are_rejected() {
        assert!(matches!(
            LocalSpan::parse("10:00", "10:00"),
            Err(DirectoryError::EmptyWindow { .. })
        ));
        assert!(matches!(
            LocalSpan::parse("12:00", "08:00"),
            Err(DirectoryError::EmptyWindow { .. })
        ));
        for bad in ["24:30", "7:00", "ab:cd", "12:60", ""] {
            assert!(
                matches!(
                    LocalSpan::parse(bad, "23:00"),
                    Err(DirectoryError::InvalidLocalTime(_))
                ),
                "{bad}"
            );
        }
        assert!(LocalSpan::parse("00:00", "24:00").is_ok());
    }

    #[test]
    fn unknown_time_zones_are_rejected() {
        assert!(Zone::parse("America/Chicago").is_ok());
        assert!(matches!(
            Zone::parse("Mars/Olympus"),
            Err(DirectoryError::UnknownTimeZone(_))
        ));
    }

    #[test]
    fn a_dated_exception_replaces_the_weekly_windows_of_its_date() {
        let zone = chicago();
        let day = date(2026, 11, 4); // a Wednesday
        let a = Availability::new(
            [(
                Weekday::Wednesday,
                LocalSpan::parse("08:00", "16:00").unwrap(),
            )],
            [(day, vec![])],
        );
        assert!(!a.covers(&zone, at(&zone, day, 9, 0), at(&zone, day, 10, 0)));
        let next = date(2026, 11, 11);
        assert!(a.covers(&zone, at(&zone, next, 9, 0), at(&zone, next, 10, 0)));
    }

    #[test]
    fn windows_that_meet_at_midnight_cover_an_overnight_shift() {
        let zone = chicago();
        let a = Availability::new(
            [
                (
                    Weekday::Tuesday,
                    LocalSpan::parse("20:00", "24:00").unwrap(),
                ),
                (
                    Weekday::Wednesday,
                    LocalSpan::parse("00:00", "06:00").unwrap(),
                ),
            ],
            [],
        );
        let tue = date(2026, 11, 10);
        let wed = date(2026, 11, 11);
        assert!(a.covers(&zone, at(&zone, tue, 22, 0), at(&zone, wed, 6, 0)));
        assert!(!a.covers(&zone, at(&zone, tue, 22, 0), at(&zone, wed, 7, 0)));
    }

    #[test]
    fn availability_is_evaluated_in_local_time_across_the_fall_back_change() {
        // On 2026-11-01 Chicago falls back at 02:00 CDT to 01:00 CST: the local window
        // 00:00–06:00 lasts seven real hours that day.
        let zone = chicago();
        let day = date(2026, 11, 1);
        let a = Availability::new(
            [(Weekday::Sunday, LocalSpan::parse("00:00", "06:00").unwrap())],
            [],
        );
        let start = at(&zone, day, 0, 0);
        let end = at(&zone, day, 6, 0);
        assert_eq!(end.duration_since(start).as_hours(), 7);
        assert!(a.covers(&zone, start, end));
        // The same seven hours read in UTC would end at 05:00 local on an ordinary Sunday.
        assert!(!a.covers(
            &zone,
            start,
            end.checked_add(jiff::SignedDuration::from_mins(1)).unwrap()
        ));
    }

    #[test]
    fn availability_round_trips_through_its_document_form() {
        let a = Availability::new(
            [(Weekday::Friday, LocalSpan::parse("09:30", "24:00").unwrap())],
            [(
                date(2026, 12, 24),
                vec![LocalSpan::parse("08:00", "12:00").unwrap()],
            )],
        );
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Availability>(&json).unwrap(), a);
    }

    proptest! {
        #[test]
        fn normalised_windows_are_sorted_and_disjoint(
            raw in proptest::collection::vec((0u16..1440, 1u16..600), 0..12)
        ) {
            let spans: Vec<LocalSpan> = raw
                .iter()
                .map(|&(s, len)| LocalSpan::new(s, (s + len).min(1440)).unwrap())
                .collect();
            let a = Availability::new(spans.iter().map(|&s| (Weekday::Monday, s)), []);
            let merged = a.weekly(Weekday::Monday);
            for pair in merged.windows(2) {
                prop_assert!(pair[0].end() < pair[1].start());
            }
            // Every minute covered before is covered after, and no other.
            for minute in 0..1440u16 {
                let before = spans.iter().any(|s| s.start() <= minute && minute < s.end());
                let after = merged.iter().any(|s| s.start() <= minute && minute < s.end());
                prop_assert_eq!(before, after);
            }
        }
    }
}
