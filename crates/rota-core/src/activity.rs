//! What a shift is made of: a sequence of activities (on the phones, a break, a meal, a
//! meeting…) that tile its window. Only on-queue time answers calls, so only it counts toward a
//! staffing requirement (for every skill of the agent who works it, as multi-skill routing
//! serves them); only paid time counts toward the weekly maximum. An on-queue activity may name
//! the skill it is planned for: whoever works the shift must have it.
//!
//! The rules, checked when a shift is parsed: activities are in time order, the first starts
//! when the shift starts, each starts where the one before it ended, the last ends when the
//! shift ends (no gaps: time off the phones is an activity of its own, `offQueue`), and each
//! lasts at least a minute. A shift given without activities is one paid on-queue activity
//! over its whole window, for its required skill, named by its activity code.
//!
//! Activities travel with their shift: a swap, pickup, release or trade changes the owner and
//! leaves them as they are. A move keeps each activity's offset from the shift's start; when the
//! move also changes the shift's length, the last activity takes up the difference (a move that
//! would leave it empty is refused). A change of the start alone (a shift trimmed at its start,
//! as approved time off does, or extended there) leaves every activity but the first where it
//! is in time, and the first takes up the difference. Each change is reversible on its own, so
//! the history lays a shift out as it then was by undoing the later changes one at a time.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::directory::Skill;
use crate::schedule::{ActivityCode, TimeWindow};

/// The most activities one shift may hold.
pub const MAX_ACTIVITIES: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ActivityKind {
    /// Answering contacts for a skill: the only time that counts toward coverage.
    OnQueue,
    Break,
    Meal,
    Meeting,
    Training,
    /// Work away from the queue (email follow-up, coaching notes).
    OffQueue,
}

impl ActivityKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OnQueue => "onQueue",
            Self::Break => "break",
            Self::Meal => "meal",
            Self::Meeting => "meeting",
            Self::Training => "training",
            Self::OffQueue => "offQueue",
        }
    }
}

/// One activity of a shift, `[start, end)` in real time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    pub code: ActivityCode,
    pub kind: ActivityKind,
    pub paid: bool,
    /// The skill an on-queue activity is planned for (whoever works it must have it); `None`
    /// for other kinds.
    pub skill: Option<Skill>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub end: Timestamp,
}

impl Activity {
    pub fn minutes(&self) -> i64 {
        self.end.duration_since(self.start).as_mins()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityError {
    #[error("a shift holds at most {MAX_ACTIVITIES} activities")]
    TooMany,
    #[error(
        "activity {index} starts at {start}, not where {}",
        if *.index == 0 { "the shift starts" } else { "the activity before it ends" }
    )]
    Gap { index: usize, start: Timestamp },
    #[error("activity {index} must end after it starts")]
    Empty { index: usize },
    #[error("the last activity ends at {end}, not when the shift ends ({shift_end})")]
    ShortOfEnd {
        end: Timestamp,
        shift_end: Timestamp,
    },
    #[error("activity {index} is not on queue and so cannot name a skill")]
    SkillOffQueue { index: usize },
    #[error("activity times must be whole minutes")]
    NotWholeMinutes,
}

/// Checks `activities` against the rules of the module doc for a shift over `window`; fills an
/// on-queue activity's missing skill with `required_skill` (on-queue time of a shift that names
/// no skill counts toward no requirement).
pub fn validate(
    window: &TimeWindow,
    required_skill: Option<&Skill>,
    mut activities: Vec<Activity>,
) -> Result<Vec<Activity>, ActivityError> {
    if activities.len() > MAX_ACTIVITIES {
        return Err(ActivityError::TooMany);
    }
    let mut at = window.start();
    for (index, a) in activities.iter_mut().enumerate() {
        if a.start != at {
            return Err(ActivityError::Gap {
                index,
                start: a.start,
            });
        }
        if a.end <= a.start {
            return Err(ActivityError::Empty { index });
        }
        if a.start.subsec_nanosecond() != 0
            || a.start.as_second() % 60 != 0
            || a.end.subsec_nanosecond() != 0
            || a.end.as_second() % 60 != 0
        {
            return Err(ActivityError::NotWholeMinutes);
        }
        match (a.kind, &a.skill) {
            (ActivityKind::OnQueue, None) => a.skill = required_skill.cloned(),
            (ActivityKind::OnQueue, Some(_)) => {}
            (_, Some(_)) => return Err(ActivityError::SkillOffQueue { index }),
            (_, None) => {}
        }
        at = a.end;
    }
    if at != window.end() {
        return Err(ActivityError::ShortOfEnd {
            end: at,
            shift_end: window.end(),
        });
    }
    Ok(activities)
}

/// The activities of a shift given none: one paid on-queue activity over the whole window.
pub fn whole_shift(
    window: &TimeWindow,
    code: &ActivityCode,
    skill: Option<&Skill>,
) -> Vec<Activity> {
    vec![Activity {
        code: code.clone(),
        kind: ActivityKind::OnQueue,
        paid: true,
        skill: skill.cloned(),
        start: window.start(),
        end: window.end(),
    }]
}

/// How a shift's activities follow a change of its window: when only the start moved (a
/// shift trimmed or extended at its start, as approved time off trims it), every activity but
/// the first keeps its time and the first takes up the change; otherwise each keeps its offset
/// from the shift's start and the last takes up any change of length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// What is added to every activity's start and end but the absorbing one's free end.
    delta: SignedDuration,
    first_absorbs: bool,
}

impl Layout {
    fn of(from: (Timestamp, Timestamp), to: (Timestamp, Timestamp)) -> Self {
        if from.0 != to.0 && from.1 == to.1 {
            Self {
                delta: SignedDuration::ZERO,
                first_absorbs: true,
            }
        } else {
            Self {
                delta: to.0.duration_since(from.0),
                first_absorbs: false,
            }
        }
    }

    /// Activity `i` of `n` laid onto `[start, end)`, `None` if a time overflows.
    fn place(
        self,
        i: usize,
        n: usize,
        a: &Activity,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<(Timestamp, Timestamp)> {
        let s = if self.first_absorbs && i == 0 {
            start
        } else {
            a.start.checked_add(self.delta).ok()?
        };
        let e = if !self.first_absorbs && i + 1 == n {
            end
        } else {
            a.end.checked_add(self.delta).ok()?
        };
        Some((s, e))
    }
}

/// `activities` (tiling `[from.0, from.1)`) laid onto `[start, end)` by the rule of [`Layout`].
/// `None` when the shift got so much shorter that the absorbing activity (or another) would
/// not fit.
pub fn relay(
    activities: &[Activity],
    from: (Timestamp, Timestamp),
    start: Timestamp,
    end: Timestamp,
) -> Option<Vec<Activity>> {
    let layout = Layout::of(from, (start, end));
    let n = activities.len();
    activities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (s, e) = layout.place(i, n, a, start, end)?;
            (start <= s && s < e && e <= end).then(|| Activity {
                start: s,
                end: e,
                ..a.clone()
            })
        })
        .collect()
}

/// The on-queue parts of `activities` (tiling `[from.0, from.1)`) as the shift would be over
/// `[start, end)`, laid out by the rule of [`Layout`].
pub fn on_queue_at(
    activities: &[Activity],
    from: (Timestamp, Timestamp),
    start: Timestamp,
    end: Timestamp,
) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
    let layout = Layout::of(from, (start, end));
    let n = activities.len();
    activities
        .iter()
        .enumerate()
        .filter(|(_, a)| a.kind == ActivityKind::OnQueue)
        .filter_map(move |(i, a)| {
            let (s, e) = layout.place(i, n, a, start, end)?;
            let (s, e) = (s.max(start), e.min(end));
            (s < e).then_some((s, e))
        })
}

/// The paid minutes of `activities` (tiling `[from.0, from.1)`) as a shift over `to`: the
/// absorbing activity of [`Layout`] takes up the difference.
pub fn paid_minutes(
    activities: &[Activity],
    from: (Timestamp, Timestamp),
    to: (Timestamp, Timestamp),
) -> i64 {
    let layout = Layout::of(from, to);
    let change = to.1.duration_since(to.0).as_mins() - from.1.duration_since(from.0).as_mins();
    let absorbing = if layout.first_absorbs {
        0
    } else {
        activities.len().saturating_sub(1)
    };
    activities
        .iter()
        .enumerate()
        .filter(|(_, a)| a.paid)
        .map(|(i, a)| {
            if i == absorbing {
                (a.minutes() + change).max(0)
            } else {
                a.minutes()
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_040 + minute * 60).unwrap()
    }

    fn activity(kind: ActivityKind, paid: bool, from: i64, to: i64) -> Activity {
        Activity {
            code: ActivityCode::parse(kind.as_str()).unwrap(),
            kind,
            paid,
            skill: None,
            start: at(from),
            end: at(to),
        }
    }

    fn day() -> Vec<Activity> {
        vec![
            activity(ActivityKind::OnQueue, true, 0, 120),
            activity(ActivityKind::Break, true, 120, 135),
            activity(ActivityKind::OnQueue, true, 135, 240),
            activity(ActivityKind::Meal, false, 240, 270),
            activity(ActivityKind::OnQueue, true, 270, 510),
        ]
    }

    #[test]
    fn activities_must_tile_the_shift() {
        let window = TimeWindow::new(at(0), at(510)).unwrap();
        let sales = Skill::parse("sales").unwrap();
        let ok = validate(&window, Some(&sales), day()).unwrap();
        assert!(
            ok.iter()
                .filter(|a| a.kind == ActivityKind::OnQueue)
                .all(|a| a.skill.as_ref() == Some(&sales))
        );
        let mut gap = day();
        gap.remove(1);
        assert!(matches!(
            validate(&window, Some(&sales), gap),
            Err(ActivityError::Gap { index: 1, .. })
        ));
        let mut short = day();
        short.pop();
        assert!(matches!(
            validate(&window, Some(&sales), short),
            Err(ActivityError::ShortOfEnd { .. })
        ));
        let mut skilled_break = day();
        skilled_break[1].skill = Some(sales.clone());
        assert_eq!(
            validate(&window, Some(&sales), skilled_break),
            Err(ActivityError::SkillOffQueue { index: 1 })
        );
    }

    #[test]
    fn a_move_keeps_offsets_and_the_last_activity_takes_the_change() {
        let whole = (at(0), at(510));
        let moved = relay(&day(), whole, at(60), at(540)).unwrap();
        assert_eq!(moved[1].start, at(180));
        assert_eq!(moved[4].end, at(540));
        assert_eq!(moved[4].minutes(), 210);
        assert!(relay(&day(), whole, at(0), at(260)).is_none());
        assert_eq!(paid_minutes(&day(), whole, whole), 480);
        assert_eq!(paid_minutes(&day(), whole, (at(0), at(480))), 450);
    }

    #[test]
    fn a_trimmed_start_keeps_the_later_activities_in_place() {
        let whole = (at(0), at(510));
        let trimmed = relay(&day(), whole, at(60), at(510)).unwrap();
        assert_eq!((trimmed[0].start, trimmed[0].end), (at(60), at(120)));
        assert_eq!((trimmed[1].start, trimmed[1].end), (at(120), at(135)));
        assert_eq!(trimmed[4].end, at(510));
        assert_eq!(paid_minutes(&day(), whole, (at(60), at(510))), 420);
        // Back to the whole window: the first activity grows back, so history lays out as it was.
        let restored = relay(&trimmed, (at(60), at(510)), at(0), at(510)).unwrap();
        assert_eq!(restored, day());
        // A trim past the first activity would swallow the break: refused.
        assert!(relay(&day(), whole, at(125), at(510)).is_none());
        let on_queue: i64 = on_queue_at(&day(), whole, at(60), at(510))
            .map(|(s, e)| e.duration_since(s).as_mins())
            .sum();
        assert_eq!(on_queue, 60 + 105 + 240);
    }

    #[test]
    fn only_on_queue_time_is_counted() {
        let sales = Skill::parse("sales").unwrap();
        let window = TimeWindow::new(at(0), at(510)).unwrap();
        let acts = validate(&window, Some(&sales), day()).unwrap();
        let minutes: i64 = on_queue_at(&acts, (at(0), at(510)), at(0), at(510))
            .map(|(s, e)| e.duration_since(s).as_mins())
            .sum();
        assert_eq!(minutes, 120 + 105 + 240);
    }
}
