//! The ways to run the weekly batch: the user's setup against a whole-schedule version, the
//! same unchanged script against rota's defaults, the report's advice, and rota's way (the
//! batch runner of `rota batch`).

use std::sync::Arc;
use std::time::Duration;

use rota_api::schedules::ReadQuery;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
use rota_client::retry::{Retrier, RetryBudget, RetryPolicy};
use rota_client::{CallOptions, Client};
use rota_core::command::{ConflictScope, ItemOutcome, SwapMode};
use rota_core::ids::{AgentId, ScheduleId, ShiftId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `conflictScope: schedule` (the whole-schedule version of the user's platform), atomic,
    /// the version read before each request, a fixed delay, the same payload again.
    UsersSetup,
    /// The same script unchanged (no conflict scope, no mode: rota's defaults), so only a
    /// change to a shift a request touches conflicts.
    UsersScriptOnRota,
    /// The report's advice: refresh the version before each retry, exponential backoff.
    ReportAdvice,
    /// `conflictScope: shifts`, partial, idempotency keys, only conflicted items retried after
    /// an intent check.
    Rota,
}

impl Strategy {
    pub const ALL: [Self; 4] = [
        Self::UsersSetup,
        Self::UsersScriptOnRota,
        Self::ReportAdvice,
        Self::Rota,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::UsersSetup => "the user's setup",
            Self::UsersScriptOnRota => "their script on rota",
            Self::ReportAdvice => "the report's advice",
            Self::Rota => "rota's way",
        }
    }

    /// Attempts per request of a strategy that sends whole requests again; the user's script
    /// gives up after this many.
    pub fn attempts(self) -> u32 {
        match self {
            Self::UsersSetup | Self::UsersScriptOnRota => USERS_ATTEMPTS,
            Self::ReportAdvice | Self::Rota => 8,
        }
    }
}

/// The user's script sends a request at most this often (once, and once more after its
/// fixed delay) before it gives up on its swaps.
pub const USERS_ATTEMPTS: u32 = 2;

#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Swap requests sent.
    pub requests: u64,
    /// Of which answered 409.
    pub conflicts: u64,
    /// Requests whose first attempt was answered 409 (a conflicted request of the user's
    /// script is answered 409 on every attempt, as it sends the same stale payload).
    pub conflicted_requests: u64,
    /// Requests sent for the first time (the batch in requests).
    pub first_attempts: u64,
    pub retries: u64,
    pub applied: u64,
    pub stale: u64,
    pub rejected: u64,
    /// Held for a supervisor by the coverage guard.
    pub held: u64,
    pub failed: u64,
    /// Of the failed, those whose request was still answered 409 when its attempts ran out.
    pub failed_on_conflict: u64,
    /// Of the failed, valid swaps of atomic requests refused because another item was rejected.
    pub failed_with_rejected: u64,
}

/// One swap of the weekly batch: `agent` gives `original` and takes `new` from `counterpart`.
#[derive(Debug, Clone, Copy)]
pub struct PlannedSwap {
    pub agent: AgentId,
    pub original: ShiftId,
    pub new: ShiftId,
    pub counterpart: AgentId,
}

impl PlannedSwap {
    pub fn body(&self) -> SwapItemBody {
        SwapItemBody {
            agent_id: self.agent.to_string(),
            original_shift_id: self.original.to_string(),
            new_shift_id: self.new.to_string(),
            reason_code: "supervisor".into(),
            counterpart_agent_id: Some(self.counterpart.to_string()),
        }
    }
}

/// The current version id of `schedule`, as the user's script reads it before a request.
pub async fn current_version(client: &Client, schedule: ScheduleId) -> Option<String> {
    let reply = client
        .schedule(schedule, &ReadQuery::with_limit(1), &CallOptions::default())
        .await
        .ok()?;
    Some(reply.into_body().ok()?.schedule_version_id)
}

/// The strategies that send whole atomic requests: each request reads the version first,
/// and a 409 sends it again after a delay. Request `n` goes to node `n % nodes.len()`.
pub async fn whole_requests(
    nodes: &[Client],
    schedule: ScheduleId,
    batch: &[PlannedSwap],
    batch_size: usize,
    retry_delay: Duration,
    strategy: Strategy,
) -> Tally {
    let mut t = Tally::default();
    let max_attempts = strategy.attempts();
    for (n, chunk) in batch.chunks(batch_size.max(1)).enumerate() {
        let client = &nodes[n % nodes.len()];
        let swaps = chunk.len() as u64;
        let Some(version) = current_version(client, schedule).await else {
            t.failed += swaps;
            continue;
        };
        let (mode, conflict_scope) = match strategy {
            Strategy::UsersScriptOnRota => (None, None),
            _ => (Some(SwapMode::Atomic), Some(ConflictScope::Schedule)),
        };
        let mut body = SwapRequestBody {
            schedule_version_id: version,
            shift_swaps: chunk.iter().map(PlannedSwap::body).collect(),
            effective_date: None,
            mode,
            conflict_scope,
        };
        t.first_attempts += 1;
        let mut attempt = 1;
        loop {
            t.requests += 1;
            match client.shift_swaps(&body, &CallOptions::default()).await {
                Ok(_) => {
                    t.applied += swaps;
                    break;
                }
                Err(e) if e.problem().is_some_and(|p| p.status == 409) => {
                    t.conflicts += 1;
                    if attempt == 1 {
                        t.conflicted_requests += 1;
                    }
                    if attempt >= max_attempts {
                        t.failed += swaps;
                        t.failed_on_conflict += swaps;
                        break;
                    }
                    t.retries += 1;
                    let delay = match strategy {
                        Strategy::ReportAdvice => retry_delay * 2u32.pow((attempt - 1).min(6)),
                        _ => retry_delay,
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
                    t.failed += swaps - rejected;
                    if rejected > 0 {
                        t.failed_with_rejected += swaps - rejected;
                    }
                    break;
                }
            }
        }
    }
    t
}

/// rota's way: the batch runner of `rota batch`, its chunks spread over the nodes.
pub async fn rota_batch(
    nodes: &[Client],
    schedule: ScheduleId,
    batch: &[PlannedSwap],
    batch_size: usize,
    seed: u64,
) -> (Tally, Vec<FinalStatus>) {
    let planned = current_version(&nodes[0], schedule).await;
    let mut runner = BatchRunner {
        client: nodes[0].clone(),
        batch_id: format!("demo-{seed}"),
        schedule_id: schedule,
        batch_size,
        effective_date: None,
        planned_version: planned,
        retrier: Retrier::new(RetryPolicy::default(), Some(seed)),
        budget: Arc::new(std::sync::Mutex::new(RetryBudget::new(0.1, 20))),
        stats: Default::default(),
    };
    let items: Vec<BatchItem> = batch
        .iter()
        .enumerate()
        .map(|(index, s)| BatchItem {
            index,
            swap: s.body(),
        })
        .collect();
    let mut reports = Vec::with_capacity(items.len());
    for (n, chunk) in items.chunks(batch_size.max(1)).enumerate() {
        runner.client = nodes[n % nodes.len()].clone();
        reports.extend(runner.run_chunk(n, chunk).await);
    }
    reports.sort_by_key(|r| r.index);
    let mut t = Tally {
        requests: runner.stats.requests,
        first_attempts: items.chunks(batch_size.max(1)).len() as u64,
        retries: runner.stats.retries,
        ..Tally::default()
    };
    for r in &reports {
        match r.status {
            FinalStatus::Applied => t.applied += 1,
            FinalStatus::Stale => t.stale += 1,
            FinalStatus::Rejected => t.rejected += 1,
            FinalStatus::Held => t.held += 1,
            FinalStatus::Failed => t.failed += 1,
        }
    }
    (t, reports.into_iter().map(|r| r.status).collect())
}
