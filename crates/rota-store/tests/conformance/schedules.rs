//! Schedules against each backend: import, swaps and their conflicts, edits, publishing, agents and availability, the week a schedule holds.

use super::*;

/// 150 swaps change 300 shifts: more than one `UPDATE shifts` statement of the commit holds.
pub(crate) async fn a_request_larger_than_one_update_statement_applies_whole(store: Store) {
    let scenario = rota_scenario::generate(&rota_scenario::Params {
        business_unit: "Chicago".into(),
        time_zone: rota_core::directory::Zone::parse("America/Chicago").unwrap(),
        week_start: World::WEEK,
        agents: 600,
        seed: 3,
    })
    .unwrap();
    let now = "2026-11-25T00:00:00Z".parse().unwrap();
    let schedule = rota_scenario::store(&store, &scenario, &ctx(now, "import"))
        .await
        .unwrap();
    let (mut pairs, owners) = rota_scenario::interchangeable_pairs(&scenario);
    pairs.truncate(150);
    assert_eq!(
        pairs.len(),
        150,
        "the scenario has too few interchangeable pairs"
    );
    let req = SwapRequest {
        base: schedule.version_id(),
        items: pairs
            .iter()
            .map(|&(a, b)| SwapItem {
                agent_id: owners[&a],
                original_shift_id: a,
                new_shift_id: b,
                reason_code: ReasonCode::Preference,
                counterpart_agent_id: Some(owners[&b]),
            })
            .collect(),
        effective_date: None,
        mode: SwapMode::Atomic,
        scope: ConflictScope::Shifts,
    };
    let result = store.apply_swaps(&req, &ctx(now, "big")).await.unwrap();
    assert!(
        result.outcomes.iter().all(ItemOutcome::is_applied),
        "{:?}",
        result.outcomes.iter().find(|o| !o.is_applied())
    );
    assert_eq!(result.committed.unwrap().change_count, 300);
    let after: BTreeMap<ShiftId, Option<AgentId>> = all_shifts(&store, schedule.id)
        .await
        .into_iter()
        .map(|s| (s.id, s.owner))
        .collect();
    for (a, b) in &pairs {
        assert_eq!(after[a], Some(owners[b]));
        assert_eq!(after[b], Some(owners[a]));
    }
    assert_replays(&store, schedule.id).await;
}

pub(crate) async fn an_imported_week_reads_back_as_version_1(store: Store) {
    let world = setup(&store, 3, 12).await;
    let schedule = store.schedule(world.schedule.id).await.unwrap();
    assert_eq!(schedule.version, ScheduleVersion::FIRST);
    assert_eq!(schedule.state, ScheduleState::Draft);
    assert_eq!(schedule.week_start, World::WEEK);
    let found = store.find_schedule(world.bu.id, World::WEEK).await.unwrap();
    assert_eq!(found.map(|s| s.id), Some(schedule.id));
    let page = store
        .shifts(schedule.id, ShiftFilter::default(), PageRequest::new(5, 4))
        .await
        .unwrap();
    assert_eq!(page.total, 12);
    assert_eq!(page.items.len(), 4);
    assert_eq!(page.next_offset(), Some(9));
    let expected: Vec<ShiftId> = world.schedule.shifts[5..9].iter().map(|s| s.id).collect();
    assert_eq!(
        page.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        expected
    );
    let mine = store
        .shifts(
            schedule.id,
            ShiftFilter {
                agent: Some(world.agents[1].id),
                ..ShiftFilter::default()
            },
            PageRequest::all(),
        )
        .await
        .unwrap();
    assert_eq!(mine.total, 3);
    assert!(
        mine.items
            .iter()
            .all(|s| s.owner == Some(world.agents[1].id))
    );
    let open = store
        .shifts(
            schedule.id,
            ShiftFilter {
                open: true,
                ..ShiftFilter::default()
            },
            PageRequest::all(),
        )
        .await
        .unwrap();
    let expected: Vec<ShiftId> = world
        .schedule
        .shifts
        .iter()
        .filter(|s| s.owner.is_none())
        .map(|s| s.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        open.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(open.total, expected.len() as u64);
    // The lean reads of a whole week and unit say the same as the full ones.
    for filter in [
        ShiftFilter::default(),
        ShiftFilter {
            open: true,
            ..ShiftFilter::default()
        },
        ShiftFilter {
            agent: Some(world.agents[1].id),
            ..ShiftFilter::default()
        },
    ] {
        let full = store
            .shifts(schedule.id, filter, PageRequest::all())
            .await
            .unwrap();
        let slots = store.shift_slots(schedule.id, filter).await.unwrap();
        let lean: Vec<_> = full
            .items
            .iter()
            .map(|s| rota_core::schedule::ShiftSlot {
                id: s.id,
                owner: s.owner,
                window: s.window,
                required_skill: s.required_skill.clone(),
                version: s.version,
            })
            .collect();
        assert_eq!(slots, lean);
    }
    let agents = store.agents(world.bu.id, PageRequest::all()).await.unwrap();
    let roster = store.roster(world.bu.id).await.unwrap();
    assert_eq!(
        roster
            .iter()
            .map(|r| (r.id, r.name.clone(), r.skills.clone()))
            .collect::<Vec<_>>(),
        agents
            .items
            .iter()
            .map(|a| (a.id, a.name.clone(), a.skills.clone()))
            .collect::<Vec<_>>()
    );
    let versions = store
        .versions(schedule.id, PageRequest::all())
        .await
        .unwrap();
    assert_eq!(versions.total, 1);
    assert_eq!(versions.items[0].change_count, 12);
    assert_replays(&store, schedule.id).await;
}

pub(crate) async fn a_swap_commits_one_version_that_replays_to_the_current_schedule(store: Store) {
    let world = setup(&store, 3, 12).await;
    let before = all_shifts(&store, world.schedule.id).await;
    // Shift 0 is agent 0's, shift 1 agent 1's, shift 3 is open.
    let req = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(0, 0, 1), (2, 2, 3)],
        SwapMode::Atomic,
    );
    let result = store
        .apply_swaps(&req, &ctx(world.now, "req-1"))
        .await
        .unwrap();
    assert!(
        result.outcomes.iter().all(ItemOutcome::is_applied),
        "{result:?}"
    );
    let record = result.committed.unwrap();
    assert_eq!(record.version.get(), 2);
    assert_eq!(record.request_id, "req-1");
    assert_eq!(record.change_count, 4);
    assert_eq!(result.current_version_id.version().get(), 2);
    let after = all_shifts(&store, world.schedule.id).await;
    let owner = |shifts: &[Shift], i: usize| {
        shifts
            .iter()
            .find(|s| s.id == world.schedule.shifts[i].id)
            .and_then(|s| s.owner)
    };
    assert_eq!(owner(&after, 0), Some(world.agents[1].id));
    assert_eq!(owner(&after, 1), Some(world.agents[0].id));
    assert_eq!(owner(&after, 2), None);
    assert_eq!(owner(&after, 3), Some(world.agents[2].id));
    let history = assert_replays(&store, world.schedule.id).await;
    assert_eq!(history.len(), 2);
    assert_eq!(
        store
            .schedule_as_of(world.schedule.id, ScheduleVersion::FIRST)
            .await
            .unwrap(),
        before
    );
    let since = store
        .changes_since(world.schedule.id, Some(ScheduleVersion::FIRST))
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].changes.len(), 4);
}

pub(crate) async fn a_change_to_an_untouched_shift_does_not_conflict_but_a_touched_one_does(
    store: Store,
) {
    let world = setup(&store, 3, 12).await;
    let first = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(0, 0, 1)],
        SwapMode::Atomic,
    );
    store
        .apply_swaps(&first, &ctx(world.now, "a"))
        .await
        .unwrap();
    // Based on version 1, over shifts 4 and 5 that nobody changed: applies.
    let unrelated = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(0, 4, 5)],
        SwapMode::Atomic,
    );
    let r = store
        .apply_swaps(&unrelated, &ctx(world.now, "b"))
        .await
        .unwrap();
    assert!(r.outcomes[0].is_applied(), "{r:?}");
    // Based on version 1, over shift 1 that version 2 changed: a conflict naming its state.
    let touched = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(1, 1, 2)],
        SwapMode::Atomic,
    );
    let r = store
        .apply_swaps(&touched, &ctx(world.now, "c"))
        .await
        .unwrap();
    match &r.outcomes[0] {
        ItemOutcome::Conflict {
            shifts,
            current_version_id,
        } => {
            assert_eq!(shifts.len(), 1);
            assert_eq!(shifts[0].id, world.schedule.shifts[1].id);
            assert_eq!(shifts[0].owner, Some(world.agents[0].id));
            assert_eq!(shifts[0].version.get(), 2);
            assert_eq!(current_version_id.version().get(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(r.committed.is_none());
    // The strict scope conflicts on the unrelated change too.
    let strict = SwapRequest {
        scope: ConflictScope::Schedule,
        ..swap_of(
            &world,
            ScheduleVersion::new(2).unwrap(),
            vec![(2, 6, 7)],
            SwapMode::Atomic,
        )
    };
    let r = store
        .apply_swaps(&strict, &ctx(world.now, "d"))
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0], ItemOutcome::Conflict { .. }));
    assert_eq!(
        store
            .schedule(world.schedule.id)
            .await
            .unwrap()
            .version
            .get(),
        3
    );
    assert_replays(&store, world.schedule.id).await;
}

pub(crate) async fn an_atomic_request_that_breaks_a_rule_changes_nothing(store: Store) {
    let world = setup(&store, 3, 12).await;
    // The second item's agent 0 does not own shift 5.
    let req = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(0, 0, 1), (0, 5, 6)],
        SwapMode::Atomic,
    );
    let r = store.apply_swaps(&req, &ctx(world.now, "x")).await.unwrap();
    assert_eq!(r.outcomes[0], ItemOutcome::Skipped);
    assert!(matches!(r.outcomes[1], ItemOutcome::Rejected { .. }));
    assert!(r.committed.is_none());
    assert_eq!(
        store.schedule(world.schedule.id).await.unwrap().version,
        ScheduleVersion::FIRST
    );
    // The same request in partial mode applies the valid item.
    let partial = SwapRequest {
        mode: SwapMode::Partial,
        ..req
    };
    let r = store
        .apply_swaps(&partial, &ctx(world.now, "y"))
        .await
        .unwrap();
    assert!(r.outcomes[0].is_applied());
    assert_eq!(r.committed.unwrap().change_count, 2);
    assert_replays(&store, world.schedule.id).await;
}

pub(crate) async fn publishing_is_a_version_and_is_idempotent(store: Store) {
    let world = setup(&store, 2, 4).await;
    let published = store
        .publish(world.schedule.id, &ctx(world.now, "pub"))
        .await
        .unwrap();
    assert_eq!(published.state, ScheduleState::Published);
    assert_eq!(published.version.get(), 2);
    let again = store
        .publish(world.schedule.id, &ctx(world.now, "pub2"))
        .await
        .unwrap();
    assert_eq!(again.version.get(), 2);
    let versions = store
        .versions(world.schedule.id, PageRequest::all())
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 2);
    assert_eq!(
        versions.items[0].cause,
        rota_core::version::VersionCause::Publish
    );
    assert_replays(&store, world.schedule.id).await;
}

pub(crate) async fn unknown_versions_and_schedules_are_errors(store: Store) {
    let world = setup(&store, 2, 4).await;
    let ahead = swap_of(
        &world,
        ScheduleVersion::new(7).unwrap(),
        vec![(0, 0, 1)],
        SwapMode::Atomic,
    );
    assert!(matches!(
        store.apply_swaps(&ahead, &ctx(world.now, "x")).await,
        Err(StoreError::Command(CommandError::UnknownVersion { .. }))
    ));
    let elsewhere = SwapRequest {
        base: ScheduleVersionId::new(ScheduleId::new(), ScheduleVersion::FIRST),
        ..ahead
    };
    assert!(matches!(
        store.apply_swaps(&elsewhere, &ctx(world.now, "x")).await,
        Err(StoreError::Command(CommandError::ScheduleNotFound(_)))
    ));
    assert!(matches!(
        store.schedule(ScheduleId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .schedule_as_of(world.schedule.id, ScheduleVersion::new(2).unwrap())
            .await,
        Err(StoreError::Command(CommandError::UnknownVersion { .. }))
    ));
    assert_eq!(
        store.schedule(world.schedule.id).await.unwrap().version,
        ScheduleVersion::FIRST
    );
}

/// A pickup from a page that showed the shift before it changed conflicts, under the
/// command's lock, and changes nothing; from a page that showed it as it is, it applies.
pub(crate) async fn a_pickup_from_a_stale_page_is_a_conflict(store: Store) {
    use rota_core::store::TradeStore;
    let world = setup(&store, 2, 4).await;
    store
        .publish(world.schedule.id, &ctx(world.now, "p"))
        .await
        .unwrap();
    let shift = world.schedule.shifts[0].id;
    let opened = ShiftEdit {
        shift_id: shift,
        expected_version: ScheduleVersion::FIRST,
        change: EditChange::Open,
    };
    store
        .edit_shift(&opened, &ctx(world.now, "open"))
        .await
        .unwrap();
    let pickup = rota_core::engine::SelfServiceAction::Pickup;
    let agent = world.agents[1].id;
    match store
        .self_service(
            shift,
            agent,
            pickup,
            Some(ScheduleVersion::FIRST),
            &ctx(world.now, "s1"),
        )
        .await
    {
        Err(StoreError::Command(CommandError::ShiftVersionConflict { current, .. })) => {
            assert_eq!(current.owner, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.shift(shift).await.unwrap().owner, None);
    let seen = store.shift(shift).await.unwrap().version;
    let done = store
        .self_service(shift, agent, pickup, Some(seen), &ctx(world.now, "s2"))
        .await
        .unwrap();
    assert!(done.outcomes[0].is_applied());
    assert_eq!(store.shift(shift).await.unwrap().owner, Some(agent));
}

pub(crate) async fn a_stale_single_shift_edit_is_a_conflict(store: Store) {
    let world = setup(&store, 2, 4).await;
    let shift = world.schedule.shifts[0].id;
    let edit = ShiftEdit {
        shift_id: shift,
        expected_version: ScheduleVersion::FIRST,
        change: EditChange::Open,
    };
    let r = store
        .edit_shift(&edit, &ctx(world.now, "e1"))
        .await
        .unwrap();
    assert_eq!(
        r.committed.unwrap().cause,
        rota_core::version::VersionCause::SupervisorEdit
    );
    let reassign = ShiftEdit {
        change: EditChange::Reassign {
            agent_id: world.agents[1].id,
        },
        ..edit
    };
    match store.edit_shift(&reassign, &ctx(world.now, "e2")).await {
        Err(StoreError::Command(CommandError::ShiftVersionConflict { current, .. })) => {
            assert_eq!(current.owner, None);
            assert_eq!(current.version.get(), 2);
        }
        other => panic!("{other:?}"),
    }
    let fresh = ShiftEdit {
        expected_version: ScheduleVersion::new(2).unwrap(),
        ..reassign
    };
    store
        .edit_shift(&fresh, &ctx(world.now, "e3"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .edit_shift(
                &ShiftEdit {
                    shift_id: ShiftId::new(),
                    ..fresh
                },
                &ctx(world.now, "e4")
            )
            .await,
        Err(StoreError::Command(CommandError::ShiftNotFound(_)))
    ));
    assert_replays(&store, world.schedule.id).await;
}

pub(crate) async fn agents_and_availability_round_trip(store: Store) {
    let world = setup(&store, 3, 4).await;
    let mu = ManagementUnit::new(world.bu.id, "Team A").unwrap();
    store.create_management_unit(&mu).await.unwrap();
    let agent: Agent = store.agent(world.agents[0].id).await.unwrap();
    assert_eq!(agent, world.agents[0]);
    let page = store
        .agents(world.bu.id, PageRequest::new(0, 2))
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 2);
    let units = store.business_units(PageRequest::all()).await.unwrap();
    assert_eq!(units.items, vec![world.bu.clone()]);
    let availability = rota_core::directory::Availability::new(
        [(
            jiff::civil::Weekday::Monday,
            rota_core::directory::LocalSpan::parse("08:00", "12:00").unwrap(),
        )],
        [(date(2026, 12, 1), vec![])],
    );
    let updated = store
        .set_availability(world.agents[0].id, &availability)
        .await
        .unwrap();
    assert_eq!(updated.availability, availability);
    assert!(matches!(
        store.set_availability(AgentId::new(), &availability).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A week starting on a Wednesday would overlap its neighbours; one ten thousand years ago is
/// no week anyone plans.
pub(crate) async fn a_week_starts_on_its_units_first_day_in_a_sane_year(store: Store) {
    let world = setup(&store, 2, 4).await;
    for week in [date(2026, 12, 9), date(-9999, 1, 4)] {
        let odd = rota_core::schedule::NewSchedule {
            id: ScheduleId::new(),
            week_start: week,
            shifts: vec![],
            ..world.schedule.clone()
        };
        match store.import_schedule(&odd, &ctx(world.now, "odd")).await {
            Err(StoreError::Command(CommandError::Rejected(v))) => {
                assert_eq!(
                    v[0].code,
                    rota_core::command::ViolationCode::InvalidWeekStart
                )
            }
            other => panic!("{week}: {other:?}"),
        }
    }
}

pub(crate) async fn duplicate_schedules_are_refused(store: Store) {
    let world = setup(&store, 2, 4).await;
    let again = rota_core::schedule::NewSchedule {
        id: ScheduleId::new(),
        shifts: vec![],
        ..world.schedule.clone()
    };
    // Named as the domain names it, not by the database's text (tables, columns, constraints).
    match store.import_schedule(&again, &ctx(world.now, "dup")).await {
        Err(StoreError::AlreadyExists(what)) => {
            assert_eq!(what, "a schedule of this business unit for this week")
        }
        other => panic!("{other:?}"),
    }
}

/// A shift starts within its schedule's week: an import with a shift outside it is refused,
/// and so is a move out of the week.
pub(crate) async fn shifts_stay_in_their_week(store: Store) {
    let mut world = World::disjoint(2, 4);
    store.create_business_unit(&world.bu).await.unwrap();
    store.create_agents(&world.agents).await.unwrap();
    let week_start = world.bu.time_zone.instant(World::WEEK, 0);
    let before = week_start
        .checked_sub(jiff::SignedDuration::from_mins(30))
        .unwrap();
    let mut outside = world.schedule.clone();
    outside.shifts.push(testkit::shift(None, before, 60));
    let refused = store.import_schedule(&outside, &ctx(world.now, "i1")).await;
    match refused {
        Err(StoreError::Command(CommandError::Rejected(v))) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].code.as_str(), "SHIFT_OUTSIDE_WEEK");
        }
        other => panic!("expected SHIFT_OUTSIDE_WEEK, got {other:?}"),
    }
    assert!(
        store
            .find_schedule(world.bu.id, World::WEEK)
            .await
            .unwrap()
            .is_none()
    );
    world.schedule.id = ScheduleId::new();
    store
        .import_schedule(&world.schedule, &ctx(world.now, "i2"))
        .await
        .unwrap();
    let shift = &world.schedule.shifts[0];
    let edit = ShiftEdit {
        shift_id: shift.id,
        expected_version: ScheduleVersion::FIRST,
        change: EditChange::Move {
            window: rota_core::schedule::TimeWindow::new(before, week_start).unwrap(),
        },
    };
    match store.edit_shift(&edit, &ctx(world.now, "e1")).await {
        Err(StoreError::Command(CommandError::Rejected(v))) => {
            assert!(
                v.iter().any(|v| v.code.as_str() == "SHIFT_OUTSIDE_WEEK"),
                "{v:?}"
            );
        }
        other => panic!("expected SHIFT_OUTSIDE_WEEK, got {other:?}"),
    }
    assert_eq!(
        store.schedule(world.schedule.id).await.unwrap().version,
        ScheduleVersion::FIRST
    );
}

/// Two neighbouring weeks imported one after the other: a shift of the second that overlaps
/// its agent's night shift across the first week's edge is refused (OVERLAP naming both);
/// the same shift for another agent imports.
pub(crate) async fn an_import_that_overlaps_a_neighbouring_weeks_shift_is_refused(store: Store) {
    let world = setup(&store, 2, 4).await;
    let zone = &world.bu.time_zone;
    let week = |weeks: i64| {
        World::WEEK
            .checked_add(jiff::Span::new().weeks(weeks))
            .unwrap()
    };
    let edge = zone.instant(week(3), 0);
    let hours = |h: i64| {
        edge.checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    let night = testkit::shift(Some(&world.agents[0]), hours(-2), 8 * 60);
    let before = rota_core::schedule::NewSchedule {
        id: ScheduleId::new(),
        business_unit_id: world.bu.id,
        week_start: week(2),
        shifts: vec![night.clone()],
    };
    store
        .import_schedule(&before, &ctx(world.now, "before"))
        .await
        .unwrap();
    let after = |agent: usize| rota_core::schedule::NewSchedule {
        id: ScheduleId::new(),
        business_unit_id: world.bu.id,
        week_start: week(3),
        shifts: vec![testkit::shift(Some(&world.agents[agent]), hours(4), 8 * 60)],
    };
    let clashing = after(0);
    match store
        .import_schedule(&clashing, &ctx(world.now, "after"))
        .await
    {
        Err(StoreError::Command(CommandError::Rejected(v))) => {
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!(v[0].code, rota_core::command::ViolationCode::Overlap);
            assert_eq!(v[0].shift_id, Some(clashing.shifts[0].id));
            assert!(v[0].detail.contains(&night.id.to_string()), "{v:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.find_schedule(world.bu.id, week(3)).await.unwrap(),
        None
    );
    store
        .import_schedule(&after(1), &ctx(world.now, "after"))
        .await
        .unwrap();
}

conformance!(
    an_imported_week_reads_back_as_version_1,
    a_swap_commits_one_version_that_replays_to_the_current_schedule,
    a_change_to_an_untouched_shift_does_not_conflict_but_a_touched_one_does,
    an_atomic_request_that_breaks_a_rule_changes_nothing,
    publishing_is_a_version_and_is_idempotent,
    unknown_versions_and_schedules_are_errors,
    a_stale_single_shift_edit_is_a_conflict,
    a_pickup_from_a_stale_page_is_a_conflict,
    agents_and_availability_round_trip,
    duplicate_schedules_are_refused,
    a_week_starts_on_its_units_first_day_in_a_sane_year,
    shifts_stay_in_their_week,
    a_request_larger_than_one_update_statement_applies_whole,
    an_import_that_overlaps_a_neighbouring_weeks_shift_is_refused,
);
