//! Time off against each backend: the lifecycle with its schedule effects and balance, the
//! refusals, the waitlist, a supervisor's override, and the two races.

use jiff::{SignedDuration, Timestamp};
use rota_core::command::{EditChange, ItemOutcome, ShiftEdit, SwapMode, ViolationCode};
use rota_core::schedule::ActivityCode;
use rota_core::store::{DirectoryStore, ScheduleStore, StoreError, TimeOffStore, TradeStore};
use rota_core::testkit::{World, ctx};
use rota_core::timeoff::{
    Allowance, ApprovalPolicy, Days, NewTimeOff, Span, TimeOffEffect, TimeOffError, TimeOffRequest,
    TimeOffReview, TimeOffState,
};
use rota_core::trade::BusinessUnitSettings;
use rota_core::version::{ScheduleVersion, VersionCause};
use rota_store::Store;

use super::{all_shifts, assert_replays, setup, swap_of};

fn code(c: &str) -> ActivityCode {
    ActivityCode::parse(c).unwrap()
}

fn at(_world: &World, minutes: i64) -> Timestamp {
    let start = rota_core::testkit::local(&rota_core::testkit::chicago(), World::WEEK, 0, 0);
    start
        .checked_add(SignedDuration::from_mins(minutes))
        .unwrap()
}

async fn policy(store: &Store, world: &World, change: impl FnOnce(&mut BusinessUnitSettings)) {
    let mut settings = BusinessUnitSettings::default();
    change(&mut settings);
    store.set_settings(world.bu.id, &settings).await.unwrap();
}

fn window(world: &World, agent: usize, c: &str, from: i64, to: i64) -> NewTimeOff {
    NewTimeOff {
        agent_id: world.agents[agent].id,
        code: code(c),
        span: Span::Window(at(world, from), at(world, to)),
        note: Some("dentist".into()),
    }
}

fn day(world: &World, agent: usize, c: &str, offset: i64) -> NewTimeOff {
    let d = World::WEEK
        .checked_add(jiff::Span::new().days(offset))
        .unwrap();
    NewTimeOff {
        agent_id: world.agents[agent].id,
        code: code(c),
        span: Span::Days(Days { first: d, last: d }),
        note: None,
    }
}

fn codes(e: &StoreError) -> Vec<ViolationCode> {
    match e {
        StoreError::TimeOff(TimeOffError::Refused(v) | TimeOffError::RulesFailed(v)) => {
            v.iter().map(|v| v.code).collect()
        }
        other => panic!("not a time-off refusal: {other:?}"),
    }
}

/// Shifts of [`World::disjoint`] with 4 agents: shift k starts 2k hours into the week and lasts
/// one; agent k % 5 owns it (4: open). Agent 0 owns shifts 0, 5, 10.
pub(super) async fn approval_trims_the_shift_deducts_and_cancel_returns(store: Store) {
    let world = setup(&store, 4, 12).await;
    let c = ctx(world.now, "t");
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::WhenRulesAllow;
        s.time_off.min_remainder_minutes = 15;
    })
    .await;
    let hook = super::subscribe(
        &store,
        &world,
        vec![rota_core::webhook::EventType::TimeOffRequestChanged],
    )
    .await;
    let agent = world.agents[0].id;
    // A put replaces the balance: the second is what stands.
    for minutes in [900, 600] {
        store
            .set_balance(agent, &code("vacation"), minutes)
            .await
            .unwrap();
    }
    let unknown = store.set_balance(agent, &code("sabbatical"), 60).await;
    assert!(
        matches!(
            unknown,
            Err(StoreError::TimeOff(TimeOffError::UnknownCode(_)))
        ),
        "{unknown:?}"
    );
    // 08:30 to 10:30: shift 5 (10:00 to 11:00) keeps 10:30 to 11:00.
    let approved = store
        .request_time_off(&window(&world, 0, "vacation", 510, 630), &c)
        .await
        .unwrap();
    assert_eq!(approved.state, TimeOffState::Approved, "{approved:?}");
    assert_eq!(approved.deducted_minutes, 30);
    assert_eq!(approved.versions.len(), 1);
    let trimmed = store.shift(world.schedule.shifts[5].id).await.unwrap();
    assert_eq!(trimmed.owner, Some(agent));
    assert_eq!(
        (trimmed.window.start(), trimmed.window.end()),
        (at(&world, 630), at(&world, 660))
    );
    assert_eq!(trimmed.activities[0].start, at(&world, 630));
    let balance = store.balances(agent).await.unwrap();
    assert_eq!(balance[0].minutes, 570);
    let versions = store
        .versions(world.schedule.id, rota_core::store::PageRequest::all())
        .await
        .unwrap();
    assert_eq!(versions.items[0].cause, VersionCause::TimeOff);
    assert_eq!(store.agent(agent).await.unwrap().time_off.len(), 1);
    // The agent is unavailable in the window for every later check: the open shift 4 (08:00
    // to 09:00) cannot go to them.
    let open = store.shift(world.schedule.shifts[4].id).await.unwrap();
    let edit = store
        .edit_shift(
            &ShiftEdit {
                shift_id: open.id,
                expected_version: open.version,
                change: EditChange::Reassign { agent_id: agent },
            },
            &c,
        )
        .await;
    let Err(StoreError::Command(rota_core::command::CommandError::Rejected(v))) = edit else {
        panic!("{edit:?}");
    };
    assert_eq!(v[0].code, ViolationCode::OnTimeOff);
    // As of version 1 the shift is as imported.
    let then = store
        .schedule_as_of(world.schedule.id, ScheduleVersion::new(1).unwrap())
        .await
        .unwrap();
    let before = then.iter().find(|s| s.id == trimmed.id).unwrap();
    assert_eq!(before.window, world.schedule.shifts[5].window);
    assert_eq!(
        &*before.activities,
        &world.schedule.shifts[5].activities[..]
    );
    // Cancelling returns the minutes, frees the agent, and leaves the shift as it is, with a
    // version that says so.
    let cancelled = store
        .cancel_time_off(approved.id, approved.version, false, &c)
        .await
        .unwrap();
    assert_eq!(cancelled.state, TimeOffState::Cancelled);
    assert_eq!(cancelled.versions.len(), 2);
    assert_eq!(store.balances(agent).await.unwrap()[0].minutes, 600);
    assert!(store.agent(agent).await.unwrap().time_off.is_empty());
    assert_eq!(
        store.shift(trimmed.id).await.unwrap().window,
        trimmed.window
    );
    let stale = store
        .cancel_time_off(approved.id, approved.version, false, &c)
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::TimeOff(TimeOffError::VersionConflict { .. }))
        ),
        "{stale:?}"
    );
    assert_replays(&store, world.schedule.id).await;
    // Each change of state wrote its event: approved on arrival, then cancelled.
    use rota_core::store::WebhookStore;
    let log = store
        .deliveries(hook, rota_core::store::PageRequest::all())
        .await
        .unwrap();
    assert_eq!(log.total, 2, "{log:?}");
}

/// `World::staffed`: one `sales` agent required in each shift's on-queue intervals. Time off
/// that would open agent 0's first shift leaves them short: the policy `whenRulesAllow` leaves
/// it to a supervisor, with the guard's detail.
pub(super) async fn time_off_that_leaves_coverage_short_waits_for_a_supervisor(store: Store) {
    use rota_core::store::CoverageStore;
    let world = World::staffed(4, 10, rota_core::trade::RuleAction::Allow);
    world.load(&store).await.unwrap();
    let c = ctx(world.now, "t");
    store
        .set_requirements(world.schedule.id, &world.requirements, &c)
        .await
        .unwrap();
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::WhenRulesAllow;
    })
    .await;
    let req = store
        .request_time_off(&window(&world, 0, "personal", 0, 60), &c)
        .await
        .unwrap();
    assert_eq!(req.state, TimeOffState::Pending, "{req:?}");
    assert_eq!(
        req.violations[0].code,
        ViolationCode::CoverageBelowRequirement
    );
    assert!(req.violations[0].coverage.is_some());
    assert!(req.versions.is_empty());
    assert_eq!(
        store
            .shift(world.schedule.shifts[0].id)
            .await
            .unwrap()
            .owner,
        Some(world.agents[0].id)
    );
}

pub(super) async fn refusals_waitlist_override_and_opening(store: Store) {
    let world = setup(&store, 4, 40).await;
    let c = ctx(world.now, "t");
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::WhenRulesAllow;
        s.time_off.daily_allowance.insert("planned".into(), 1);
    })
    .await;
    // Too close to start: vacation needs 48 hours' notice.
    let mut soon = window(&world, 1, "vacation", 0, 60);
    soon.span = Span::Window(
        world
            .now
            .checked_add(SignedDuration::from_hours(1))
            .unwrap(),
        world
            .now
            .checked_add(SignedDuration::from_hours(2))
            .unwrap(),
    );
    let refused = store.request_time_off(&soon, &c).await.unwrap_err();
    assert_eq!(codes(&refused), vec![ViolationCode::TooCloseToStart]);
    // Unpaid `personal` on day 1: approved, the day's one place taken.
    let first = store
        .request_time_off(&day(&world, 1, "personal", 1), &c)
        .await
        .unwrap();
    assert_eq!(first.state, TimeOffState::Approved);
    // An overlapping request of the same agent is refused.
    let overlapping = store
        .request_time_off(&day(&world, 1, "vacation", 1), &c)
        .await
        .unwrap_err();
    assert_eq!(
        codes(&overlapping),
        vec![ViolationCode::ConflictingTimeOffRequest]
    );
    // Two more agents on day 1: waitlisted, in order.
    let second = store
        .request_time_off(&day(&world, 2, "personal", 1), &c)
        .await
        .unwrap();
    let third = store
        .request_time_off(&day(&world, 3, "personal", 1), &c)
        .await
        .unwrap();
    assert_eq!(second.state, TimeOffState::Waitlisted);
    assert_eq!(second.violations[0].code, ViolationCode::AllowanceFull);
    assert_eq!(third.state, TimeOffState::Waitlisted);
    // The first cancels: the oldest waitlisted request takes the place.
    store
        .cancel_time_off(first.id, first.version, true, &c)
        .await
        .unwrap();
    assert_eq!(
        store.time_off(second.id).await.unwrap().state,
        TimeOffState::Approved
    );
    assert_eq!(
        store.time_off(third.id).await.unwrap().state,
        TimeOffState::Waitlisted
    );
    // A raised allowance promotes the rest.
    let days = store
        .set_allowances(
            world.bu.id,
            &[Allowance {
                group: "planned".into(),
                date: World::WEEK.checked_add(jiff::Span::new().days(1)).unwrap(),
                agents: 2,
            }],
            &c,
        )
        .await
        .unwrap();
    assert_eq!((days[0].limit, days[0].approved), (Some(2), 2));
    let promoted = store.time_off(third.id).await.unwrap();
    assert_eq!(promoted.state, TimeOffState::Approved);
    assert!(
        !promoted.versions.is_empty(),
        "agent 3 works day 1: their shifts changed"
    );
    // A paid request without the balance waits for a supervisor, who may override.
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::Supervisor;
        s.time_off.effect = TimeOffEffect::Open;
    })
    .await;
    let poor = store
        .request_time_off(&day(&world, 0, "vacation", 2), &c)
        .await
        .unwrap();
    assert_eq!(poor.state, TimeOffState::Pending);
    assert_eq!(poor.violations[0].code, ViolationCode::InsufficientBalance);
    let review = |override_rules| TimeOffReview {
        id: poor.id,
        expected_version: poor.version,
        approve: true,
        override_rules,
        reason: Some("family emergency".into()),
    };
    let failed = store.decide_time_off(&review(false), &c).await.unwrap_err();
    assert_eq!(codes(&failed), vec![ViolationCode::InsufficientBalance]);
    let approved = store.decide_time_off(&review(true), &c).await.unwrap();
    assert_eq!(approved.state, TimeOffState::Approved);
    let decision = approved.decision.clone().unwrap();
    assert_eq!(
        decision.overridden,
        vec![ViolationCode::InsufficientBalance]
    );
    assert_eq!(decision.by, c.actor);
    // Opened: agent 0's shifts on day 2 (25, 30 and 35: 02:00, 12:00 and 22:00) have no owner,
    // and their three paid hours were deducted.
    assert_eq!(approved.deducted_minutes, 180);
    let opened = store.shift(world.schedule.shifts[25].id).await.unwrap();
    assert_eq!(opened.owner, None);
    assert_eq!(
        store.balances(world.agents[0].id).await.unwrap()[0].minutes,
        -approved.deducted_minutes
    );
    let again = store.decide_time_off(&review(true), &c).await.unwrap_err();
    assert!(matches!(
        again,
        StoreError::TimeOff(TimeOffError::VersionConflict { .. })
    ));
    assert_replays(&store, world.schedule.id).await;
}

pub(super) async fn two_requests_race_for_the_last_place(store: Store) {
    let world = setup(&store, 4, 12).await;
    let c = ctx(world.now, "t");
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::WhenRulesAllow;
        s.time_off.daily_allowance.insert("planned".into(), 1);
    })
    .await;
    let (one, two) = (day(&world, 1, "personal", 3), day(&world, 2, "personal", 3));
    let (a, b) = tokio::join!(
        store.request_time_off(&one, &c),
        store.request_time_off(&two, &c),
    );
    let mut states = vec![a.unwrap().state, b.unwrap().state];
    states.sort_by_key(|s| s.as_str());
    assert_eq!(
        states,
        vec![TimeOffState::Approved, TimeOffState::Waitlisted]
    );
}

/// An approval and a bulk swap race for shift 5 (agent 0's, inside the time off): either the
/// approval opens it first and the swap conflicts on it, or the swap moves it to agent 1 first
/// and the approval finds nothing of agent 0's to open. Never both, never a shift of agent 0's
/// inside approved time off.
pub(super) async fn an_approval_and_a_bulk_swap_race_for_a_covered_shift(store: Store) {
    let world = setup(&store, 4, 12).await;
    let c = ctx(world.now, "t");
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::Always;
        s.time_off.effect = TimeOffEffect::Open;
    })
    .await;
    // Agent 0 gives shift 5 (10:00) for agent 1's shift 1 (02:00).
    let swap = swap_of(
        &world,
        ScheduleVersion::new(1).unwrap(),
        vec![(0, 5, 1)],
        SwapMode::Atomic,
    );
    let away = window(&world, 0, "personal", 540, 720);
    let (approved, swapped) = tokio::join!(
        store.request_time_off(&away, &c),
        store.apply_swaps(&swap, &c),
    );
    let approved: TimeOffRequest = approved.unwrap();
    assert_eq!(approved.state, TimeOffState::Approved);
    let swapped = swapped.unwrap();
    let swap_applied = matches!(swapped.outcomes[0], ItemOutcome::Applied { .. });
    let approval_changed = !approved.versions.is_empty();
    assert!(swap_applied != approval_changed, "{swapped:?} {approved:?}");
    if !swap_applied {
        assert!(
            matches!(swapped.outcomes[0], ItemOutcome::Conflict { .. }),
            "{swapped:?}"
        );
    }
    let shifts = all_shifts(&store, world.schedule.id).await;
    assert!(!shifts.iter().any(|s| s.owner == Some(world.agents[0].id)
        && s.window.start() < approved.end
        && approved.start < s.window.end()));
    assert_replays(&store, world.schedule.id).await;
}

/// Time off from Sunday noon into the next Monday touches two weeks: one version in each, both
/// of the agent's shifts opened, in one transaction.
pub(super) async fn time_off_across_a_week_boundary_changes_both_weeks(store: Store) {
    let world = setup(&store, 4, 80).await;
    let c = ctx(world.now, "t");
    policy(&store, &world, |s| {
        s.time_off.approval = ApprovalPolicy::Always;
        s.time_off.effect = TimeOffEffect::Open;
    })
    .await;
    // Agent 3 works shift 78, Sunday 12:00 to 13:00, and next Monday 00:00 to 01:00.
    let next = rota_core::schedule::NewSchedule {
        id: rota_core::ids::ScheduleId::new(),
        business_unit_id: world.bu.id,
        week_start: World::WEEK.checked_add(jiff::Span::new().days(7)).unwrap(),
        shifts: vec![rota_core::testkit::shift(
            Some(&world.agents[3]),
            at(&world, 7 * 24 * 60),
            60,
        )],
    };
    store.import_schedule(&next, &c).await.unwrap();
    let sunday_noon = 6 * 24 * 60 + 12 * 60;
    let approved = store
        .request_time_off(
            &window(&world, 3, "personal", sunday_noon, 7 * 24 * 60 + 60),
            &c,
        )
        .await
        .unwrap();
    assert_eq!(approved.state, TimeOffState::Approved);
    let schedules: Vec<_> = approved.versions.iter().map(|v| v.schedule()).collect();
    assert_eq!(schedules, vec![world.schedule.id, next.id]);
    assert_eq!(
        store
            .shift(world.schedule.shifts[78].id)
            .await
            .unwrap()
            .owner,
        None
    );
    assert_eq!(store.shift(next.shifts[0].id).await.unwrap().owner, None);
    assert_replays(&store, world.schedule.id).await;
    assert_replays(&store, next.id).await;
}

conformance!(
    approval_trims_the_shift_deducts_and_cancel_returns,
    refusals_waitlist_override_and_opening,
    two_requests_race_for_the_last_place,
    an_approval_and_a_bulk_swap_race_for_a_covered_shift,
    time_off_that_leaves_coverage_short_waits_for_a_supervisor,
    time_off_across_a_week_boundary_changes_both_weeks,
);
