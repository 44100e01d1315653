//! `rota demo`: the user's failing weekly batch and the same batch done rota's way, run side by
//! side against the same data while simulated agents work in the self-service portal.
//!
//! Each strategy gets a fresh copy of the same starting data (the generator is deterministic),
//! its own in-process server on an ephemeral port, and a portal simulator with the same rate and
//! random seed. Afterwards every run is checked: the final schedule equals the replay of its
//! history, and no swap was applied twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
use rota_client::retry::{Retrier, RetryBudget, RetryPolicy};
use rota_client::{CallOptions, Client};
use rota_core::auth::Role;
use rota_core::clock::SystemClock;
use rota_core::command::{ConflictScope, ItemOutcome, SwapMode};
use rota_core::ids::{AgentId, ShiftId};
use rota_core::store::{PageRequest, ScheduleStore, ShiftFilter, TradeStore};
use rota_core::version::{CommitContext, VersionCause};
use rota_scenario::{Params, Scenario};
use rota_store::{Durability, PgStore, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct DemoArgs {
    pub agents: usize,
    pub swaps: usize,
    pub batch_size: usize,
    /// Portal actions per second (agents' pickups, releases and trades; supervisors' edits).
    pub portal_rate: f64,
    pub seed: u64,
    /// The user's fixed retry delay, scaled down (theirs was 2 s).
    pub retry_delay: Duration,
    /// One-way delay of the network between the batch and the service (`link`); zero: none.
    pub network_delay: Duration,
    /// `None`: SQLite files in a temporary directory.
    pub database_url: Option<String>,
}

impl DemoArgs {
    pub fn quick(mut self) -> Self {
        self.agents = self.agents.min(600);
        self.swaps = self.swaps.min(600);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `conflictScope: schedule`, atomic, the version read before each batch, a fixed delay,
    /// the same payload again.
    UsersSetup,
    /// The report's advice: refresh the version before each retry, exponential backoff.
    ReportAdvice,
    /// `conflictScope: shifts`, partial, idempotency keys, only conflicted items retried after
    /// an intent check.
    Rota,
}

impl Strategy {
    pub const ALL: [Self; 3] = [Self::UsersSetup, Self::ReportAdvice, Self::Rota];

    pub fn label(self) -> &'static str {
        match self {
            Self::UsersSetup => "the user's setup",
            Self::ReportAdvice => "the report's advice",
            Self::Rota => "rota's way",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Swap requests sent.
    pub requests: u64,
    /// Of which answered 409.
    pub conflicts: u64,
    pub retries: u64,
    pub applied: u64,
    pub stale: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Of the failed, those whose request was still answered 409 when its attempts ran out.
    pub failed_on_conflict: u64,
    /// Of the failed, valid swaps of atomic requests refused because another item was rejected.
    pub failed_with_rejected: u64,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub strategy: Strategy,
    pub tally: Tally,
    pub wall: Duration,
    /// Versions the portal committed while the batch ran.
    pub portal_commits: u64,
    pub replay_matches: bool,
    /// Swaps that some version applied more than once.
    pub applied_twice: usize,
    /// Swaps reported stale whose shifts the portal did not in fact change.
    pub stale_but_valid: usize,
    /// Swaps reported applied that the history does not show applied.
    pub applied_but_missing: usize,
}

/// One swap of the weekly batch: `agent` gives `original` and takes `new` from `counterpart`.
#[derive(Debug, Clone, Copy)]
struct PlannedSwap {
    agent: AgentId,
    original: ShiftId,
    new: ShiftId,
    counterpart: AgentId,
}

impl PlannedSwap {
    fn body(&self) -> SwapItemBody {
        SwapItemBody {
            agent_id: self.agent.to_string(),
            original_shift_id: self.original.to_string(),
            new_shift_id: self.new.to_string(),
            reason_code: "supervisor".into(),
            counterpart_agent_id: Some(self.counterpart.to_string()),
        }
    }
}

pub async fn run(args: &DemoArgs, out: &mut impl std::io::Write) -> Result<Vec<RunReport>> {
    let zone = rota_core::directory::Zone::parse("America/Chicago")?;
    let scenario = rota_scenario::generate(&Params {
        business_unit: "Chicago".into(),
        time_zone: zone.clone(),
        week_start: crate::next_monday(&zone)?,
        agents: args.agents,
        seed: args.seed,
    })?;
    let (pairs, owners) = rota_scenario::interchangeable_pairs(&scenario);
    // Every other pair goes into the batch; the rest are what portal agents trade among
    // themselves, so the portal's trades never fight the batch, while its releases may.
    let owner = |s: &ShiftId| owners[s];
    let batch: Vec<PlannedSwap> = pairs
        .iter()
        .step_by(2)
        .take(args.swaps)
        .map(|(a, b)| PlannedSwap {
            agent: owner(a),
            original: *a,
            new: *b,
            counterpart: owner(b),
        })
        .collect();
    let tradeable: Vec<(ShiftId, ShiftId)> = pairs.iter().skip(1).step_by(2).copied().collect();
    writeln!(
        out,
        "rota demo: {} agents, {} shifts in the week of {}; a batch of {} swaps in requests of {}; \
         the portal at {}/s (seed {}).",
        scenario.agents.len(),
        scenario.schedule.shifts.len(),
        scenario.schedule.week_start,
        batch.len(),
        args.batch_size,
        args.portal_rate,
        args.seed
    )?;
    let dir = tempdir()?;
    let mut reports = Vec::new();
    for (i, strategy) in Strategy::ALL.into_iter().enumerate() {
        let (store, schema) = fresh_store(args, &dir, i).await?;
        let report = run_one(args, strategy, &store, &scenario, &batch, &tradeable).await;
        store.close().await;
        drop_schema(args.database_url.as_deref(), schema.as_deref()).await;
        let report = report?;
        writeln!(
            out,
            "  {:<20} done in {:>6.2} s",
            strategy.label(),
            report.wall.as_secs_f64()
        )?;
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    writeln!(out)?;
    write_table(out, &reports)?;
    writeln!(out)?;
    writeln!(out, "{}", checks(&reports))?;
    writeln!(out, "{}", conclusion(&reports))?;
    Ok(reports)
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("rota-demo-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A fresh database for one run: a SQLite file in `dir`, or a new PostgreSQL schema (named, so
/// it can be dropped afterwards).
pub(crate) async fn fresh_store(
    args: &DemoArgs,
    dir: &std::path::Path,
    run: usize,
) -> Result<(Store, Option<String>)> {
    Ok(match &args.database_url {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("rota_demo_{}", uuid::Uuid::now_v7().simple());
            (
                Store::Postgres(PgStore::connect(url, Some(&schema)).await?),
                Some(schema),
            )
        }
        Some(other) => {
            anyhow::bail!("--database-url must be postgres://… (SQLite is the default): {other}")
        }
        None => {
            let url = format!("sqlite://{}", dir.join(format!("run-{run}.db")).display());
            (
                Store::Sqlite(SqliteStore::connect(&url, Durability::Full).await?),
                None,
            )
        }
    })
}

/// Drops a run's PostgreSQL schema, on a connection of its own (the run's server closed the
/// store's pool when it stopped).
pub(crate) async fn drop_schema(url: Option<&str>, schema: Option<&str>) {
    let (Some(url), Some(schema)) = (url, schema) else {
        return;
    };
    // The name is ours (`rota_demo_` and a UUID), never input.
    let statement = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let dropped = async {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok::<_, sqlx::Error>(())
    };
    if let Err(e) = dropped.await {
        tracing::warn!(error = %e, schema, "could not drop the demo schema");
    }
}

/// The clients a run uses, each with its own token.
struct Clients {
    batch: Client,
    supervisor: Client,
    agents: HashMap<AgentId, Client>,
}

async fn client(
    store: &Store,
    base: &Client,
    role: Role,
    bu: rota_core::ids::BusinessUnitId,
    agent: Option<AgentId>,
) -> Result<Client> {
    let c = rota_server::auth::create_client(store, role, Some(bu), agent).await?;
    let token = base.token(&c.client_id, &c.client_secret).await?;
    Ok(base.clone().with_bearer(&token.access_token))
}

async fn run_one(
    args: &DemoArgs,
    strategy: Strategy,
    store: &Store,
    scenario: &Scenario,
    batch: &[PlannedSwap],
    tradeable: &[(ShiftId, ShiftId)],
) -> Result<RunReport> {
    let ctx = CommitContext {
        actor: "rota demo".into(),
        request_id: format!("demo-{}", args.seed),
        now: jiff::Timestamp::now(),
        idempotency: None,
    };
    let schedule = crate::store_scenario(store, scenario, &ctx, true).await?;
    // The portal may release and trade up to the start of the week.
    let mut settings = rota_core::trade::BusinessUnitSettings::default();
    settings.self_service.release_min_hours_before_start = 0;
    settings.trades.min_hours_before_start = 0;
    // Every trade waits for the portal's supervisor, who reviews it as agents match it.
    settings.trades.auto_review = false;
    store
        .set_settings(scenario.business_unit.id, &settings)
        .await?;

    let config = rota_server::Config {
        listen: "127.0.0.1:0".parse()?,
        max_swap_items: 1000,
        rate_limit_per_minute: 1_000_000,
        rate_limit_burst: 100_000,
        ..rota_server::Config::default()
    };
    let app = rota_server::Application::with_store(config, store.clone(), Arc::new(SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let addr = app.local_addr()?;
    let base = Client::new(&format!("http://{addr}"));
    let stop = CancellationToken::new();
    // The batch crosses the network to the service; the portal's pace is its rate, wherever
    // its users sit.
    let batch_base = if args.network_delay.is_zero() {
        base.clone()
    } else {
        let link = crate::link::start(addr, args.network_delay, stop.clone()).await?;
        Client::new(&format!("http://{link}"))
    };
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));

    let bu = scenario.business_unit.id;
    let portal_agents: Vec<AgentId> = {
        let mut ids: Vec<AgentId> = scenario.agents.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.truncate(60);
        ids.extend(tradeable.iter().flat_map(|(a, b)| {
            [a, b]
                .into_iter()
                .filter_map(|s| scenario.schedule.shifts.iter().find(|x| x.id == *s)?.owner)
        }));
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let mut agents = HashMap::new();
    for id in &portal_agents {
        agents.insert(*id, client(store, &base, Role::Agent, bu, Some(*id)).await?);
    }
    let clients = Clients {
        batch: client(store, &batch_base, Role::Integration, bu, None).await?,
        supervisor: client(store, &base, Role::Supervisor, bu, None).await?,
        agents,
    };

    let portal_stop = CancellationToken::new();
    let commits = Arc::new(AtomicU64::new(0));
    let portal = tokio::spawn(portal(
        PortalPlan::new(scenario, tradeable),
        clients.agents.clone(),
        clients.supervisor.clone(),
        args.portal_rate,
        args.seed,
        Arc::clone(&commits),
        portal_stop.clone(),
    ));
    // Let the portal get going, as it is when the publish window opens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let commits_before = commits.load(Ordering::Relaxed);
    let started = Instant::now();
    let schedule_id = schedule.id.to_string();
    let (tally, reports) = match strategy {
        Strategy::UsersSetup | Strategy::ReportAdvice => (
            strict_batches(&clients.batch, &schedule_id, batch, args, strategy).await,
            None,
        ),
        Strategy::Rota => {
            let (tally, reports) = rota_batch(&clients.batch, &schedule_id, batch, args).await;
            (tally, Some(reports))
        }
    };
    let wall = started.elapsed();
    let portal_commits = commits.load(Ordering::Relaxed) - commits_before;
    portal_stop.cancel();
    let _ = portal.await;

    let check = verify(store, schedule.id, batch, reports.as_deref()).await?;
    stop.cancel();
    let _ = server.await;
    Ok(RunReport {
        strategy,
        tally,
        wall,
        portal_commits,
        replay_matches: check.replay_matches,
        applied_twice: check.applied_twice,
        stale_but_valid: check.stale_but_valid,
        applied_but_missing: check.applied_but_missing,
    })
}

async fn current_version(client: &Client, schedule: &str) -> Option<String> {
    let reply = client
        .schedule(schedule, "limit=1", &CallOptions::default())
        .await
        .ok()?;
    Some(reply.into_body().ok()?.schedule_version_id)
}

/// The user's setup and the report's advice: whole-schedule versions, atomic requests.
async fn strict_batches(
    client: &Client,
    schedule: &str,
    batch: &[PlannedSwap],
    args: &DemoArgs,
    strategy: Strategy,
) -> Tally {
    let mut t = Tally::default();
    let max_attempts = match strategy {
        Strategy::UsersSetup => 4,
        _ => 8,
    };
    for chunk in batch.chunks(args.batch_size.max(1)) {
        let n = chunk.len() as u64;
        let Some(version) = current_version(client, schedule).await else {
            t.failed += n;
            continue;
        };
        let mut body = SwapRequestBody {
            schedule_version_id: version,
            shift_swaps: chunk.iter().map(PlannedSwap::body).collect(),
            effective_date: None,
            mode: Some(SwapMode::Atomic),
            conflict_scope: Some(ConflictScope::Schedule),
        };
        let mut attempt = 1;
        loop {
            t.requests += 1;
            match client.shift_swaps(&body, &CallOptions::default()).await {
                Ok(_) => {
                    t.applied += n;
                    break;
                }
                Err(e) if e.problem().is_some_and(|p| p.status == 409) => {
                    t.conflicts += 1;
                    if attempt >= max_attempts {
                        t.failed += n;
                        t.failed_on_conflict += n;
                        break;
                    }
                    t.retries += 1;
                    let delay = match strategy {
                        Strategy::UsersSetup => args.retry_delay,
                        _ => args.retry_delay * 2u32.pow((attempt - 1).min(6)),
                    };
                    tokio::time::sleep(delay).await;
                    if strategy == Strategy::ReportAdvice
                        && let Some(v) = current_version(client, schedule).await
                    {
                        body.schedule_version_id = v;
                    }
                    attempt += 1;
                }
                Err(e) => {
                    // A rule violation fails the whole atomic request; its swaps are lost to
                    // the batch (the rejected ones and the valid ones skipped with them).
                    let rejected = e
                        .problem()
                        .map(|p| {
                            p.items
                                .iter()
                                .filter(|i| matches!(i.outcome, ItemOutcome::Rejected { .. }))
                                .count() as u64
                        })
                        .unwrap_or(0);
                    t.rejected += rejected;
                    t.failed += n - rejected;
                    if rejected > 0 {
                        t.failed_with_rejected += n - rejected;
                    }
                    break;
                }
            }
        }
    }
    t
}

/// rota's way: the batch client as `rota batch` runs it.
async fn rota_batch(
    client: &Client,
    schedule: &str,
    batch: &[PlannedSwap],
    args: &DemoArgs,
) -> (Tally, Vec<FinalStatus>) {
    let planned = current_version(client, schedule).await;
    let mut runner = BatchRunner {
        client: client.clone(),
        batch_id: format!("demo-{}", args.seed),
        schedule_id: schedule.to_owned(),
        batch_size: args.batch_size,
        effective_date: None,
        planned_version: planned,
        retrier: Retrier::new(RetryPolicy::default(), Some(args.seed)),
        budget: Arc::new(std::sync::Mutex::new(RetryBudget::new(0.1, 20))),
        stats: Default::default(),
    };
    let items = batch
        .iter()
        .enumerate()
        .map(|(index, s)| BatchItem {
            index,
            swap: s.body(),
        })
        .collect();
    let reports = runner.run(items).await;
    let mut t = Tally {
        requests: runner.stats.requests,
        retries: runner.stats.retries,
        ..Tally::default()
    };
    for r in &reports {
        match r.status {
            FinalStatus::Applied => t.applied += 1,
            FinalStatus::Stale => t.stale += 1,
            FinalStatus::Rejected => t.rejected += 1,
            FinalStatus::Failed => t.failed += 1,
        }
    }
    (t, reports.into_iter().map(|r| r.status).collect())
}

/// What the portal knows of the week at the start, and how it picks actions.
#[derive(Clone)]
struct PortalPlan {
    /// Owned shifts by owner (the portal's agents release these).
    owned: HashMap<AgentId, Vec<ShiftId>>,
    open: Vec<ShiftId>,
    /// Pairs with the same window and skill, owned by two agents: safe trades.
    tradeable: Vec<(ShiftId, ShiftId, AgentId, AgentId)>,
    /// Open shifts and their windows, for supervisor moves.
    moves: Vec<(ShiftId, jiff::Timestamp, jiff::Timestamp)>,
    availability: HashMap<AgentId, rota_core::directory::AvailabilityDoc>,
}

impl PortalPlan {
    fn new(s: &Scenario, tradeable: &[(ShiftId, ShiftId)]) -> Self {
        let mut owned: HashMap<AgentId, Vec<ShiftId>> = HashMap::new();
        let mut open = Vec::new();
        let mut moves = Vec::new();
        for shift in &s.schedule.shifts {
            match shift.owner {
                Some(o) => owned.entry(o).or_default().push(shift.id),
                None => {
                    open.push(shift.id);
                    moves.push((shift.id, shift.window.start(), shift.window.end()));
                }
            }
        }
        let owner_of = |id: ShiftId| {
            s.schedule
                .shifts
                .iter()
                .find(|x| x.id == id)
                .and_then(|x| x.owner)
        };
        let tradeable = tradeable
            .iter()
            .filter_map(|(a, b)| Some((*a, *b, owner_of(*a)?, owner_of(*b)?)))
            .collect();
        let availability = s
            .agents
            .iter()
            .map(|a| {
                (
                    a.id,
                    rota_core::directory::AvailabilityDoc::from(&a.availability),
                )
            })
            .collect();
        Self {
            owned,
            open,
            tradeable,
            moves,
            availability,
        }
    }
}

/// Agents using their own tokens, and a supervisor, at `rate` actions per second until
/// stopped. Counts the versions it committed.
async fn portal(
    plan: PortalPlan,
    agents: HashMap<AgentId, Client>,
    supervisor: Client,
    rate: f64,
    seed: u64,
    commits: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    if rate <= 0.0 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ids: Vec<&AgentId> = agents.keys().collect();
    ids.sort_unstable();
    let mut trades = plan.tradeable.clone();
    let mut moved = 0usize;
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let roll: f64 = rng.random();
        let committed = Arc::clone(&commits);
        if roll < 0.3 {
            // An agent releases one of their shifts (sometimes one the batch wants).
            let agent = *ids[rng.random_range(0..ids.len())];
            let Some(shifts) = plan.owned.get(&agent).filter(|s| !s.is_empty()) else {
                continue;
            };
            let shift = shifts[rng.random_range(0..shifts.len())];
            let client = agents[&agent].clone();
            in_flight.spawn(async move {
                if client.release(&shift.to_string()).await.is_ok() {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            });
        } else if roll < 0.55 && !plan.open.is_empty() {
            // An agent picks up an open shift (the rules may refuse it).
            let agent = *ids[rng.random_range(0..ids.len())];
            let shift = plan.open[rng.random_range(0..plan.open.len())];
            let client = agents[&agent].clone();
            in_flight.spawn(async move {
                if client.pickup(&shift.to_string()).await.is_ok() {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            });
        } else if roll < 0.65 {
            // An agent saves their availability (as it was: the rules the batch meets stay).
            let agent = *ids[rng.random_range(0..ids.len())];
            let Some(doc) = plan.availability.get(&agent).cloned() else {
                continue;
            };
            let client = agents[&agent].clone();
            in_flight.spawn(async move {
                let _ = client.set_availability(&agent.to_string(), &doc).await;
            });
        } else if roll < 0.9 && !trades.is_empty() {
            // Two agents trade a pair of same-time shifts: offer, match, a supervisor approves.
            let (a, b, x, y) = trades.swap_remove(rng.random_range(0..trades.len()));
            let (Some(offerer), Some(taker)) = (agents.get(&x).cloned(), agents.get(&y).cloned())
            else {
                continue;
            };
            let reviewer = supervisor.clone();
            let expires = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_hours(1))
                .unwrap_or(jiff::Timestamp::MAX);
            in_flight.spawn(async move {
                let offer = serde_json::json!({"shiftId": a, "acceptableIntervals": [{"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}], "expiresAt": expires});
                let Ok(trade) = offerer.create_trade(&offer).await.and_then(|r| r.into_body()) else { return };
                let matched = taker.match_trade(&trade.id.to_string(), &serde_json::json!({"version": trade.version, "shiftId": b})).await;
                let Some(matched) = matched.ok().and_then(|r| r.into_body().ok()) else { return };
                let review = serde_json::json!({"reviews": [{"tradeId": matched.id, "version": matched.version, "decision": "approve"}]});
                let reviewed = reviewer.review_trades(&review).await.ok().and_then(|r| r.into_body().ok());
                if reviewed.is_some_and(|r| r["results"][0]["outcome"] == "approved") {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            });
        } else if !plan.moves.is_empty() {
            // A supervisor moves an open shift by half an hour, and later back.
            let (shift, start, end) = plan.moves[moved % plan.moves.len()];
            let offset = if (moved / plan.moves.len()).is_multiple_of(2) {
                30
            } else {
                0
            };
            moved += 1;
            let client = supervisor.clone();
            in_flight.spawn(async move {
                let by = jiff::SignedDuration::from_mins(offset);
                let (Ok(s), Ok(e)) = (start.checked_add(by), end.checked_add(by)) else { return };
                // The first try names version 1; a conflict answers with the shift's current
                // version, so the second try needs no extra read.
                let mut expected = 1;
                for _ in 0..2 {
                    let body = serde_json::json!({"expectedVersion": expected, "change": {"kind": "move", "window": {"start": s, "end": e}}});
                    match client.edit_shift(&shift.to_string(), &body, &CallOptions::default()).await {
                        Ok(_) => {
                            committed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => {
                            let current = e.problem().and_then(|p| p.items.first()).and_then(|i| match &i.outcome {
                                ItemOutcome::Conflict { shifts, .. } => shifts.first().map(|s| s.version.get()),
                                _ => None,
                            });
                            match current {
                                Some(v) => expected = v,
                                None => return,
                            }
                        }
                    }
                }
            });
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

struct Check {
    replay_matches: bool,
    applied_twice: usize,
    stale_but_valid: usize,
    applied_but_missing: usize,
}

/// The run's invariants, from the stored history: the replay equals the current schedule; each
/// batch swap was applied at most once (and, for rota's way, exactly as reported).
async fn verify(
    store: &Store,
    schedule: rota_core::ids::ScheduleId,
    batch: &[PlannedSwap],
    reports: Option<&[FinalStatus]>,
) -> Result<Check> {
    let history = store.changes_since(schedule, None).await?;
    let replayed = rota_core::replay::replay(&history).map_err(|e| anyhow::anyhow!("{e}"))?;
    let current = store
        .shifts(schedule, ShiftFilter::default(), PageRequest::all())
        .await?
        .items;
    let replay_matches = current.len() == replayed.len()
        && current.iter().all(|s| {
            replayed
                .get(&s.id)
                .is_some_and(|r| r.state == s.state() && r.version == s.version)
        });
    let mut applied_twice = 0;
    let mut stale_but_valid = 0;
    let mut applied_but_missing = 0;
    for (i, swap) in batch.iter().enumerate() {
        let applications = history
            .iter()
            .filter(|v| v.record.cause == VersionCause::BulkSwap)
            .filter(|v| {
                let after = |id: ShiftId| {
                    v.changes
                        .iter()
                        .find(|c| c.shift_id == id)
                        .map(|c| c.after.owner)
                };
                after(swap.original) == Some(Some(swap.counterpart))
                    && after(swap.new) == Some(Some(swap.agent))
            })
            .count();
        if applications > 1 {
            applied_twice += 1;
        }
        let Some(reports) = reports else { continue };
        match reports[i] {
            FinalStatus::Applied if applications != 1 => applied_but_missing += 1,
            FinalStatus::Stale => {
                let touched_by_others = history
                    .iter()
                    .filter(|v| {
                        v.record.cause != VersionCause::BulkSwap
                            && v.record.cause != VersionCause::Import
                    })
                    .any(|v| {
                        v.changes.iter().any(|c| {
                            (c.shift_id == swap.original || c.shift_id == swap.new)
                                && c.before.map(|b| b.owner) != Some(c.after.owner)
                        })
                    });
                if !touched_by_others {
                    stale_but_valid += 1;
                }
            }
            _ => {}
        }
    }
    Ok(Check {
        replay_matches,
        applied_twice,
        stale_but_valid,
        applied_but_missing,
    })
}

fn write_table(out: &mut impl std::io::Write, reports: &[RunReport]) -> std::io::Result<()> {
    writeln!(
        out,
        "| strategy | requests | 409s | retries | applied | stale | rejected | failed | wall time | portal versions | replay = schedule | applied twice |"
    )?;
    writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
    )?;
    for r in reports {
        let t = &r.tally;
        writeln!(
            out,
            "| {} | {} | {} ({:.1}%) | {} | {} | {} | {} | {} | {:.2} s | {} | {} | {} |",
            r.strategy.label(),
            t.requests,
            t.conflicts,
            share(t.conflicts, t.requests),
            t.retries,
            t.applied,
            t.stale,
            t.rejected,
            t.failed,
            r.wall.as_secs_f64(),
            r.portal_commits,
            if r.replay_matches { "yes" } else { "NO" },
            r.applied_twice
        )?;
    }
    Ok(())
}

/// What was verified against each run's stored history.
fn checks(reports: &[RunReport]) -> String {
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    let replay = reports.iter().all(|r| r.replay_matches);
    let once = reports.iter().all(|r| r.applied_twice == 0);
    let rota = reports.iter().filter(|r| r.strategy == Strategy::Rota);
    let exact = rota
        .clone()
        .all(|r| r.applied_but_missing == 0 && r.tally.failed == 0);
    let stale = rota.clone().all(|r| r.stale_but_valid == 0);
    format!(
        "Checked against each run's history: final schedule = replay of its versions: {}; no swap applied twice: {}; \
         rota's way applied every swap it reports applied exactly once and failed none: {}; every swap it reports \
         stale had a shift changed by the portal: {}.",
        yes(replay),
        yes(once),
        yes(exact),
        yes(stale)
    )
}

/// `part` as a percentage of `whole` (0 when there is no whole).
pub(crate) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// A few sentences drawn from the figures.
pub fn conclusion(reports: &[RunReport]) -> String {
    let by = |s: Strategy| reports.iter().find(|r| r.strategy == s);
    let (Some(user), Some(advice), Some(rota)) = (
        by(Strategy::UsersSetup),
        by(Strategy::ReportAdvice),
        by(Strategy::Rota),
    ) else {
        return String::new();
    };
    // Why a whole-schedule strategy lost swaps, in the terms of what happened in this run.
    let causes = |t: &Tally| {
        let mut causes = Vec::new();
        if t.failed_on_conflict > 0 {
            causes.push(format!("{} to 409s", t.failed_on_conflict));
        }
        if t.rejected > 0 {
            causes.push(format!(
                "{} to atomic requests refused because {} swap(s) in them broke a rule after a portal change",
                t.rejected + t.failed_with_rejected,
                t.rejected
            ));
        }
        let other = t.failed - t.failed_on_conflict - t.failed_with_rejected;
        if other > 0 {
            causes.push(format!("{other} to other errors"));
        }
        if causes.is_empty() {
            String::new()
        } else {
            format!(" ({})", causes.join(", "))
        }
    };
    let mut text = format!(
        "With the portal committing {} version(s) during the batch, the user's setup got 409 on {:.1}% of its requests and \
         lost {} of {} swaps{}",
        user.portal_commits,
        share(user.tally.conflicts, user.tally.requests),
        user.tally.failed + user.tally.rejected,
        user.tally.applied + user.tally.failed + user.tally.rejected + user.tally.stale,
        causes(&user.tally),
    );
    text.push_str(if user.tally.failed_on_conflict > 0 {
        ": sending the same payload again with a stale version can never succeed. "
    } else {
        ". "
    });
    text.push_str(&format!(
        "The report's advice (refresh, back off) got {} swaps through and failed {}{}, at the cost of {} retries and {:.2} s. ",
        advice.tally.applied,
        advice.tally.failed + advice.tally.rejected,
        causes(&advice.tally),
        advice.tally.retries,
        advice.wall.as_secs_f64()
    ));
    text.push_str(&format!(
        "rota's way applied {} swaps, reported {} as stale because the portal had changed their shifts, failed {}, \
         retried {} of {} requests ({:.1}%) and took {:.2} s ({:.2}× the user's setup).",
        rota.tally.applied,
        rota.tally.stale,
        rota.tally.failed,
        rota.tally.retries,
        rota.tally.requests,
        share(rota.tally.retries, rota.tally.requests),
        rota.wall.as_secs_f64(),
        rota.wall.as_secs_f64() / user.wall.as_secs_f64().max(1e-9),
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_quick_demo_keeps_every_invariant() {
        let args = DemoArgs {
            agents: 2000,
            swaps: 2000,
            batch_size: 50,
            portal_rate: 20.0,
            seed: 7,
            retry_delay: Duration::from_millis(5),
            network_delay: Duration::from_millis(2),
            database_url: None,
        }
        .quick();
        let mut out = Vec::new();
        let reports = run(&args, &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(reports.len(), 3, "{text}");
        for r in &reports {
            assert!(
                r.replay_matches,
                "{:?}: the schedule is not the replay of its history",
                r.strategy
            );
            assert_eq!(r.applied_twice, 0, "{:?}", r.strategy);
            let t = &r.tally;
            assert_eq!(
                t.applied + t.stale + t.rejected + t.failed,
                600,
                "{:?}: every swap accounted for",
                r.strategy
            );
        }
        let rota = &reports[2];
        assert_eq!(rota.strategy, Strategy::Rota);
        // Every still-valid swap applied exactly once: none failed, each reported applied is in
        // the history once, and each reported stale really had a shift the portal changed.
        assert_eq!(rota.tally.failed, 0, "{text}");
        assert_eq!(rota.tally.rejected, 0, "{text}");
        assert_eq!(rota.applied_but_missing, 0, "{text}");
        assert_eq!(rota.stale_but_valid, 0, "{text}");
        assert!(text.contains("| rota's way |"), "{text}");
    }
}
