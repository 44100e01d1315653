//! Store throughput of the bulk swap: one 50-swap request in `shifts` scope per iteration,
//! on SQLite (both durability levels) and PostgreSQL, on a 100-, a 1,000- and a 10,000-agent
//! schedule. Throughput is in swaps applied per second.
//!
//! `cargo bench -p rota-store` (PostgreSQL too when ROTA_TEST_DATABASE_URL is set). The
//! variants `sqlite_full_subscribed` and `sqlite_full_subscribed_10` add one and ten webhook
//! subscriptions to every event, so each request also writes its events to the outbox;
//! `sqlite_full_subscribed_dispatched` also does, before the next request, the database side
//! of dispatching its events (what the dispatcher does later, on the same writer): the
//! fan-out into deliveries, their leases, and their outcomes recorded as delivered;
//! `sqlite_full_disabled_dispatched` the same with the subscription disabled, so its backlog
//! grows with every request while the dispatcher must not read it; `sqlite_full_guarded` has the
//! coverage guard check every swap of the request at commit.
//!
//! `coverage_week` reads a week's coverage (every skill, every interval) of a 2,000-agent
//! schedule from SQLite, as `GET /schedules/{id}/coverage` does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the benchmark loudly

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::civil::date;
use rota_core::command::{ConflictScope, ReasonCode, SwapItem, SwapMode, SwapRequest};
use rota_core::directory::Zone;
use rota_core::ids::{AgentId, ShiftId};
use rota_core::store::ScheduleStore;
use rota_core::version::{CommitContext, ScheduleVersionId};
use rota_scenario::Params;
use rota_store::{Durability, PgStore, SqliteStore, Store};
use tokio::sync::Mutex;

/// The allocator the `rota` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SWAPS: usize = 50;

/// What a variant adds to the bare request.
#[derive(Clone, Copy)]
struct Outbox {
    /// Webhook subscriptions to every event.
    subscriptions: usize,
    /// Dispatch each request's events (fan-out, leases, outcomes) before the next request.
    dispatch: bool,
    /// The subscriptions are off: their deliveries pile up, and dispatching finds none due.
    disabled: bool,
    /// The coverage guard checks every swap (set to deny, with a tolerance so wide that no
    /// interval counts as short: the request does all the guard's work and still applies, round
    /// after round).
    guarded: bool,
}

const BARE: Outbox = Outbox {
    subscriptions: 0,
    dispatch: false,
    disabled: false,
    guarded: false,
};

/// A schedule and 50 pairs of shifts with identical windows and skills but different owners:
/// exchanging them keeps every rule satisfied, so the same pairs swap back and forth forever.
struct Bench {
    store: Store,
    version: ScheduleVersionId,
    pairs: Vec<(ShiftId, ShiftId)>,
    owners: HashMap<ShiftId, AgentId>,
    ctx: CommitContext,
    dispatch: bool,
}

impl Bench {
    async fn new(store: Store, agents: usize, outbox: Outbox) -> Self {
        let scenario = rota_scenario::generate(&Params {
            business_unit: "Chicago".into(),
            time_zone: Zone::parse("America/Chicago").unwrap(),
            week_start: date(2026, 11, 30),
            agents,
            seed: 42,
        })
        .unwrap();
        let ctx = CommitContext {
            actor: "bench".into(),
            request_id: "bench".into(),
            now: "2026-11-25T00:00:00Z".parse().unwrap(),
            idempotency: None,
        };
        let schedule = rota_scenario::store(&store, &scenario, &ctx).await.unwrap();
        if outbox.guarded {
            use rota_core::store::TradeStore;
            let mut settings = store.settings(scenario.business_unit.id).await.unwrap();
            settings.coverage.bulk_swap = rota_core::trade::RuleAction::Deny;
            settings.coverage.tolerance = u32::MAX;
            store
                .set_settings(scenario.business_unit.id, &settings)
                .await
                .unwrap();
        }
        for _ in 0..outbox.subscriptions {
            use rota_core::store::WebhookStore;
            use rota_core::webhook::{EventType, NewSubscription, Subscription};
            let subscription = Subscription {
                id: rota_core::ids::SubscriptionId::new(),
                business_unit_id: scenario.business_unit.id,
                url: "https://example.invalid/hook".into(),
                events: EventType::ALL.to_vec(),
                // On when this bench dispatches, unless it measures a disabled one's backlog.
                enabled: outbox.dispatch && !outbox.disabled,
                disabled_reason: None,
                consecutive_failures: 0,
                created_at: ctx.now,
            };
            store
                .create_subscription(&NewSubscription {
                    subscription,
                    secret: "s".repeat(16),
                })
                .await
                .unwrap();
        }
        // The import's log is copied into the database before measuring, not during it (on
        // the 10,000-agent week that copy is ~20 MB, and it fell on the first second).
        if let Store::Sqlite(sqlite) = &store {
            sqlite.checkpoint().await.unwrap();
        }
        let (mut pairs, owners) = rota_scenario::interchangeable_pairs(&scenario);
        pairs.truncate(SWAPS);
        assert_eq!(pairs.len(), SWAPS, "not enough interchangeable shifts");
        Self {
            store,
            version: schedule.version_id(),
            pairs,
            owners,
            ctx,
            dispatch: outbox.dispatch,
        }
    }

    async fn step(&mut self) {
        let items = self
            .pairs
            .iter()
            .map(|&(a, b)| SwapItem {
                agent_id: self.owners[&a],
                original_shift_id: a,
                new_shift_id: b,
                reason_code: ReasonCode::Preference,
                counterpart_agent_id: None,
            })
            .collect();
        let req = SwapRequest {
            base: self.version,
            items,
            effective_date: None,
            mode: SwapMode::Atomic,
            scope: ConflictScope::Shifts,
        };
        let result = self.store.apply_swaps(&req, &self.ctx).await.unwrap();
        assert!(result.committed.is_some(), "{:?}", result.outcomes.first());
        self.version = result.current_version_id;
        for &(a, b) in &self.pairs {
            let (oa, ob) = (self.owners[&a], self.owners[&b]);
            self.owners.insert(a, ob);
            self.owners.insert(b, oa);
        }
        if self.dispatch {
            use rota_core::store::WebhookStore;
            use rota_core::webhook::AttemptResult;
            let now = jiff::Timestamp::now();
            let lease = now
                .checked_add(jiff::SignedDuration::from_secs(60))
                .unwrap();
            loop {
                let due = self.store.lease_due(now, lease, 32, 256).await.unwrap();
                if due.is_empty() {
                    break;
                }
                let delivered: Vec<_> = due
                    .iter()
                    .map(|d| (d.delivery_id, AttemptResult::Delivered { status: 204 }))
                    .collect();
                self.store
                    .record_attempts(&delivered, now, 20)
                    .await
                    .unwrap();
            }
        }
    }
}

fn sqlite_url(dir: &std::path::Path, tag: &str, agents: usize) -> String {
    format!(
        "sqlite://{}",
        dir.join(format!("{tag}-{agents}.db")).display()
    )
}

/// Benchmarks one backend at one size. The store is made and filled only when criterion's
/// filter selects the benchmark, so `cargo bench … -- sqlite_normal/100` sets up nothing else.
fn run(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    agents: usize,
    outbox: Outbox,
    connect: impl Fn() -> Store,
) {
    let bench: OnceLock<Arc<Mutex<Bench>>> = OnceLock::new();
    let mut group = c.benchmark_group("apply_50_swaps");
    group
        .throughput(Throughput::Elements(SWAPS as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new(name, format!("{agents}_agents")), |b| {
        let bench = bench.get_or_init(|| {
            Arc::new(Mutex::new(rt.block_on(Bench::new(
                connect(),
                agents,
                outbox,
            ))))
        });
        b.to_async(rt).iter_custom(|iters| {
            let bench = Arc::clone(bench);
            async move {
                let mut bench = bench.lock().await;
                let start = Instant::now();
                for _ in 0..iters {
                    bench.step().await;
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

fn swaps(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let postgres = std::env::var("ROTA_TEST_DATABASE_URL").ok();
    // The SQLite databases go with this directory at the end of the run.
    let dir = tempfile::tempdir().unwrap();
    let mut schemas = Vec::new();
    for agents in [100, 1_000, 10_000] {
        let subscribed = |subscriptions, dispatch| Outbox {
            subscriptions,
            dispatch,
            ..BARE
        };
        for (name, durability, outbox) in [
            ("sqlite_normal", Durability::Normal, BARE),
            ("sqlite_full", Durability::Full, BARE),
            (
                "sqlite_full_guarded",
                Durability::Full,
                Outbox {
                    guarded: true,
                    ..BARE
                },
            ),
            (
                "sqlite_full_subscribed",
                Durability::Full,
                subscribed(1, false),
            ),
            (
                "sqlite_full_subscribed_10",
                Durability::Full,
                subscribed(10, false),
            ),
            (
                "sqlite_full_subscribed_dispatched",
                Durability::Full,
                subscribed(1, true),
            ),
            (
                "sqlite_full_disabled_dispatched",
                Durability::Full,
                Outbox {
                    disabled: true,
                    ..subscribed(1, true)
                },
            ),
        ] {
            run(c, &rt, name, agents, outbox, || {
                Store::Sqlite(
                    rt.block_on(SqliteStore::connect(
                        &sqlite_url(dir.path(), name, agents),
                        durability,
                    ))
                    .unwrap(),
                )
            });
        }
        if let Some(url) = &postgres {
            let schema = format!("rota_bench_{}", uuid::Uuid::now_v7().simple());
            run(c, &rt, "postgres", agents, BARE, || {
                Store::Postgres(rt.block_on(PgStore::connect(url, Some(&schema))).unwrap())
            });
            schemas.push(schema);
        }
    }
    if let Some(url) = &postgres {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for schema in &schemas {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&pool)
                .await
                .unwrap();
            }
        });
    }
}

/// The week's coverage of a 2,000-agent schedule (five skills, 672 intervals), read as the
/// coverage endpoint reads it.
fn coverage_read(c: &mut Criterion) {
    use rota_core::store::CoverageStore;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("coverage_week");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let loaded: OnceLock<(Store, rota_core::ids::ScheduleId)> = OnceLock::new();
    group.bench_function("sqlite_full/2000_agents", |b| {
        let (store, id) = loaded.get_or_init(|| {
            rt.block_on(async {
                let store = Store::Sqlite(
                    SqliteStore::connect(
                        &sqlite_url(dir.path(), "coverage", 2000),
                        Durability::Full,
                    )
                    .await
                    .unwrap(),
                );
                let bench = Bench::new(store.clone(), 2000, BARE).await;
                (store, bench.version.schedule())
            })
        });
        b.to_async(&rt).iter(|| async {
            let report = store.coverage(*id, None).await.unwrap();
            assert!(!report.cells.is_empty());
        })
    });
    group.finish();
}

criterion_group!(benches, swaps, coverage_read);
criterion_main!(benches);
