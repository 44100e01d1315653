//! `rota bench`: the figures of docs/BENCHMARKS.md, side by side in one run.
//!
//! 1. Swap throughput and request latency (p50, p99) of the store alone and of the HTTP
//!    endpoint (8 concurrent clients over loopback), batch sizes 1, 10, 50 and 200.
//!    With `--database-url postgres://…` the HTTP endpoint runs on PostgreSQL, and with
//!    `--nodes N` as one node and as N nodes on that database, in the same run.
//! 2. The store on a 100-agent and a 10,000-agent schedule (50-swap requests).
//! 3. The weekly batch of `rota demo` with the portal idle, slow and busy, for each of its
//!    strategies: 409 rate, failed swaps, retries, throughput, wall time.
//! 4. The webhook dispatcher under the batch's clients, with one and ten subscriptions of a
//!    local receiver: events delivered per second, commit-to-delivery delay, backlog drain.
//! 5. What one and ten webhook subscriptions and the coverage guard add to the 50-swap
//!    request on 100 and 10,000 agents, the variants taking turns request by request.
//!
//! `--parts` picks which run.
//!
//! Writes `bench.json`, `bench.md` and `bench.svg` (the third part as a chart) to `--out`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::{CallOptions, Client};
use rota_core::auth::Role;
use rota_core::command::{ConflictScope, SwapItem, SwapMode, SwapRequest};
use rota_core::ids::{AgentId, ShiftId};
use rota_core::version::{CommitContext, ScheduleVersionId};
use rota_demo::{Cluster, Database, DemoArgs, share};
use rota_store::{Durability, SqliteStore, Store};
use serde::Serialize;

mod overhead;
mod report;
mod webhooks;

use report::{chart, machine, markdown};

#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Per throughput measurement.
    pub seconds: f64,
    pub out: std::path::PathBuf,
    /// Portal rates (versions committed per second) for part 3.
    pub portal_rates: Vec<f64>,
    /// One-way network delay between the batch and the service in part 3.
    pub network_delay_ms: u64,
    pub seed: u64,
    /// `postgres://…`: the HTTP part on PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// With more than one, the HTTP part runs as one node and as this many on the database.
    pub nodes: usize,
    pub parts: Vec<Part>,
    /// Subscription counts for part 4.
    pub webhook_subscriptions: Vec<usize>,
    /// Requests per second of part 4's batch (0: as fast as the clients go).
    pub webhook_rates: Vec<f64>,
}

/// The parts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// 1: store and HTTP throughput by batch size.
    Throughput,
    /// 2: the store on 100 and 10,000 agents.
    Size,
    /// 3: the weekly batch's strategies against portal rates.
    Strategies,
    /// 4: the webhook dispatcher under the batch.
    Webhooks,
    /// 5: what subscriptions and the coverage guard add to a request.
    Overhead,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    pub target: String,
    pub agents: usize,
    pub batch_size: usize,
    pub requests: u64,
    pub swaps_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyRun {
    pub strategy: String,
    pub portal_rate: f64,
    pub requests: u64,
    pub conflicts: u64,
    pub conflict_share: f64,
    pub retries: u64,
    pub applied: u64,
    pub stale: u64,
    pub failed: u64,
    pub wall_seconds: f64,
    pub swaps_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    pub date: String,
    pub machine: String,
    pub throughput: Vec<Throughput>,
    pub schedule_size: Vec<Throughput>,
    pub strategies: Vec<StrategyRun>,
    pub webhooks: Vec<webhooks::WebhookRun>,
    pub overhead: Vec<overhead::OverheadRun>,
}

const CLIENTS: usize = 8;

/// One seeded week on a fresh SQLite file (FULL durability, the default), with its
/// interchangeable pairs split into `groups` groups of `per_group`.
struct Week {
    store: Store,
    business_unit: rota_core::ids::BusinessUnitId,
    base: ScheduleVersionId,
    groups: Vec<Vec<(ShiftId, ShiftId)>>,
    owners: HashMap<ShiftId, AgentId>,
}

async fn week(dir: &std::path::Path, name: &str, agents: usize, seed: u64) -> Result<Week> {
    let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    let store = Store::Sqlite(SqliteStore::connect(&url, Durability::Full).await?);
    seed_week(store, agents, seed).await
}

/// Generates a week of `agents` and loads it into `store`, published.
async fn seed_week(store: Store, agents: usize, seed: u64) -> Result<Week> {
    let zone = rota_core::directory::Zone::parse("America/Chicago")?;
    let scenario = rota_scenario::generate(&rota_scenario::Params {
        business_unit: "Chicago".into(),
        time_zone: zone.clone(),
        week_start: rota_demo::next_monday(&zone)?,
        agents,
        seed,
    })?;
    let schedule = rota_demo::load(&store, &scenario, &context(), true).await?;
    let (pairs, owners) = rota_scenario::interchangeable_pairs(&scenario);
    Ok(Week {
        store,
        business_unit: scenario.business_unit.id,
        base: schedule.version_id(),
        groups: vec![pairs],
        owners,
    })
}

impl Week {
    /// Splits the pairs into `n` disjoint groups, each writer's own.
    fn split(&mut self, n: usize) {
        let all: Vec<_> = self.groups.concat();
        let per = (all.len() / n).max(1);
        self.groups = all.chunks(per).take(n).map(<[_]>::to_vec).collect();
    }
}

fn context() -> CommitContext {
    CommitContext {
        actor: "rota bench".into(),
        request_id: "bench".into(),
        now: jiff::Timestamp::now(),
        idempotency: None,
    }
}

/// The next `batch` swaps of a group, cycling through its pairs and swapping each back and
/// forth, with the owners tracked so every item names the current owner.
struct Cursor {
    pairs: Vec<(ShiftId, ShiftId)>,
    next: usize,
}

impl Cursor {
    fn take(&mut self, batch: usize, owners: &mut HashMap<ShiftId, AgentId>) -> Vec<SwapItem> {
        let batch = batch.min(self.pairs.len());
        (0..batch)
            .map(|_| {
                let pair = self.pairs[self.next % self.pairs.len()];
                self.next += 1;
                rota_scenario::swap_pair(pair, owners)
            })
            .collect()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn summarise(
    target: &str,
    agents: usize,
    batch: usize,
    mut latencies: Vec<Duration>,
    swaps: u64,
    elapsed: Duration,
) -> Throughput {
    latencies.sort_unstable();
    Throughput {
        target: target.into(),
        agents,
        batch_size: batch,
        requests: latencies.len() as u64,
        swaps_per_second: swaps as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
    }
}

/// The store alone: one writer, requests of `batch` swaps, for `seconds`.
async fn store_alone(
    w: &mut Week,
    agents: usize,
    batch: usize,
    seconds: f64,
) -> Result<Throughput> {
    let mut run = Run::default();
    run.measure(w, batch, seconds).await?;
    Ok(run.summarise("store", agents, batch))
}

/// The two schedule sizes take turns in short slices, `seconds` each in all, so that a change
/// in the speed of the machine (it is shared) during the run falls on both alike.
async fn by_schedule_size(
    dir: &std::path::Path,
    seed: u64,
    seconds: f64,
) -> Result<Vec<Throughput>> {
    const SIZES: [usize; 2] = [100, 10_000];
    const SLICES: u32 = 6;
    let mut weeks = Vec::new();
    for agents in SIZES {
        weeks.push(week(dir, &format!("size-{agents}"), agents, seed).await?);
    }
    let mut runs = [Run::default(), Run::default()];
    for _ in 0..SLICES {
        for (w, run) in weeks.iter_mut().zip(&mut runs) {
            run.measure(w, 50, seconds / f64::from(SLICES)).await?;
        }
    }
    for w in &weeks {
        w.store.close().await;
    }
    Ok(SIZES
        .into_iter()
        .zip(runs)
        .map(|(agents, run)| run.summarise("store", agents, 50))
        .collect())
}

/// The requests of one measurement, possibly taken in several slices.
#[derive(Default)]
struct Run {
    latencies: Vec<Duration>,
    swaps: u64,
    elapsed: Duration,
    /// Where the next slice goes on in the week's pairs.
    next: usize,
}

impl Run {
    fn summarise(self, target: &str, agents: usize, batch: usize) -> Throughput {
        summarise(
            target,
            agents,
            batch,
            self.latencies,
            self.swaps,
            self.elapsed,
        )
    }

    /// Adds `seconds` of requests of `batch` swaps from one writer. Every request is checked
    /// to have applied (a benchmark of failures would measure nothing).
    async fn measure(&mut self, w: &mut Week, batch: usize, seconds: f64) -> Result<()> {
        let mut cursor = Cursor {
            pairs: w.groups.concat(),
            next: self.next,
        };
        let started = Instant::now();
        while started.elapsed().as_secs_f64() < seconds {
            self.latencies.push(request(w, &mut cursor, batch).await?);
            self.swaps += batch.min(cursor.pairs.len()) as u64;
        }
        self.elapsed += started.elapsed();
        self.next = cursor.next;
        Ok(())
    }
}

/// One request of the next `batch` swaps of `cursor` on `w`'s store, checked to have applied
/// (a benchmark of failures would measure nothing); answers its time.
async fn request(w: &mut Week, cursor: &mut Cursor, batch: usize) -> Result<Duration> {
    use rota_core::store::ScheduleStore;
    let req = SwapRequest {
        base: w.base,
        items: cursor.take(batch, &mut w.owners),
        effective_date: None,
        mode: SwapMode::Atomic,
        scope: ConflictScope::Shifts,
    };
    let t = Instant::now();
    let result = w.store.apply_swaps(&req, &context()).await?;
    let took = t.elapsed();
    // Its pairs come round again: the next request's base is this one's version.
    w.base = result.current_version_id;
    anyhow::ensure!(
        result.committed.is_some(),
        "a benchmark request did not apply: {:?}",
        result
            .outcomes
            .iter()
            .find(|o| !matches!(o, rota_core::command::ItemOutcome::Skipped))
    );
    Ok(took)
}

/// Subscribes `url` to every event of business unit `bu`.
async fn subscribe_to_everything(
    store: &Store,
    bu: rota_core::ids::BusinessUnitId,
    url: String,
) -> Result<()> {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::{EventType, NewSubscription, Subscription};
    let subscription = Subscription {
        id: rota_core::ids::SubscriptionId::new(),
        business_unit_id: bu,
        url,
        events: EventType::ALL.to_vec(),
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: jiff::Timestamp::now(),
    };
    store
        .create_subscription(&NewSubscription {
            subscription,
            secret: "a-bench-secret-of-some-length".into(),
        })
        .await?;
    Ok(())
}

/// The HTTP endpoint: the service in-process as `nodes` nodes on `db`, `CLIENTS` concurrent
/// clients over loopback spread over the nodes, each swapping its own pairs.
async fn over_http(
    db: &Database,
    name: &str,
    nodes: usize,
    agents: usize,
    batch: usize,
    seed: u64,
    seconds: f64,
) -> Result<Throughput> {
    let mut cluster = Cluster::open(db, name, nodes).await?;
    let measured = async {
        let mut w = seed_week(cluster.stores[0].clone(), agents, seed).await?;
        cluster
            .serve(&rota_server::Config {
                listen: "127.0.0.1:0".parse()?,
                max_swap_items: 1000,
                rate_limit_per_minute: 10_000_000,
                rate_limit_burst: 1_000_000,
                ..rota_server::Config::default()
            })
            .await?;
        let target = format!(
            "http, {} node{} on {} ({CLIENTS} clients)",
            nodes,
            if nodes == 1 { "" } else { "s" },
            w.store.backend()
        );
        let latencies = clients(&mut w, &cluster, batch, seconds, 0.0).await?;
        Ok::<_, anyhow::Error>((target, latencies))
    }
    .await;
    cluster.shut_down().await;
    let (target, (latencies, swaps, elapsed, _)) = measured?;
    Ok(summarise(&target, agents, batch, latencies, swaps, elapsed))
}

/// `CLIENTS` clients, client `i` on node `i % nodes`, for `seconds`, together sending
/// `rate` requests a second (evenly spaced), or as many as they can when `rate` is 0: the
/// latencies, the swaps applied, the time taken, and each commit's version with when its
/// answer came.
async fn clients(
    w: &mut Week,
    cluster: &Cluster,
    batch: usize,
    seconds: f64,
    rate: f64,
) -> Result<(Vec<Duration>, u64, Duration, Vec<(u64, Instant)>)> {
    let bases: Vec<Client> = cluster
        .addrs
        .iter()
        .map(|a| Client::new(&format!("http://{a}")))
        .collect();
    let c = rota_app::tokens::create_client(&w.store, Role::Integration, None, None).await?;
    let token = bases[0].token(&c.client_id, &c.client_secret).await?;
    w.split(CLIENTS);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, group) in w.groups.clone().into_iter().enumerate() {
        let client = bases[i % bases.len()]
            .clone()
            .with_bearer(&token.access_token);
        let mut owners = w.owners.clone();
        let mut base = w.base.to_string();
        tasks.spawn(async move {
            let mut cursor = Cursor {
                pairs: group,
                next: 0,
            };
            let mut latencies = Vec::new();
            let mut acks = Vec::new();
            let mut swaps = 0u64;
            let every = (rate > 0.0).then(|| Duration::from_secs_f64(CLIENTS as f64 / rate));
            let mut next = started + every.unwrap_or_default().mul_f64(i as f64 / CLIENTS as f64);
            while started.elapsed().as_secs_f64() < seconds {
                if let Some(every) = every {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let items = cursor.take(batch, &mut owners);
                let body = SwapRequestBody {
                    schedule_version_id: base.clone(),
                    shift_swaps: items.iter().map(SwapItemBody::from).collect(),
                    effective_date: None,
                    mode: None,
                    conflict_scope: None,
                };
                let t = Instant::now();
                let reply = client.shift_swaps(&body, &CallOptions::default()).await;
                let answered = Instant::now();
                latencies.push(answered - t);
                match reply.and_then(|r| r.into_body()) {
                    Ok(answer) => {
                        swaps += items.len() as u64;
                        if let Some(version) = answer.committed_version {
                            acks.push((version, answered));
                        }
                        // Only this client changes its pairs: its own last version is a
                        // base no other client's swaps conflict with.
                        base = answer.schedule_version_id;
                    }
                    Err(e) => return Err(anyhow::anyhow!("a benchmark request failed: {e}")),
                }
            }
            Ok((latencies, swaps, acks))
        });
    }
    let mut latencies = Vec::new();
    let mut acks = Vec::new();
    let mut swaps = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, s, a) = done??;
        latencies.extend(l);
        swaps += s;
        acks.extend(a);
    }
    Ok((latencies, swaps, started.elapsed(), acks))
}

pub async fn run(args: &BenchArgs, out: &mut impl std::io::Write) -> Result<BenchReport> {
    std::fs::create_dir_all(&args.out)?;
    let dir = std::env::temp_dir().join(format!("rota-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut throughput = Vec::new();
    let db = Database::new(args.database_url.as_deref(), &dir)?;
    let mut node_counts = vec![1];
    if args.nodes > 1 {
        node_counts.push(args.nodes);
    }
    let batches: &[usize] = if args.parts.contains(&Part::Throughput) {
        &[1, 10, 50, 200]
    } else {
        &[]
    };
    for &batch in batches {
        let mut w = week(&dir, &format!("store-{batch}"), 2000, args.seed).await?;
        throughput.push(store_alone(&mut w, 2000, batch, args.seconds).await?);
        w.store.close().await;
        for &nodes in &node_counts {
            let name = format!("http{batch}x{nodes}");
            throughput
                .push(over_http(&db, &name, nodes, 2000, batch, args.seed, args.seconds).await?);
        }
        writeln!(out, "measured batch size {batch}")?;
    }
    let mut schedule_size = Vec::new();
    if args.parts.contains(&Part::Size) {
        schedule_size = by_schedule_size(&dir, args.seed, args.seconds).await?;
        writeln!(out, "measured 100 and 10,000 agents")?;
    }
    let mut strategies = Vec::new();
    let rates: &[f64] = if args.parts.contains(&Part::Strategies) {
        &args.portal_rates
    } else {
        &[]
    };
    for &rate in rates {
        let demo = DemoArgs {
            agents: 2000,
            swaps: 2000,
            batch_size: 50,
            portal_rate: Some(rate),
            seed: args.seed,
            retry_delay: Duration::from_millis(20),
            network_delay: Duration::from_millis(args.network_delay_ms),
            database_url: None,
            nodes: 1,
        };
        let mut sink = Vec::new();
        for r in rota_demo::run(&demo, &mut sink).await? {
            let t = &r.tally;
            strategies.push(StrategyRun {
                strategy: r.strategy.label().into(),
                portal_rate: rate,
                requests: t.requests,
                conflicts: t.conflicts,
                conflict_share: share(t.conflicts, t.requests),
                retries: t.retries,
                applied: t.applied,
                stale: t.stale,
                failed: t.failed + t.rejected,
                wall_seconds: r.wall.as_secs_f64(),
                swaps_per_second: t.applied as f64 / r.wall.as_secs_f64(),
            });
        }
        writeln!(out, "measured the weekly batch at portal rate {rate}/s")?;
    }
    let mut webhook_runs = Vec::new();
    if args.parts.contains(&Part::Webhooks) {
        for &rate in &args.webhook_rates {
            for &n in &args.webhook_subscriptions {
                webhook_runs.push(webhooks::measure(&dir, args.seed, args.seconds, n, rate).await?);
                writeln!(
                    out,
                    "measured the dispatcher with {n} subscriptions at {rate} requests/s"
                )?;
            }
        }
    }
    let mut overhead_runs = Vec::new();
    if args.parts.contains(&Part::Overhead) {
        for agents in [100, 10_000] {
            overhead_runs.extend(overhead::measure(&dir, agents, args.seed, args.seconds).await?);
            writeln!(
                out,
                "measured what subscriptions and the guard add at {agents} agents"
            )?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = BenchReport {
        date: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        machine: machine(),
        throughput,
        schedule_size,
        strategies,
        webhooks: webhook_runs,
        overhead: overhead_runs,
    };
    std::fs::write(
        args.out.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let md = markdown(&report);
    std::fs::write(args.out.join("bench.md"), &md)?;
    chart(&report, &args.out.join("bench.svg"))?;
    writeln!(out, "\n{md}")?;
    writeln!(
        out,
        "wrote bench.json, bench.md and bench.svg to {}",
        args.out.display()
    )?;
    Ok(report)
}
