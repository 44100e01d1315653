//! The conformance suite: the same cases against SQLite (always) and PostgreSQL (when
//! `ROTA_TEST_DATABASE_URL` is set). Each test gets its own database file or schema.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the test loudly

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::civil::date;
use proptest::test_runner::{Config, TestRunner};
use rota_core::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ReasonCode, ShiftEdit, SwapItem,
    SwapMode, SwapRequest, SwapResult,
};
use rota_core::directory::{Agent, ManagementUnit};
use rota_core::ids::{AgentId, ScheduleId, ShiftId};
use rota_core::replay::replay;
use rota_core::schedule::{ScheduleState, Shift};
use rota_core::store::{DirectoryStore, PageRequest, ScheduleStore, ShiftFilter, StoreError};
use rota_core::testkit::{self, Subject, World, ctx};
use rota_core::version::{CommitContext, ScheduleVersion, ScheduleVersionId, VersionChanges};
use rota_store::{Durability, PgStore, SqliteStore, Store};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether a test database named with a v7 UUID (`{prefix}{uuid}…`) is over an hour old: the
/// leftover of an earlier run (tests do not remove their databases, which they may still use
/// while others start), swept once per run.
fn stale(name: &str, prefix: &str) -> bool {
    let Some(id) = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.get(..32))
        .and_then(|hex| uuid::Uuid::try_parse(hex).ok())
    else {
        return false;
    };
    let Some(at) = id.get_timestamp() else {
        return false;
    };
    let (secs, _) = at.to_unix();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(secs) > 3600
}

static SWEPT_FILES: std::sync::Once = std::sync::Once::new();
static SWEPT_SCHEMAS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn temp_sqlite_url() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join("rota-tests");
    let _ = std::fs::create_dir_all(&dir);
    SWEPT_FILES.call_once(|| {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // `{pid}-{uuid}-{n}.db` and its -wal and -shm files.
            let prefix = name
                .split('-')
                .next()
                .map_or(String::new(), |p| format!("{p}-"));
            if stale(&name, &prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    let path = dir.join(format!(
        "{}-{}-{n}.db",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    format!("sqlite://{}", path.display())
}

async fn sqlite() -> Store {
    Store::Sqlite(
        SqliteStore::connect(&temp_sqlite_url(), Durability::Normal)
            .await
            .unwrap(),
    )
}

/// A fresh schema on the test PostgreSQL, or `None` (said once per test) when none is set.
/// A set but unreachable database fails the test: CI must not pass by skipping.
async fn postgres() -> Option<(Store, String)> {
    let Ok(url) = std::env::var("ROTA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("ROTA_REQUIRE_POSTGRES").is_none(),
            "ROTA_REQUIRE_POSTGRES is set: the PostgreSQL case must run, set ROTA_TEST_DATABASE_URL"
        );
        eprintln!("skipped on PostgreSQL: ROTA_TEST_DATABASE_URL is not set");
        return None;
    };
    SWEPT_SCHEMAS
        .get_or_init(|| async {
            let Ok(pool) = sqlx::PgPool::connect(&url).await else {
                return;
            };
            let schemas: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'rota\\_test\\_%'",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
            for schema in schemas.iter().filter(|s| stale(s, "rota_test_")) {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
            }
        })
        .await;
    let schema = format!("rota_test_{}", uuid::Uuid::now_v7().simple());
    let store = PgStore::connect(&url, Some(&schema))
        .await
        .unwrap_or_else(|e| {
            panic!("ROTA_TEST_DATABASE_URL is set but PostgreSQL is unusable: {e}")
        });
    Some((Store::Postgres(store), url))
}

/// Another store instance (as another API node would be) on `store`'s schema.
async fn same_postgres(store: &Store, url: &str) -> Store {
    let Store::Postgres(pg) = store else {
        panic!("not a PostgreSQL store")
    };
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    Store::Postgres(PgStore::connect(url, Some(&schema)).await.unwrap())
}

/// A key claimed by a request that is still running (a multi-transaction command), as the
/// record a command would try to store under it: any command using it must roll back.
async fn held_key(store: &Store, now: jiff::Timestamp) -> rota_core::store::IdempotencyRecord {
    use rota_core::store::IdempotencyStore;
    let claim = rota_core::store::IdempotencyClaim {
        client: "someone".into(),
        key: "held".into(),
    };
    let minute = Duration::from_secs(60);
    let claimed = store.claim(&claim, "h", now, minute, minute).await.unwrap();
    assert_eq!(claimed, rota_core::store::ClaimOutcome::Claimed);
    rota_core::store::IdempotencyRecord {
        claim,
        request_hash: "h".into(),
        expires_at: now.checked_add(minute).unwrap(),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some((store, _)) = super::postgres().await {
                        super::$name(store).await;
                    }
                }
            )*
        }
    };
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
    a_matched_trade_holds_its_shifts_and_applies_through_the_engine,
    events_are_written_with_their_commit_and_leased_in_order,
    two_dispatchers_never_lease_the_same_delivery,
    ten_subscriptions_each_get_every_event_in_commit_order,
    a_re_enabled_subscription_delivers_its_backlog_in_order,
    retention_forgets_what_was_delivered_and_keeps_what_is_still_owed,
    a_queue_is_leased_in_order_and_what_follows_a_failure_waits,
    expired_tokens_are_purged,
    shifts_stay_in_their_week,
    a_request_larger_than_one_update_statement_applies_whole,
    a_requirement_change_is_a_version_with_its_event_and_coverage_reads_as_of_it,
    schedules_from_before_coverage_get_theirs_when_the_store_opens,
    a_move_keeps_offsets_and_a_moved_start_alone_keeps_clock_times,
    approval_trims_the_shift_deducts_and_cancel_returns,
    refusals_waitlist_override_and_opening,
    two_requests_race_for_the_last_place,
    an_approval_and_a_bulk_swap_race_for_a_covered_shift,
    time_off_that_leaves_coverage_short_waits_for_a_supervisor,
    time_off_across_a_week_boundary_changes_both_weeks,
    a_sign_in_link_works_once_and_a_session_ends_with_a_new_password,
    concurrent_failures_all_count_and_the_lock_is_bounded,
    what_a_user_saw_only_moves_forward,
    a_batch_runs_report_grows_chunk_by_chunk,
);

#[path = "conformance/batch_runs.rs"]
mod batch_runs;
use batch_runs::a_batch_runs_report_grows_chunk_by_chunk;

#[path = "conformance/users.rs"]
mod users;
use users::{
    a_sign_in_link_works_once_and_a_session_ends_with_a_new_password,
    concurrent_failures_all_count_and_the_lock_is_bounded, what_a_user_saw_only_moves_forward,
};

#[path = "conformance/time_off.rs"]
mod time_off;
use time_off::{
    an_approval_and_a_bulk_swap_race_for_a_covered_shift,
    approval_trims_the_shift_deducts_and_cancel_returns, refusals_waitlist_override_and_opening,
    time_off_across_a_week_boundary_changes_both_weeks,
    time_off_that_leaves_coverage_short_waits_for_a_supervisor,
    two_requests_race_for_the_last_place,
};

async fn setup(store: &Store, agents: usize, shifts: usize) -> World {
    let world = World::disjoint(agents, shifts);
    world.load(store).await.unwrap();
    world
}

fn swap_of(
    world: &World,
    base: ScheduleVersion,
    items: Vec<(usize, usize, usize)>,
    mode: SwapMode,
) -> SwapRequest {
    SwapRequest {
        base: ScheduleVersionId::new(world.schedule.id, base),
        items: items
            .into_iter()
            .map(|(agent, o, n)| SwapItem {
                agent_id: world.agents[agent].id,
                original_shift_id: world.schedule.shifts[o].id,
                new_shift_id: world.schedule.shifts[n].id,
                reason_code: ReasonCode::Preference,
                counterpart_agent_id: None,
            })
            .collect(),
        effective_date: None,
        mode,
        scope: ConflictScope::Shifts,
    }
}

async fn all_shifts(store: &Store, id: ScheduleId) -> Vec<Shift> {
    store
        .shifts(id, ShiftFilter::default(), PageRequest::all())
        .await
        .unwrap()
        .items
}

/// The final state equals the replay of the history.
async fn assert_replays(store: &Store, id: ScheduleId) -> Vec<VersionChanges> {
    let history = store.changes_since(id, None).await.unwrap();
    let replayed = replay(&history).unwrap();
    let current: BTreeMap<ShiftId, _> = all_shifts(store, id)
        .await
        .into_iter()
        .map(|s| (s.id, (s.state(), s.version)))
        .collect();
    let replayed: BTreeMap<ShiftId, _> = replayed
        .into_iter()
        .map(|(k, r)| (k, (r.state, r.version)))
        .collect();
    assert_eq!(
        current, replayed,
        "the current schedule differs from the replay of its history"
    );
    history
}

/// 150 swaps change 300 shifts: more than one `UPDATE shifts` statement of the commit holds.
async fn a_request_larger_than_one_update_statement_applies_whole(store: Store) {
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

async fn an_imported_week_reads_back_as_version_1(store: Store) {
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

async fn a_swap_commits_one_version_that_replays_to_the_current_schedule(store: Store) {
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

async fn a_change_to_an_untouched_shift_does_not_conflict_but_a_touched_one_does(store: Store) {
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

async fn an_atomic_request_that_breaks_a_rule_changes_nothing(store: Store) {
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

async fn publishing_is_a_version_and_is_idempotent(store: Store) {
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

async fn unknown_versions_and_schedules_are_errors(store: Store) {
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
async fn a_pickup_from_a_stale_page_is_a_conflict(store: Store) {
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

async fn a_stale_single_shift_edit_is_a_conflict(store: Store) {
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

async fn agents_and_availability_round_trip(store: Store) {
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
async fn a_week_starts_on_its_units_first_day_in_a_sane_year(store: Store) {
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

async fn duplicate_schedules_are_refused(store: Store) {
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
async fn two_sqlite_instances() -> (Store, Store) {
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

/// A shift starts within its schedule's week: an import with a shift outside it is refused,
/// and so is a move out of the week.
async fn shifts_stay_in_their_week(store: Store) {
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

mod idempotency {
    use super::*;
    use rota_core::store::{ClaimOutcome, IdempotencyClaim, IdempotencyRecord, IdempotencyStore};

    async fn keys_replay_refuse_and_lapse(store: Store) {
        let world = setup(&store, 3, 6).await;
        let claim = IdempotencyClaim {
            client: "c1".into(),
            key: "k".into(),
        };
        let lease = Duration::from_secs(30);
        let keep = Duration::from_secs(3600);
        let now = world.now;
        let later = |s: i64| now.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let record = |claim: &IdempotencyClaim, hash: &str| IdempotencyRecord {
            claim: claim.clone(),
            request_hash: hash.into(),
            expires_at: later(3600),
        };
        // A versioned command records its key with its result in its own transaction.
        assert_eq!(
            store.lookup(&claim, "h1", now).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let mut context = ctx(now, "idem");
        context.idempotency = Some(record(&claim, "h1"));
        let req = swap_of(
            &world,
            ScheduleVersion::FIRST,
            vec![(0, 0, 1)],
            SwapMode::Atomic,
        );
        let result = store.apply_swaps(&req, &context).await.unwrap();
        for found in [
            store.lookup(&claim, "h1", now).await.unwrap(),
            store.claim(&claim, "h1", now, lease, keep).await.unwrap(),
        ] {
            match found {
                ClaimOutcome::Replay(json) => {
                    assert_eq!(serde_json::from_str::<SwapResult>(&json).unwrap(), result)
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            store.lookup(&claim, "h2", now).await.unwrap(),
            ClaimOutcome::Mismatch
        );
        // The same key cannot be recorded twice: the second command rolls back whole.
        let again = swap_of(
            &world,
            ScheduleVersion::new(2).unwrap(),
            vec![(2, 2, 3)],
            SwapMode::Atomic,
        );
        assert!(matches!(
            store.apply_swaps(&again, &context).await,
            Err(StoreError::KeyTaken)
        ));
        assert_eq!(
            store
                .schedule(world.schedule.id)
                .await
                .unwrap()
                .version
                .get(),
            2
        );
        // Commands made of several transactions claim first and complete after; the claim is
        // in progress meanwhile, and a command recording the same key backs off.
        let other = IdempotencyClaim {
            client: "c1".into(),
            key: "multi".into(),
        };
        assert_eq!(
            store.claim(&other, "h", now, lease, keep).await.unwrap(),
            ClaimOutcome::Claimed
        );
        assert_eq!(
            store.claim(&other, "h", now, lease, keep).await.unwrap(),
            ClaimOutcome::InProgress
        );
        assert_eq!(
            store.lookup(&other, "h", now).await.unwrap(),
            ClaimOutcome::InProgress
        );
        let mut held = ctx(now, "held");
        held.idempotency = Some(record(&other, "h"));
        assert!(matches!(
            store.apply_swaps(&again, &held).await,
            Err(StoreError::KeyTaken)
        ));
        // A claim whose request died lapses after its lease, and a command may then record it.
        assert_eq!(
            store.lookup(&other, "h", later(31)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let mut late = ctx(later(31), "late");
        late.idempotency = Some(record(&other, "h"));
        assert!(
            store
                .apply_swaps(&again, &late)
                .await
                .unwrap()
                .committed
                .is_some()
        );
        // A key is forgotten after `keep`.
        assert_eq!(
            store
                .claim(&claim, "h9", later(3601), lease, keep)
                .await
                .unwrap(),
            ClaimOutcome::Claimed
        );
        // Keys are per client.
        let c2 = IdempotencyClaim {
            client: "c2".into(),
            key: "k".into(),
        };
        assert_eq!(
            store.claim(&c2, "h1", now, lease, keep).await.unwrap(),
            ClaimOutcome::Claimed
        );
        store.release(&c2).await.unwrap();
        assert_eq!(
            store.claim(&c2, "h2", now, lease, keep).await.unwrap(),
            ClaimOutcome::Claimed
        );
        store.complete(&c2, "{}").await.unwrap();
        assert_eq!(
            store.lookup(&c2, "h2", now).await.unwrap(),
            ClaimOutcome::Replay("{}".into())
        );
        assert!(store.purge_idempotency(later(100_000)).await.unwrap() >= 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        keys_replay_refuse_and_lapse(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        if let Some((store, _)) = postgres().await {
            keys_replay_refuse_and_lapse(store).await;
        }
    }
}

fn whole_week(world: &World) -> Vec<rota_core::trade::Interval> {
    let start = world.schedule.shifts[0].window.start();
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap();
    vec![rota_core::trade::Interval::new(start, end).unwrap()]
}

fn offer(world: &World, agent: usize, shift: usize) -> rota_core::store::NewTrade {
    rota_core::store::NewTrade {
        initiating_agent_id: world.agents[agent].id,
        shift_id: world.schedule.shifts[shift].id,
        target_agent_id: None,
        acceptable_intervals: whole_week(world),
        expires_at: world
            .now
            .checked_add(jiff::SignedDuration::from_hours(48))
            .unwrap(),
    }
}

async fn a_matched_trade_holds_its_shifts_and_applies_through_the_engine(store: Store) {
    use rota_core::store::{TradeReview, TradeStore};
    use rota_core::trade::{TradeError, TradeState};
    let world = setup(&store, 4, 10).await;
    let c = ctx(world.now, "t");
    store.publish(world.schedule.id, &c).await.unwrap();
    let mut settings = rota_core::trade::BusinessUnitSettings::default();
    settings.trades.auto_review = false;
    store.set_settings(world.bu.id, &settings).await.unwrap();
    assert_eq!(store.settings(world.bu.id).await.unwrap(), settings);

    let trade = store.create_trade(&offer(&world, 0, 0), &c).await.unwrap();
    let matched = store
        .match_trade(
            trade.id,
            1,
            world.agents[1].id,
            Some(world.schedule.shifts[1].id),
            &c,
        )
        .await
        .unwrap();
    assert_eq!(matched.state, TradeState::Matched);
    assert_eq!(
        matched.matched_version,
        Some(ScheduleVersion::new(2).unwrap())
    );
    // Held: a second trade cannot take shift 1, a bulk swap touching it is refused.
    let other = store.create_trade(&offer(&world, 2, 2), &c).await.unwrap();
    let held = store
        .match_trade(
            other.id,
            1,
            world.agents[1].id,
            Some(world.schedule.shifts[1].id),
            &c,
        )
        .await;
    assert!(
        matches!(
            held,
            Err(StoreError::Trade(TradeError::ShiftInTrade { .. }))
        ),
        "{held:?}"
    );
    let bulk = swap_of(
        &world,
        ScheduleVersion::new(2).unwrap(),
        vec![(1, 1, 3)],
        SwapMode::Atomic,
    );
    let result = store.apply_swaps(&bulk, &c).await.unwrap();
    match &result.outcomes[0] {
        ItemOutcome::Rejected { violations } => {
            assert_eq!(
                violations[0].code,
                rota_core::command::ViolationCode::ShiftInTrade
            )
        }
        other => panic!("{other:?}"),
    }
    // A stale review changes nothing; a current one applies the swap as version 3.
    let stale = TradeReview {
        trade_id: trade.id,
        expected_version: 1,
        approve: true,
        reason: None,
    };
    assert!(matches!(
        store.review_trade(&stale, &c).await,
        Err(StoreError::Trade(TradeError::VersionConflict { .. }))
    ));
    let review = TradeReview {
        expected_version: matched.version,
        ..stale
    };
    let approved = store.review_trade(&review, &c).await.unwrap();
    assert_eq!(approved.state, TradeState::Approved);
    assert_eq!(approved.applied_version_id.unwrap().version().get(), 3);
    let shifts = all_shifts(&store, world.schedule.id).await;
    let owner = |k: usize| {
        shifts
            .iter()
            .find(|s| s.id == world.schedule.shifts[k].id)
            .unwrap()
            .owner
    };
    assert_eq!(owner(0), Some(world.agents[1].id));
    assert_eq!(owner(1), Some(world.agents[0].id));
    assert_replays(&store, world.schedule.id).await;
    // Expiry closes open trades once and only them.
    let later = world
        .now
        .checked_add(jiff::SignedDuration::from_hours(49))
        .unwrap();
    let expired = store.expire_trades(later).await.unwrap();
    assert_eq!(
        expired.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    assert_eq!(
        store.trade(trade.id).await.unwrap().state,
        TradeState::Approved
    );
}

async fn subscribe(
    store: &Store,
    world: &World,
    events: Vec<rota_core::webhook::EventType>,
) -> rota_core::ids::SubscriptionId {
    use rota_core::store::WebhookStore;
    let subscription = rota_core::webhook::Subscription {
        id: rota_core::ids::SubscriptionId::new(),
        business_unit_id: world.bu.id,
        url: "http://127.0.0.1:9/hook".into(),
        events,
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: world.now,
    };
    store
        .create_subscription(&rota_core::webhook::NewSubscription {
            subscription: subscription.clone(),
            secret: "s".repeat(16),
        })
        .await
        .unwrap();
    subscription.id
}

async fn events_are_written_with_their_commit_and_leased_in_order(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    let id = subscribe(
        &store,
        &world,
        vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
        ],
    )
    .await;
    let c = ctx(world.now, "e");
    for (base, item) in [(1, (0, 0, 1)), (2, (1, 0, 1))] {
        let req = swap_of(
            &world,
            ScheduleVersion::new(base).unwrap(),
            vec![item],
            SwapMode::Atomic,
        );
        assert!(
            store
                .apply_swaps(&req, &c)
                .await
                .unwrap()
                .committed
                .is_some()
        );
    }
    // A change that rolls back after writing its events leaves none.
    let mut lapsed = ctx(world.now, "rolled-back");
    lapsed.idempotency = Some(held_key(&store, world.now).await);
    let req = swap_of(
        &world,
        ScheduleVersion::new(3).unwrap(),
        vec![(2, 2, 3)],
        SwapMode::Atomic,
    );
    assert!(matches!(
        store.apply_swaps(&req, &lapsed).await,
        Err(StoreError::KeyTaken)
    ));
    let log = store.deliveries(id, PageRequest::all()).await.unwrap();
    assert_eq!(log.total, 4, "two versions and two swaps: {log:?}");

    // One queue (the schedule): only its head is leased, and leased once.
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert!(
            store.lease_due(now, lease, 10, 1).await.unwrap().is_empty(),
            "the head is leased"
        );
        order.push((due[0].event.event_type, due[0].event.sequence));
        store
            .record_attempts(
                &[(due[0].delivery_id, AttemptResult::Delivered { status: 200 })],
                now,
                3,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        order.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied
        ]
    );
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1));
    assert!(store.lease_due(now, lease, 10, 1).await.unwrap().is_empty());
    // The log keeps delivered events until they are older than the purge's horizon.
    assert_eq!(store.purge_deliveries(now).await.unwrap(), 0);
    let later = now.checked_add(jiff::SignedDuration::from_secs(1)).unwrap();
    assert_eq!(store.purge_deliveries(later).await.unwrap(), 4);
    assert_eq!(
        store
            .deliveries(id, PageRequest::all())
            .await
            .unwrap()
            .total,
        0
    );

    // Failures count against the subscription until it is disabled.
    let req = swap_of(
        &world,
        ScheduleVersion::new(3).unwrap(),
        vec![(0, 0, 1)],
        SwapMode::Atomic,
    );
    store.apply_swaps(&req, &c).await.unwrap();
    for attempt in 1..=3 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        assert_eq!(due[0].attempt, attempt);
        let failed = AttemptResult::Failed {
            status: Some(503),
            error: "down".into(),
            retry_at: now,
        };
        let subscription = store
            .record_attempts(&[(due[0].delivery_id, failed)], now, 3)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(subscription.enabled, attempt < 3, "{subscription:?}");
    }
    assert!(
        store.lease_due(now, lease, 10, 1).await.unwrap().is_empty(),
        "a disabled subscription gets nothing"
    );
}

async fn two_dispatchers_never_lease_the_same_delivery(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::EventType;
    let world = setup(&store, 12, 2).await;
    subscribe(&store, &world, vec![EventType::AgentAvailabilityUpdated]).await;
    // One queue per agent: twelve heads, leased by two dispatchers at once.
    for agent in &world.agents {
        store
            .set_availability(agent.id, &agent.availability)
            .await
            .unwrap();
    }
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            store.lease_due(now, lease, 4, 1),
            store.lease_due(now, lease, 4, 1)
        );
        for d in a.unwrap().into_iter().chain(b.unwrap()) {
            assert!(
                seen.insert(d.delivery_id),
                "delivery {} leased twice",
                d.delivery_id
            );
        }
    }
    assert_eq!(seen.len(), 12);
    assert!(store.lease_due(now, lease, 12, 1).await.unwrap().is_empty());
}

/// A dispatcher leases a queue's deliveries together, in order; after one fails, the ones
/// behind it go back to the queue unattempted, and the failed one leads it again.
async fn a_queue_is_leased_in_order_and_what_follows_a_failure_waits(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    subscribe(&store, &world, vec![EventType::ScheduleVersionCreated]).await;
    swap_back_and_forth(&store, &world, 1, 4).await;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let chain = store.lease_due(now, lease, 10, 3).await.unwrap();
    let versions = |due: &[rota_core::webhook::DueDelivery]| -> Vec<u64> {
        due.iter()
            .map(|d| d.event.data["version"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        versions(&chain),
        vec![2, 3, 4],
        "the head and two behind it"
    );
    assert!(
        store.lease_due(now, lease, 10, 3).await.unwrap().is_empty(),
        "the queue is leased"
    );
    let failed = AttemptResult::Failed {
        status: Some(500),
        error: "down".into(),
        retry_at: now,
    };
    let outcomes = [
        (
            chain[0].delivery_id,
            AttemptResult::Delivered { status: 204 },
        ),
        (chain[1].delivery_id, failed),
        (chain[2].delivery_id, AttemptResult::NotSent),
    ];
    let subscriptions = store.record_attempts(&outcomes, now, 3).await.unwrap();
    assert_eq!(subscriptions[0].consecutive_failures, 1);
    let again = store.lease_due(now, lease, 10, 10).await.unwrap();
    assert_eq!(versions(&again), vec![3, 4, 5]);
    assert_eq!(
        again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![2, 1, 1],
        "the failed one is on its second attempt; the one not sent on its first"
    );
}

/// `rounds` swaps of shifts 0 and 1 back and forth, each its own version.
async fn swap_back_and_forth(store: &Store, world: &World, first_base: u64, rounds: u64) {
    for r in 0..rounds {
        let req = swap_of(
            world,
            ScheduleVersion::new(first_base + r).unwrap(),
            vec![(usize::from((first_base + r).is_multiple_of(2)), 0, 1)],
            SwapMode::Atomic,
        );
        let result = store.apply_swaps(&req, &ctx(world.now, "swap")).await;
        assert!(result.unwrap().committed.is_some());
    }
}

/// Leases and delivers until nothing is due: what each subscription received, in order.
async fn deliver_all(
    store: &Store,
) -> BTreeMap<rota_core::ids::SubscriptionId, Vec<rota_core::webhook::Event>> {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::AttemptResult;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut received: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for _ in 0..1000 {
        let due = store.lease_due(now, lease, 32, 1).await.unwrap();
        if due.is_empty() {
            return received;
        }
        for d in due {
            let delivered = AttemptResult::Delivered { status: 204 };
            store
                .record_attempts(&[(d.delivery_id, delivered)], now, 3)
                .await
                .unwrap();
            received.entry(d.subscription_id).or_default().push(d.event);
        }
    }
    panic!("deliveries kept coming");
}

/// The outbox writes a commit's events once, however many subscriptions want them; each of
/// ten subscriptions still gets every event once, in commit order.
async fn ten_subscriptions_each_get_every_event_in_commit_order(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::EventType;
    let world = setup(&store, 4, 10).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let types = vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
        ];
        ids.push(subscribe(&store, &world, types).await);
    }
    swap_back_and_forth(&store, &world, 1, 5).await;
    for id in &ids {
        let log = store.deliveries(*id, PageRequest::all()).await.unwrap();
        assert_eq!(log.total, 10, "five versions and five swaps each");
    }
    let received = deliver_all(&store).await;
    assert_eq!(received.len(), 10);
    let first = &received[&ids[0]];
    for events in received.values() {
        let versions: Vec<u64> = events
            .iter()
            .filter(|e| e.event_type == EventType::ScheduleVersionCreated)
            .map(|e| e.data["version"].as_u64().unwrap())
            .collect();
        assert_eq!(versions, vec![2, 3, 4, 5, 6]);
        assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            first.iter().map(|e| e.id).collect::<Vec<_>>(),
            "the same events"
        );
    }
}

/// A subscription disabled by failures keeps its queue; the changes that commit meanwhile
/// join it, and turning it on again delivers all of it in commit order.
async fn a_re_enabled_subscription_delivers_its_backlog_in_order(store: Store) {
    use rota_core::store::{SubscriptionUpdate, WebhookStore};
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    let id = subscribe(&store, &world, vec![EventType::ScheduleVersionCreated]).await;
    swap_back_and_forth(&store, &world, 1, 1).await;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    for _ in 0..3 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        let failed = AttemptResult::Failed {
            status: Some(500),
            error: "down".into(),
            retry_at: now,
        };
        store
            .record_attempts(&[(due[0].delivery_id, failed)], now, 3)
            .await
            .unwrap();
    }
    assert!(!store.subscription(id).await.unwrap().enabled);
    swap_back_and_forth(&store, &world, 2, 4).await;
    assert!(store.lease_due(now, lease, 10, 1).await.unwrap().is_empty());
    let on = SubscriptionUpdate {
        url: None,
        events: None,
        enabled: Some(true),
    };
    store.update_subscription(id, &on).await.unwrap();
    let received = deliver_all(&store).await;
    let versions: Vec<u64> = received[&id]
        .iter()
        .map(|e| e.data["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        vec![2, 3, 4, 5, 6],
        "the failed one first, then the backlog"
    );
}

/// The delivery log's retention: a purge forgets deliveries delivered before its horizon and
/// the events nobody is owed any more, but never an event a subscription still waits for (one
/// turned off keeps its backlog, whatever its age), which it gets whole when turned on again.
async fn retention_forgets_what_was_delivered_and_keeps_what_is_still_owed(store: Store) {
    use rota_core::store::{SubscriptionUpdate, WebhookStore};
    use rota_core::webhook::EventType;
    let world = setup(&store, 4, 10).await;
    let types = || vec![EventType::ScheduleVersionCreated];
    let on = subscribe(&store, &world, types()).await;
    let off = subscribe(&store, &world, types()).await;
    let switch = |enabled| SubscriptionUpdate {
        url: None,
        events: None,
        enabled: Some(enabled),
    };
    store
        .update_subscription(off, &switch(false))
        .await
        .unwrap();
    swap_back_and_forth(&store, &world, 1, 2).await;
    let received = deliver_all(&store).await;
    assert_eq!(received[&on].len(), 2);
    assert!(!received.contains_key(&off));

    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 365))
        .unwrap();
    assert_eq!(
        store.purge_deliveries(later).await.unwrap(),
        2,
        "the delivered two"
    );
    let total = |id| {
        let store = store.clone();
        async move {
            store
                .deliveries(id, PageRequest::all())
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(total(on).await, 0);
    assert_eq!(total(off).await, 2, "still owed: kept whatever their age");

    store.update_subscription(off, &switch(true)).await.unwrap();
    let received = deliver_all(&store).await;
    let versions: Vec<u64> = received[&off]
        .iter()
        .map(|e| e.data["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 3], "the events outlived the purge whole");
    assert_eq!(store.purge_deliveries(later).await.unwrap(), 2);
    assert_eq!(total(off).await, 0);
}

async fn expired_tokens_are_purged(store: Store) {
    use rota_core::auth::{ApiClient, Role};
    use rota_core::store::AuthStore;
    let world = setup(&store, 1, 1).await;
    store
        .create_client(&ApiClient {
            client_id: "c".into(),
            secret_hash: "h".into(),
            role: Role::Admin,
            business_unit: None,
            agent: None,
        })
        .await
        .unwrap();
    let hour = |h: i64| {
        world
            .now
            .checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    store.store_token("old", "c", hour(1)).await.unwrap();
    store.store_token("new", "c", hour(3)).await.unwrap();
    assert_eq!(store.purge_tokens(hour(2)).await.unwrap(), 1);
    assert!(store.principal("old", world.now).await.unwrap().is_none());
    assert!(store.principal("new", hour(2)).await.unwrap().is_some());
}

/// One SQLite store, many concurrent commands: they share group transactions (a savepoint
/// each, one commit per group). Commands that fail after writing (their idempotency key is
/// taken) and commands cancelled at any point must leave nothing behind, while the rest of
/// their group commits: the history replays to the current state, versions are contiguous,
/// and every command that answered Ok is in the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commits_keep_each_command_whole() {
    use rota_core::store::IdempotencyStore;
    let store = sqlite().await;
    let world = Arc::new(setup(&store, 8, 64).await);
    let taken = held_key(&store, world.now).await;
    let mut tasks = Vec::new();
    for writer in 0..8usize {
        let store = store.clone();
        let world = Arc::clone(&world);
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut cancelled) = (Vec::new(), 0usize);
            for step in 0..30usize {
                // Each writer swaps its own two shifts back and forth: 8 * w and 8 * w + 1
                // are owned by agents w % 9 and (w + 1) % 9 (the World's pattern).
                let shifts = world.schedule.id;
                let current = all_shifts(&store, shifts).await;
                let (a, b) = (8 * writer, 8 * writer + 1);
                let owner = |i: usize| {
                    current
                        .iter()
                        .find(|s| s.id == world.schedule.shifts[i].id)
                        .unwrap()
                        .owner
                };
                let Some(giver) = owner(a) else { continue };
                let base = store.schedule(shifts).await.unwrap().version_id();
                let req = SwapRequest {
                    base,
                    items: vec![SwapItem {
                        agent_id: giver,
                        original_shift_id: world.schedule.shifts[a].id,
                        new_shift_id: world.schedule.shifts[b].id,
                        reason_code: ReasonCode::Preference,
                        counterpart_agent_id: None,
                    }],
                    effective_date: None,
                    mode: SwapMode::Atomic,
                    scope: ConflictScope::Shifts,
                };
                let mut context = ctx(world.now, &format!("w{writer}-{step}"));
                if step % 5 == 4 {
                    context.idempotency = Some(taken.clone());
                }
                let run = store.apply_swaps(&req, &context);
                let outcome = if step % 7 == 6 {
                    tokio::time::timeout(Duration::from_micros(200 * (writer as u64 + 1)), run)
                        .await
                } else {
                    Ok(run.await)
                };
                match outcome {
                    Ok(Ok(result)) => {
                        if let Some(record) = result.committed {
                            ok.push(record.version);
                        }
                    }
                    Ok(Err(StoreError::KeyTaken)) => assert_eq!(step % 5, 4),
                    Ok(Err(other)) => panic!("writer {writer} step {step}: {other:?}"),
                    Err(_) => cancelled += 1,
                }
            }
            (ok, cancelled)
        }));
    }
    let (mut ok, mut cancelled) = (Vec::new(), 0);
    for task in tasks {
        let (versions, c) = task.await.unwrap();
        ok.extend(versions);
        cancelled += c;
    }
    // A cancelled command may still be committing (SQLite's writer finishes what it took; a
    // PostgreSQL COMMIT already sent completes). A command that takes the schedule's write
    // lock and then commits nothing (an edit against a version the shift never had) queues
    // behind all of them: once it answers, every one has landed or rolled back.
    let barrier = ShiftEdit {
        shift_id: world.schedule.shifts[0].id,
        expected_version: ScheduleVersion::new(u64::from(u32::MAX)).unwrap(),
        change: EditChange::Open,
    };
    let refused = store.edit_shift(&barrier, &ctx(world.now, "barrier")).await;
    assert!(
        matches!(refused, Err(StoreError::Command(_))),
        "{refused:?}"
    );
    let history = assert_replays(&store, world.schedule.id).await;
    let versions: Vec<u64> = history.iter().map(|v| v.record.version.get()).collect();
    assert_eq!(
        versions,
        (1..=versions.len() as u64).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    for v in &ok {
        assert!(
            history.iter().any(|h| h.record.version == *v),
            "version {v:?} answered Ok but is missing"
        );
    }
    let swaps = versions.len() - 1;
    assert!(
        swaps >= ok.len() && swaps <= ok.len() + cancelled,
        "{swaps} swaps, {} ok, {cancelled} cancelled",
        ok.len()
    );
    assert!(ok.len() > 100, "too few swaps applied: {}", ok.len());
    // The key nobody could take is still the claim's, untouched by the failed commands.
    assert_eq!(
        store.lookup(&taken.claim, "h", world.now).await.unwrap(),
        rota_core::store::ClaimOutcome::InProgress
    );
}

/// Setting the requirement commits a version (cause `requirements`) that emits its event, and
/// coverage as of the version before it shows the requirement as it was.
async fn a_requirement_change_is_a_version_with_its_event_and_coverage_reads_as_of_it(
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
async fn schedules_from_before_coverage_get_theirs_when_the_store_opens(store: Store) {
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
async fn a_move_keeps_offsets_and_a_moved_start_alone_keeps_clock_times(store: Store) {
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
