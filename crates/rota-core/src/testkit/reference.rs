//! The reference model: the semantics of the version model and of coverage, written as
//! plainly as possible.

use super::run::Subject;
use super::*;

/// What a writer last read: the version and each shift's state and version.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) version: ScheduleVersion,
    pub(super) shifts: HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
}

/// The reference model: the semantics of the version model written as plainly as possible,
/// for the world where no rule but ownership can fire.
#[derive(Debug, Clone)]
pub(super) struct Reference {
    pub(super) version: ScheduleVersion,
    pub(super) shifts: HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
    /// The shifts as imported: what their activities are.
    pub(super) imported: HashMap<ShiftId, Shift>,
    pub(super) week_start: Timestamp,
    /// Agents required per skill and interval.
    pub(super) required: BTreeMap<(Skill, Slot), u32>,
    pub(super) skills: HashMap<crate::ids::AgentId, std::collections::BTreeSet<Skill>>,
    /// Whether the guard checks changes, and whether it holds (not refuses) what fails.
    pub(super) guard: Option<bool>,
    /// Each agent's approved time off.
    pub(super) away: HashMap<crate::ids::AgentId, Vec<(Timestamp, Timestamp)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Applied,
    Conflict,
    Rejected,
    Skipped,
    Held,
}

pub(super) fn kind(o: &ItemOutcome) -> Kind {
    match o {
        ItemOutcome::Applied { .. } => Kind::Applied,
        ItemOutcome::Conflict { .. } => Kind::Conflict,
        ItemOutcome::Rejected { .. } => Kind::Rejected,
        ItemOutcome::Skipped => Kind::Skipped,
        ItemOutcome::Held { .. } => Kind::Held,
    }
}

impl Reference {
    /// On-queue agent-minutes per skill and interval of `shifts`, counted minute by minute,
    /// toward every skill of each shift's owner.
    pub(super) fn scheduled(
        &self,
        shifts: &HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
    ) -> BTreeMap<(Skill, Slot), i64> {
        let mut out = BTreeMap::new();
        for (id, (state, _)) in shifts {
            let Some(skills) = state.owner.and_then(|o| self.skills.get(&o)) else {
                continue;
            };
            let shift = &self.imported[id];
            let offset = state.start.duration_since(shift.window.start());
            for a in shift
                .activities
                .iter()
                .filter(|a| a.kind == ActivityKind::OnQueue)
            {
                let start = a.start.checked_add(offset).unwrap_or(a.start);
                let end = if a.end == shift.window.end() {
                    state.end
                } else {
                    a.end.checked_add(offset).unwrap_or(a.end)
                };
                let mut t = start;
                while t < end {
                    let minute = t.duration_since(self.week_start).as_mins();
                    if (0..7 * 24 * 60).contains(&minute) {
                        let slot = Slot::try_from(minute / 15).unwrap_or(Slot::MAX);
                        for skill in skills {
                            *out.entry((skill.clone(), slot)).or_insert(0) += 1;
                        }
                    }
                    t = t
                        .checked_add(jiff::SignedDuration::from_mins(1))
                        .unwrap_or(end);
                }
            }
        }
        out
    }

    /// The coverage as [`Subject::coverage`] reports it.
    pub(super) fn cells(&self) -> Cells {
        let scheduled = self.scheduled(&self.shifts);
        let mut cells = Cells::new();
        for (key, required) in &self.required {
            cells.entry(key.clone()).or_default().required = *required;
        }
        for (key, minutes) in scheduled {
            cells.entry(key).or_default().scheduled_minutes = minutes;
        }
        cells.retain(|_, c| *c != Cell::default());
        cells
    }

    /// Whether going from `from` to `to` takes an interval lower and under its requirement.
    pub(super) fn leaves_short(
        &self,
        from: &HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
        to: &HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
    ) -> bool {
        if self.guard.is_none() {
            return false;
        }
        let (before, after) = (self.scheduled(from), self.scheduled(to));
        before.iter().any(|(key, minutes)| {
            let now = after.get(key).copied().unwrap_or(0);
            let floor = i64::from(self.required.get(key).copied().unwrap_or(0)) * 15;
            now < *minutes && now < floor
        })
    }

    pub(super) fn guarded(&self) -> Kind {
        if self.guard == Some(true) {
            Kind::Held
        } else {
            Kind::Rejected
        }
    }

    /// Whether `agent` has approved time off during `state`.
    fn is_away(&self, agent: Option<crate::ids::AgentId>, state: &ShiftState) -> bool {
        agent
            .and_then(|a| self.away.get(&a))
            .is_some_and(|w| w.iter().any(|(s, e)| *s < state.end && state.start < *e))
    }

    /// Time off `[from, to)` for `agent`, approved at once with its shifts opened; `false`
    /// when it overlaps their approved time off (refused, nothing changes).
    pub(super) fn time_off(
        &mut self,
        agent: crate::ids::AgentId,
        (from, to): (Timestamp, Timestamp),
    ) -> bool {
        if self.is_away(
            Some(agent),
            &ShiftState {
                owner: None,
                start: from,
                end: to,
            },
        ) {
            return false;
        }
        let mut next = self.shifts.clone();
        let mut changed = false;
        for (state, _) in next.values_mut() {
            if state.owner == Some(agent) && state.start < to && from < state.end {
                state.owner = None;
                changed = true;
            }
        }
        if changed {
            self.commit(next);
        }
        self.away.entry(agent).or_default().push((from, to));
        true
    }

    pub(super) fn swap(&mut self, req: &SwapRequest) -> Vec<Kind> {
        let base = req.base.version();
        let mut next = self.shifts.clone();
        let mut used = HashSet::new();
        let mut kinds = Vec::new();
        for item in &req.items {
            let [o, n] = item.shifts();
            let k = if o == n || used.contains(&o) || used.contains(&n) {
                Kind::Rejected
            } else if self.shifts[&o].1 > base
                || self.shifts[&n].1 > base
                || (req.scope == ConflictScope::Schedule && self.version > base)
            {
                Kind::Conflict
            } else {
                let owner_o = next[&o].0.owner;
                let owner_n = next[&n].0.owner;
                let counterpart_ok = item.counterpart_agent_id.is_none_or(|c| owner_n == Some(c));
                let away = self.is_away(Some(item.agent_id), &next[&n].0)
                    || self.is_away(owner_n, &next[&o].0);
                if owner_o == Some(item.agent_id)
                    && owner_n != Some(item.agent_id)
                    && counterpart_ok
                    && !away
                {
                    let mut candidate = next.clone();
                    candidate
                        .entry(n)
                        .and_modify(|s| s.0.owner = Some(item.agent_id));
                    candidate.entry(o).and_modify(|s| s.0.owner = owner_n);
                    if self.leaves_short(&next, &candidate) {
                        self.guarded()
                    } else {
                        next = candidate;
                        Kind::Applied
                    }
                } else {
                    Kind::Rejected
                }
            };
            used.extend([o, n]);
            kinds.push(k);
        }
        let all = kinds.iter().all(|k| *k == Kind::Applied);
        if req.mode == SwapMode::Atomic && !all {
            if kinds
                .iter()
                .all(|k| matches!(k, Kind::Applied | Kind::Held))
            {
                return vec![Kind::Held; kinds.len()];
            }
            return kinds
                .into_iter()
                .map(|k| match k {
                    Kind::Applied => Kind::Skipped,
                    Kind::Held => Kind::Rejected,
                    k => k,
                })
                .collect();
        }
        if kinds.contains(&Kind::Applied) {
            self.commit(next);
        }
        kinds
    }

    pub(super) fn edit(&mut self, edit: &ShiftEdit) -> Kind {
        let (state, version) = self.shifts[&edit.shift_id];
        if version != edit.expected_version {
            return Kind::Conflict;
        }
        let mut after = state;
        match edit.change {
            EditChange::Move { window } => {
                (after.start, after.end) = (window.start(), window.end())
            }
            EditChange::Reassign { agent_id } => after.owner = Some(agent_id),
            EditChange::Open => after.owner = None,
        }
        if after == state || self.is_away(after.owner, &after) {
            return Kind::Rejected;
        }
        let mut next = self.shifts.clone();
        next.insert(edit.shift_id, (after, version));
        if self.leaves_short(&self.shifts, &next) {
            return self.guarded();
        }
        self.commit(next);
        Kind::Applied
    }

    pub(super) fn commit(&mut self, next: HashMap<ShiftId, (ShiftState, ScheduleVersion)>) {
        self.version = self.version.next();
        for (id, (state, version)) in next {
            let entry = self.shifts.entry(id).or_insert((state, version));
            if entry.0 != state {
                *entry = (state, self.version);
            }
        }
    }
}

pub(super) fn snapshot(subject: &mut impl Subject) -> View {
    View {
        version: subject.version(),
        shifts: subject
            .shifts()
            .into_iter()
            .map(|s| (s.id, (s.state(), s.version)))
            .collect(),
    }
}
