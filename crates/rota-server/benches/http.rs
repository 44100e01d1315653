//! The HTTP swap endpoint against the store beneath it, in one run:
//! 1. the store alone: one 50-swap request at a time (the denominator of the ratio);
//! 2. the bulk endpoint: 8 concurrent clients posting 50-swap requests over loopback, without
//!    and with an `Idempotency-Key` on each request;
//! 3. single-swap requests sent open-loop at 500 requests/s: p50, p99 and max latency, counted
//!    from when each request was due, after a second of warm-up at the same rate, with
//!    `synchronous=FULL` (the default) and `NORMAL`; and the disk alone at that rate (a write
//!    and a sync every 2 ms), whose stalls set the tail of every commit that waits for a sync.
//!
//! `cargo bench -p rota-server --bench http` (prints a markdown table; `-- --seconds N`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the benchmark loudly

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::date;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::{CallOptions, Client};
use rota_core::auth::Role;
use rota_core::clock::FixedClock;
use rota_core::command::{ConflictScope, SwapItem, SwapMode, SwapRequest};
use rota_core::directory::Zone;
use rota_core::ids::{AgentId, ShiftId};
use rota_core::store::ScheduleStore;
use rota_core::version::{CommitContext, ScheduleVersionId};
use rota_server::{Application, Config};
use rota_store::{Durability, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

const CLIENTS: usize = 8;
const BATCH: usize = 50;

/// The allocator the `rota` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sent at the open loop's rate before its latencies count.
const WARM_UP: Duration = Duration::from_secs(1);

/// Disjoint groups of interchangeable pairs (same window and skill, different owners): each
/// writer swaps its own pairs back and forth, so no request conflicts with another.
struct Pairs {
    groups: Vec<Vec<(ShiftId, ShiftId)>>,
    owners: HashMap<ShiftId, AgentId>,
}

async fn setup(
    store: &Store,
    agents: usize,
    groups: usize,
    per_group: usize,
) -> (Pairs, ScheduleVersionId) {
    let scenario = rota_scenario::generate(&rota_scenario::Params {
        business_unit: "Chicago".into(),
        time_zone: Zone::parse("America/Chicago").unwrap(),
        week_start: date(2026, 11, 30),
        agents,
        seed: 7,
    })
    .unwrap();
    let schedule = rota_scenario::store(store, &scenario, &context())
        .await
        .unwrap();
    // The import's log is copied into the database before measuring, not during it.
    if let Store::Sqlite(sqlite) = store {
        sqlite.checkpoint().await.unwrap();
    }
    let (all, owners) = rota_scenario::interchangeable_pairs(&scenario);
    assert!(all.len() >= groups * per_group, "only {} pairs", all.len());
    let groups = all
        .chunks(per_group)
        .take(groups)
        .map(<[_]>::to_vec)
        .collect();
    (Pairs { groups, owners }, schedule.version_id())
}

fn context() -> CommitContext {
    CommitContext {
        actor: "bench".into(),
        request_id: "bench".into(),
        now: "2026-11-25T00:00:00Z".parse().unwrap(),
        idempotency: None,
    }
}

fn items(pairs: &[(ShiftId, ShiftId)], owners: &mut HashMap<ShiftId, AgentId>) -> Vec<SwapItem> {
    pairs
        .iter()
        .map(|&pair| rota_scenario::swap_pair(pair, owners))
        .collect()
}

fn body(base: ScheduleVersionId, items: &[SwapItem]) -> SwapRequestBody {
    SwapRequestBody {
        schedule_version_id: base.to_string(),
        shift_swaps: items.iter().map(SwapItemBody::from).collect(),
        effective_date: None,
        mode: None,
        conflict_scope: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A new database in `dir` (which the run removes at its end).
async fn fresh_store(dir: &std::path::Path, tag: &str, durability: Durability) -> Store {
    let url = format!("sqlite://{}", dir.join(format!("{tag}.db")).display());
    Store::Sqlite(SqliteStore::connect(&url, durability).await.unwrap())
}

async fn serve(store: Store) -> (Client, CancellationToken) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rate_limit_per_minute: 10_000_000,
        rate_limit_burst: 1_000_000,
        ..Config::default()
    };
    let clock = Arc::new(FixedClock::new("2026-11-25T00:00:00Z".parse().unwrap()));
    let app = Application::with_store(config, store.clone(), clock)
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let anonymous = Client::new(&format!("http://{addr}"));
    let c = rota_app::tokens::create_client(&store, Role::Admin, None, None)
        .await
        .unwrap();
    let token = anonymous
        .token(&c.client_id, &c.client_secret)
        .await
        .unwrap();
    (anonymous.with_bearer(&token.access_token), stop)
}

/// Swaps per second applied by [`CLIENTS`] clients posting 50-swap requests for `run_for`.
async fn bulk(dir: &std::path::Path, run_for: Duration, keyed: bool) -> f64 {
    let store = fresh_store(dir, &format!("http-{keyed}"), Durability::Full).await;
    let (pairs, version) = setup(&store, 500, CLIENTS, BATCH).await;
    let (client, stop) = serve(store).await;
    let owners = Arc::new(tokio::sync::Mutex::new(pairs.owners));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for group in pairs.groups {
        let client = client.clone();
        let owners = Arc::clone(&owners);
        tasks.push(tokio::spawn(async move {
            let mut base = version;
            let mut applied = 0usize;
            while start.elapsed() < run_for {
                let items = items(&group, &mut *owners.lock().await);
                let options = if keyed {
                    let key = uuid::Uuid::now_v7().to_string();
                    CallOptions::default().header("Idempotency-Key", &key)
                } else {
                    CallOptions::default()
                };
                let reply = client
                    .shift_swaps(&body(base, &items), &options)
                    .await
                    .unwrap();
                let reply = reply.body.unwrap();
                applied += reply
                    .results
                    .iter()
                    .filter(|r| r.outcome.is_applied())
                    .count();
                // Other clients' commits do not touch these shifts, so any recent base will do.
                base = reply.schedule_version_id.parse().unwrap();
            }
            applied
        }));
    }
    let mut swaps = 0;
    for t in tasks {
        swaps += t.await.unwrap();
    }
    let rate = swaps as f64 / start.elapsed().as_secs_f64();
    stop.cancel();
    rate
}

/// Latencies of requests sent at a fixed rate.
struct Latencies {
    achieved: f64,
    /// Sorted.
    latencies: Vec<Duration>,
    failed: usize,
    outcomes: std::collections::BTreeMap<String, usize>,
}

impl Latencies {
    fn row(&self, what: &str) -> String {
        let ms = |p| percentile(&self.latencies, p).as_secs_f64() * 1000.0;
        format!(
            "| {what} (achieved {:.0}/s, {} requests, {} not 2xx: {:?}) | p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms |",
            self.achieved,
            self.latencies.len(),
            self.failed,
            self.outcomes,
            ms(0.5),
            ms(0.99),
            ms(1.0)
        )
    }
}

/// Single-swap requests sent open-loop at 500 requests/s for `run_for`. The first second warms
/// up (connections opened, the write cache filled) and is not measured: the figure is the
/// steady state.
async fn single_swaps(
    dir: &std::path::Path,
    run_for: Duration,
    durability: Durability,
) -> Latencies {
    let store = fresh_store(dir, &format!("latency-{durability:?}"), durability).await;
    let (pairs, version) = setup(&store, 500, 1, 400).await;
    let (client, stop) = serve(store).await;
    let owners = Arc::new(tokio::sync::Mutex::new(pairs.owners));
    let pairs = Arc::new(pairs.groups.into_iter().next().unwrap());
    // The newest version any answer reported: a pair comes round again only after 400 other
    // requests, so its shifts have not changed after this base.
    let latest = Arc::new(std::sync::Mutex::new(version));
    let mut ticker = tokio::time::interval(Duration::from_millis(2));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let measured_from = start + WARM_UP;
    let mut sent = Vec::new();
    let mut i = 0usize;
    while start.elapsed() < WARM_UP + run_for {
        // Latency counts from when the request was due, not from when its task got to run:
        // a stall of the process (or of the runtime) then shows in the figures instead of
        // delaying the start of every request it holds up (coordinated omission).
        let due = ticker.tick().await.into_std();
        let pair = pairs[i % pairs.len()];
        i += 1;
        let client = client.clone();
        let owners = Arc::clone(&owners);
        let latest = Arc::clone(&latest);
        sent.push(tokio::spawn(async move {
            let items = items(&[pair], &mut *owners.lock().await);
            let base = *latest.lock().unwrap();
            let r = client
                .shift_swaps(&body(base, &items), &CallOptions::default())
                .await;
            let elapsed = due.elapsed();
            if let Ok(reply) = &r
                && let Some(v) = reply
                    .body
                    .as_ref()
                    .and_then(|b| b.schedule_version_id.parse::<ScheduleVersionId>().ok())
            {
                let mut newest = latest.lock().unwrap();
                if v.version() > newest.version() {
                    *newest = v;
                }
            }
            let code = match &r {
                Ok(_) => "2xx".to_owned(),
                Err(e) => e
                    .problem()
                    .map_or_else(|| e.to_string(), |p| p.code.as_str().to_owned()),
            };
            (due >= measured_from).then_some((elapsed, code))
        }));
    }
    let mut latencies = Vec::new();
    let mut outcomes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for t in sent {
        let Some((latency, code)) = t.await.unwrap() else {
            continue;
        };
        latencies.push(latency);
        *outcomes.entry(code).or_default() += 1;
    }
    let failed: usize = outcomes
        .iter()
        .filter(|(c, _)| c.as_str() != "2xx")
        .map(|(_, n)| n)
        .sum();
    stop.cancel();
    latencies.sort();
    let achieved = latencies.len() as f64 / measured_from.elapsed().as_secs_f64();
    Latencies {
        achieved,
        latencies,
        failed,
        outcomes,
    }
}

/// The disk alone at the single-swap phase's rate: an 8 KiB write and `fdatasync` every 2 ms
/// to a file of its own, as a commit of one swap writes and syncs its log.
async fn disk_syncs(dir: &std::path::Path, run_for: Duration) -> Latencies {
    let path = dir.join("disk-syncs.bin");
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        const SIZE: u64 = 16 << 20;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(SIZE).unwrap();
        file.sync_all().unwrap();
        let block = [7u8; 8192];
        let mut latencies = Vec::new();
        let start = Instant::now();
        let mut offset = 0;
        while start.elapsed() < run_for {
            let began = Instant::now();
            file.write_all_at(&block, offset).unwrap();
            file.sync_data().unwrap();
            latencies.push(began.elapsed());
            offset = (offset + 8192) % SIZE;
            std::thread::sleep(Duration::from_millis(2).saturating_sub(began.elapsed()));
        }
        latencies.sort();
        Latencies {
            achieved: latencies.len() as f64 / start.elapsed().as_secs_f64(),
            outcomes: [("2xx".to_owned(), latencies.len())].into(),
            latencies,
            failed: 0,
        }
    })
    .await
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let run_for = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().unwrap();

    // 1. The store alone.
    let store = fresh_store(dir.path(), "store", Durability::Full).await;
    let (mut pairs, mut version) = setup(&store, 500, 1, BATCH).await;
    let start = Instant::now();
    let mut store_swaps = 0usize;
    while start.elapsed() < run_for {
        let items = items(&pairs.groups[0], &mut pairs.owners);
        let req = SwapRequest {
            base: version,
            items,
            effective_date: None,
            mode: SwapMode::Atomic,
            scope: ConflictScope::Shifts,
        };
        let r = store.apply_swaps(&req, &context()).await.unwrap();
        assert!(r.committed.is_some());
        version = r.current_version_id;
        store_swaps += BATCH;
    }
    let store_rate = store_swaps as f64 / start.elapsed().as_secs_f64();

    // 2. The bulk endpoint, 8 clients; then again with an Idempotency-Key on every request,
    //    as rota-client's batch sends them.
    let http_rate = bulk(dir.path(), run_for, false).await;
    let keyed_rate = bulk(dir.path(), run_for, true).await;

    // 3. Single swaps, open loop at 500 requests/s, with each durability; and the disk alone
    //    at the same rate, for what its syncs cost in the same minute.
    let full = single_swaps(dir.path(), run_for, Durability::Full).await;
    let normal = single_swaps(dir.path(), run_for, Durability::Normal).await;
    let disk = disk_syncs(dir.path(), run_for).await;

    println!("| measurement | result |");
    println!("| --- | --- |");
    println!("| store alone, 50-swap requests, SQLite FULL | {store_rate:.0} swaps/s |");
    println!("| bulk endpoint, 50-swap requests, {CLIENTS} clients | {http_rate:.0} swaps/s |");
    println!("| HTTP / store | {:.2} |", http_rate / store_rate);
    println!(
        "| bulk endpoint, 50-swap requests, {CLIENTS} clients, an Idempotency-Key each | {keyed_rate:.0} swaps/s |"
    );
    println!("{}", full.row("single swaps at 500 req/s, SQLite FULL"));
    println!("{}", normal.row("single swaps at 500 req/s, SQLite NORMAL"));
    println!(
        "{}",
        disk.row("the disk alone: 8 KiB written and synced every 2 ms")
    );
}
