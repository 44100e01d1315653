//! The subjects of the property tests and the harness that drives them.

use super::reference::{Kind, Reference, kind, snapshot};
use super::*;

/// Any implementation of the commit path: the in-memory schedule, or a database store.
pub trait Subject {
    fn apply_swaps(
        &mut self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError>;
    fn edit_shift(
        &mut self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError>;
    fn shifts(&mut self) -> Vec<Shift>;
    fn version(&mut self) -> ScheduleVersion;
    fn history(&mut self) -> Vec<VersionChanges>;
    fn set_guard(&mut self, guard: &CoverageGuard);
    /// Sets the requirement runs as one version.
    fn set_requirements(&mut self, runs: &[RequirementRun], ctx: &CommitContext);
    /// The coverage as the implementation maintains it, without empty cells.
    fn coverage(&mut self) -> Cells;
    /// Approves time off `[from, to)` for `agent` under the policy `always` with the effect
    /// `open`; `false` when it was refused for overlapping the agent's approved time off.
    fn time_off(
        &mut self,
        agent: crate::ids::AgentId,
        window: (Timestamp, Timestamp),
        ctx: &CommitContext,
    ) -> bool;
}

impl Subject for crate::memory::MemorySchedule {
    fn apply_swaps(
        &mut self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        crate::memory::MemorySchedule::apply_swaps(self, req, ctx)
    }
    fn edit_shift(
        &mut self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        crate::memory::MemorySchedule::edit_shift(self, edit, ctx)
    }
    fn shifts(&mut self) -> Vec<Shift> {
        crate::memory::MemorySchedule::shifts(self)
            .cloned()
            .collect()
    }
    fn version(&mut self) -> ScheduleVersion {
        self.schedule().version
    }
    fn history(&mut self) -> Vec<VersionChanges> {
        crate::memory::MemorySchedule::history(self).to_vec()
    }
    fn set_guard(&mut self, guard: &CoverageGuard) {
        crate::memory::MemorySchedule::set_guard(self, *guard);
    }
    fn set_requirements(&mut self, runs: &[RequirementRun], ctx: &CommitContext) {
        let skills = runs.iter().map(|r| r.skill.clone()).collect();
        let cells = coverage::requirement_cells(&self.grid(), runs, &skills)
            .unwrap_or_else(|e| panic!("{e}"));
        crate::memory::MemorySchedule::set_requirements(self, &cells, ctx);
    }
    fn coverage(&mut self) -> Cells {
        crate::memory::MemorySchedule::coverage(self)
    }
    fn time_off(
        &mut self,
        agent: crate::ids::AgentId,
        window: (Timestamp, Timestamp),
        ctx: &CommitContext,
    ) -> bool {
        self.approve_time_off(agent, window, crate::timeoff::TimeOffEffect::Open, 0, ctx)
            .is_ok()
    }
}

/// Drives `subject` (freshly imported from `world`) through `ops` and checks it against the
/// reference model after every step, then checks the whole history: versions rise by exactly
/// 1, replaying from version 1 gives the current shifts, every change starts from the state it
/// replaced (no lost update), and no applied swap touched a shift changed after its base.
pub fn run(
    subject: &mut impl Subject,
    world: &World,
    writers: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let ids: Vec<ShiftId> = world.schedule.shifts.iter().map(|s| s.id).collect();
    if !world.requirements.is_empty() {
        subject.set_guard(&world.guard);
        subject.set_requirements(&world.requirements, &ctx(world.now, "requirements"));
    }
    let initial = snapshot(subject);
    let zone = chicago();
    let week_start = local(&zone, world.schedule.week_start, 0, 0);
    let grid = WeekGrid::new(world.schedule.first_version().week_window(&zone));
    let skills = world.requirements.iter().map(|r| r.skill.clone()).collect();
    let required = coverage::requirement_cells(&grid, &world.requirements, &skills)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into_iter()
        .map(|(skill, slot, n)| ((skill, slot), n))
        .collect();
    let guard = match world.guard.bulk_swap {
        _ if world.requirements.is_empty() => None,
        crate::trade::RuleAction::Allow => None,
        crate::trade::RuleAction::Deny => Some(false),
        crate::trade::RuleAction::Supervisor => Some(true),
    };
    let mut reference = Reference {
        version: initial.version,
        shifts: initial.shifts.clone(),
        imported: crate::engine::plan_import(&world.schedule, &ctx(world.now, "import"))
            .1
            .into_iter()
            .map(|s| (s.id, s))
            .collect(),
        week_start,
        required,
        skills: world
            .agents
            .iter()
            .map(|a| (a.id, a.skills.clone()))
            .collect(),
        guard,
        away: HashMap::new(),
    };
    let mut coverage_before = subject.coverage();
    prop_assert_eq!(
        &coverage_before,
        &reference.cells(),
        "coverage after the import"
    );
    let mut views = vec![initial; writers];
    // For each version a swap created: the base its items were checked against, and the shifts.
    let mut swap_bases: BTreeMap<ScheduleVersion, (ScheduleVersion, Vec<ShiftId>)> =
        BTreeMap::new();
    let schedule = world.schedule.id;

    for (step, op) in ops.iter().enumerate() {
        let context = ctx(world.now, &format!("op-{step}"));
        match op {
            Op::Read { writer } => views[*writer] = snapshot(subject),
            Op::Swap {
                writer,
                items,
                mode,
                scope,
            } => {
                let view = &views[*writer];
                let items: Vec<SwapItem> = items
                    .iter()
                    .map(|spec| {
                        let (o, n) = (ids[spec.original], ids[spec.new]);
                        let owner = |id: ShiftId| view.shifts[&id].0.owner;
                        let agent = spec
                            .agent
                            .map(|i| world.agents[i].id)
                            .or_else(|| owner(o))
                            .unwrap_or(world.agents[0].id);
                        let counterpart = spec.counterpart.map(|c| match c {
                            Some(i) => world.agents[i].id,
                            None => owner(n).unwrap_or(world.agents[0].id),
                        });
                        SwapItem {
                            agent_id: agent,
                            original_shift_id: o,
                            new_shift_id: n,
                            reason_code: ReasonCode::Coverage,
                            counterpart_agent_id: counterpart,
                        }
                    })
                    .collect();
                let req = SwapRequest {
                    base: ScheduleVersionId::new(schedule, view.version),
                    items,
                    effective_date: None,
                    mode: *mode,
                    scope: *scope,
                };
                let expected = reference.swap(&req);
                let result = subject
                    .apply_swaps(&req, &context)
                    .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                let actual: Vec<Kind> = result.outcomes.iter().map(kind).collect();
                prop_assert_eq!(&actual, &expected, "step {}: outcomes of {:?}", step, req);
                prop_assert_eq!(
                    result.current_version_id.version(),
                    reference.version,
                    "step {}",
                    step
                );
                if let Some(record) = &result.committed {
                    let touched = req
                        .items
                        .iter()
                        .zip(&result.outcomes)
                        .filter(|(_, o)| o.is_applied())
                        .flat_map(|(i, _)| i.shifts())
                        .collect();
                    swap_bases.insert(record.version, (req.base.version(), touched));
                }
            }
            Op::Edit {
                writer,
                shift,
                change,
            } => {
                let id = ids[*shift];
                let (state, version) = views[*writer].shifts[&id];
                let change = match change {
                    EditSpec::Reassign(i) => EditChange::Reassign {
                        agent_id: world.agents[*i].id,
                    },
                    EditSpec::Open => EditChange::Open,
                    EditSpec::Move(minutes) => {
                        // Stay inside the shift's own two-hour slot so shifts never overlap.
                        let slot = world.schedule.shifts[*shift].window.start();
                        let start = slot
                            .checked_add(jiff::SignedDuration::from_mins(*minutes))
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let end = start
                            .checked_add(
                                state
                                    .end
                                    .duration_since(state.start)
                                    .min(jiff::SignedDuration::from_mins(60)),
                            )
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        EditChange::Move {
                            window: TimeWindow::new(start, end)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?,
                        }
                    }
                };
                let edit = ShiftEdit {
                    shift_id: id,
                    expected_version: version,
                    change,
                };
                let expected = reference.edit(&edit);
                let actual = match subject.edit_shift(&edit, &context) {
                    Ok(r) => {
                        let kinds: Vec<Kind> = r.outcomes.iter().map(kind).collect();
                        prop_assert_eq!(r.committed.is_some(), kinds == [Kind::Applied]);
                        kinds.first().copied().unwrap_or(Kind::Rejected)
                    }
                    Err(CommandError::ShiftVersionConflict { .. }) => Kind::Conflict,
                    Err(CommandError::Rejected(v))
                        if v.iter().all(|v| {
                            matches!(
                                v.code,
                                ViolationCode::NoChange
                                    | ViolationCode::CoverageBelowRequirement
                                    | ViolationCode::OnTimeOff
                            )
                        }) =>
                    {
                        Kind::Rejected
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}"))),
                };
                prop_assert_eq!(actual, expected, "step {}: edit {:?}", step, edit);
            }
            Op::TimeOff { agent, shift } => {
                let slot = world.schedule.shifts[*shift].window.start();
                let at = |m: i64| {
                    slot.checked_add(jiff::SignedDuration::from_mins(m))
                        .map_err(|e| TestCaseError::fail(e.to_string()))
                };
                let window = (at(15)?, at(45)?);
                let agent = world.agents[*agent].id;
                let expected = reference.time_off(agent, window);
                let actual = subject.time_off(agent, window, &context);
                prop_assert_eq!(
                    actual,
                    expected,
                    "step {}: time off of {} over {:?}",
                    step,
                    agent,
                    window
                );
            }
        }
        prop_assert_eq!(subject.version(), reference.version, "step {}", step);
        let coverage_after = subject.coverage();
        prop_assert_eq!(
            &coverage_after,
            &reference.cells(),
            "step {}: the maintained coverage differs from the reference's count",
            step
        );
        // Time off approved under the policy `always` is not the guard's to stop.
        if reference.guard.is_some() && !matches!(op, Op::TimeOff { .. }) {
            for (key, cell) in &coverage_after {
                let before = coverage_before.get(key).copied().unwrap_or_default();
                let floor = i64::from(cell.required) * 15;
                prop_assert!(
                    cell.scheduled_minutes >= floor || before.scheduled_minutes < floor,
                    "step {}: with the guard on, {:?} went from {:?} to {:?}",
                    step,
                    key,
                    before,
                    cell
                );
            }
        }
        coverage_before = coverage_after;
    }

    let history = subject.history();
    let replayed = replay(&history).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let current: BTreeMap<ShiftId, (ShiftState, ScheduleVersion)> = subject
        .shifts()
        .into_iter()
        .map(|s| (s.id, (s.state(), s.version)))
        .collect();
    let replayed: BTreeMap<ShiftId, (ShiftState, ScheduleVersion)> = replayed
        .into_iter()
        .map(|(id, r)| (id, (r.state, r.version)))
        .collect();
    prop_assert_eq!(
        &current,
        &replayed,
        "the current schedule differs from the replay of its history"
    );
    let replayed_shifts: HashMap<ShiftId, (ShiftState, ScheduleVersion)> =
        replayed.clone().into_iter().collect();
    let mut recomputed = reference.clone();
    recomputed.shifts = replayed_shifts;
    prop_assert_eq!(
        subject.coverage(),
        recomputed.cells(),
        "the maintained coverage differs from the coverage of the replayed schedule"
    );
    let modelled: BTreeMap<ShiftId, (ShiftState, ScheduleVersion)> =
        reference.shifts.into_iter().collect();
    prop_assert_eq!(
        &current,
        &modelled,
        "the current schedule differs from the reference model"
    );

    // No swap applied over a shift changed after its base: each touched shift's previous change
    // is at or before the base.
    let mut last_change: HashMap<ShiftId, ScheduleVersion> = HashMap::new();
    for entry in &history {
        if let Some((base, touched)) = swap_bases.get(&entry.record.version) {
            for id in touched {
                let previous = last_change
                    .get(id)
                    .copied()
                    .unwrap_or(ScheduleVersion::FIRST);
                prop_assert!(
                    previous <= *base,
                    "version {} swapped shift {} changed at {} after base {}",
                    entry.record.version,
                    id,
                    previous,
                    base
                );
            }
        }
        for change in &entry.changes {
            last_change.insert(change.shift_id, entry.record.version);
        }
    }
    Ok(())
}
