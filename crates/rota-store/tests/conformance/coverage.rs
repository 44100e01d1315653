//! Requirements and coverage against each backend: versions of their own, coverage read as of any version, the guard across instances.

use super::*;

/// Setting the requirement commits a version (cause `requirements`) that emits its event, and
/// coverage as of the version before it shows the requirement as it was.
pub(crate) async fn a_requirement_change_is_a_version_with_its_event_and_coverage_reads_as_of_it(
    store: Store,
) {
    use rota_core::store::{CoverageStore, WebhookStore};
    use rota_core::webhook::EventType;
    let world = World::staffed(2, 4, rota_core::trade::RuleAction::Allow);
    let schedule = world.load(&store).await.unwrap();
    subscribe(&store, &world, vec![EventType::RequirementsChanged]).await;
    let set = store
        .set_requirements(schedule.id, &world.requirements, &ctx(world.now, "req"))
        .await
        .unwrap();
    assert_eq!(set.version, schedule.version.next());
    // The same requirement again changes nothing: no version, no event.
    let again = store
        .set_requirements(schedule.id, &world.requirements, &ctx(world.now, "req-2"))
        .await
        .unwrap();
    assert_eq!(again.version, set.version);
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let due = store.lease_due(now, lease, 10, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event.event_type, EventType::RequirementsChanged);
    let current = store.coverage(schedule.id, None).await.unwrap();
    let before = store
        .coverage(schedule.id, Some(schedule.version))
        .await
        .unwrap();
    assert!(current.cells.values().any(|c| c.required == 1));
    assert!(before.cells.values().all(|c| c.required == 0));
    assert_eq!(before.schedule.version, schedule.version);
    let scheduled = |r: &rota_core::store::CoverageReport| -> i64 {
        r.cells.values().map(|c| c.scheduled_minutes).sum()
    };
    assert_eq!(scheduled(&current), scheduled(&before));
    assert!(matches!(
        store.coverage(schedule.id, Some(set.version.next())).await,
        Err(StoreError::Command(CommandError::UnknownVersion { .. }))
    ));
}

/// A schedule stored before coverage existed (its cells empty, marked not ready) gets its
/// coverage counted by the step every store runs when it opens the database.
pub(crate) async fn schedules_from_before_coverage_get_theirs_when_the_store_opens(store: Store) {
    use rota_core::store::CoverageStore;
    let world = World::staffed(2, 4, rota_core::trade::RuleAction::Allow);
    let schedule = world.load(&store).await.unwrap();
    let counted = store.coverage(schedule.id, None).await.unwrap().cells;
    assert!(!counted.is_empty());
    for q in [
        "UPDATE coverage SET scheduled = 0",
        "UPDATE schedules SET coverage_ready = 0",
    ] {
        match &store {
            Store::Sqlite(s) => sqlx::query(q).execute(s.pool()).await.map(|_| ()),
            Store::Postgres(s) => sqlx::query(q).execute(s.pool()).await.map(|_| ()),
        }
        .unwrap();
    }
    assert_ne!(
        store.coverage(schedule.id, None).await.unwrap().cells,
        counted
    );
    store.backfill_coverage().await.unwrap();
    assert_eq!(
        store.coverage(schedule.id, None).await.unwrap().cells,
        counted
    );
}

/// A move keeps each activity's offset from the shift's start and lets the last one take up a
/// change of length, read back the same from the database and from the write cache; a move that
/// leaves the last activity no room is refused.
pub(crate) async fn a_move_keeps_offsets_and_a_moved_start_alone_keeps_clock_times(store: Store) {
    use rota_core::activity::ActivityKind;
    use rota_core::schedule::TimeWindow;
    let world = World::staffed(2, 4, rota_core::trade::RuleAction::Allow);
    world.load(&store).await.unwrap();
    let id = world.schedule.shifts[0].id;
    let shift = store.shift(id).await.unwrap();
    let at = |m: i64| {
        shift
            .window
            .start()
            .checked_add(jiff::SignedDuration::from_mins(m))
            .unwrap()
    };
    let edit = |start: i64, end: i64, expected| ShiftEdit {
        shift_id: id,
        expected_version: expected,
        change: EditChange::Move {
            window: TimeWindow::new(at(start), at(end)).unwrap(),
        },
    };
    let spans = |s: &Shift| -> Vec<(ActivityKind, jiff::Timestamp, jiff::Timestamp)> {
        s.activities
            .iter()
            .map(|a| (a.kind, a.start, a.end))
            .collect()
    };
    // The start alone moves (a trim): every activity but the first keeps its clock time, and
    // the store rewrote the stored offsets to say so.
    let trimmed = store
        .edit_shift(&edit(10, 60, shift.version), &ctx(world.now, "later start"))
        .await
        .unwrap();
    let version = trimmed.committed.unwrap().version;
    let read = store.shift(id).await.unwrap();
    assert_eq!(
        spans(&read),
        vec![
            (ActivityKind::OnQueue, at(10), at(30)),
            (ActivityKind::Break, at(30), at(45)),
            (ActivityKind::OnQueue, at(45), at(60)),
        ]
    );
    // Both ends move: each activity keeps its offset from the start and the last takes up
    // the change of length. The write cache laid the shift out the same as a fresh read.
    store
        .edit_shift(&edit(20, 75, version), &ctx(world.now, "moved"))
        .await
        .unwrap();
    let again = store.shift(id).await.unwrap();
    assert_eq!(
        spans(&again),
        vec![
            (ActivityKind::OnQueue, at(20), at(40)),
            (ActivityKind::Break, at(40), at(55)),
            (ActivityKind::OnQueue, at(55), at(75)),
        ]
    );
    // As of the first move, the activities are as that move laid them; as of the import, as
    // imported.
    let then = store
        .schedule_as_of(world.schedule.id, version)
        .await
        .unwrap();
    let then = then.iter().find(|s| s.id == id).unwrap();
    assert_eq!(then.activities, read.activities);
    let first = store
        .schedule_as_of(world.schedule.id, ScheduleVersion::FIRST)
        .await
        .unwrap();
    let first = first.iter().find(|s| s.id == id).unwrap();
    assert_eq!(first.activities, shift.activities);
    let too_short = store
        .edit_shift(&edit(20, 54, again.version), &ctx(world.now, "too short"))
        .await;
    let Err(StoreError::Command(CommandError::Rejected(v))) = too_short else {
        panic!("{too_short:?}");
    };
    assert_eq!(
        v[0].code,
        rota_core::command::ViolationCode::ActivitiesDoNotFit
    );
}

/// The coverage guard reads the week's coverage from the write cache, which each commit of the
/// instance keeps current. A change made through another instance must reach the guard of
/// this one: what it counts as scheduled before a change is the database's, not the cache's.
async fn the_coverage_guard_sees_the_writes_of_another_instance(a: Store, b: Store) {
    use rota_core::store::{CoverageStore, TradeStore};
    use rota_core::trade::RuleAction;
    let world = World::staffed(5, 16, RuleAction::Deny);
    world.load(&a).await.unwrap();
    let id = world.schedule.id;
    let requirements = a
        .set_requirements(id, &world.requirements, &ctx(world.now, "req"))
        .await
        .unwrap();
    let mut settings = a.settings(world.bu.id).await.unwrap();
    settings.coverage = world.guard;
    a.set_settings(world.bu.id, &settings).await.unwrap();
    // Shift k belongs to agent k % 6 (5: open); even agents have `spanish`, which each
    // shift's first interval requires once.
    let shift = |k: usize| world.schedule.shifts[k].id;
    let agent = |i: usize| world.agents[i].id;
    let swap = |base: ScheduleVersion, items: Vec<(usize, usize, usize)>| SwapRequest {
        base: ScheduleVersionId::new(id, base),
        items: items
            .into_iter()
            .map(|(agent_ix, original, new)| SwapItem {
                agent_id: agent(agent_ix),
                original_shift_id: shift(original),
                new_shift_id: shift(new),
                reason_code: ReasonCode::Preference,
                counterpart_agent_id: None,
            })
            .collect(),
        effective_date: None,
        mode: SwapMode::Atomic,
        scope: ConflictScope::Shifts,
    };
    let shortfall = |result: &SwapResult| match &result.outcomes[0] {
        ItemOutcome::Rejected { violations } => violations
            .iter()
            .find_map(|v| v.coverage.clone())
            .unwrap_or_else(|| panic!("no coverage violation: {violations:?}")),
        other => panic!("expected a refusal, got {other:?}"),
    };

    // A reads the week's coverage: agent 0 (spanish) would hand shift 0 to agent 1 (not).
    let refused = a
        .apply_swaps(
            &swap(requirements.version, vec![(1, 1, 0)]),
            &ctx(world.now, "a1"),
        )
        .await
        .unwrap();
    assert!(refused.committed.is_none());
    assert_eq!(
        shortfall(&refused).intervals[0].scheduled_minutes_before,
        15
    );

    // Through B, open shift 5 goes to agent 2 (spanish): its first interval gains 15 minutes.
    let open = all_shifts(&b, id)
        .await
        .into_iter()
        .find(|s| s.id == shift(5))
        .unwrap();
    let edited = b
        .edit_shift(
            &ShiftEdit {
                shift_id: open.id,
                expected_version: open.version,
                change: EditChange::Reassign { agent_id: agent(2) },
            },
            &ctx(world.now, "b1"),
        )
        .await
        .unwrap();
    assert!(edited.committed.is_some(), "{:?}", edited.outcomes);

    // A: agent 1 takes shift 5 from agent 2, who takes shift 1. The guard must count the 15
    // minutes B's change scheduled there, and the 0 left after.
    let refused = a
        .apply_swaps(
            &swap(edited.current_version_id.version(), vec![(1, 1, 5)]),
            &ctx(world.now, "a2"),
        )
        .await
        .unwrap();
    let short = shortfall(&refused);
    assert_eq!(short.skill.as_str(), "spanish");
    assert_eq!(
        short.intervals[0].start,
        world.schedule.shifts[5].window.start()
    );
    assert_eq!(short.intervals[0].scheduled_minutes_before, 15);
    assert_eq!(short.intervals[0].scheduled_minutes_after, 0);
    assert_eq!(
        a.coverage(id, None).await.unwrap().cells,
        b.coverage(id, None).await.unwrap().cells
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_coverage_guard_sees_the_writes_of_another_instance() {
    let (a, b) = two_sqlite_instances().await;
    the_coverage_guard_sees_the_writes_of_another_instance(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_coverage_guard_sees_the_writes_of_another_instance() {
    let Some((a, url)) = postgres().await else {
        return;
    };
    let b = same_postgres(&a, &url).await;
    the_coverage_guard_sees_the_writes_of_another_instance(a, b).await;
}

conformance!(
    a_requirement_change_is_a_version_with_its_event_and_coverage_reads_as_of_it,
    schedules_from_before_coverage_get_theirs_when_the_store_opens,
    a_move_keeps_offsets_and_a_moved_start_alone_keeps_clock_times,
);
