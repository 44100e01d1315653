//! `rota batch`: the weekly bulk swap batch from a YAML config and a CSV/JSON input, run to
//! completion with a journal that makes it resumable and a per-swap JSON Lines report.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use rota_api::schedules::ReadQuery;
use rota_client::batch::{BatchItem, BatchRunner, FinalStatus, ItemReport};
use rota_client::retry::{Retrier, RetryBudget, RetryPolicy};
use rota_client::{CallOptions, Client};
use rota_core::ids::ScheduleId;
use serde::{Deserialize, Serialize};

mod input;

/// `rota batch --help`: the configuration's keys and the exit codes.
pub const HELP: &str = "\
Configuration keys (YAML; an unknown key is an error that names it):
  schedule_id          the schedule the swaps belong to (required)
  base_url             the service, e.g. http://127.0.0.1:8080; or:
  region, regions      a region name and a map of region -> base URL
  client_id            the OAuth client (or ROTA_CLIENT_ID)
  client_secret        its secret (or ROTA_CLIENT_SECRET)
  batch_size           swaps per request (default 50)
  concurrency          requests in flight at once (default 1)
  retry_delay_ms       the base delay of the full-jitter backoff between retries (default 200)
  max_attempts         attempts per swap before it is reported (default 8)
  outage_limit_secs    how long a request waits out an outage, spending no attempts (default 300)
  effective_date       YYYY-MM-DD, passed with every request
  mode                 partial (the only mode a batch runs in)
  conflict_scope       shifts (default) or schedule
  jitter_seed          the seed of the retry jitter, for reproducible runs

Exit codes:
  0  every swap applied
  2  some swaps did not apply (stale, rejected or failed: the report says which and why)
  1  a configuration, input or authentication error (nothing was sent)";

pub use input::{BatchConfig, read_input};

/// The first journal line: what makes a resumed run send exactly what the first one did.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalHeader {
    batch_id: String,
    planned_version: String,
    input_items: usize,
}

pub struct BatchArgs {
    pub config: PathBuf,
    pub input: PathBuf,
    pub report: PathBuf,
    pub resume: bool,
}

/// Exit codes: 0 when every swap applied, 2 when some did not (the report says why); errors
/// (bad configuration or input, authentication) return `Err` and exit 1.
pub async fn run(args: BatchArgs) -> Result<i32> {
    let config = BatchConfig::load(&args.config)?;
    let items = read_input(&args.input)?;
    let base_url = config.base_url()?;
    let schedule_id: ScheduleId = config
        .schedule_id
        .parse()
        .with_context(|| format!("`schedule_id` in {}", args.config.display()))?;
    let client_id = config
        .client_id
        .clone()
        .or_else(|| std::env::var("ROTA_CLIENT_ID").ok())
        .context("no client id: set `client_id` or ROTA_CLIENT_ID")?;
    let secret = config
        .client_secret
        .clone()
        .or_else(|| std::env::var("ROTA_CLIENT_SECRET").ok())
        .context("no client secret: set `client_secret` or ROTA_CLIENT_SECRET")?;
    let anonymous = Client::new(&base_url);
    let token = anonymous
        .token(&client_id, &secret)
        .await
        .map_err(|e| anyhow::anyhow!("authentication failed: {e}"))?;
    let client = anonymous.clone().with_bearer(&token.access_token);
    let token_life = Duration::from_secs(token.expires_in);

    let journal_path = args.report.with_extension("journal");
    let (header, finished) = if args.resume {
        read_journal(&journal_path)?
    } else {
        if journal_path.exists() {
            bail!(
                "{} exists: pass --resume to finish that batch, or remove it",
                journal_path.display()
            );
        }
        let schedule = client
            .clone()
            .schedule(
                schedule_id,
                &ReadQuery::with_limit(1),
                &CallOptions::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading schedule {}: {e}", config.schedule_id))?
            .into_body()?;
        let header = JournalHeader {
            batch_id: format!("batch-{}", uuid_v7()),
            planned_version: schedule.schedule_version_id,
            input_items: items.len(),
        };
        let mut f = std::fs::File::create(&journal_path)?;
        writeln!(f, "{}", serde_json::to_string(&header)?)?;
        (header, Vec::new())
    };
    if header.input_items != items.len() {
        bail!(
            "the journal is for an input of {} swaps, not {}",
            header.input_items,
            items.len()
        );
    }
    // Failed swaps are run again; the others are final.
    let finished: Vec<ItemReport> = finished
        .into_iter()
        .filter(|r| r.status.is_terminal())
        .collect();
    let done: HashSet<usize> = finished.iter().map(|r| r.index).collect();
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal_path)?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let concurrency = config.concurrency.unwrap_or(1).max(1);
    let budget = Arc::new(std::sync::Mutex::new(RetryBudget::default()));
    let policy = RetryPolicy {
        base: Duration::from_millis(config.retry_delay_ms),
        max_attempts: config.max_attempts,
        outage_limit: Duration::from_secs(config.outage_limit_secs),
        ..RetryPolicy::default()
    };
    // The current client and when its token was taken; renewed at 80% of the token's life.
    let session = Arc::new(tokio::sync::Mutex::new((client, Instant::now())));
    let total = items.len() as u64;
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} swaps {msg}")
        {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let started = Instant::now();
    let mut reports: Vec<ItemReport> = finished;
    let mut stats = rota_client::batch::BatchStats::default();
    let mut last_line = Instant::now();
    let work: Vec<(usize, Vec<BatchItem>)> = items
        .chunks(config.batch_size)
        .enumerate()
        .map(|(n, chunk)| {
            (
                n,
                chunk
                    .iter()
                    .filter(|i| !done.contains(&i.index))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, todo)| !todo.is_empty())
        .collect();
    let runs = futures_util::stream::iter(work.into_iter().map(|(chunk_no, todo)| {
        let stop = Arc::clone(&stop);
        let session = Arc::clone(&session);
        let budget = Arc::clone(&budget);
        let anonymous = anonymous.clone();
        let (client_id, secret) = (client_id.clone(), secret.clone());
        let mut runner_seed = config.jitter_seed;
        if let Some(seed) = &mut runner_seed {
            *seed = seed.wrapping_add(chunk_no as u64);
        }
        let batch_id = header.batch_id.clone();
        let (planned, effective_date) = (
            header.planned_version.clone(),
            config.effective_date.clone(),
        );
        let (policy, batch_size) = (policy.clone(), config.batch_size);
        async move {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let client = {
                let mut session = session.lock().await;
                if session.1.elapsed() >= token_life.mul_f64(0.8) {
                    let token = anonymous
                        .token(&client_id, &secret)
                        .await
                        .map_err(|e| anyhow::anyhow!("renewing the token failed: {e}"))?;
                    *session = (
                        anonymous.clone().with_bearer(&token.access_token),
                        Instant::now(),
                    );
                }
                session.0.clone()
            };
            let mut runner = BatchRunner {
                client,
                batch_id,
                schedule_id,
                batch_size,
                effective_date,
                planned_version: Some(planned),
                retrier: Retrier::new(policy, runner_seed),
                budget,
                stats: Default::default(),
            };
            // A chunk resumed whole is re-sent as it was, under the keys it had; the server
            // replays what had committed.
            let outcome = runner.run_chunk(chunk_no, &todo).await;
            anyhow::Ok(Some((outcome, runner.stats)))
        }
    }))
    .buffer_unordered(concurrency);
    futures_util::pin_mut!(runs);
    let mut stopped = false;
    while let Some(result) = runs.next().await {
        let Some((outcome, chunk_stats)) = result? else {
            stopped = true;
            continue;
        };
        stats.add(&chunk_stats);
        for r in &outcome {
            writeln!(journal, "{}", serde_json::to_string(r)?)?;
        }
        journal.flush()?;
        reports.extend(outcome);
        let applied = reports
            .iter()
            .filter(|r| r.status == FinalStatus::Applied)
            .count();
        match &progress {
            Some(bar) => {
                bar.set_position(reports.len() as u64);
                bar.set_message(format!(
                    "{applied} applied, {} conflicts seen",
                    stats.conflicts_seen
                ));
            }
            None if last_line.elapsed() >= Duration::from_secs(2)
                || reports.len() as u64 == total =>
            {
                eprintln!("{}/{total} swaps done, {applied} applied", reports.len());
                last_line = Instant::now();
            }
            None => {}
        }
    }
    if stopped {
        eprintln!("stopped: the journal holds what finished; run again with --resume");
    }
    if let Some(bar) = &progress {
        bar.finish();
    }
    reports.sort_by_key(|r| r.index);
    let mut out = std::fs::File::create(&args.report)?;
    for r in &reports {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
    }
    let count = |s: FinalStatus| reports.iter().filter(|r| r.status == s).count();
    eprintln!(
        "\n| applied | stale | rejected | failed | not run | requests | conflicts seen | retries | wall time |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n\
         | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
        count(FinalStatus::Applied),
        count(FinalStatus::Stale),
        count(FinalStatus::Rejected),
        count(FinalStatus::Failed),
        items.len() - reports.len(),
        stats.requests,
        stats.conflicts_seen,
        stats.retries,
        started.elapsed().as_secs_f64()
    );
    Ok(if count(FinalStatus::Applied) == items.len() {
        0
    } else {
        2
    })
}

fn uuid_v7() -> String {
    rota_core::ids::ScheduleId::new().to_string()
}

fn read_journal(path: &Path) -> Result<(JournalHeader, Vec<ItemReport>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("--resume needs {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: JournalHeader = serde_json::from_str(&lines.next().context("empty journal")??)
        .with_context(|| format!("{}: line 1", path.display()))?;
    let mut reports = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // A line cut short by a crash is the last one; what it reported runs again.
        match serde_json::from_str::<ItemReport>(&line) {
            Ok(r) => reports.push(r),
            Err(e) => eprintln!("{}: line {} ignored ({e})", path.display(), i + 2),
        }
    }
    Ok((header, reports))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rota-cli-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_users_yaml_works_once_its_region_has_a_base_url() {
        let users = "batch_size: 50\nretry_delay_ms: 2000\nregion: us-east-2\nschedule_id: x\n";
        let config = BatchConfig::load(&write("users.yaml", users)).unwrap();
        assert_eq!((config.batch_size, config.retry_delay_ms), (50, 2000));
        assert!(
            config
                .base_url()
                .unwrap_err()
                .to_string()
                .contains("us-east-2")
        );
        let with_url = format!("{users}regions:\n  us-east-2: http://127.0.0.1:8080\n");
        let config = BatchConfig::load(&write("users2.yaml", &with_url)).unwrap();
        assert_eq!(config.base_url().unwrap(), "http://127.0.0.1:8080");
        let example = BatchConfig::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/batch.yaml"
        )));
        assert!(example.unwrap().base_url().is_ok());
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err =
            BatchConfig::load(&write("typo.yaml", "batchsize: 5\nschedule_id: x\n")).unwrap_err();
        assert!(format!("{err:#}").contains("batchsize"), "{err:#}");
    }

    #[test]
    fn every_bad_row_is_named_by_line_before_anything_is_sent() {
        let csv = "agent_id,original_shift_id,new_shift_id,reason_code\n\
                   0192a136-de72-72a2-8b35-83d3c018ca9a,0192a136-de72-72a2-8b35-83d3c018cb01,0192a136-de72-72a2-8b35-83d3c018cb77,personal\n\
                   nope,0192a136-de72-72a2-8b35-83d3c018cb01,0192a136-de72-72a2-8b35-83d3c018cb77,holiday\n";
        let err = read_input(&write("swaps.csv", csv))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3: agent_id `nope`"), "{err}");
        assert!(err.contains("line 3: reason_code `holiday`"), "{err}");
        let items = read_input(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/swaps.csv"
        )))
        .unwrap();
        assert_eq!(items.len(), 200);
        let jsonl = "{\"agent_id\":\"0192a136-de72-72a2-8b35-83d3c018ca9a\",\"original_shift_id\":\"0192a136-de72-72a2-8b35-83d3c018cb01\",\"new_shift_id\":\"0192a136-de72-72a2-8b35-83d3c018cb77\",\"reason_code\":\"other\"}\n";
        assert_eq!(read_input(&write("swaps.jsonl", jsonl)).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_resumed_batch_after_a_crash_applies_every_swap_exactly_once() {
        use rota_core::store::ScheduleStore;
        use rota_core::testkit::World;
        let dir = std::env::temp_dir().join(format!("rota-cli-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("resume.db").display());
        let store = rota_store::Store::connect(&url).await.unwrap();
        let world = World::disjoint(4, 16);
        world.load(&store).await.unwrap();
        let admin =
            rota_app::tokens::create_client(&store, rota_core::auth::Role::Admin, None, None)
                .await
                .unwrap();
        let (addr, _stop) = crate::testing::serve(&store, world.now).await;

        let yaml = format!(
            "batch_size: 2\nretry_delay_ms: 10\nbase_url: http://{addr}\nclient_id: {}\nclient_secret: {}\nschedule_id: {}\n",
            admin.client_id, admin.client_secret, world.schedule.id
        );
        let mut csv = String::from(
            "agent_id,original_shift_id,new_shift_id,reason_code,counterpart_agent_id\n",
        );
        for (a, b) in [(0usize, 1usize), (2, 3), (5, 6), (7, 8)] {
            csv.push_str(&format!(
                "{},{},{},coverage,{}\n",
                world.agents[a % 5].id,
                world.schedule.shifts[a].id,
                world.schedule.shifts[b].id,
                world.agents[b % 5].id
            ));
        }
        let args = || BatchArgs {
            config: write("resume.yaml", &yaml),
            input: write("resume.csv", &csv),
            report: dir.join("resume-report.jsonl"),
            resume: false,
        };
        let journal = dir.join("resume-report.journal");
        let _ = std::fs::remove_file(&journal);
        assert_eq!(run(args()).await.unwrap(), 0);
        // The process "died" after sending the second chunk, before journaling it: keep the
        // header and the first chunk's two lines.
        let text = std::fs::read_to_string(&journal).unwrap();
        let kept: Vec<&str> = text.lines().take(3).collect();
        std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
        let resumed = BatchArgs {
            resume: true,
            ..args()
        };
        assert_eq!(run(resumed).await.unwrap(), 0);
        let report = std::fs::read_to_string(dir.join("resume-report.jsonl")).unwrap();
        assert_eq!(
            report.lines().filter(|l| l.contains("\"applied\"")).count(),
            4
        );
        // Two chunks, two versions: the re-sent chunk was replayed, not applied again.
        let history = store.changes_since(world.schedule.id, None).await.unwrap();
        let swaps = history
            .iter()
            .filter(|v| v.record.cause == rota_core::version::VersionCause::BulkSwap)
            .count();
        assert_eq!(swaps, 2);
    }
}
