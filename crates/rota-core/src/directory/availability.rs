//! An agent's availability: weekly local windows and dated exceptions, in the business unit's
//! time zone, and its wire document.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

use super::{DirectoryError, Zone};

pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A window of one local day, `[start, end)` in minutes after local midnight; `end` may be 1440
/// (24:00) so that a window can reach the next day and merge with one that starts at 00:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalSpan {
    start: u16,
    end: u16,
}

impl LocalSpan {
    pub fn new(start: u16, end: u16) -> Result<Self, DirectoryError> {
        if start >= end || end > MINUTES_PER_DAY {
            return Err(DirectoryError::EmptyWindow {
                start: fmt_minute(start),
                end: fmt_minute(end),
            });
        }
        Ok(Self { start, end })
    }

    pub fn parse(start: &str, end: &str) -> Result<Self, DirectoryError> {
        Self::new(parse_minute(start)?, parse_minute(end)?)
    }

    pub const fn start(self) -> u16 {
        self.start
    }

    pub const fn end(self) -> u16 {
        self.end
    }
}

fn parse_minute(s: &str) -> Result<u16, DirectoryError> {
    let bad = || DirectoryError::InvalidLocalTime(s.to_owned());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn fmt_minute(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Sorts spans and merges the ones that overlap or touch, so no hidden overlap survives parsing.
fn normalise(mut spans: Vec<LocalSpan>) -> Vec<LocalSpan> {
    spans.sort_unstable();
    let mut out: Vec<LocalSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => out.push(span),
        }
    }
    out
}

/// When an agent can work: windows per weekday in the business unit's local time, and dated
/// exceptions that replace the weekly windows of their date (no windows: unavailable that day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Availability {
    weekly: [Vec<LocalSpan>; 7],
    exceptions: BTreeMap<Date, Vec<LocalSpan>>,
}

impl Availability {
    pub fn new(
        weekly: impl IntoIterator<Item = (Weekday, LocalSpan)>,
        exceptions: impl IntoIterator<Item = (Date, Vec<LocalSpan>)>,
    ) -> Self {
        let mut days: [Vec<LocalSpan>; 7] = Default::default();
        for (day, span) in weekly {
            days[day_index(day)].push(span);
        }
        let mut dated: BTreeMap<Date, Vec<LocalSpan>> = BTreeMap::new();
        for (date, spans) in exceptions {
            dated.entry(date).or_default().extend(spans);
        }
        Self {
            weekly: days.map(normalise),
            exceptions: dated.into_iter().map(|(d, s)| (d, normalise(s))).collect(),
        }
    }

    /// Available around the clock, every day.
    pub fn always() -> Self {
        let day = LocalSpan {
            start: 0,
            end: MINUTES_PER_DAY,
        };
        Self::new(ALL_WEEKDAYS.map(|d| (d, day)), [])
    }

    pub fn weekly(&self, day: Weekday) -> &[LocalSpan] {
        &self.weekly[day_index(day)]
    }

    pub fn exceptions(&self) -> impl Iterator<Item = (Date, &[LocalSpan])> {
        self.exceptions.iter().map(|(d, s)| (*d, s.as_slice()))
    }

    fn windows_on(&self, date: Date) -> &[LocalSpan] {
        self.exceptions
            .get(&date)
            .map_or_else(|| self.weekly(date.weekday()), Vec::as_slice)
    }

    /// Whether the agent is available for the whole of `[start, end)`.
    ///
    /// Local windows are turned into real instants date by date, so a window on a
    /// daylight-saving day is as long as it really is (00:00–06:00 on the day clocks fall back
    /// lasts seven hours), and windows that meet at midnight join into one.
    pub fn covers(&self, zone: &Zone, start: Timestamp, end: Timestamp) -> bool {
        let Ok(first) = zone.local_date(start).yesterday() else {
            return false;
        };
        let last = zone.local_date(end);
        let mut date = first;
        let mut reach: Option<Timestamp> = None;
        // Walk the windows in time order, tracking how far from `start` availability reaches
        // without a gap.
        while date <= last {
            for span in self.windows_on(date) {
                let (from, to) = (zone.instant(date, span.start), zone.instant(date, span.end));
                match reach {
                    None if from <= start && to > start => reach = Some(to),
                    Some(r) if from <= r && to > r => reach = Some(to),
                    _ => {}
                }
                if reach.is_some_and(|r| r >= end) {
                    return true;
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        false
    }
}

/// A day of the week on the wire and in storage ("monday"); jiff's `Weekday` has no serde form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DayOfWeek {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<DayOfWeek> for Weekday {
    fn from(d: DayOfWeek) -> Weekday {
        match d {
            DayOfWeek::Monday => Weekday::Monday,
            DayOfWeek::Tuesday => Weekday::Tuesday,
            DayOfWeek::Wednesday => Weekday::Wednesday,
            DayOfWeek::Thursday => Weekday::Thursday,
            DayOfWeek::Friday => Weekday::Friday,
            DayOfWeek::Saturday => Weekday::Saturday,
            DayOfWeek::Sunday => Weekday::Sunday,
        }
    }
}

impl From<Weekday> for DayOfWeek {
    fn from(d: Weekday) -> DayOfWeek {
        match d {
            Weekday::Monday => DayOfWeek::Monday,
            Weekday::Tuesday => DayOfWeek::Tuesday,
            Weekday::Wednesday => DayOfWeek::Wednesday,
            Weekday::Thursday => DayOfWeek::Thursday,
            Weekday::Friday => DayOfWeek::Friday,
            Weekday::Saturday => DayOfWeek::Saturday,
            Weekday::Sunday => DayOfWeek::Sunday,
        }
    }
}

pub const ALL_WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

fn day_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

/// The wire and storage form of availability: local times as "HH:MM".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AvailabilityDoc {
    #[serde(default)]
    pub weekly: Vec<WeeklyWindowDoc>,
    #[serde(default)]
    pub exceptions: Vec<DatedExceptionDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeeklyWindowDoc {
    pub day: DayOfWeek,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatedExceptionDoc {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub date: Date,
    /// The windows that replace the weekly ones on this date; empty: unavailable all day.
    #[serde(default)]
    pub windows: Vec<WindowDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WindowDoc {
    pub start: String,
    pub end: String,
}

impl TryFrom<AvailabilityDoc> for Availability {
    type Error = DirectoryError;

    fn try_from(doc: AvailabilityDoc) -> Result<Self, DirectoryError> {
        let weekly = doc
            .weekly
            .iter()
            .map(|w| Ok((w.day.into(), LocalSpan::parse(&w.start, &w.end)?)))
            .collect::<Result<Vec<_>, DirectoryError>>()?;
        let exceptions = doc
            .exceptions
            .iter()
            .map(|e| {
                let spans = e
                    .windows
                    .iter()
                    .map(|w| LocalSpan::parse(&w.start, &w.end))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((e.date, spans))
            })
            .collect::<Result<Vec<_>, DirectoryError>>()?;
        Ok(Availability::new(weekly, exceptions))
    }
}

impl From<&Availability> for AvailabilityDoc {
    fn from(a: &Availability) -> Self {
        let window = |s: &LocalSpan| WindowDoc {
            start: fmt_minute(s.start),
            end: fmt_minute(s.end),
        };
        Self {
            weekly: ALL_WEEKDAYS
                .iter()
                .flat_map(|&day| {
                    a.weekly(day).iter().map(move |s| WeeklyWindowDoc {
                        day: day.into(),
                        start: fmt_minute(s.start),
                        end: fmt_minute(s.end),
                    })
                })
                .collect(),
            exceptions: a
                .exceptions()
                .map(|(date, spans)| DatedExceptionDoc {
                    date,
                    windows: spans.iter().map(window).collect(),
                })
                .collect(),
        }
    }
}

impl Serialize for Availability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AvailabilityDoc::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Availability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = AvailabilityDoc::deserialize(d)?;
        Availability::try_from(doc).map_err(serde::de::Error::custom)
    }
}
