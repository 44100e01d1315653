//! The conformance suite: the same cases against SQLite (always) and PostgreSQL (when
//! `ROTA_TEST_DATABASE_URL` is set). Each test gets its own database file or schema. A module per
//! aggregate; each registers its cases where they are written ([`conformance!`]), and a case
//! written but not registered is dead code, which CI's `clippy -D warnings` refuses.
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
                    super::$name(crate::sqlite().await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some((store, _)) = crate::postgres().await {
                        super::$name(store).await;
                    }
                }
            )*
        }
    };
}

#[path = "conformance/auth.rs"]
mod auth;
#[path = "conformance/coverage.rs"]
mod coverage;
#[path = "conformance/group_commit.rs"]
mod group_commit;
#[path = "conformance/idempotency.rs"]
mod idempotency;
#[path = "conformance/model.rs"]
mod model;
#[path = "conformance/schedules.rs"]
mod schedules;
#[path = "conformance/trades.rs"]
mod trades;
#[path = "conformance/webhooks.rs"]
mod webhooks;
use model::two_sqlite_instances;
use webhooks::subscribe;

#[path = "conformance/batch_runs.rs"]
mod batch_runs;

#[path = "conformance/users.rs"]
mod users;

#[path = "conformance/time_off.rs"]
mod time_off;

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

/// A database URL naming several hosts connects to the one that takes writes, whatever its
/// place in the list, and says which; with none up it fails naming them all.
#[tokio::test]
async fn of_several_hosts_the_one_that_takes_writes_is_used() {
    let Some((store, url)) = postgres().await else {
        return;
    };
    let Store::Postgres(pg) = &store else {
        panic!("not a PostgreSQL store")
    };
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, after) = match rest.split_once('@') {
        Some((user, after)) => (format!("{user}@"), after),
        None => (String::new(), rest),
    };
    // Port 1 on loopback refuses connections: a host that is down.
    let several = format!("{scheme}://{userinfo}127.0.0.1:1,{after}");
    let other = PgStore::connect(&several, Some(&schema)).await.unwrap();
    assert_eq!(other.host(), pg.host(), "connected to {several}");
    assert_ne!(other.host(), "127.0.0.1:1");
    Store::Postgres(other.clone()).ping().await.unwrap();

    let none = format!("{scheme}://{userinfo}127.0.0.1:1,127.0.0.1:2/test");
    let Err(e) = PgStore::connect(&none, None).await else {
        panic!("connected to {none}");
    };
    assert!(
        matches!(e, rota_core::store::StoreError::Unavailable(_))
            && format!("{e:?}").contains("127.0.0.1:1, 127.0.0.1:2"),
        "{e:?}"
    );
}
