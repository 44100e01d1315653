//! The engine's rules and conflict semantics, case by case, on the in-memory schedule.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday, date};
use proptest::prelude::*;

use crate::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ReasonCode, ShiftEdit, SwapItem,
    SwapMode, SwapRequest, SwapResult, ViolationCode,
};
use crate::directory::{Agent, Availability, LocalSpan, Skill};
use crate::ids::{AgentId, ScheduleId, ShiftId};
use crate::memory::MemorySchedule;
use crate::schedule::{NewSchedule, NewShift};
use crate::testkit::{self, World, business_unit, chicago, ctx, local, shift, unconstrained_agent};
use crate::trade::RuleAction;
use crate::version::{ScheduleVersion, ScheduleVersionId};

const WEEK: Date = date(2026, 11, 30);

fn now() -> Timestamp {
    "2026-11-25T00:00:00Z".parse().unwrap()
}

struct Case {
    agents: Vec<Agent>,
    shifts: Vec<NewShift>,
}

impl Case {
    fn new(n: usize) -> Self {
        let bu = business_unit("Chicago");
        let agents = (0..n)
            .map(|i| unconstrained_agent(&bu, &format!("A{i}")))
            .collect();
        Self {
            agents,
            shifts: vec![],
        }
    }

    fn agent(&self, i: usize) -> AgentId {
        self.agents[i].id
    }

    /// A shift for agent `owner` on `day` of the week, local hours.
    fn add(&mut self, owner: Option<usize>, d: Date, hour: i8, minutes: i64) -> ShiftId {
        let owner = owner.map(|i| &self.agents[i]);
        let s = shift(owner, local(&chicago(), d, hour, 0), minutes);
        let id = s.id;
        self.shifts.push(s);
        id
    }

    fn build(self, week: Date) -> MemorySchedule {
        let bu_id = self.agents[0].business_unit_id;
        MemorySchedule::import(
            &NewSchedule {
                id: ScheduleId::new(),
                business_unit_id: bu_id,
                week_start: week,
                shifts: self.shifts,
            },
            chicago(),
            self.agents,
            &ctx(now(), "import"),
        )
    }
}

fn item(agent: AgentId, original: ShiftId, new: ShiftId) -> SwapItem {
    SwapItem {
        agent_id: agent,
        original_shift_id: original,
        new_shift_id: new,
        reason_code: ReasonCode::Personal,
        counterpart_agent_id: None,
    }
}

fn swap(
    s: &mut MemorySchedule,
    base: ScheduleVersion,
    items: Vec<SwapItem>,
    mode: SwapMode,
) -> SwapResult {
    let req = SwapRequest {
        base: ScheduleVersionId::new(s.schedule().id, base),
        items,
        effective_date: None,
        mode,
        scope: ConflictScope::Shifts,
    };
    s.apply_swaps(&req, &ctx(now(), "req")).unwrap()
}

fn codes(outcome: &ItemOutcome) -> Vec<ViolationCode> {
    match outcome {
        ItemOutcome::Rejected { violations } => violations.iter().map(|v| v.code).collect(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn day(n: i8) -> Date {
    date(2026, 11, 30 + n.min(0))
        .checked_add(jiff::Span::new().days(n))
        .unwrap()
}

#[test]
fn a_swap_exchanges_the_owners_of_both_shifts() {
    let mut c = Case::new(2);
    let a = c.add(Some(0), day(0), 8, 480);
    let b = c.add(Some(1), day(1), 8, 480);
    let (x, y) = (c.agent(0), c.agent(1));
    let mut s = c.build(WEEK);
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(x, a, b)],
        SwapMode::Atomic,
    );
    assert_eq!(
        r.outcomes,
        vec![ItemOutcome::Applied {
            version: ScheduleVersion::new(2).unwrap()
        }]
    );
    assert_eq!(s.shift(a).unwrap().owner, Some(y));
    assert_eq!(s.shift(b).unwrap().owner, Some(x));
    assert_eq!(s.shift(a).unwrap().version.get(), 2);
    assert_eq!(r.committed.unwrap().change_count, 2);
}

#[test]
fn taking_an_open_shift_leaves_the_original_open() {
    let mut c = Case::new(1);
    let a = c.add(Some(0), day(0), 8, 480);
    let open = c.add(None, day(1), 8, 480);
    let x = c.agent(0);
    let mut s = c.build(WEEK);
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(x, a, open)],
        SwapMode::Atomic,
    );
    assert!(r.outcomes[0].is_applied());
    assert_eq!(s.shift(a).unwrap().owner, None);
    assert_eq!(s.shift(open).unwrap().owner, Some(x));
}

#[test]
fn ownership_counterpart_and_reuse_violations_name_their_rule() {
    let mut c = Case::new(3);
    let a = c.add(Some(0), day(0), 8, 240);
    let b = c.add(Some(1), day(1), 8, 240);
    let d = c.add(Some(2), day(2), 8, 240);
    let e = c.add(Some(0), day(3), 8, 240);
    let f = c.add(Some(1), day(4), 8, 240);
    let g = c.add(Some(2), day(5), 8, 240);
    let (x, y, z) = (c.agent(0), c.agent(1), c.agent(2));
    let mut s = c.build(WEEK);
    let mut with_counterpart = item(x, e, f);
    with_counterpart.counterpart_agent_id = Some(z);
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![
            item(y, a, d),              // y does not own a
            with_counterpart,           // f is y's, not z's
            item(x, g, g),              // the same shift twice
            item(z, g, b),              // g was named by the previous item
            item(x, b, ShiftId::new()), // b already used, and no such shift
        ],
        SwapMode::Partial,
    );
    assert_eq!(codes(&r.outcomes[0]), vec![ViolationCode::ShiftNotOwned]);
    assert_eq!(
        codes(&r.outcomes[1]),
        vec![ViolationCode::CounterpartMismatch]
    );
    assert_eq!(codes(&r.outcomes[2]), vec![ViolationCode::SameShift]);
    assert_eq!(codes(&r.outcomes[3]), vec![ViolationCode::ShiftUsedTwice]);
    assert_eq!(codes(&r.outcomes[4]), vec![ViolationCode::ShiftUsedTwice]);
    assert!(r.committed.is_none());
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(z, d, b), item(x, a, ShiftId::new())],
        SwapMode::Partial,
    );
    assert!(r.outcomes[0].is_applied());
    assert_eq!(codes(&r.outcomes[1]), vec![ViolationCode::ShiftNotFound]);
    assert_eq!(s.shift(b).unwrap().owner, Some(z));
    assert_eq!(s.shift(d).unwrap().owner, Some(y));
}

#[test]
fn past_shifts_and_shifts_before_the_effective_date_are_immutable() {
    let mut c = Case::new(2);
    let past = c.add(Some(0), date(2026, 11, 24), 8, 240);
    let early = c.add(Some(1), day(0), 8, 240);
    let later = c.add(Some(0), day(3), 8, 240);
    let (x, y) = (c.agent(0), c.agent(1));
    let mut s = c.build(date(2026, 11, 23));
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(x, past, early)],
        SwapMode::Partial,
    );
    assert_eq!(codes(&r.outcomes[0]), vec![ViolationCode::ShiftInPast]);
    let req = SwapRequest {
        base: s.schedule().version_id(),
        items: vec![item(y, early, later)],
        effective_date: Some(day(1)),
        mode: SwapMode::Atomic,
        scope: ConflictScope::Shifts,
    };
    let r = s.apply_swaps(&req, &ctx(now(), "r")).unwrap();
    assert_eq!(
        codes(&r.outcomes[0]),
        vec![ViolationCode::BeforeEffectiveDate]
    );
    assert!(r.committed.is_none());
}

#[test]
fn receivers_must_be_available_skilled_rested_and_within_their_weekly_maximum() {
    let bu = business_unit("Chicago");
    let billing = Skill::parse("billing").unwrap();
    let day_only = Availability::new(
        crate::directory::ALL_WEEKDAYS.map(|d| (d, LocalSpan::parse("06:00", "18:00").unwrap())),
        [],
    );
    let giver = unconstrained_agent(&bu, "giver");
    let mut taker = Agent::new(bu.id, None, "taker", BTreeSet::new(), 700, 600, day_only).unwrap();
    taker.skills.insert(Skill::parse("phone").unwrap());
    let mut c = Case {
        agents: vec![giver, taker],
        shifts: vec![],
    };
    let mut skilled = shift(Some(&c.agents[0]), local(&chicago(), day(0), 8, 0), 240);
    skilled.required_skill = Some(billing);
    let skilled = {
        let id = skilled.id;
        c.shifts.push(skilled);
        id
    };
    let night = c.add(Some(0), day(3), 20, 240);
    let close = c.add(Some(0), day(2), 13, 240); // 13:00-17:00; taker works 07:00-11:00 that day
    let overlapping = c.add(Some(0), day(2), 10, 120);
    let long = c.add(Some(0), day(4), 6, 600);
    let own1 = c.add(Some(1), day(2), 7, 240);
    let own2 = c.add(Some(1), day(5), 8, 60);
    let own3 = c.add(Some(1), day(6), 8, 60);
    let own4 = c.add(Some(1), day(6), 12, 60);
    let own5 = c.add(Some(1), day(6), 14, 60);
    let taker_id = c.agent(1);
    let mut s = c.build(WEEK);
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![
            item(taker_id, own2, skilled),
            item(taker_id, own3, night),
            item(taker_id, own4, close),
            item(taker_id, own5, overlapping),
            item(taker_id, own1, long),
        ],
        SwapMode::Partial,
    );
    assert_eq!(codes(&r.outcomes[0]), vec![ViolationCode::SkillMissing]);
    assert_eq!(codes(&r.outcomes[1]), vec![ViolationCode::NotAvailable]);
    assert_eq!(codes(&r.outcomes[2]), vec![ViolationCode::MinRest]);
    assert!(codes(&r.outcomes[3]).contains(&ViolationCode::Overlap));
    // 660 minutes after the items before, then a 600-minute shift for a 240-minute one: 1020 > 700.
    // And the giver, receiving the taker's 07:00 shift, would overlap their own 10:00 shift.
    assert_eq!(
        codes(&r.outcomes[4]),
        vec![ViolationCode::WeeklyMaxExceeded, ViolationCode::Overlap]
    );
    assert!(r.committed.is_none());
}

#[test]
fn rules_see_the_state_left_by_earlier_items_of_the_same_request() {
    let bu = business_unit("Chicago");
    let capped = Agent::new(
        bu.id,
        None,
        "capped",
        BTreeSet::new(),
        480,
        0,
        Availability::always(),
    )
    .unwrap();
    let other = unconstrained_agent(&bu, "other");
    let mut c = Case {
        agents: vec![capped, other],
        shifts: vec![],
    };
    let mine = c.add(Some(0), day(0), 8, 240);
    let open1 = c.add(None, day(1), 8, 240);
    let theirs = c.add(Some(1), day(2), 8, 480);
    let mine2 = c.add(Some(0), day(3), 8, 240);
    let (x, y) = (c.agent(0), c.agent(1));
    let mut s = c.build(WEEK);
    // After the first item x still works 480 minutes; the second would make it 720.
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(x, mine, open1), item(x, mine2, theirs)],
        SwapMode::Partial,
    );
    assert!(r.outcomes[0].is_applied());
    assert_eq!(
        codes(&r.outcomes[1]),
        vec![ViolationCode::WeeklyMaxExceeded]
    );
    assert_eq!(s.shift(theirs).unwrap().owner, Some(y));
}

#[test]
fn an_item_conflicts_only_when_a_shift_it_touches_changed_after_its_base() {
    let mut c = Case::new(4);
    let a = c.add(Some(0), day(0), 8, 240);
    let b = c.add(Some(1), day(1), 8, 240);
    let p = c.add(Some(2), day(2), 8, 240);
    let q = c.add(Some(3), day(3), 8, 240);
    let agents: Vec<AgentId> = (0..4).map(|i| c.agent(i)).collect();
    let mut s = c.build(WEEK);
    // Someone else swaps p and q: version 2.
    swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(agents[2], p, q)],
        SwapMode::Atomic,
    );
    // A request based on version 1 over a and b still applies in the default scope...
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(agents[0], a, b)],
        SwapMode::Atomic,
    );
    assert!(r.outcomes[0].is_applied());
    // ...but one touching p conflicts, with p's current state and the current version id.
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(agents[3], q, p)],
        SwapMode::Atomic,
    );
    match &r.outcomes[0] {
        ItemOutcome::Conflict {
            shifts,
            current_version_id,
        } => {
            assert_eq!(
                shifts.iter().map(|s| s.id).collect::<BTreeSet<_>>(),
                BTreeSet::from([p, q])
            );
            assert_eq!(current_version_id.version().get(), 3);
        }
        other => panic!("{other:?}"),
    }
    // The strict scope conflicts on any change after the base.
    let req = SwapRequest {
        base: ScheduleVersionId::new(s.schedule().id, ScheduleVersion::new(2).unwrap()),
        items: vec![item(agents[1], a, b)],
        effective_date: None,
        mode: SwapMode::Atomic,
        scope: ConflictScope::Schedule,
    };
    let r = s.apply_swaps(&req, &ctx(now(), "strict")).unwrap();
    assert!(matches!(r.outcomes[0], ItemOutcome::Conflict { .. }));
}

#[test]
fn a_base_version_newer_than_the_current_one_is_unknown() {
    let mut c = Case::new(2);
    let a = c.add(Some(0), day(0), 8, 240);
    let b = c.add(Some(1), day(1), 8, 240);
    let x = c.agent(0);
    let mut s = c.build(WEEK);
    let req = SwapRequest {
        base: ScheduleVersionId::new(s.schedule().id, ScheduleVersion::new(9).unwrap()),
        items: vec![item(x, a, b)],
        effective_date: None,
        mode: SwapMode::Atomic,
        scope: ConflictScope::Shifts,
    };
    assert!(matches!(
        s.apply_swaps(&req, &ctx(now(), "r")),
        Err(CommandError::UnknownVersion { .. })
    ));
    let other = SwapRequest {
        base: ScheduleVersionId::new(ScheduleId::new(), ScheduleVersion::FIRST),
        ..req
    };
    assert!(matches!(
        s.apply_swaps(&other, &ctx(now(), "r")),
        Err(CommandError::ScheduleNotFound(_))
    ));
}

#[test]
fn an_atomic_request_with_one_bad_item_applies_nothing() {
    let mut c = Case::new(2);
    let a = c.add(Some(0), day(0), 8, 240);
    let b = c.add(Some(1), day(1), 8, 240);
    let d = c.add(Some(1), day(2), 8, 240);
    let (x, y) = (c.agent(0), c.agent(1));
    let mut s = c.build(WEEK);
    let r = swap(
        &mut s,
        ScheduleVersion::FIRST,
        vec![item(x, a, b), item(x, d, a)],
        SwapMode::Atomic,
    );
    assert_eq!(r.outcomes[0], ItemOutcome::Skipped);
    assert!(matches!(r.outcomes[1], ItemOutcome::Rejected { .. }));
    assert!(r.committed.is_none());
    assert_eq!(s.schedule().version, ScheduleVersion::FIRST);
    assert_eq!(s.shift(a).unwrap().owner, Some(x));
    assert_eq!(s.shift(b).unwrap().owner, Some(y));
}

#[test]
fn a_supervisor_edit_checks_the_shift_version_and_the_rules() {
    let mut c = Case::new(2);
    let a = c.add(Some(0), day(0), 8, 240);
    let b = c.add(Some(1), day(0), 10, 240);
    let y = c.agent(1);
    let mut s = c.build(WEEK);
    let reassign = ShiftEdit {
        shift_id: a,
        expected_version: ScheduleVersion::FIRST,
        change: EditChange::Reassign { agent_id: y },
    };
    match s.edit_shift(&reassign, &ctx(now(), "e")) {
        Err(CommandError::Rejected(v)) => assert_eq!(v[0].code, ViolationCode::Overlap),
        other => panic!("{other:?}"),
    }
    let open = ShiftEdit {
        change: EditChange::Open,
        ..reassign
    };
    assert!(
        s.edit_shift(&open, &ctx(now(), "e"))
            .unwrap()
            .committed
            .is_some()
    );
    assert!(matches!(
        s.edit_shift(&open, &ctx(now(), "e")),
        Err(CommandError::ShiftVersionConflict { .. })
    ));
    let _ = b;
}

#[test]
fn availability_is_evaluated_in_local_time_in_the_week_of_the_fall_back_change() {
    // The week of Monday 2026-10-26 contains Sunday 2026-11-01, when Chicago falls back an hour.
    let bu = business_unit("Chicago");
    let early_sundays = Availability::new(
        [(Weekday::Sunday, LocalSpan::parse("00:00", "06:00").unwrap())],
        [],
    );
    let giver = unconstrained_agent(&bu, "giver");
    let taker = Agent::new(bu.id, None, "taker", BTreeSet::new(), 420, 0, early_sundays).unwrap();
    let mut c = Case {
        agents: vec![giver, taker],
        shifts: vec![],
    };
    let sunday = date(2026, 11, 1);
    // 00:00 to 06:00 local is seven real hours that night.
    let fits = c.add(Some(0), sunday, 0, 420);
    let too_long = c.add(Some(0), sunday, 0, 480);
    let own = c.add(Some(1), date(2026, 10, 25), 1, 60);
    let own2 = c.add(Some(1), date(2026, 10, 25), 3, 60);
    let taker_id = c.agent(1);
    let mut s = Case { ..c }.build(date(2026, 10, 26));
    let r = {
        let req = SwapRequest {
            base: s.schedule().version_id(),
            items: vec![item(taker_id, own, too_long), item(taker_id, own2, fits)],
            effective_date: None,
            mode: SwapMode::Partial,
            scope: ConflictScope::Shifts,
        };
        s.apply_swaps(&req, &ctx("2026-10-20T00:00:00Z".parse().unwrap(), "dst"))
            .unwrap()
    };
    assert!(codes(&r.outcomes[0]).contains(&ViolationCode::NotAvailable));
    assert!(r.outcomes[1].is_applied(), "{:?}", r.outcomes[1]);
    assert_eq!(s.shift(fits).unwrap().owner, Some(taker_id));
    // The seven real hours count against the weekly maximum of 420 minutes exactly.
    assert_eq!(s.shift(fits).unwrap().window.minutes(), 420);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// 256 cases of up to 40 operations from 3 writers on the in-memory schedule.
    #[test]
    fn interleaved_writers_never_lose_an_update_and_conflict_exactly_when_a_touched_shift_changed(
        ops in testkit::ops(&World::disjoint(6, 24), 3, 40)
    ) {
        let world = World::disjoint(6, 24);
        // Strategies hold indices, so the same world shape with fresh ids is equivalent.
        let mut subject = MemorySchedule::import(&world.schedule, chicago(), world.agents.clone(), &ctx(world.now, "import"));
        testkit::run(&mut subject, &world, 3, &ops)?;
    }

    /// 256 cases of up to 40 operations from 3 writers on a staffed week (activities with a
    /// break, a requirement per interval) with the coverage guard allowing, refusing or holding
    /// what leaves an interval short, in turn: the maintained coverage equals the reference's
    /// minute-by-minute count after every step, and, guarded, no step leaves an interval below
    /// its requirement that was not below it.
    #[test]
    fn coverage_is_maintained_and_guarded_under_interleaved_writers(
        ops in testkit::ops(&World::staffed(6, 24, RuleAction::Allow), 3, 40),
        action in prop_oneof![Just(RuleAction::Allow), Just(RuleAction::Deny), Just(RuleAction::Supervisor)],
    ) {
        let world = World::staffed(6, 24, action);
        let mut subject = MemorySchedule::import(&world.schedule, chicago(), world.agents.clone(), &ctx(world.now, "import"));
        testkit::run(&mut subject, &world, 3, &ops)?;
    }
}
