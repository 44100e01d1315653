//! The storage traits every backend implements, and the errors they share.

use std::future::Future;

use jiff::civil::Date;

use crate::command::{CommandError, ShiftEdit, SwapRequest, SwapResult};
use crate::directory::{Agent, Availability, BusinessUnit, ManagementUnit};
use crate::ids::{AgentId, BusinessUnitId, ScheduleId};
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::version::{CommitContext, ScheduleVersion, VersionChanges, VersionRecord};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command itself was refused; nothing was written.
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// Another writer held the lock past the timeout; the command can be retried as it is.
    #[error("the database is busy")]
    Busy(#[source] BoxError),
    #[error("the database is unreachable")]
    Unavailable(#[source] BoxError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[source] BoxError),
    /// The command's idempotency key was recorded by another request first (another node, or
    /// a claim still running); the command rolled back. Look the key up to answer.
    #[error("the idempotency key was recorded by another request")]
    KeyTaken,
    /// A trade operation was refused; nothing was written.
    #[error(transparent)]
    Trade(#[from] crate::trade::TradeError),
    /// A requirement did not fit the schedule's week or business unit; nothing was written.
    #[error(transparent)]
    Requirement(#[from] crate::coverage::RequirementError),
    /// A decision on a held change was refused; nothing was written.
    #[error(transparent)]
    Held(#[from] crate::held::HeldError),
    /// A time-off operation was refused; nothing was written.
    #[error(transparent)]
    TimeOff(#[from] crate::timeoff::TimeOffError),
}

impl StoreError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

/// A page of a listing: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 1000;

    /// A page of at most [`Self::MAX_LIMIT`] items.
    pub fn new(offset: u64, limit: u32) -> Self {
        Self {
            offset,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    pub const fn all() -> Self {
        Self {
            offset: 0,
            limit: u32::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
}

impl<T> Page<T> {
    pub fn next_offset(&self) -> Option<u64> {
        let end = self.offset + self.items.len() as u64;
        (end < self.total).then_some(end)
    }
}

/// Which shifts of a schedule to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShiftFilter {
    pub agent: Option<AgentId>,
    /// Only open shifts (no owner); `agent`, when given, wins.
    pub open: bool,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A request's claim on an idempotency key, scoped to the calling client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyClaim {
    pub client: String,
    pub key: String,
}

/// A command's idempotency key as the command records it, in its own transaction, with its
/// result: the key, the request's fingerprint, and when the key is forgotten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    pub claim: IdempotencyClaim,
    pub request_hash: String,
    pub expires_at: jiff::Timestamp,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is this request's: run it.
    Claimed,
    /// The same request already completed: here is its recorded result (JSON).
    Replay(String),
    /// The same key is held by a request still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency keys. The result of a command is recorded by the command's own transaction
/// (see [`IdempotencyClaim`] in the commit context); `complete` is for requests that change
/// nothing versioned.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `claim` for a request whose fingerprint is `request_hash`. A claim without a
    /// result lapses after `lease`; a key is forgotten after `keep`.
    fn claim(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        keep: std::time::Duration,
    ) -> impl Future<Output = StoreResult<ClaimOutcome>> + Send;
    /// What a claim of `claim` would find, without claiming: `Claimed` when the key is free
    /// (never used, forgotten, or its claim lapsed).
    fn lookup(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<ClaimOutcome>> + Send;
    fn complete(
        &self,
        claim: &IdempotencyClaim,
        result: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Gives a claim up (the request failed before changing anything), so a retry runs.
    fn release(&self, claim: &IdempotencyClaim) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes keys past their keeping time; returns how many.
    fn purge_idempotency(
        &self,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// API clients and their access tokens (both stored as hashes only).
pub trait AuthStore: Send + Sync {
    fn create_client(
        &self,
        client: &crate::auth::ApiClient,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::ApiClient>>> + Send;
    /// Every client, by id.
    fn clients(&self) -> impl Future<Output = StoreResult<Vec<crate::auth::ApiClient>>> + Send;
    /// Deletes a client and its tokens; whether it existed.
    fn revoke_client(&self, client_id: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    fn store_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes tokens expired at `now`; returns how many.
    fn purge_tokens(&self, now: jiff::Timestamp) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The tokens of `client_id` alive at `now`.
    fn live_tokens(
        &self,
        client_id: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The principal a token stands for and when the token expires, if it exists and has not
    /// expired at `now`.
    fn principal(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<(crate::auth::Principal, jiff::Timestamp)>>> + Send;
}

/// A bulk swap batch started from the portal: its progress and its per-swap report, kept in
/// the database so that any node shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRun {
    pub id: crate::ids::BatchRunId,
    pub business_unit: BusinessUnitId,
    pub schedule: ScheduleId,
    /// Who started it (`user:NAME`).
    pub started_by: String,
    /// The uploaded file's name.
    pub source: String,
    pub total: u32,
    /// Swaps with a final report line.
    pub done: u32,
    /// Report lines per final status (`applied`, `stale`, …).
    pub counts: std::collections::BTreeMap<String, u32>,
    pub finished: bool,
    /// Why it stopped early, if it did.
    pub detail: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// Batch runs of the portal and their reports.
pub trait BatchRunStore: Send + Sync {
    fn create_batch_run(&self, run: &BatchRun) -> impl Future<Output = StoreResult<()>> + Send;
    fn batch_run(
        &self,
        id: crate::ids::BatchRunId,
    ) -> impl Future<Output = StoreResult<BatchRun>> + Send;
    /// Newest first.
    fn batch_runs(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<BatchRun>>> + Send;
    /// Appends report lines (JSON Lines, each ending in a newline) and sets the progress.
    fn record_batch_progress(
        &self,
        id: crate::ids::BatchRunId,
        lines: &str,
        done: u32,
        counts: &std::collections::BTreeMap<String, u32>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn finish_batch_run(
        &self,
        id: crate::ids::BatchRunId,
        detail: Option<&str>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The report so far, JSON Lines in input order of completion.
    fn batch_report(
        &self,
        id: crate::ids::BatchRunId,
    ) -> impl Future<Output = StoreResult<String>> + Send;
}

/// A user's password failures in a row and until when their password is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInFailures {
    pub failures: u32,
    pub locked_until: Option<jiff::Timestamp>,
}

/// Portal users, their one-time sign-in links, their sessions, and what each last saw.
pub trait UserStore: Send + Sync {
    /// `AlreadyExists` when the username is taken.
    fn create_user(&self, user: &crate::auth::User)
    -> impl Future<Output = StoreResult<()>> + Send;
    fn user(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<crate::auth::User>> + Send;
    fn user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::User>>> + Send;
    /// Sets the password hash and ends every session of the user.
    fn set_password(
        &self,
        id: crate::ids::UserId,
        password_hash: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn sign_in_failures(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<SignInFailures>> + Send;
    /// Counts one more failure (in the same statement, so concurrent failures all count) and
    /// locks the password as [`crate::auth::Lockout`] says.
    fn record_sign_in_failure(
        &self,
        id: crate::ids::UserId,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<SignInFailures>> + Send;
    fn clear_sign_in_failures(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn create_sign_in_link(
        &self,
        token_hash: &str,
        user: crate::ids::UserId,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The link's user, if the link exists and has not expired; the link is gone after (one
    /// use, even when two browsers present it at once).
    fn redeem_sign_in_link(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::User>>> + Send;
    fn create_session(
        &self,
        session_hash: &str,
        user: crate::ids::UserId,
        csrf_token: &str,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The session with its user, if it exists and has not expired at `now`.
    fn session(
        &self,
        session_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::Session>>> + Send;
    fn end_session(&self, session_hash: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes sessions and links expired at `now`; returns how many.
    fn purge_sessions(&self, now: jiff::Timestamp)
    -> impl Future<Output = StoreResult<u64>> + Send;
    /// The version of `schedule` the user last marked as seen.
    fn seen_version(
        &self,
        user: crate::ids::UserId,
        schedule: ScheduleId,
    ) -> impl Future<Output = StoreResult<Option<ScheduleVersion>>> + Send;
    /// Never moves backwards: a stale page marking an older version changes nothing.
    fn mark_seen(
        &self,
        user: crate::ids::UserId,
        schedule: ScheduleId,
        version: ScheduleVersion,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Business units, management units and agents.
pub trait DirectoryStore: Send + Sync {
    fn create_business_unit(
        &self,
        bu: &BusinessUnit,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn business_unit(
        &self,
        id: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<BusinessUnit>> + Send;
    fn business_units(
        &self,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<BusinessUnit>>> + Send;
    fn create_management_unit(
        &self,
        mu: &ManagementUnit,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates agents in one transaction (an import of a whole roster).
    fn create_agents(&self, agents: &[Agent]) -> impl Future<Output = StoreResult<()>> + Send;
    fn agent(&self, id: AgentId) -> impl Future<Output = StoreResult<Agent>> + Send;
    fn agents(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Agent>>> + Send;
    /// Every agent of `bu` by name: id, name and skills only (what a week grid lists).
    fn roster(
        &self,
        bu: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<Vec<crate::directory::RosterEntry>>> + Send;
    fn set_availability(
        &self,
        id: AgentId,
        availability: &Availability,
    ) -> impl Future<Output = StoreResult<Agent>> + Send;
}

/// Schedules, their shifts and versions, and the commands that change them. Every command is
/// one transaction that re-checks the rules against what it reads under its write lock.
pub trait ScheduleStore: Send + Sync {
    /// Creates the schedule as version 1 (cause `import`).
    fn import_schedule(
        &self,
        new: &NewSchedule,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
    fn schedule(&self, id: ScheduleId) -> impl Future<Output = StoreResult<Schedule>> + Send;
    fn shift(&self, id: crate::ids::ShiftId) -> impl Future<Output = StoreResult<Shift>> + Send;
    fn find_schedule(
        &self,
        bu: BusinessUnitId,
        week_start: Date,
    ) -> impl Future<Output = StoreResult<Option<Schedule>>> + Send;
    /// Current shifts ordered by start, then id.
    fn shifts(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Shift>>> + Send;
    /// The week's shifts without their activities, ordered like [`Self::shifts`].
    fn shift_slots(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
    ) -> impl Future<Output = StoreResult<Vec<crate::schedule::ShiftSlot>>> + Send;
    /// Newest first.
    fn versions(
        &self,
        id: ScheduleId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<VersionRecord>>> + Send;
    /// The versions after `since` (all of them for `None`), oldest first, with their changes.
    fn changes_since(
        &self,
        id: ScheduleId,
        since: Option<ScheduleVersion>,
    ) -> impl Future<Output = StoreResult<Vec<VersionChanges>>> + Send;
    /// The shifts as they stood at `version`, ordered like [`Self::shifts`].
    fn schedule_as_of(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
    ) -> impl Future<Output = StoreResult<Vec<Shift>>> + Send;
    fn apply_swaps(
        &self,
        req: &SwapRequest,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    fn edit_shift(
        &self,
        edit: &ShiftEdit,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    /// Marks the schedule published; a version of its own (cause `publish`, no shift changes).
    fn publish(
        &self,
        id: ScheduleId,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
}

/// An agent's new trade offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrade {
    pub initiating_agent_id: AgentId,
    pub shift_id: crate::ids::ShiftId,
    pub target_agent_id: Option<AgentId>,
    pub acceptable_intervals: Vec<crate::trade::Interval>,
    pub expires_at: jiff::Timestamp,
}

/// Which trades to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub state: Option<crate::trade::TradeState>,
    /// Only the trades this agent may see: theirs, offered to them, or open to anyone.
    pub visible_to: Option<AgentId>,
}

/// A supervisor's decision on a matched trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeReview {
    pub trade_id: crate::ids::TradeId,
    pub expected_version: u32,
    pub approve: bool,
    pub reason: Option<String>,
}

/// Agent self-service and shift trades. Every operation is one transaction; those that change
/// a schedule commit through the engine like a swap, and every one writes its events to the
/// outbox in that transaction.
pub trait TradeStore: Send + Sync {
    fn settings(
        &self,
        bu: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<crate::trade::BusinessUnitSettings>> + Send;
    fn set_settings(
        &self,
        bu: BusinessUnitId,
        settings: &crate::trade::BusinessUnitSettings,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// An agent picks up an open shift or releases their own (published schedules only). With
    /// `seen` (the shift's version a page showed), a shift changed since is a
    /// `ShiftVersionConflict`.
    fn self_service(
        &self,
        shift: crate::ids::ShiftId,
        agent: AgentId,
        action: crate::engine::SelfServiceAction,
        seen: Option<ScheduleVersion>,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<SwapResult>> + Send;
    fn create_trade(
        &self,
        new: &NewTrade,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    fn trade(
        &self,
        id: crate::ids::TradeId,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// Newest first.
    fn trades(
        &self,
        filter: TradeFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::trade::Trade>>> + Send;
    /// `receiver` matches the trade, offering `shift` in return (or none for a shift given
    /// away). The rule check runs at once; the automatic review may approve (applying the
    /// swap) or deny the trade in the same transaction.
    fn match_trade(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<crate::ids::ShiftId>,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// What matching would find, without matching: the same checks as [`Self::match_trade`]
    /// (the trade open, the shift the receiver's and acceptable, the rules and the business
    /// unit's review), in a transaction that writes nothing. An answer for now: the match
    /// checks again when it commits.
    fn preview_match(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<crate::ids::ShiftId>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<crate::trade::TradeCheck>> + Send;
    /// The initiator withdraws the trade.
    fn cancel_trade(
        &self,
        id: crate::ids::TradeId,
        expected_version: u32,
        by: AgentId,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// A supervisor approves (applying the swap, rules checked at commit) or denies.
    fn review_trade(
        &self,
        review: &TradeReview,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::trade::Trade>> + Send;
    /// Expires every open trade whose expiry is at or before `now`; returns them.
    fn expire_trades(
        &self,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<crate::trade::Trade>>> + Send;
}

/// Changes to a webhook subscription; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<crate::webhook::EventType>>,
    /// Turning a subscription on also clears its failure count and disabled reason.
    pub enabled: Option<bool>,
}

/// Webhook subscriptions, the delivery log, and the dispatcher's leases.
pub trait WebhookStore: Send + Sync {
    fn create_subscription(
        &self,
        new: &crate::webhook::NewSubscription,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn subscription(
        &self,
        id: crate::ids::SubscriptionId,
    ) -> impl Future<Output = StoreResult<crate::webhook::Subscription>> + Send;
    fn subscriptions(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::webhook::Subscription>>> + Send;
    fn update_subscription(
        &self,
        id: crate::ids::SubscriptionId,
        update: &SubscriptionUpdate,
    ) -> impl Future<Output = StoreResult<crate::webhook::Subscription>> + Send;
    fn delete_subscription(
        &self,
        id: crate::ids::SubscriptionId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Newest first.
    fn deliveries(
        &self,
        id: crate::ids::SubscriptionId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::webhook::Delivery>>> + Send;
    /// Leases due deliveries until `lease_until`: the heads of up to `queues` queues (a queue is
    /// a subscription's pending deliveries of one ordering key, oldest first), each with up to
    /// `per_queue - 1` of the deliveries behind it. A queue's deliveries come out together and
    /// in order: the dispatcher sends them one after another. Two dispatchers never lease the
    /// same delivery (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the write lock). Pending
    /// commits are fanned out into deliveries first.
    fn lease_due(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        queues: u32,
        per_queue: u32,
    ) -> impl Future<Output = StoreResult<Vec<crate::webhook::DueDelivery>>> + Send;
    /// Forgets deliveries delivered before `before`, and the events no delivery refers to any
    /// more; returns how many deliveries.
    fn purge_deliveries(
        &self,
        before: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Records the attempts of a round in one transaction, in order: each failure counts
    /// against its subscription, which is disabled after `max_failures` in a row, and a
    /// delivery resets the count; returns the subscriptions as they now stand.
    fn record_attempts(
        &self,
        attempts: &[(i64, crate::webhook::AttemptResult)],
        now: jiff::Timestamp,
        max_failures: u32,
    ) -> impl Future<Output = StoreResult<Vec<crate::webhook::Subscription>>> + Send;
}

/// A schedule's coverage at one version: the schedule as of it, its week's intervals, and the
/// cells with anything required or scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageReport {
    pub schedule: crate::schedule::Schedule,
    pub grid: crate::coverage::WeekGrid,
    pub cells: crate::coverage::Cells,
}

/// Which held changes to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub state: Option<crate::held::HeldState>,
}

/// A supervisor's decision on a held change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDecision {
    pub id: crate::ids::HeldChangeId,
    pub expected_version: u32,
    pub approve: bool,
    pub reason: Option<String>,
}

/// Staffing requirements, coverage, and the changes the coverage guard held.
pub trait CoverageStore: Send + Sync {
    /// Sets the requirement of each interval the runs name (the others keep theirs), as one
    /// version of cause `requirements`; the skills must be skills of the business unit's agents.
    fn set_requirements(
        &self,
        id: ScheduleId,
        runs: &[crate::coverage::RequirementRun],
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Schedule>> + Send;
    /// The coverage as maintained, now or as of `version`.
    fn coverage(
        &self,
        id: ScheduleId,
        version: Option<ScheduleVersion>,
    ) -> impl Future<Output = StoreResult<CoverageReport>> + Send;
    fn held_change(
        &self,
        id: crate::ids::HeldChangeId,
    ) -> impl Future<Output = StoreResult<crate::held::HeldChange>> + Send;
    /// Oldest first.
    fn held_changes(
        &self,
        filter: HeldFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::held::HeldChange>>> + Send;
    /// Approves (applying the change, every rule but the guard checked now) or denies.
    fn decide_held(
        &self,
        decision: &HeldDecision,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::held::HeldChange>> + Send;
}

/// Which time-off requests to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeOffFilter {
    pub business_unit: Option<BusinessUnitId>,
    pub agent: Option<AgentId>,
    pub state: Option<crate::timeoff::TimeOffState>,
}

/// Time off: requests, balances and allowances. Every operation that changes a request is one
/// transaction that holds the business unit's time-off lock (so two approvals cannot both take
/// the last place of an allowance), commits the schedule versions an approval makes, and writes
/// `timeoff.request.changed` for every request whose state changed, waitlist promotions
/// included.
pub trait TimeOffStore: Send + Sync {
    /// Files an agent's request and answers it by the business unit's policy.
    fn request_time_off(
        &self,
        new: &crate::timeoff::NewTimeOff,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    fn time_off(
        &self,
        id: crate::ids::TimeOffId,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Newest first.
    fn time_off_requests(
        &self,
        filter: TimeOffFilter,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::timeoff::TimeOffRequest>>> + Send;
    /// A supervisor approves (overriding failed rules if asked) or denies a pending or
    /// waitlisted request.
    fn decide_time_off(
        &self,
        review: &crate::timeoff::TimeOffReview,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Cancels a live request; an approved one only until the business unit's cutoff when
    /// `enforce_cutoff` (the agent's own cancellation), returning what it deducted.
    fn cancel_time_off(
        &self,
        id: crate::ids::TimeOffId,
        expected_version: u32,
        enforce_cutoff: bool,
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<crate::timeoff::TimeOffRequest>> + Send;
    /// Replaces the agent's balance of `code`.
    fn set_balance(
        &self,
        agent: AgentId,
        code: &crate::schedule::ActivityCode,
        minutes: i64,
    ) -> impl Future<Output = StoreResult<crate::timeoff::Balance>> + Send;
    fn balances(
        &self,
        agent: AgentId,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::Balance>>> + Send;
    /// Sets the allowance of each named group and day, then promotes the waitlist of those
    /// days where room appeared.
    fn set_allowances(
        &self,
        bu: BusinessUnitId,
        allowances: &[crate::timeoff::Allowance],
        ctx: &CommitContext,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::AllowanceDay>>> + Send;
    /// Each day of `[from, to]` of `group`: its limit and the agents approved and waitlisted.
    fn allowances(
        &self,
        bu: BusinessUnitId,
        group: &str,
        from: Date,
        to: Date,
    ) -> impl Future<Output = StoreResult<Vec<crate::timeoff::AllowanceDay>>> + Send;
}
