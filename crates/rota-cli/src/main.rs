//! The `rota` command: thin wiring of the store and the scenario generator.
#![forbid(unsafe_code)]

use anyhow::Result;
use clap::{Parser, Subcommand};
use jiff::civil::Date;
use rota_core::directory::Zone;
use rota_core::schedule::Schedule;
use rota_core::store::{PageRequest, ScheduleStore, ShiftFilter};
use rota_core::version::CommitContext;
use rota_scenario::{Params, Scenario};
use rota_store::Store;

mod batch;
mod bench;
mod clients;
mod db;
mod requirements;
#[cfg(test)]
mod testing;
mod users;

/// The allocator of the whole process. The write path clones and drops many small values
/// (shifts, agents, statement arguments) beside a large long-lived cache; the system allocator
/// spent a tenth of a 10,000-agent swap's time walking its free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_DATABASE: &str = "sqlite://rota.db";

#[derive(Parser)]
#[command(
    name = "rota",
    version,
    about = "Workforce-management schedules for contact centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a realistic business unit with agents and one week of shifts, and print its ids
    /// as JSON (a summary of the schedule goes to stderr).
    Seed(SeedArgs),
    /// Run the HTTP service until SIGTERM or Ctrl-C, then drain in-flight requests.
    Serve(ServeArgs),
    /// Run a bulk swap batch to completion (resumable; a per-swap JSON Lines report).
    #[command(after_long_help = batch::HELP)]
    Batch {
        /// The batch's YAML configuration (its keys are listed below).
        #[arg(long)]
        config: std::path::PathBuf,
        /// CSV with a header (agent_id,original_shift_id,new_shift_id,reason_code[,counterpart_agent_id]),
        /// or .json / .jsonl.
        #[arg(long)]
        input: std::path::PathBuf,
        /// The per-swap report (JSON Lines); its journal, for --resume, goes beside it
        /// (`report.journal`).
        #[arg(long, default_value = "report.jsonl")]
        report: std::path::PathBuf,
        /// Finish the batch the journal beside the report describes.
        #[arg(long)]
        resume: bool,
    },
    /// The user's weekly batch against a busy self-service portal, three ways side by side:
    /// their setup, the advice in their report, and rota's way; a table and a conclusion.
    Demo(DemoCli),
    /// Measure the store and the HTTP endpoint side by side (batch sizes, schedule sizes) and
    /// the weekly batch's three strategies against portal rates; writes JSON, markdown and an
    /// SVG chart.
    Bench {
        /// Seconds per throughput measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Where bench.json, bench.md and bench.svg go.
        #[arg(long, default_value = "bench-results")]
        out: std::path::PathBuf,
        /// Versions the portal commits per second in the strategy runs (the first is the idle
        /// baseline).
        #[arg(long, value_delimiter = ',', default_value = "0,2,10")]
        portal_rates: Vec<f64>,
        /// One-way network delay in milliseconds between the batch and the service in the
        /// strategy runs, as `rota demo --network-delay-ms`.
        #[arg(long, default_value_t = 10)]
        network_delay_ms: u64,
        /// Random seed of the generated weeks.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// postgres://… to measure the HTTP endpoint on PostgreSQL (a fresh schema per
        /// measurement); SQLite otherwise.
        #[arg(long)]
        database_url: Option<String>,
        /// Also measure the HTTP endpoint as this many nodes sharing the database (needs
        /// --database-url postgres://…), beside one node in the same run.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Which parts to run.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "throughput,size,strategies,webhooks,overhead"
        )]
        parts: Vec<bench::Part>,
        /// Subscription counts of the webhook part.
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        webhook_subscriptions: Vec<usize>,
        /// Requests per second of the webhook part's batch, 0 for as fast as its clients go
        /// (the weekly batch of `rota demo` sends about 60 a second on one node).
        #[arg(long, value_delimiter = ',', default_value = "60,0")]
        webhook_rates: Vec<f64>,
    },
    /// Manage OAuth clients.
    Clients {
        #[command(subcommand)]
        command: clients::ClientsCommand,
    },
    /// Portal users and their sign-in links.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Staffing requirements.
    Requirements {
        #[command(subcommand)]
        command: RequirementsCommand,
    },
}

#[derive(Subcommand)]
enum RequirementsCommand {
    /// Set a schedule's staffing requirement from a CSV (`skill,start,required`, one row per
    /// skill and 15-minute interval) through the API, as one version; prints the version.
    Import {
        /// The service, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "ROTA_BASE_URL", default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// A supervisor or integration client.
        #[arg(long, env = "ROTA_CLIENT_ID")]
        client_id: String,
        /// The client's secret.
        #[arg(long, env = "ROTA_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// The schedule whose requirement changes.
        #[arg(long)]
        schedule_id: rota_core::ids::ScheduleId,
        /// The CSV: `skill,start,required` rows, one per skill and 15-minute interval.
        #[arg(long)]
        input: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct DemoCli {
    /// Agents in the generated Chicago week.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Swaps in the weekly batch (at most about one per agent: pairs of same-time shifts).
    #[arg(long, default_value_t = 20_000)]
    swaps: usize,
    /// Swaps per request, as the user's `batch_size`.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    /// Schedule versions the portal commits per second (pickups, releases, approved trades,
    /// supervisor edits). Default: set from the measured round trip, so that the user's setup
    /// expects the report's ~15% of requests answered 409.
    #[arg(long)]
    portal_rate: Option<f64>,
    /// Random seed of the data and of the portal's choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The user's fixed retry delay in milliseconds (theirs was 2,000; scaled down).
    #[arg(long, default_value_t = 20)]
    retry_delay_ms: u64,
    /// One-way network delay in milliseconds between the batch and the service, as between
    /// the user's site in Chicago and their cloud region, us-east-2 in Ohio (0: none).
    #[arg(long, default_value_t = 3)]
    network_delay_ms: u64,
    /// A run of a few seconds: 600 agents and swaps.
    #[arg(long)]
    quick: bool,
    /// postgres://… to run on PostgreSQL (a fresh schema per run); SQLite files in a
    /// temporary directory otherwise.
    #[arg(long, env = "ROTA_DATABASE_URL")]
    database_url: Option<String>,
    /// Nodes of the service sharing the database, each with its own pool, webhook dispatcher
    /// and rate limiter; the batch and the portal are spread over them (more than one needs
    /// --database-url postgres://…).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML configuration file; flags and ROTA_* variables override it.
    #[arg(long, env = "ROTA_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Default 127.0.0.1:8080.
    #[arg(long, env = "ROTA_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Default sqlite://rota.db.
    #[arg(long, env = "ROTA_DATABASE_URL")]
    database_url: Option<String>,
    /// Swap items accepted in one request (default 500).
    #[arg(long, env = "ROTA_MAX_SWAP_ITEMS")]
    max_swap_items: Option<usize>,
    /// Requests per minute per OAuth client (default 300).
    #[arg(long, env = "ROTA_RATE_LIMIT_PER_MINUTE")]
    rate_limit_per_minute: Option<u32>,
    /// `text` (default) or `json` log lines.
    #[arg(long, env = "ROTA_LOG_FORMAT")]
    log_format: Option<String>,
    /// Start on an empty database when a SQLite file does not exist yet (without it, a path
    /// that does not exist is an error: most likely a typo).
    #[arg(long)]
    create: bool,
}

#[derive(clap::Args)]
struct SeedArgs {
    /// sqlite://PATH (created if missing) or postgres://…
    #[arg(long, env = "ROTA_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    database_url: String,
    /// Agents in the business unit.
    #[arg(long, default_value_t = 500)]
    agents: usize,
    /// The local date the week starts on (default: next Monday).
    #[arg(long)]
    week: Option<Date>,
    /// The business unit's name.
    #[arg(long, default_value = "Chicago")]
    business_unit: String,
    /// Its IANA time zone: shifts are laid out in its local days.
    #[arg(long, default_value = "America/Chicago")]
    time_zone: String,
    /// Random seed: the same seed gives the same data, ids included.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Publish the schedule after importing it.
    #[arg(long)]
    publish: bool,
    /// Also create portal users (a supervisor, two agents) and print their sign-in links.
    #[arg(long)]
    portal_users: bool,
    /// Where the service will be reached, for the printed links.
    #[arg(long, env = "ROTA_BASE_URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `level`), as text or JSON lines; coloured
/// only on a terminal, and never with `NO_COLOR` set (no escape codes in a file or a pipe).
fn init_logs(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether to colour what goes to `stream`: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // What went wrong and why, in one line: a person reads it, not a stack trace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(_) => {}
        // The demo's in-process servers would log every request over its table.
        Command::Demo(_) | Command::Bench { .. } => init_logs(false, "warn"),
        _ => init_logs(false, "info"),
    }
    match cli.command {
        Command::Seed(args) => seed(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Batch {
            config,
            input,
            report,
            resume,
        } => {
            let code = batch::run(batch::BatchArgs {
                config,
                input,
                report,
                resume,
            })
            .await?;
            std::process::exit(code);
        }
        Command::Clients { command } => clients::run(command).await,
        Command::Users { command } => users::run(command).await,
        Command::Requirements {
            command:
                RequirementsCommand::Import {
                    base_url,
                    client_id,
                    client_secret,
                    schedule_id,
                    input,
                },
        } => requirements::import(&base_url, &client_id, &client_secret, schedule_id, &input).await,
        Command::Bench {
            seconds,
            out,
            portal_rates,
            network_delay_ms,
            seed,
            database_url,
            nodes,
            parts,
            webhook_subscriptions,
            webhook_rates,
        } => {
            anyhow::ensure!(seconds > 0.0, "--seconds must be positive");
            anyhow::ensure!(nodes >= 1, "--nodes must be at least 1");
            let args = bench::BenchArgs {
                seconds,
                out,
                portal_rates,
                network_delay_ms,
                seed,
                database_url,
                nodes,
                parts,
                webhook_subscriptions,
                webhook_rates,
            };
            bench::run(&args, &mut std::io::stdout()).await?;
            Ok(())
        }
        Command::Demo(args) => {
            let mut demo = rota_demo::DemoArgs {
                agents: args.agents,
                swaps: args.swaps,
                batch_size: args.batch_size,
                portal_rate: args.portal_rate,
                seed: args.seed,
                retry_delay: std::time::Duration::from_millis(args.retry_delay_ms),
                network_delay: std::time::Duration::from_millis(args.network_delay_ms),
                database_url: args.database_url,
                nodes: args.nodes,
            };
            if args.quick {
                demo = demo.quick();
            }
            anyhow::ensure!(
                demo.agents > 0 && demo.swaps > 0 && demo.batch_size > 0 && demo.nodes > 0,
                "--agents, --swaps, --batch-size and --nodes must be at least 1"
            );
            anyhow::ensure!(
                demo.portal_rate.is_none_or(|r| r.is_finite() && r >= 0.0),
                "--portal-rate must be a number of versions per second, 0 or more"
            );
            rota_demo::run(&demo, &mut std::io::stdout()).await?;
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => rota_server::config::FileConfig::load(path)?,
        None => rota_server::config::FileConfig::default(),
    };
    let json = match args.log_format.as_deref().or(file.log_format.as_deref()) {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => anyhow::bail!("the log format must be text or json, not {other}"),
    };
    init_logs(json, "info");
    let config = file.resolve(rota_server::config::FileConfig {
        listen: args.listen,
        database_url: args.database_url,
        max_swap_items: args.max_swap_items,
        rate_limit_per_minute: args.rate_limit_per_minute,
        ..rota_server::config::FileConfig::default()
    });
    db::must_exist(&config.database_url, args.create)?;
    let app = rota_server::Application::build(config)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    eprintln!("rota listening on http://{}", app.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    app.run_until_stopped(shutdown).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn seed(args: SeedArgs) -> Result<()> {
    let zone = Zone::parse(&args.time_zone)?;
    let week_start = match args.week {
        Some(week) => week,
        None => rota_demo::next_monday(&zone)?,
    };
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    let scenario = rota_scenario::generate(&Params {
        business_unit: args.business_unit,
        time_zone: zone,
        week_start,
        agents: args.agents,
        seed: args.seed,
    })?;
    let store = db::open(&args.database_url, true).await?;
    let ctx = CommitContext {
        actor: "rota seed".into(),
        request_id: format!("seed-{}", args.seed),
        now: jiff::Timestamp::now(),
        idempotency: None,
    };
    let schedule = rota_demo::load(&store, &scenario, &ctx, args.publish).await?;
    let out = serde_json::json!({
        "businessUnitId": scenario.business_unit.id,
        "scheduleId": schedule.id,
        "scheduleVersionId": schedule.version_id().to_string(),
        "agents": scenario.agents.len(),
        "shifts": scenario.schedule.shifts.len(),
    });
    println!("{out}");
    summarise(&store, &scenario, &schedule).await?;
    if args.portal_users {
        users::seed_portal_users(&store, scenario.business_unit.id, &args.base_url).await?;
    }
    Ok(())
}

/// A human summary of what was stored, read back from the store.
async fn summarise(store: &Store, s: &Scenario, schedule: &Schedule) -> Result<()> {
    let shifts = store
        .shifts(schedule.id, ShiftFilter::default(), PageRequest::all())
        .await?
        .items;
    let zone = &s.business_unit.time_zone;
    let open = shifts.iter().filter(|x| x.owner.is_none()).count();
    eprintln!(
        "{} ({}): week of {} ({}), schedule {} at version {} ({})",
        s.business_unit.name,
        zone.name(),
        schedule.week_start,
        format!("{:?}", s.business_unit.first_day_of_week).to_lowercase(),
        schedule.id,
        schedule.version,
        schedule.state.as_str(),
    );
    eprintln!(
        "{} agents in {} teams; {} shifts, {} open ({:.1}%)",
        s.agents.len(),
        s.management_units.len(),
        shifts.len(),
        open,
        100.0 * open as f64 / shifts.len().max(1) as f64
    );
    eprintln!(
        "{:<12} {:>7} {:>7} {:>7} {:>6}",
        "day", "00-08", "08-16", "16-24", "open"
    );
    for offset in 0..7 {
        let day = schedule
            .week_start
            .checked_add(jiff::Span::new().days(offset))?;
        let on_day: Vec<_> = shifts
            .iter()
            .filter(|x| zone.local_date(x.window.start()) == day)
            .collect();
        let starting = |hour: i8| {
            on_day
                .iter()
                .filter(|x| x.window.start().to_zoned_datetime(zone.tz().clone()).hour() == hour)
                .count()
        };
        eprintln!(
            "{:<12} {:>7} {:>7} {:>7} {:>6}",
            format!("{} {}", day, &format!("{:?}", day.weekday())[..3]),
            starting(0),
            starting(8),
            starting(16),
            on_day.iter().filter(|x| x.owner.is_none()).count()
        );
    }
    Ok(())
}

#[cfg(test)]
mod help {
    use clap::CommandFactory;

    /// Every flag of every command says what it is for.
    #[test]
    fn every_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "rota", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:#?}");
    }

    #[test]
    fn batch_help_lists_its_configuration_keys_and_exit_codes() {
        let mut cmd = super::Cli::command();
        let help = cmd
            .find_subcommand_mut("batch")
            .unwrap()
            .render_long_help()
            .to_string();
        for key in [
            "batch_size",
            "retry_delay_ms",
            "region",
            "base_url",
            "schedule_id",
            "max_attempts",
            "concurrency",
            "outage_limit_secs",
            "Exit codes",
        ] {
            assert!(
                help.contains(key),
                "`rota batch --help` lacks {key}:\n{help}"
            );
        }
    }
}
