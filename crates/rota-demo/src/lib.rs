//! `rota demo`: the user's failing weekly batch and the same batch done other ways, run side by
//! side against the same data while simulated agents work in the self-service portal.
//!
//! - [`strategies`]: the ways to run the batch (the user's setup, their script on rota's
//!   defaults, the report's advice, rota's way).
//! - [`portal`]: agents and a supervisor in the self-service portal, at a pace of commits.
//! - [`nodes`]: the service as one node or several on one fresh database.
//! - [`calibrate`]: the window in which a version read by the batch can go stale, measured.
//! - [`link`]: a loopback link with a one-way delay, between the batch and the service.
//! - [`verify`]: the invariants, checked against each run's stored history.
//! - [`report`]: the table, the share's interval and the conclusion.
//!
//! Each strategy gets a fresh copy of the same starting data (the generator is deterministic),
//! its own service on ephemeral ports and a portal with the same pace and random seed.
#![forbid(unsafe_code)]

pub mod calibrate;
pub mod link;
pub mod nodes;
pub mod portal;
pub mod report;
pub mod strategies;
pub mod verify;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jiff::civil::Date;
use rota_client::Client;
use rota_core::auth::Role;
use rota_core::directory::Zone;
use rota_core::ids::{AgentId, BusinessUnitId, ShiftId};
use rota_core::schedule::Schedule;
use rota_core::store::{ScheduleStore, StoreError, TradeStore};
use rota_core::version::CommitContext;
use rota_scenario::{Params, Scenario};
use rota_store::Store;

pub use nodes::{Cluster, Database};
pub use report::{RunReport, share};
pub use strategies::{Strategy, Tally};

use portal::{PortalPlan, PortalUsers};
use strategies::PlannedSwap;

/// The 409 share of the user's report, which the portal's default pace aims at.
pub const REPORTED_SHARE: f64 = 0.15;

/// Interchangeable pairs kept out of the batch for the portal's own trades, so that the
/// portal's trades never fight the batch (its releases may); a request's worth more are kept
/// for the calibration.
const PORTAL_PAIRS: usize = 60;

/// Agents the portal acts for besides the owners of its tradeable pairs.
const PORTAL_SAMPLE: usize = 60;

#[derive(Debug, Clone)]
pub struct DemoArgs {
    pub agents: usize,
    pub swaps: usize,
    pub batch_size: usize,
    /// Schedule versions the portal commits per second; `None`: set from the measured round
    /// trip between the batch and the service, so that the user's setup expects the report's
    /// share (see [`portal_pace`]).
    pub portal_rate: Option<f64>,
    pub seed: u64,
    /// The user's fixed retry delay, scaled down (theirs was 2 s).
    pub retry_delay: Duration,
    /// One-way delay of the network between the batch and the service (`link`); zero: none.
    pub network_delay: Duration,
    /// `None`: SQLite files in a temporary directory.
    pub database_url: Option<String>,
    /// Nodes of the service on the one database (more than one needs PostgreSQL).
    pub nodes: usize,
}

impl DemoArgs {
    /// A run of a few seconds: a smaller week and batch.
    pub fn quick(mut self) -> Self {
        self.agents = self.agents.min(600);
        self.swaps = self.swaps.min(600);
        self
    }
}

/// The portal's pace (versions per second) at which the user's setup expects `share` of its
/// requests answered 409, given `window`, how long a version it read is exposed to a commit
/// ([`calibrate::exposure`]). With commits at
/// rate λ a request meets one with chance p ≈ λ·window; a request that meets one is answered
/// 409 on each of its `attempts` (the same stale payload), so the share is
/// `attempts·p / (1 + (attempts − 1)·p)`, solved here for λ.
pub fn portal_pace(share: f64, window: Duration, attempts: u32) -> f64 {
    let a = f64::from(attempts);
    let p = share / (a - (a - 1.0) * share);
    p / window.as_secs_f64().max(1e-6)
}

pub async fn run(args: &DemoArgs, out: &mut impl std::io::Write) -> Result<Vec<RunReport>> {
    let zone = Zone::parse("America/Chicago")?;
    let scenario = rota_scenario::generate(&Params {
        business_unit: "Chicago".into(),
        time_zone: zone.clone(),
        week_start: next_monday(&zone)?,
        agents: args.agents,
        seed: args.seed,
    })?;
    let (pairs, owners) = rota_scenario::interchangeable_pairs(&scenario);
    let reserve = (PORTAL_PAIRS + args.batch_size).min(pairs.len() / 10);
    let (reserved, for_batch) = pairs.split_at(reserve);
    let (calibration, tradeable) = reserved.split_at(args.batch_size.min(reserve / 2));
    let planned = |(a, b): &(ShiftId, ShiftId)| PlannedSwap {
        agent: owners[a],
        original: *a,
        new: *b,
        counterpart: owners[b],
    };
    let batch: Vec<PlannedSwap> = for_batch.iter().take(args.swaps).map(planned).collect();
    let calibration: Vec<PlannedSwap> = calibration.iter().map(planned).collect();

    writeln!(
        out,
        "rota demo: {} agents, {} shifts in the week of {}; a batch of {} swaps in requests of {}; \
         {} node(s) on {}; seed {}.",
        scenario.agents.len(),
        scenario.schedule.shifts.len(),
        scenario.schedule.week_start,
        batch.len(),
        args.batch_size,
        args.nodes,
        if args.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.seed
    )?;
    let dir = std::env::temp_dir().join(format!("rota-demo-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = Database::new(args.database_url.as_deref(), &dir)?;
    let mut pace = args.portal_rate;
    let mut reports = Vec::new();
    for (i, strategy) in Strategy::ALL.into_iter().enumerate() {
        let run = Run {
            args,
            strategy,
            scenario: &scenario,
            batch: &batch,
            tradeable,
            calibration: &calibration,
        };
        let report = run.go(&db, &format!("demo{i}"), &mut pace, out).await;
        let report = report?;
        writeln!(
            out,
            "  {:<22} done in {:>6.2} s",
            strategy.label(),
            report.wall.as_secs_f64()
        )?;
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    writeln!(out)?;
    report::write_table(out, &reports)?;
    writeln!(out)?;
    writeln!(out, "{}", report::checks(&reports))?;
    writeln!(out, "{}", report::conclusion(&reports))?;
    Ok(reports)
}

/// One strategy's run on its own fresh database.
struct Run<'a> {
    args: &'a DemoArgs,
    strategy: Strategy,
    scenario: &'a Scenario,
    batch: &'a [PlannedSwap],
    tradeable: &'a [(ShiftId, ShiftId)],
    /// Pairs neither the batch nor the portal touches, swapped back and forth by the
    /// calibration.
    calibration: &'a [PlannedSwap],
}

impl Run<'_> {
    /// `pace`: the portal's versions per second; measured on the first run when not given,
    /// then the same for every strategy.
    async fn go(
        &self,
        db: &Database,
        name: &str,
        pace: &mut Option<f64>,
        out: &mut impl std::io::Write,
    ) -> Result<RunReport> {
        let mut cluster = Cluster::open(db, name, self.args.nodes).await?;
        let result = self.on(&mut cluster, pace, out).await;
        cluster.shut_down().await;
        result
    }

    async fn on(
        &self,
        cluster: &mut Cluster,
        pace: &mut Option<f64>,
        out: &mut impl std::io::Write,
    ) -> Result<RunReport> {
        let (args, scenario) = (self.args, self.scenario);
        let ctx = CommitContext {
            actor: "rota demo".into(),
            request_id: format!("demo-{}", args.seed),
            now: jiff::Timestamp::now(),
            idempotency: None,
        };
        let store = cluster.stores[0].clone();
        let schedule = load(&store, scenario, &ctx, true).await?;
        // The portal may release and trade up to the start of the week.
        let mut settings = rota_core::trade::BusinessUnitSettings::default();
        settings.self_service.release_min_hours_before_start = 0;
        settings.trades.min_hours_before_start = 0;
        // Every trade waits for the portal's supervisor, who reviews it as agents match it.
        settings.trades.auto_review = false;
        store
            .set_settings(scenario.business_unit.id, &settings)
            .await?;
        cluster
            .serve(&rota_server::Config {
                listen: "127.0.0.1:0".parse()?,
                max_swap_items: 1000,
                rate_limit_per_minute: 1_000_000,
                rate_limit_burst: 100_000,
                ..rota_server::Config::default()
            })
            .await?;
        // The batch crosses the network to the service; the portal's pace is its own,
        // wherever its users sit.
        let mut batch_bases = Vec::new();
        for addr in cluster.addrs.clone() {
            let addr = if args.network_delay.is_zero() {
                addr
            } else {
                link::start(addr, args.network_delay, cluster.stop_token()).await?
            };
            batch_bases.push(Client::new(&format!("http://{addr}")));
        }
        let direct: Vec<Client> = cluster
            .addrs
            .iter()
            .map(|a| Client::new(&format!("http://{a}")))
            .collect();
        let bu = scenario.business_unit.id;
        let batch_token = token(&store, &direct[0], Role::Integration, bu, None).await?;
        let batch_clients: Vec<Client> = batch_bases
            .into_iter()
            .map(|c| c.with_bearer(&batch_token))
            .collect();
        let supervisor = token(&store, &direct[0], Role::Supervisor, bu, None).await?;
        let plan = PortalPlan::new(scenario, self.tradeable);
        let mut agents = HashMap::new();
        for (i, id) in plan.agents(PORTAL_SAMPLE).into_iter().enumerate() {
            let t = token(&store, &direct[0], Role::Agent, bu, Some(id)).await?;
            agents.insert(id, direct[i % direct.len()].clone().with_bearer(&t));
        }
        let users = PortalUsers {
            agents,
            supervisors: direct
                .iter()
                .map(|c| c.clone().with_bearer(&supervisor))
                .collect(),
        };
        let schedule_id = schedule.id;
        let rate = match *pace {
            Some(rate) => rate,
            None => {
                let window = calibrate::exposure(
                    &batch_clients[0],
                    &users.supervisors[0],
                    schedule_id,
                    &plan,
                    self.calibration,
                )
                .await?;
                let rate = portal_pace(REPORTED_SHARE, window, Strategy::UsersSetup.attempts());
                writeln!(
                    out,
                    "  a version the batch reads is exposed to portal commits for {:.1} ms (measured); the portal commits {:.2} versions/s, \
                     at which the user's setup expects {:.0}% of its requests answered 409",
                    window.as_secs_f64() * 1000.0,
                    rate,
                    REPORTED_SHARE * 100.0
                )?;
                *pace = Some(rate);
                rate
            }
        };

        let portal_stop = tokio_util::sync::CancellationToken::new();
        let (commits, mut committed) = tokio::sync::watch::channel(0u64);
        let portal = tokio::spawn(portal::run(
            plan,
            users,
            rate,
            args.seed,
            commits,
            portal_stop.clone(),
        ));
        // The publish window is open: the batch starts after the portal's first commit (the
        // wait ends too if the portal stops, having nothing to do).
        if rate > 0.0 {
            let _ = committed.wait_for(|n| *n >= 1).await;
        }
        let commits_before = *committed.borrow();
        let started = Instant::now();
        let (tally, statuses) = match self.strategy {
            Strategy::Rota => {
                let (tally, statuses) = strategies::rota_batch(
                    &batch_clients,
                    schedule_id,
                    self.batch,
                    args.batch_size,
                    args.seed,
                )
                .await;
                (tally, Some(statuses))
            }
            other => (
                strategies::whole_requests(
                    &batch_clients,
                    schedule_id,
                    self.batch,
                    args.batch_size,
                    args.retry_delay,
                    other,
                )
                .await,
                None,
            ),
        };
        let wall = started.elapsed();
        let portal_commits = *committed.borrow() - commits_before;
        portal_stop.cancel();
        let portal_tally = portal.await.unwrap_or_default();

        let check = verify::verify(&store, schedule.id, self.batch, statuses.as_deref()).await?;
        Ok(RunReport {
            strategy: self.strategy,
            tally,
            wall,
            portal_commits,
            portal: portal_tally,
            replay_matches: check.replay_matches,
            coverage_matches: check.coverage_matches,
            short_intervals: check.short_intervals,
            applied_twice: check.applied_twice,
            stale_but_valid: check.stale_but_valid,
            applied_but_missing: check.applied_but_missing,
        })
    }
}

/// A new OAuth client of `role` and its bearer token.
async fn token(
    store: &Store,
    base: &Client,
    role: Role,
    bu: BusinessUnitId,
    agent: Option<AgentId>,
) -> Result<String> {
    let c = rota_app::tokens::create_client(store, role, Some(bu), agent).await?;
    Ok(base
        .token(&c.client_id, &c.client_secret)
        .await?
        .access_token)
}

/// Stores `s` as version 1 (published if `publish`) and settles SQLite's log, so that the
/// copying of a large import does not land on what runs next.
pub async fn load(
    store: &Store,
    s: &Scenario,
    ctx: &CommitContext,
    publish: bool,
) -> Result<Schedule> {
    let exists = |e: StoreError| match e {
        StoreError::AlreadyExists(_) => anyhow::anyhow!(
            "this database already holds the data of this --seed; pick another --seed or database"
        ),
        other => anyhow::Error::new(other),
    };
    let mut schedule = rota_scenario::store(store, s, ctx).await.map_err(exists)?;
    if publish {
        schedule = store.publish(schedule.id, ctx).await?;
    }
    if let Store::Sqlite(sqlite) = store {
        sqlite.checkpoint().await?;
    }
    Ok(schedule)
}

/// The next Monday in `zone` after today: the week the demo and `rota seed` plan.
pub fn next_monday(zone: &Zone) -> Result<Date> {
    let today = zone.local_date(jiff::Timestamp::now());
    let ahead = i64::from(7 - today.weekday().to_monday_zero_offset()) % 7;
    let ahead = if ahead == 0 { 7 } else { ahead };
    Ok(today.checked_add(jiff::Span::new().days(ahead))?)
}
