//! Runs a list of swaps to completion: each still-valid swap applied exactly once, every other
//! one reported with why.
//!
//! Swaps go in chunks of `batch_size`, in `partial` mode, against the version read before the
//! chunk. Items that conflict are re-sent only while their intent still holds — the agent
//! still owns the original shift and the counterpart, when named, still owns the new one —
//! judged from the current shifts the conflict answer carries; otherwise they are `stale`,
//! never turned into a different swap. Every request carries an `Idempotency-Key` derived from
//! the batch id, the chunk and a digest of what the request carries (base version and item
//! indices): the same payload always goes under the same key, another payload never does, so a
//! resend after a lost answer is replayed by the server, not applied twice.

use std::collections::HashMap;

use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_core::command::{ConflictScope, ItemOutcome, SwapMode, Violation, ViolationCode};
use serde::{Deserialize, Serialize};

use crate::retry::{Decision, Failure, Retrier, RetryBudget};
use crate::{CallOptions, Client, ClientError};

/// One swap of the batch, by its position in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub index: usize,
    pub swap: SwapItemBody,
}

impl FinalStatus {
    /// Whether running the swap again could change its outcome: `failed` ones (retries or
    /// budget exhausted, the service away) are run again by a resumed batch.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FinalStatus {
    Applied,
    /// A shift it names changed hands since the batch was planned: not sent again.
    Stale,
    Rejected,
    /// Would leave intervals short of their staffing requirement: held for a supervisor to
    /// approve or deny (the detail names the held change).
    Held,
    /// Could not be completed (retries or budget exhausted, or a non-retryable error).
    Failed,
}

/// The report line of one swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReport {
    pub index: usize,
    pub status: FinalStatus,
    pub attempts: u32,
    pub request_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub violations: Vec<Violation>,
    /// The schedule version that applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    pub requests: u64,
    pub conflicts_seen: u64,
    pub retries: u64,
    /// Pauses taken to stay within the rate limit.
    pub paced: u64,
    /// Time spent waiting before retries, as the retry policy decided (Retry-After when the
    /// server named one).
    pub waited: std::time::Duration,
    /// Waits through an outage (no connection, 503), which spend no attempts or budget.
    pub outage_waits: u64,
}

pub struct BatchRunner {
    /// Replaceable between chunks (a renewed token).
    pub client: Client,
    pub batch_id: String,
    pub schedule_id: rota_core::ids::ScheduleId,
    pub batch_size: usize,
    pub effective_date: Option<String>,
    /// The version the swaps were planned against, if known: each chunk is sent against it,
    /// so a shift that changed since the plan is caught as a conflict and its item re-checked.
    /// `None`: each chunk reads the current version first.
    pub planned_version: Option<String>,
    pub retrier: Retrier,
    /// Shared by every runner of a batch, so retries across concurrent chunks stay within one
    /// budget.
    pub budget: std::sync::Arc<std::sync::Mutex<RetryBudget>>,
    pub stats: BatchStats,
}

struct Pending {
    item: BatchItem,
    attempts: u32,
    request_ids: Vec<String>,
}

fn failure_of(e: &ClientError) -> Failure {
    match e {
        ClientError::Transport(_) => Failure::Transport,
        ClientError::Unexpected { status, .. } if status.is_server_error() => Failure::Server,
        ClientError::Unexpected { .. } => Failure::Client,
        ClientError::Problem { problem, headers } => {
            let retry_after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            match problem.status {
                409 if problem.code == rota_api::problem::ErrorCode::VersionConflict => {
                    Failure::Conflict
                }
                429 => Failure::Throttled { retry_after },
                // The body did not reach the server whole: nothing was done, and sending it
                // again is what a dropped connection calls for too.
                408 => Failure::Transport,
                503 => Failure::Unavailable { retry_after },
                s if s >= 500 => Failure::Server,
                _ => Failure::Client,
            }
        }
    }
}

impl BatchStats {
    pub fn add(&mut self, other: &BatchStats) {
        self.requests += other.requests;
        self.conflicts_seen += other.conflicts_seen;
        self.retries += other.retries;
        self.paced += other.paced;
        self.waited += other.waited;
        self.outage_waits += other.outage_waits;
    }
}

impl BatchRunner {
    /// The version in which a request of this batch (its request ids start with the batch id)
    /// gave `swap`'s new shift to its agent, read from the history after the planned version.
    async fn applied_by_this_batch(&self, swap: &SwapItemBody) -> Option<(u64, String)> {
        let ours = format!("{}:", self.batch_id);
        self.history_since_plan()
            .await?
            .into_iter()
            .filter(|v| v.record.request_id.starts_with(&ours))
            .filter(|v| {
                v.changes.iter().any(|c| {
                    c.shift_id.to_string() == swap.new_shift_id
                        && c.after.owner.map(|o| o.to_string()).as_deref()
                            == Some(swap.agent_id.as_str())
                })
            })
            .map(|v| (v.record.version.get(), v.record.request_id))
            .next_back()
    }

    /// The requests that made the schedule's versions since the batch was planned, by
    /// version: a replayed answer names the versions its first request made, and the report
    /// names that request, not the one the replay answered.
    async fn requests_since_plan(&self) -> HashMap<u64, String> {
        self.history_since_plan()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.record.version.get(), v.record.request_id))
            .collect()
    }

    async fn history_since_plan(&self) -> Option<Vec<rota_core::version::VersionChanges>> {
        let since = self.planned_version.clone()?;
        let query = rota_api::schedules::VersionsQuery {
            since: Some(since),
            ..Default::default()
        };
        let reply = self.client.versions(self.schedule_id, &query).await.ok()?;
        match reply.into_body().ok()? {
            rota_api::schedules::VersionsBody::Changes(history) => Some(history),
            _ => None,
        }
    }

    /// Runs `items` and returns one report per item, in input order.
    pub async fn run(&mut self, items: Vec<BatchItem>) -> Vec<ItemReport> {
        let mut reports = Vec::with_capacity(items.len());
        for (chunk_no, chunk) in items.chunks(self.batch_size.max(1)).enumerate() {
            reports.extend(self.run_chunk(chunk_no, chunk).await);
        }
        reports.sort_by_key(|r| r.index);
        reports
    }

    async fn current_version(&mut self) -> Result<String, ClientError> {
        let reply = self
            .client
            .schedule(
                self.schedule_id,
                &rota_api::schedules::ReadQuery {
                    limit: 1,
                    ..Default::default()
                },
                &CallOptions::default(),
            )
            .await?;
        Ok(reply.into_body()?.schedule_version_id)
    }

    /// Runs one chunk (its number keys the idempotency keys, so a resumed run re-sends a chunk
    /// under the keys it had).
    pub async fn run_chunk(&mut self, chunk_no: usize, chunk: &[BatchItem]) -> Vec<ItemReport> {
        let mut done = Vec::with_capacity(chunk.len());
        let mut pending: Vec<Pending> = chunk
            .iter()
            .map(|item| Pending {
                item: item.clone(),
                attempts: 0,
                request_ids: Vec::new(),
            })
            .collect();
        let mut base = match &self.planned_version {
            Some(v) => v.clone(),
            None => {
                let since = tokio::time::Instant::now();
                let mut waits = 0;
                loop {
                    match self.current_version().await {
                        Ok(v) => break v,
                        Err(e) if failure_of(&e).is_outage() => {
                            match self
                                .retrier
                                .decide_outage(failure_of(&e), waits, since.elapsed())
                            {
                                Decision::RetryAfter(delay) => {
                                    waits += 1;
                                    self.stats.outage_waits += 1;
                                    self.stats.waited += delay;
                                    tokio::time::sleep(delay).await;
                                }
                                Decision::GiveUp(_) => return fail_all(pending, &e),
                            }
                        }
                        Err(e) => return fail_all(pending, &e),
                    }
                }
            }
        };
        let mut attempt = 0u32;
        // The outage under way, if the last answers were none or 503: when it began and how
        // many waits it has cost. An outage is waited out; attempts are for the rest.
        let mut outage: Option<(tokio::time::Instant, u32)> = None;
        while !pending.is_empty() {
            attempt += 1;
            let body = SwapRequestBody {
                schedule_version_id: base.clone(),
                shift_swaps: pending.iter().map(|p| p.item.swap.clone()).collect(),
                effective_date: self.effective_date.clone(),
                mode: Some(SwapMode::Partial),
                conflict_scope: Some(ConflictScope::Shifts),
            };
            let key = idempotency_key(
                &self.batch_id,
                chunk_no,
                &base,
                pending.iter().map(|p| p.item.index),
            );
            if attempt == 1 && outage.is_none() {
                self.budget
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record_request();
            }
            self.stats.requests += 1;
            // The request id names the batch, so that the history tells which versions this
            // batch's requests made (see `applied_by_this_batch`), answered or not.
            let options = CallOptions::default()
                .header("Idempotency-Key", &key)
                .header("X-Request-Id", &format!("{key}/{}", self.stats.requests));
            let outcome = self.client.shift_swaps(&body, &options).await;
            let headers = match &outcome {
                Ok(reply) => Some(reply.headers.clone()),
                Err(ClientError::Problem { headers, .. }) => Some((**headers).clone()),
                Err(_) => None,
            };
            // Spread what is left of the rate-limit bucket over its reset time, so a long batch
            // slows down before the server has to say 429.
            if let Some(headers) = headers {
                let number = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                };
                if let (Some(remaining), Some(limit)) =
                    (number("x-ratelimit-remaining"), number("x-ratelimit-limit"))
                {
                    let wait = crate::retry::pace(remaining, limit, 1);
                    if !wait.is_zero() {
                        self.stats.paced += 1;
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            for p in &mut pending {
                p.attempts += 1;
            }
            let failure = match outcome {
                Ok(reply) => {
                    let request_id = reply.request_id().unwrap_or_default().to_owned();
                    let replayed = reply
                        .headers
                        .get("idempotent-replayed")
                        .is_some_and(|v| v == "true");
                    let Ok(answer) = reply.into_body() else {
                        return fail_all(
                            pending,
                            &ClientError::Unexpected {
                                status: reqwest::StatusCode::OK,
                                body: "empty answer".into(),
                            },
                        );
                    };
                    base = answer.schedule_version_id.clone();
                    let made_by = if replayed {
                        self.requests_since_plan().await
                    } else {
                        HashMap::new()
                    };
                    let mut still = Vec::new();
                    let outcomes: HashMap<usize, ItemOutcome> = answer
                        .results
                        .into_iter()
                        .map(|r| (r.index, r.outcome))
                        .collect();
                    for (i, mut p) in pending.into_iter().enumerate() {
                        let applied_in = match outcomes.get(&i) {
                            Some(ItemOutcome::Applied { version }) => made_by.get(&version.get()),
                            _ => None,
                        };
                        p.request_ids
                            .push(applied_in.unwrap_or(&request_id).clone());
                        match outcomes.get(&i) {
                            Some(ItemOutcome::Applied { version }) => done.push(report(
                                p,
                                FinalStatus::Applied,
                                None,
                                None,
                                vec![],
                                Some(version.get()),
                            )),
                            // The named owners changed before the version it was checked against:
                            // the same stale intent as a conflict, reported the same way.
                            Some(ItemOutcome::Rejected { violations })
                                if violations.iter().all(|v| {
                                    matches!(
                                        v.code,
                                        ViolationCode::ShiftNotOwned
                                            | ViolationCode::CounterpartMismatch
                                            | ViolationCode::SameAgent
                                    )
                                }) =>
                            {
                                done.push(report(
                                    p,
                                    FinalStatus::Stale,
                                    violations.first().map(|v| v.code.as_str().to_owned()),
                                    violations.first().map(|v| v.detail.clone()),
                                    violations.clone(),
                                    None,
                                ))
                            }
                            Some(ItemOutcome::Rejected { violations }) => done.push(report(
                                p,
                                FinalStatus::Rejected,
                                violations.first().map(|v| v.code.as_str().to_owned()),
                                violations.first().map(|v| v.detail.clone()),
                                violations.clone(),
                                None,
                            )),
                            Some(ItemOutcome::Conflict { shifts, .. }) => {
                                self.stats.conflicts_seen += 1;
                                if intent_holds(&p.item.swap, shifts) {
                                    still.push(p);
                                } else if let Some((version, applied_in)) =
                                    match swapped(&p.item.swap, shifts) {
                                        // The shifts are as the swap leaves them: perhaps this
                                        // batch applied it in a request whose answer was lost.
                                        true => self.applied_by_this_batch(&p.item.swap).await,
                                        false => None,
                                    }
                                {
                                    // The request that applied it, not the one that found out.
                                    if let Some(last) = p.request_ids.last_mut() {
                                        *last = applied_in;
                                    }
                                    done.push(report(
                                        p,
                                        FinalStatus::Applied,
                                        None,
                                        Some("applied by an earlier request of this batch whose answer was lost".into()),
                                        vec![],
                                        Some(version),
                                    ));
                                } else {
                                    done.push(report(
                                        p,
                                        FinalStatus::Stale,
                                        Some("STALE".into()),
                                        Some("a shift it names changed hands after the batch was planned".into()),
                                        vec![],
                                        None,
                                    ));
                                }
                            }
                            Some(ItemOutcome::Held {
                                held_change_id,
                                violations,
                            }) => done.push(report(
                                p,
                                FinalStatus::Held,
                                Some(ViolationCode::CoverageBelowRequirement.as_str().to_owned()),
                                Some(format!(
                                    "held for a supervisor as held change {held_change_id}"
                                )),
                                violations.clone(),
                                None,
                            )),
                            Some(ItemOutcome::Skipped) | None => still.push(p),
                        }
                    }
                    pending = still;
                    if pending.is_empty() {
                        break;
                    }
                    Failure::Conflict
                }
                Err(e) => {
                    if let ClientError::Problem { problem, .. } = &e {
                        for p in &mut pending {
                            p.request_ids.push(problem.request_id.clone());
                        }
                    }
                    let failure = failure_of(&e);
                    if failure == Failure::Client {
                        done.extend(fail_all(pending, &e));
                        return done;
                    }
                    failure
                }
            };
            let decision = if failure.is_outage() {
                let (since, waits) = *outage.get_or_insert((tokio::time::Instant::now(), 0));
                let decision = self.retrier.decide_outage(failure, waits, since.elapsed());
                outage = Some((since, waits + 1));
                if matches!(decision, Decision::RetryAfter(_)) {
                    self.stats.outage_waits += 1;
                    // The same attempt again once the service is back: a request the service
                    // never answered is no attempt, for the policy and the report alike.
                    attempt -= 1;
                    for p in &mut pending {
                        p.attempts -= 1;
                    }
                }
                decision
            } else {
                outage = None;
                let mut budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
                self.retrier.decide(attempt, failure, &mut budget)
            };
            match decision {
                Decision::RetryAfter(delay) => {
                    self.stats.retries += 1;
                    self.stats.waited += delay;
                    tokio::time::sleep(delay).await;
                }
                Decision::GiveUp(reason) => {
                    for p in pending {
                        done.push(report(
                            p,
                            FinalStatus::Failed,
                            Some(format!("{reason:?}")),
                            Some(format!("gave up after {attempt} attempts: {reason:?}")),
                            vec![],
                            None,
                        ));
                    }
                    return done;
                }
            }
        }
        done
    }
}

/// The key of one request: batch, chunk, and an FNV-1a digest of the base version and the
/// item indices — stable across processes and releases, unlike `std`'s hasher, because a
/// resumed run must find the keys of the crashed one.
pub fn idempotency_key(
    batch_id: &str,
    chunk_no: usize,
    base: &str,
    indices: impl Iterator<Item = usize>,
) -> String {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    feed(base.as_bytes());
    for i in indices {
        feed(b",");
        feed(i.to_string().as_bytes());
    }
    format!("{batch_id}:{chunk_no}:{hash:016x}")
}

/// The intent of a swap, judged from the current state of the shifts that conflicted: the
/// agent still owns the original shift, and the counterpart (when named) still owns the new
/// one. A shift absent from the list did not change.
/// Whether `current` shows the swap done: the agent owns the new shift (and the counterpart,
/// if named, the original).
pub fn swapped(swap: &SwapItemBody, current: &[rota_core::schedule::Shift]) -> bool {
    let owner = |id: &str| {
        current
            .iter()
            .find(|s| s.id.to_string() == id)
            .map(|s| s.owner.map(|o| o.to_string()))
    };
    let new_ok =
        owner(&swap.new_shift_id).is_none_or(|o| o.as_deref() == Some(swap.agent_id.as_str()));
    let original_ok = match (&swap.counterpart_agent_id, owner(&swap.original_shift_id)) {
        (Some(counterpart), Some(o)) => o.as_deref() == Some(counterpart.as_str()),
        _ => true,
    };
    new_ok
        && original_ok
        && (owner(&swap.new_shift_id).is_some() || owner(&swap.original_shift_id).is_some())
}

pub fn intent_holds(swap: &SwapItemBody, current: &[rota_core::schedule::Shift]) -> bool {
    let owner = |id: &str| {
        current
            .iter()
            .find(|s| s.id.to_string() == id)
            .map(|s| s.owner.map(|o| o.to_string()))
    };
    let original_ok =
        owner(&swap.original_shift_id).is_none_or(|o| o.as_deref() == Some(swap.agent_id.as_str()));
    let new_ok = match (&swap.counterpart_agent_id, owner(&swap.new_shift_id)) {
        (Some(counterpart), Some(o)) => o.as_deref() == Some(counterpart.as_str()),
        _ => true,
    };
    original_ok && new_ok
}

fn report(
    p: Pending,
    status: FinalStatus,
    code: Option<String>,
    detail: Option<String>,
    violations: Vec<Violation>,
    version: Option<u64>,
) -> ItemReport {
    ItemReport {
        index: p.item.index,
        status,
        attempts: p.attempts,
        request_ids: p.request_ids,
        code,
        detail,
        violations,
        version,
    }
}

fn fail_all(pending: Vec<Pending>, e: &ClientError) -> Vec<ItemReport> {
    let (code, detail) = match e.problem() {
        Some(p) => (Some(p.code.as_str().to_owned()), Some(p.detail.clone())),
        None => (Some("TRANSPORT".into()), Some(e.to_string())),
    };
    pending
        .into_iter()
        .map(|p| {
            report(
                p,
                FinalStatus::Failed,
                code.clone(),
                detail.clone(),
                vec![],
                None,
            )
        })
        .collect()
}
