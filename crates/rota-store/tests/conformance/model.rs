//! The store against the reference model and under concurrent writers: random interleavings, eight writers, and what another instance wrote reaching the rule checks.

use super::*;

/// Adapts a store to the synchronous property-test harness.
struct StoreSubject<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: Store,
    schedule: ScheduleId,
}

impl StoreSubject<'_> {
    /// Changes the settings of the schedule's business unit as `change` says.
    fn change_settings(
        &mut self,
        change: impl FnOnce(&mut rota_core::trade::BusinessUnitSettings),
    ) {
        use rota_core::store::TradeStore;
        let bu = self
            .rt
            .block_on(self.store.schedule(self.schedule))
            .unwrap()
            .business_unit_id;
        let mut settings = self.rt.block_on(self.store.settings(bu)).unwrap();
        change(&mut settings);
        self.rt
            .block_on(self.store.set_settings(bu, &settings))
            .unwrap();
    }
}

impl Subject for StoreSubject<'_> {
    fn set_guard(&mut self, guard: &rota_core::coverage::CoverageGuard) {
        self.change_settings(|s| s.coverage = *guard);
    }
    fn set_requirements(
        &mut self,
        runs: &[rota_core::coverage::RequirementRun],
        ctx: &CommitContext,
    ) {
        use rota_core::store::CoverageStore;
        self.rt
            .block_on(self.store.set_requirements(self.schedule, runs, ctx))
            .unwrap();
    }
    fn coverage(&mut self) -> rota_core::coverage::Cells {
        use rota_core::store::CoverageStore;
        self.rt
            .block_on(self.store.coverage(self.schedule, None))
            .unwrap()
            .cells
    }
    fn apply_swaps(
        &mut self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        match self.rt.block_on(self.store.apply_swaps(req, ctx)) {
            Ok(r) => Ok(r),
            Err(StoreError::Command(c)) => Err(c),
            Err(e) => panic!("store failed: {e}"),
        }
    }
    fn edit_shift(
        &mut self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> Result<SwapResult, CommandError> {
        match self.rt.block_on(self.store.edit_shift(edit, ctx)) {
            Ok(r) => Ok(r),
            Err(StoreError::Command(c)) => Err(c),
            Err(e) => panic!("store failed: {e}"),
        }
    }
    fn shifts(&mut self) -> Vec<Shift> {
        self.rt.block_on(all_shifts(&self.store, self.schedule))
    }
    fn version(&mut self) -> ScheduleVersion {
        self.rt
            .block_on(self.store.schedule(self.schedule))
            .unwrap()
            .version
    }
    fn history(&mut self) -> Vec<VersionChanges> {
        self.rt
            .block_on(self.store.changes_since(self.schedule, None))
            .unwrap()
    }
    fn time_off(
        &mut self,
        agent: AgentId,
        (from, to): (jiff::Timestamp, jiff::Timestamp),
        ctx: &CommitContext,
    ) -> bool {
        use rota_core::store::TimeOffStore;
        use rota_core::timeoff::{ApprovalPolicy, TimeOffEffect, TimeOffError, TimeOffState};
        self.change_settings(|s| {
            s.time_off.approval = ApprovalPolicy::Always;
            s.time_off.effect = TimeOffEffect::Open;
        });
        let new = rota_core::timeoff::NewTimeOff {
            agent_id: agent,
            code: rota_core::schedule::ActivityCode::parse("sick").unwrap(),
            span: rota_core::timeoff::Span::Window(from, to),
            note: None,
        };
        match self.rt.block_on(self.store.request_time_off(&new, ctx)) {
            Ok(r) => {
                assert_eq!(r.state, TimeOffState::Approved);
                true
            }
            Err(StoreError::TimeOff(TimeOffError::Refused(v)))
                if v.iter().all(|v| {
                    v.code == rota_core::command::ViolationCode::ConflictingTimeOffRequest
                }) =>
            {
                false
            }
            Err(e) => panic!("store failed: {e}"),
        }
    }
}

/// Drives a fresh store per case through random interleavings of 3 writers (up to 25
/// operations), checked against the reference model step by step: on the world `world` makes
/// for the guard action each case draws from `actions`.
fn store_follows_the_model(
    cases: u32,
    connect: impl Fn(&tokio::runtime::Runtime) -> Option<Store>,
    world: impl Fn(rota_core::trade::RuleAction) -> World,
    actions: impl proptest::strategy::Strategy<Value = rota_core::trade::RuleAction>,
) {
    use rota_core::trade::RuleAction;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if connect(&rt).is_none() {
        return;
    }
    let shape = world(RuleAction::Allow);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&(testkit::ops(&shape, 3, 25), actions), |(ops, action)| {
            let store = connect(&rt).unwrap();
            let world = world(action);
            rt.block_on(world.load(&store)).unwrap();
            let mut subject = StoreSubject {
                rt: &rt,
                store,
                schedule: world.schedule.id,
            };
            testkit::run(&mut subject, &world, 3, &ops)
        })
        .unwrap();
}

fn store_follows_the_reference_model(
    cases: u32,
    connect: impl Fn(&tokio::runtime::Runtime) -> Option<Store>,
) {
    let allow = proptest::strategy::Just(rota_core::trade::RuleAction::Allow);
    store_follows_the_model(cases, connect, |_| World::disjoint(5, 16), allow);
}

/// The staffed world (activities with a break, a requirement per interval) under the coverage
/// guard allowing, refusing or holding what leaves an interval short, in turn: coverage read
/// after every step equals the reference's minute-by-minute count, and equals the coverage of
/// the replayed schedule at the end; guarded, no step leaves an interval newly short.
fn store_keeps_and_guards_coverage(
    cases: u32,
    connect: impl Fn(&tokio::runtime::Runtime) -> Option<Store>,
) {
    use proptest::prelude::*;
    use rota_core::trade::RuleAction;
    let actions = prop_oneof![
        Just(RuleAction::Allow),
        Just(RuleAction::Deny),
        Just(RuleAction::Supervisor)
    ];
    store_follows_the_model(cases, connect, |a| World::staffed(5, 16, a), actions);
}

/// 36 cases of up to 25 operations from 3 writers, each on a fresh SQLite database.
#[test]
fn sqlite_store_keeps_and_guards_coverage() {
    store_keeps_and_guards_coverage(36, |rt| Some(rt.block_on(sqlite())));
}

/// 24 cases of up to 25 operations from 3 writers, each in a fresh PostgreSQL schema.
#[test]
fn postgres_store_keeps_and_guards_coverage() {
    store_keeps_and_guards_coverage(24, |rt| rt.block_on(postgres()).map(|(s, _)| s));
}

/// 48 cases of up to 25 operations from 3 writers, each on a fresh SQLite database.
#[test]
fn sqlite_store_follows_the_reference_model() {
    store_follows_the_reference_model(48, |rt| Some(rt.block_on(sqlite())));
}

/// 24 cases of up to 25 operations from 3 writers, each in a fresh PostgreSQL schema.
#[test]
fn postgres_store_follows_the_reference_model() {
    store_follows_the_reference_model(24, |rt| rt.block_on(postgres()).map(|(s, _)| s));
}

/// What one concurrent writer saw commit: for each swap it applied, the base and the shifts.
type Applied = Vec<(ScheduleVersion, ScheduleVersion, Vec<ShiftId>)>;

/// Eight writers, each with its own store (own pool, own connections), swap and edit
/// overlapping shifts of one schedule from views that go stale, `steps` commands each.
async fn eight_writers(stores: Vec<Store>, world: World, steps: u32) {
    let world = Arc::new(world);
    let mut tasks = Vec::new();
    for (w, store) in stores.into_iter().enumerate() {
        let world = Arc::clone(&world);
        tasks.push(tokio::spawn(async move {
            let mut applied: Applied = Vec::new();
            let mut rng = w as u64 * 7919 + 17;
            let mut next = move |n: usize| {
                // xorshift: deterministic per writer, no shared state.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            };
            let mut view = all_shifts(&store, world.schedule.id).await;
            let mut base = store.schedule(world.schedule.id).await.unwrap().version;
            let mut step = 0u32;
            while step < steps {
                step += 1;
                let context = ctx(world.now, &format!("w{w}-{step}"));
                if next(4) == 0 {
                    view = all_shifts(&store, world.schedule.id).await;
                    base = store.schedule(world.schedule.id).await.unwrap().version;
                }
                let outcome = if next(5) == 0 {
                    let s = &view[next(view.len())];
                    let change = match next(2) {
                        0 => EditChange::Open,
                        _ => EditChange::Reassign {
                            agent_id: world.agents[next(world.agents.len())].id,
                        },
                    };
                    let edit = ShiftEdit {
                        shift_id: s.id,
                        expected_version: s.version,
                        change,
                    };
                    store.edit_shift(&edit, &context).await.map(|_| ())
                } else {
                    let items: Vec<SwapItem> = (0..1 + next(4))
                        .filter_map(|_| {
                            let o = &view[next(view.len())];
                            let n = &view[next(view.len())];
                            Some(SwapItem {
                                agent_id: o.owner?,
                                original_shift_id: o.id,
                                new_shift_id: n.id,
                                reason_code: ReasonCode::Coverage,
                                counterpart_agent_id: n.owner,
                            })
                        })
                        .collect();
                    if items.is_empty() {
                        continue;
                    }
                    let req = SwapRequest {
                        base: ScheduleVersionId::new(world.schedule.id, base),
                        items,
                        effective_date: None,
                        mode: if next(2) == 0 {
                            SwapMode::Atomic
                        } else {
                            SwapMode::Partial
                        },
                        scope: ConflictScope::Shifts,
                    };
                    store.apply_swaps(&req, &context).await.map(|r| {
                        if let Some(record) = r.committed {
                            let touched = req
                                .items
                                .iter()
                                .zip(&r.outcomes)
                                .filter(|(_, o)| o.is_applied())
                                .flat_map(|(i, _)| i.shifts())
                                .collect();
                            applied.push((record.version, base, touched));
                        }
                    })
                };
                match outcome {
                    Ok(()) | Err(StoreError::Command(_)) => {}
                    // A lock wait that timed out is retryable, not a failure of the invariants.
                    Err(StoreError::Busy(_)) => tokio::task::yield_now().await,
                    Err(e) => panic!("writer {w}: {e}"),
                }
            }
            (store, applied)
        }));
    }
    let mut applied: Applied = Vec::new();
    let mut store = None;
    for t in tasks {
        let (s, a) = t.await.unwrap();
        applied.extend(a);
        store = Some(s);
    }
    let store = store.unwrap();
    let history = assert_replays(&store, world.schedule.id).await;
    assert!(
        history.len() > 10,
        "the writers committed only {} versions",
        history.len()
    );
    let bases: BTreeMap<ScheduleVersion, (ScheduleVersion, Vec<ShiftId>)> =
        applied.into_iter().map(|(v, b, t)| (v, (b, t))).collect();
    let mut last_change: BTreeMap<ShiftId, ScheduleVersion> = BTreeMap::new();
    let mut swaps = 0;
    for entry in &history {
        if let Some((base, touched)) = bases.get(&entry.record.version) {
            swaps += 1;
            for id in touched {
                let previous = last_change
                    .get(id)
                    .copied()
                    .unwrap_or(ScheduleVersion::FIRST);
                assert!(
                    previous <= *base,
                    "version {} swapped shift {id} that version {previous} changed after base {base}",
                    entry.record.version
                );
            }
        }
        for c in &entry.changes {
            last_change.insert(c.shift_id, entry.record.version);
        }
    }
    assert!(swaps > 0, "no swap applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sqlite_connections_never_lose_an_update() {
    let url = temp_sqlite_url();
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(Store::Sqlite(
            SqliteStore::connect(&url, Durability::Normal)
                .await
                .unwrap(),
        ));
    }
    let world = setup(&stores[0], 8, 48).await;
    eight_writers(stores, world, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_postgres_connections_never_lose_an_update() {
    let Some((first, url)) = postgres().await else {
        return;
    };
    let mut stores = vec![first.clone()];
    for _ in 1..8 {
        stores.push(same_postgres(&first, &url).await);
    }
    let world = setup(&first, 8, 48).await;
    eight_writers(stores, world, 100).await;
}

/// The codes of the violations of a single-item request's outcome.
fn violation_codes(result: &SwapResult) -> Vec<&'static str> {
    match &result.outcomes[0] {
        ItemOutcome::Rejected { violations } => {
            violations.iter().map(|v| v.code.as_str()).collect()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Each store instance keeps a write cache of decoded schedules and agents. Changes made
/// through another instance (another API node, another process on the SQLite file) must reach
/// the rule checks of this one: an agent's availability, a shift's owner and version, and a
/// neighbouring week that did not exist when the cache was filled.
async fn writes_of_another_instance_reach_the_rule_checks(a: Store, b: Store) {
    let world = setup(&a, 3, 8).await;
    let agent = |i: usize| world.agents[i].id;
    let swap = |base, agent_ix: usize, o: usize, n: usize| {
        swap_of(&world, base, vec![(agent_ix, o, n)], SwapMode::Atomic)
    };
    // Shift k is owned by agent k % 4 (3 = open). A fills its cache with this swap: agent 0
    // gives shift 0 and takes shift 1 from agent 1.
    let first = a
        .apply_swaps(
            &swap(ScheduleVersion::FIRST, 0, 0, 1),
            &ctx(world.now, "a1"),
        )
        .await
        .unwrap();
    assert!(first.committed.is_some(), "{:?}", first.outcomes);
    let base = first.current_version_id.version();

    // Through B, agent 1 becomes available never; A must not give them a shift.
    let never = rota_core::directory::Availability::new([], []);
    b.set_availability(agent(1), &never).await.unwrap();
    let refused = a
        .apply_swaps(&swap(base, 0, 1, 0), &ctx(world.now, "a2"))
        .await;
    let refused = refused.unwrap();
    assert!(refused.committed.is_none());
    assert_eq!(violation_codes(&refused), vec!["NOT_AVAILABLE"]);

    // Through B, shift 2 (agent 2's) goes to agent 0; A must see the new owner and version.
    let shift2 = all_shifts(&b, world.schedule.id)
        .await
        .into_iter()
        .find(|s| s.id == world.schedule.shifts[2].id)
        .unwrap();
    let edit = ShiftEdit {
        shift_id: shift2.id,
        expected_version: shift2.version,
        change: EditChange::Reassign { agent_id: agent(0) },
    };
    let edited = b.edit_shift(&edit, &ctx(world.now, "b1")).await.unwrap();
    let stale = a
        .apply_swaps(&swap(base, 2, 2, 7), &ctx(world.now, "a3"))
        .await
        .unwrap();
    assert!(stale.committed.is_none());
    match &stale.outcomes[0] {
        ItemOutcome::Conflict { shifts, .. } => {
            assert_eq!(shifts.len(), 1);
            assert_eq!(shifts[0].owner, Some(agent(0)));
        }
        other => panic!("expected a conflict on shift 2, got {other:?}"),
    }
    let now_version = edited.current_version_id.version();
    let refused = a
        .apply_swaps(&swap(now_version, 2, 2, 7), &ctx(world.now, "a4"))
        .await
        .unwrap();
    assert_eq!(violation_codes(&refused), vec!["SHIFT_NOT_OWNED"]);

    // Through B, the previous week is imported with a shift of agent 2 that runs into this
    // week's first hour; A must check agent 2 against it (shift 0 is agent 1's now).
    let zone = &world.bu.time_zone;
    let week_start = zone.instant(World::WEEK, 0);
    let late = week_start
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let previous = rota_core::schedule::NewSchedule {
        id: ScheduleId::new(),
        business_unit_id: world.bu.id,
        week_start: World::WEEK.checked_sub(jiff::Span::new().days(7)).unwrap(),
        shifts: vec![testkit::shift(Some(&world.agents[2]), late, 150)],
    };
    b.import_schedule(&previous, &ctx(world.now, "b2"))
        .await
        .unwrap();
    // Agent 2 gives shift 6 and takes shift 0 (agent 1's), which overlaps the late shift.
    let overlap = a
        .apply_swaps(&swap(now_version, 2, 6, 0), &ctx(world.now, "a5"))
        .await
        .unwrap();
    assert!(overlap.committed.is_none());
    assert!(
        violation_codes(&overlap).contains(&"OVERLAP"),
        "{:?}",
        overlap.outcomes
    );
    assert_replays(&a, world.schedule.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_of_another_instance_reach_the_rule_checks() {
    let (a, b) = two_sqlite_instances().await;
    writes_of_another_instance_reach_the_rule_checks(a, b).await;
}

/// Two store instances on one new SQLite file: two processes on it, each with its caches.
pub(crate) async fn two_sqlite_instances() -> (Store, Store) {
    let url = temp_sqlite_url();
    let open = || async {
        Store::Sqlite(
            SqliteStore::connect(&url, Durability::Normal)
                .await
                .unwrap(),
        )
    };
    (open().await, open().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_of_another_instance_reach_the_rule_checks() {
    let Some((a, url)) = postgres().await else {
        return;
    };
    let b = same_postgres(&a, &url).await;
    writes_of_another_instance_reach_the_rule_checks(a, b).await;
}
