//! Coverage kept skill by skill: a change adds a run of intervals for each skill of its owners,
//! so the skill (a string) is looked up once per run and each interval by its number.

use std::collections::BTreeMap;

use super::{Cell, Cells, Slot};
use crate::directory::Skill;

/// The intervals of `skill` in `by_skill`, added empty if missing: the skill's string is cloned
/// only then, never to look it up.
fn of_skill<'m, V>(
    by_skill: &'m mut BTreeMap<Skill, BTreeMap<Slot, V>>,
    skill: &Skill,
) -> &'m mut BTreeMap<Slot, V> {
    if !by_skill.contains_key(skill) {
        by_skill.insert(skill.clone(), BTreeMap::new());
    }
    by_skill
        .get_mut(skill)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

/// [`Cells`] kept by skill, as a command's guard reads and updates them step by step: each
/// interval found by its number once the skill is (see [`Delta`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellsBySkill(BTreeMap<Skill, BTreeMap<Slot, Cell>>);

impl CellsBySkill {
    pub fn new(cells: &Cells) -> Self {
        let mut by_skill: BTreeMap<Skill, BTreeMap<Slot, Cell>> = BTreeMap::new();
        for ((skill, slot), cell) in cells {
            of_skill(&mut by_skill, skill).insert(*slot, *cell);
        }
        Self(by_skill)
    }

    /// The cell of `skill` in `slot`; zero when there is none.
    pub fn get(&self, skill: &Skill, slot: Slot) -> Cell {
        self.0
            .get(skill)
            .and_then(|intervals| intervals.get(&slot))
            .copied()
            .unwrap_or_default()
    }

    /// Sets the requirement of `skill` in `slot`.
    pub fn set_required(&mut self, skill: &Skill, slot: Slot, required: u32) {
        let intervals = of_skill(&mut self.0, skill);
        intervals.entry(slot).or_default().required = required;
    }

    /// The cells of `skills` in the intervals `ranges` (inclusive).
    pub fn subset<'a>(
        &self,
        ranges: &[(Slot, Slot)],
        skills: impl IntoIterator<Item = &'a Skill>,
    ) -> Self {
        let mut out = BTreeMap::new();
        for skill in skills {
            let Some(intervals) = self.0.get(skill) else {
                continue;
            };
            let picked: BTreeMap<Slot, Cell> = ranges
                .iter()
                .flat_map(|(lo, hi)| intervals.range(lo..=hi))
                .map(|(slot, cell)| (*slot, *cell))
                .collect();
            if !picked.is_empty() {
                out.insert(skill.clone(), picked);
            }
        }
        Self(out)
    }

    /// As [`Cells`], leaving out the cells with nothing required and nothing scheduled.
    pub fn to_cells(&self) -> Cells {
        self.0
            .iter()
            .flat_map(|(skill, intervals)| {
                intervals
                    .iter()
                    .filter(|(_, c)| **c != Cell::default())
                    .map(move |(slot, c)| ((skill.clone(), *slot), *c))
            })
            .collect()
    }

    /// Applies `delta`.
    pub fn apply(&mut self, delta: &Delta) {
        for (skill, changes) in &delta.0 {
            let intervals = of_skill(&mut self.0, skill);
            for (slot, change) in changes {
                intervals.entry(*slot).or_default().scheduled_minutes += change;
            }
        }
    }
}

/// Agent-minutes gained (positive) or lost per skill and interval, kept by skill: a change
/// adds a run of intervals for each skill of its owners, so the skill (a string) is looked up
/// once per run and each interval by its number. Keyed by `(Skill, Slot)` every interval of
/// every change cloned and compared the skill's string, the largest single cost of planning
/// a 50-swap request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta(BTreeMap<Skill, BTreeMap<Slot, i64>>);

impl Delta {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sign` times each interval's minutes of `slots` to `skill`.
    pub(super) fn add(&mut self, skill: &Skill, slots: &[(Slot, i64)], sign: i64) {
        if slots.is_empty() {
            return;
        }
        let intervals = of_skill(&mut self.0, skill);
        for (slot, minutes) in slots {
            *intervals.entry(*slot).or_default() += sign * minutes;
        }
    }

    /// The intervals that change, in skill and interval order.
    pub fn iter(&self) -> impl Iterator<Item = (&Skill, Slot, i64)> {
        self.0.iter().flat_map(|(skill, intervals)| {
            intervals
                .iter()
                .filter(|(_, m)| **m != 0)
                .map(move |(slot, m)| (skill, *slot, *m))
        })
    }

    /// Adds `other` to this delta.
    pub fn add_all(&mut self, other: &Delta) {
        for (skill, changes) in &other.0 {
            let intervals = of_skill(&mut self.0, skill);
            for (slot, change) in changes {
                *intervals.entry(*slot).or_default() += change;
            }
        }
    }

    /// The minutes `skill` gains (or loses) in `slot`.
    pub fn get(&self, skill: &Skill, slot: Slot) -> i64 {
        self.0
            .get(skill)
            .and_then(|intervals| intervals.get(&slot))
            .copied()
            .unwrap_or(0)
    }

    /// The skills with an interval that changes, in order.
    pub fn skills(&self) -> impl Iterator<Item = &Skill> {
        self.0
            .iter()
            .filter(|(_, intervals)| intervals.values().any(|m| *m != 0))
            .map(|(skill, _)| skill)
    }

    /// Whether no interval changes.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Forgets the intervals whose gains and losses cancelled out.
    pub fn drop_zeros(&mut self) {
        for intervals in self.0.values_mut() {
            intervals.retain(|_, m| *m != 0);
        }
        self.0.retain(|_, intervals| !intervals.is_empty());
    }
}

impl FromIterator<((Skill, Slot), i64)> for Delta {
    fn from_iter<I: IntoIterator<Item = ((Skill, Slot), i64)>>(iter: I) -> Self {
        let mut delta = Self::new();
        for ((skill, slot), minutes) in iter {
            delta.add(&skill, &[(slot, minutes)], 1);
        }
        delta
    }
}
