//! Test support shared by the core's and the store's tests: fixtures, and a reference model
//! with a harness that drives any implementation of the commit path through random
//! interleavings of writers and compares it with the model step by step.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::activity::{Activity, ActivityKind};
use crate::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ReasonCode, ShiftEdit, SwapItem,
    SwapMode, SwapRequest, SwapResult, ViolationCode,
};
use crate::coverage::{self, Cell, Cells, CoverageGuard, RequirementRun, Slot, WeekGrid};
use crate::directory::{Agent, Availability, BusinessUnit, DayOfWeek, Skill, Zone};
use crate::ids::{ScheduleId, ShiftId};
use crate::replay::replay;
use crate::schedule::{ActivityCode, NewSchedule, NewShift, Shift, TimeWindow};
use crate::version::{
    CommitContext, ScheduleVersion, ScheduleVersionId, ShiftState, VersionChanges,
};

pub fn chicago() -> Zone {
    Zone::parse("America/Chicago").unwrap_or_else(|e| panic!("bundled tz database: {e}"))
}

pub fn business_unit(name: &str) -> BusinessUnit {
    BusinessUnit::new(name, chicago(), DayOfWeek::Monday).unwrap_or_else(|e| panic!("{e}"))
}

/// An agent whom no rule but ownership can stop: always available, no rest, no weekly cap.
pub fn unconstrained_agent(bu: &BusinessUnit, name: &str) -> Agent {
    Agent::new(
        bu.id,
        None,
        name,
        Default::default(),
        100_000,
        0,
        Availability::always(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

pub fn ctx(now: Timestamp, request_id: &str) -> CommitContext {
    CommitContext {
        actor: "test".into(),
        request_id: request_id.into(),
        now,
        idempotency: None,
    }
}

pub fn local(zone: &Zone, d: Date, hour: i8, minute: i8) -> Timestamp {
    zone.tz()
        .to_ambiguous_zoned_datetime(d.at(hour, minute, 0, 0))
        .compatible()
        .unwrap_or_else(|e| panic!("{e}"))
        .timestamp()
}

pub fn shift(owner: Option<&Agent>, start: Timestamp, minutes: i64) -> NewShift {
    let end = start
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .unwrap_or_else(|e| panic!("{e}"));
    NewShift::new(
        ShiftId::new(),
        owner.map(|a| a.id),
        TimeWindow::new(start, end).unwrap_or_else(|e| panic!("{e}")),
        None,
        ActivityCode::parse("phone").unwrap_or_else(|e| panic!("{e}")),
        Vec::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The skill of the staffed world's on-queue time.
pub fn sales() -> Skill {
    Skill::parse("sales").unwrap_or_else(|e| panic!("{e}"))
}

pub fn spanish() -> Skill {
    Skill::parse("spanish").unwrap_or_else(|e| panic!("{e}"))
}

/// A one-hour shift of `sales`: on queue for 30 minutes, an unpaid 15-minute break, on queue
/// again for the last 15.
pub fn staffed_shift(owner: Option<&Agent>, start: Timestamp) -> NewShift {
    let at = |m: i64| {
        start
            .checked_add(jiff::SignedDuration::from_mins(m))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let activity = |kind: ActivityKind, paid, from, to| Activity {
        code: ActivityCode::parse(kind.as_str()).unwrap_or_else(|e| panic!("{e}")),
        kind,
        paid,
        skill: None,
        start: at(from),
        end: at(to),
    };
    NewShift::new(
        ShiftId::new(),
        owner.map(|a| a.id),
        TimeWindow::new(at(0), at(60)).unwrap_or_else(|e| panic!("{e}")),
        Some(sales()),
        ActivityCode::parse("phone").unwrap_or_else(|e| panic!("{e}")),
        vec![
            activity(ActivityKind::OnQueue, true, 0, 30),
            activity(ActivityKind::Break, false, 30, 45),
            activity(ActivityKind::OnQueue, true, 45, 60),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A week of one-hour shifts two hours apart, so no two ever overlap and every rule but
/// ownership holds whatever the swaps do: only conflicts and ownership decide outcomes.
#[derive(Debug, Clone)]
pub struct World {
    pub bu: BusinessUnit,
    pub agents: Vec<Agent>,
    pub schedule: NewSchedule,
    pub now: Timestamp,
    /// Set (as one version) before the operations run; none for a world without coverage.
    pub requirements: Vec<RequirementRun>,
    pub guard: CoverageGuard,
}

impl World {
    pub const WEEK: Date = date(2026, 11, 30);

    /// Writes this world to `store`: its business unit, its agents, and its week imported
    /// as version 1 (a draft).
    pub async fn load(
        &self,
        store: &(impl crate::store::DirectoryStore + crate::store::ScheduleStore),
    ) -> crate::store::StoreResult<crate::schedule::Schedule> {
        store.create_business_unit(&self.bu).await?;
        store.create_agents(&self.agents).await?;
        store
            .import_schedule(&self.schedule, &ctx(self.now, "import"))
            .await
    }

    pub fn disjoint(agents: usize, shifts: usize) -> Self {
        let bu = business_unit("Chicago");
        let zone = chicago();
        let agents: Vec<Agent> = (0..agents)
            .map(|i| unconstrained_agent(&bu, &format!("Agent {i}")))
            .collect();
        let week_start = local(&zone, Self::WEEK, 0, 0);
        let shifts = (0..shifts.min(80))
            .map(|k| {
                let owner = agents.get(k % (agents.len() + 1));
                let start = week_start
                    .checked_add(jiff::SignedDuration::from_hours(2 * k as i64))
                    .unwrap_or_else(|e| panic!("{e}"));
                shift(owner, start, 60)
            })
            .collect();
        Self {
            schedule: NewSchedule {
                id: ScheduleId::new(),
                business_unit_id: bu.id,
                week_start: Self::WEEK,
                shifts,
            },
            bu,
            agents,
            now: "2026-11-25T00:00:00Z"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            requirements: Vec::new(),
            guard: CoverageGuard::default(),
        }
    }

    /// [`Self::disjoint`] with every shift a [`staffed_shift`] of `sales` (every agent has the
    /// skill, every other one `spanish` too), one `sales` agent required in each shift's first
    /// two intervals and in its last, one `spanish` agent in its first, and the guard doing
    /// `action` on bulk swaps and supervisors' edits.
    pub fn staffed(agents: usize, shifts: usize, action: crate::trade::RuleAction) -> Self {
        let mut world = Self::disjoint(agents, shifts);
        for (i, agent) in world.agents.iter_mut().enumerate() {
            agent.skills.insert(sales());
            if i % 2 == 0 {
                agent.skills.insert(spanish());
            }
        }
        let owners: HashMap<ShiftId, Option<&Agent>> = world
            .schedule
            .shifts
            .iter()
            .map(|s| {
                (
                    s.id,
                    s.owner
                        .and_then(|o| world.agents.iter().find(|a| a.id == o)),
                )
            })
            .collect();
        world.schedule.shifts = world
            .schedule
            .shifts
            .iter()
            .map(|s| {
                let mut staffed = staffed_shift(owners[&s.id], s.window.start());
                staffed.id = s.id;
                staffed
            })
            .collect();
        world.requirements = world
            .schedule
            .shifts
            .iter()
            .flat_map(|s| {
                [
                    RequirementRun {
                        skill: sales(),
                        start: s.window.start(),
                        required: vec![1, 1, 0, 1],
                    },
                    RequirementRun {
                        skill: spanish(),
                        start: s.window.start(),
                        required: vec![1],
                    },
                ]
            })
            .collect();
        world.guard = CoverageGuard {
            bulk_swap: action,
            supervisor_edit: action,
            ..CoverageGuard::default()
        };
        world
    }
}

/// One swap item as a writer means it, resolved against that writer's (possibly stale) view.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub original: usize,
    pub new: usize,
    /// `None`: the owner of the original shift as the writer saw it; else an agent index.
    pub agent: Option<usize>,
    /// `Some(None)`: name the new shift's owner as the writer saw it; `Some(Some(i))`: agent i.
    pub counterpart: Option<Option<usize>>,
}

#[derive(Debug, Clone)]
pub enum EditSpec {
    Reassign(usize),
    Open,
    /// Move the shift later by this many minutes inside its two-hour slot.
    Move(i64),
}

#[derive(Debug, Clone)]
pub enum Op {
    Read {
        writer: usize,
    },
    Swap {
        writer: usize,
        items: Vec<ItemSpec>,
        mode: SwapMode,
        scope: ConflictScope,
    },
    Edit {
        writer: usize,
        shift: usize,
        change: EditSpec,
    },
}

pub fn ops(world: &World, writers: usize, len: usize) -> impl Strategy<Value = Vec<Op>> {
    let shifts = world.schedule.shifts.len();
    let agents = world.agents.len();
    let item = (
        0..shifts,
        0..shifts,
        prop::option::weighted(0.1, 0..agents),
        prop::option::weighted(0.3, prop::option::weighted(0.2, 0..agents)),
    )
        .prop_map(|(original, new, agent, counterpart)| ItemSpec {
            original,
            new,
            agent,
            counterpart,
        });
    let swap = (
        0..writers,
        prop::collection::vec(item, 1..6),
        prop_oneof![Just(SwapMode::Atomic), Just(SwapMode::Partial)],
        prop_oneof![3 => Just(ConflictScope::Shifts), 1 => Just(ConflictScope::Schedule)],
    )
        .prop_map(|(writer, items, mode, scope)| Op::Swap {
            writer,
            items,
            mode,
            scope,
        });
    let edit = (
        0..writers,
        0..shifts,
        prop_oneof![
            (0..agents).prop_map(EditSpec::Reassign),
            Just(EditSpec::Open),
            (0i64..60).prop_map(EditSpec::Move),
        ],
    )
        .prop_map(|(writer, shift, change)| Op::Edit {
            writer,
            shift,
            change,
        });
    let op = prop_oneof![
        2 => (0..writers).prop_map(|writer| Op::Read { writer }),
        5 => swap,
        2 => edit,
    ];
    prop::collection::vec(op, 1..len)
}

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
}

/// What a writer last read: the version and each shift's state and version.
#[derive(Debug, Clone)]
struct View {
    version: ScheduleVersion,
    shifts: HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
}

/// The reference model: the semantics of the version model written as plainly as possible,
/// for the world where no rule but ownership can fire.
#[derive(Debug, Clone)]
struct Reference {
    version: ScheduleVersion,
    shifts: HashMap<ShiftId, (ShiftState, ScheduleVersion)>,
    /// The shifts as imported: what their activities are.
    imported: HashMap<ShiftId, Shift>,
    week_start: Timestamp,
    /// Agents required per skill and interval.
    required: BTreeMap<(Skill, Slot), u32>,
    skills: HashMap<crate::ids::AgentId, std::collections::BTreeSet<Skill>>,
    /// Whether the guard checks changes, and whether it holds (not refuses) what fails.
    guard: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Applied,
    Conflict,
    Rejected,
    Skipped,
    Held,
}

fn kind(o: &ItemOutcome) -> Kind {
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
    fn scheduled(
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
    fn cells(&self) -> Cells {
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
    fn leaves_short(
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

    fn guarded(&self) -> Kind {
        if self.guard == Some(true) {
            Kind::Held
        } else {
            Kind::Rejected
        }
    }

    fn swap(&mut self, req: &SwapRequest) -> Vec<Kind> {
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
                if owner_o == Some(item.agent_id)
                    && owner_n != Some(item.agent_id)
                    && counterpart_ok
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

    fn edit(&mut self, edit: &ShiftEdit) -> Kind {
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
        if after == state {
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

    fn commit(&mut self, next: HashMap<ShiftId, (ShiftState, ScheduleVersion)>) {
        self.version = self.version.next();
        for (id, (state, version)) in next {
            let entry = self.shifts.entry(id).or_insert((state, version));
            if entry.0 != state {
                *entry = (state, self.version);
            }
        }
    }
}

fn snapshot(subject: &mut impl Subject) -> View {
    View {
        version: subject.version(),
        shifts: subject
            .shifts()
            .into_iter()
            .map(|s| (s.id, (s.state(), s.version)))
            .collect(),
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
                                ViolationCode::NoChange | ViolationCode::CoverageBelowRequirement
                            )
                        }) =>
                    {
                        Kind::Rejected
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}"))),
                };
                prop_assert_eq!(actual, expected, "step {}: edit {:?}", step, edit);
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
        if reference.guard.is_some() {
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
