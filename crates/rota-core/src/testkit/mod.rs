//! Test support shared by the core's and the store's tests: fixtures, and a reference model
//! with a harness that drives any implementation of the commit path through random
//! interleavings of writers and compares it with the model step by step.
//!
//! - this module: fixtures and the test worlds (`World::disjoint`, `World::staffed`).
//! - `ops`: the random operations of the writers.
//! - `reference`: the reference model, written as plainly as possible.
//! - `run`: the subjects (any implementation of the commit path) and the harness.

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

mod ops;
mod reference;
mod run;

pub use ops::{EditSpec, ItemSpec, Op, ops};
pub use run::{Subject, run};
