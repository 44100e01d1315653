//! The portal's heaviest pages, served over loopback by the real server on SQLite:
//! 1. the supervisor's week grid of a 2,000-agent business unit (every agent, every shift, the
//!    open shifts and the coverage strip): latency p50/p90 and the page's size, raw and as
//!    sent gzip-compressed;
//! 2. an agent's week in the same unit (their shifts, the open shifts, what changed).
//!
//! Requests are sequential, so the latency is the server's time plus one loopback round trip.
//! `cargo bench -p rota-server --bench portal` (prints a markdown table; `-- --requests N`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the benchmark loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::date;
use rota_core::auth::{Role, User};
use rota_core::clock::FixedClock;
use rota_core::directory::Zone;
use rota_core::store::UserStore;
use rota_core::version::CommitContext;
use rota_server::{Application, Config};
use rota_store::{Durability, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

/// The allocator the `rota` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AGENTS: usize = 2_000;
const WEEK: &str = "2026-11-30";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A session cookie for a new user, made in the store as signing in would.
async fn session(store: &Store, user: &User) -> String {
    store.create_user(user).await.unwrap();
    let token = rota_app::secrets::generate_secret();
    store
        .create_session(
            &rota_app::secrets::hash(&token),
            user.id,
            "csrf",
            "2026-12-31T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    format!("{}={token}", rota_portal::COOKIE)
}

struct Measured {
    p50: Duration,
    p90: Duration,
    raw: usize,
    sent: usize,
}

async fn measure(http: &reqwest::Client, url: &str, cookie: &str, requests: usize) -> Measured {
    let get = |gzip: bool| {
        let mut r = http.get(url).header("cookie", cookie);
        if gzip {
            r = r.header("accept-encoding", "gzip");
        }
        r
    };
    let raw = get(false).send().await.unwrap();
    assert_eq!(raw.status(), 200, "{url}");
    let raw = raw.bytes().await.unwrap().len();
    let sent = get(true).send().await.unwrap();
    assert_eq!(
        sent.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    let sent = sent.bytes().await.unwrap().len();
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let start = Instant::now();
        let response = get(true).send().await.unwrap();
        let _ = response.bytes().await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    Measured {
        p50: percentile(&times, 0.5),
        p90: percentile(&times, 0.9),
        raw,
        sent,
    }
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().collect();
    let requests = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let store = Store::Sqlite(
        SqliteStore::connect(&url, Durability::Normal)
            .await
            .unwrap(),
    );
    let scenario = rota_scenario::generate(&rota_scenario::Params {
        business_unit: "Chicago".into(),
        time_zone: Zone::parse("America/Chicago").unwrap(),
        week_start: date(2026, 11, 30),
        agents: AGENTS,
        seed: 7,
    })
    .unwrap();
    let ctx = CommitContext {
        actor: "bench".into(),
        request_id: "bench".into(),
        now: "2026-11-25T00:00:00Z".parse().unwrap(),
        idempotency: None,
    };
    let schedule = rota_scenario::store(&store, &scenario, &ctx).await.unwrap();
    rota_core::store::ScheduleStore::publish(&store, schedule.id, &ctx)
        .await
        .unwrap();
    let bu = scenario.business_unit.id;
    // The store reads beneath the grid, alone: the full reads against the lean ones the grid
    // makes, in the same run.
    let timed = |start: Instant| start.elapsed().as_secs_f64() * 1e3;
    let mut reads: [Vec<f64>; 4] = Default::default();
    for _ in 0..10 {
        let t = Instant::now();
        let full = rota_core::store::ScheduleStore::shifts(
            &store,
            schedule.id,
            rota_core::store::ShiftFilter::default(),
            rota_core::store::PageRequest::all(),
        )
        .await
        .unwrap();
        reads[0].push(timed(t));
        let t = Instant::now();
        let slots = rota_core::store::ScheduleStore::shift_slots(
            &store,
            schedule.id,
            rota_core::store::ShiftFilter::default(),
        )
        .await
        .unwrap();
        reads[1].push(timed(t));
        assert_eq!(full.items.len(), slots.len());
        let t = Instant::now();
        rota_core::store::DirectoryStore::agents(&store, bu, rota_core::store::PageRequest::all())
            .await
            .unwrap();
        reads[2].push(timed(t));
        let t = Instant::now();
        rota_core::store::DirectoryStore::roster(&store, bu)
            .await
            .unwrap();
        reads[3].push(timed(t));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [full, slots, agents, roster] = &mut reads;
    println!(
        "| store read (median of 10) | full | lean |\n|---|---|---|\n\
         | the week's shifts | {:.1} ms | {:.1} ms |\n| the unit's agents | {:.1} ms | {:.1} ms |\n",
        median(full),
        median(slots),
        median(agents),
        median(roster)
    );
    let supervisor = session(
        &store,
        &User::new("sam", "Sam", Role::Supervisor, Some(bu), None).unwrap(),
    )
    .await;
    let agent = session(
        &store,
        &User::new(
            "ana",
            "Ana",
            Role::Agent,
            Some(bu),
            Some(scenario.agents[0].id),
        )
        .unwrap(),
    )
    .await;
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let clock = Arc::new(FixedClock::new(ctx.now));
    let app = Application::with_store(config, store.clone(), clock)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let grid = measure(
        &http,
        &format!("{base}/portal/units/{bu}/week?week={WEEK}"),
        &supervisor,
        requests,
    )
    .await;
    let week = measure(
        &http,
        &format!("{base}/portal/me?week={WEEK}"),
        &agent,
        requests,
    )
    .await;
    println!(
        "| page ({AGENTS} agents, {} shifts) | p50 | p90 | size | sent (gzip) |",
        scenario.schedule.shifts.len()
    );
    println!("|---|---|---|---|---|");
    for (name, m) in [("supervisor's week grid", &grid), ("agent's week", &week)] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {} KB | {} KB |",
            m.p50.as_secs_f64() * 1e3,
            m.p90.as_secs_f64() * 1e3,
            m.raw / 1024,
            m.sent / 1024
        );
    }
    stop.cancel();
}
