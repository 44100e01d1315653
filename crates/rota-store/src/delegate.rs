//! [`Store`]'s implementation of each store trait: the chosen backend's.

use jiff::civil::Date;
use rota_core::command::{ShiftEdit, SwapRequest, SwapResult};
use rota_core::coverage::RequirementRun;
use rota_core::directory::{Agent, Availability, BusinessUnit, ManagementUnit};
use rota_core::engine::SelfServiceAction;
use rota_core::held::HeldChange;
use rota_core::ids::HeldChangeId;
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId};
use rota_core::ids::{ShiftId, SubscriptionId, TradeId};
use rota_core::schedule::{NewSchedule, Schedule, Shift};
use rota_core::store::{
    AuthStore, ClaimOutcome, DirectoryStore, IdempotencyClaim, IdempotencyStore, Page, PageRequest,
    ScheduleStore, ShiftFilter, StoreResult,
};
use rota_core::store::{CoverageReport, CoverageStore, HeldDecision, HeldFilter};
use rota_core::store::{
    NewTrade, SubscriptionUpdate, TradeFilter, TradeReview, TradeStore, WebhookStore,
};
use rota_core::trade::{BusinessUnitSettings, Trade};
use rota_core::version::{CommitContext, ScheduleVersion, VersionChanges, VersionRecord};
use rota_core::webhook::{AttemptResult, Delivery, DueDelivery, NewSubscription, Subscription};

use crate::{Store, batch_runs};

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call.await,
            Store::Postgres($s) => $call.await,
        }
    };
}

impl DirectoryStore for Store {
    async fn roster(
        &self,
        bu: BusinessUnitId,
    ) -> StoreResult<Vec<rota_core::directory::RosterEntry>> {
        delegate!(self, s => s.roster(bu))
    }
    async fn create_business_unit(&self, bu: &BusinessUnit) -> StoreResult<()> {
        delegate!(self, s => s.create_business_unit(bu))
    }
    async fn business_unit(&self, id: BusinessUnitId) -> StoreResult<BusinessUnit> {
        delegate!(self, s => s.business_unit(id))
    }
    async fn business_units(&self, page: PageRequest) -> StoreResult<Page<BusinessUnit>> {
        delegate!(self, s => s.business_units(page))
    }
    async fn create_management_unit(&self, mu: &ManagementUnit) -> StoreResult<()> {
        delegate!(self, s => s.create_management_unit(mu))
    }
    async fn create_agents(&self, agents: &[Agent]) -> StoreResult<()> {
        delegate!(self, s => s.create_agents(agents))
    }
    async fn agent(&self, id: AgentId) -> StoreResult<Agent> {
        delegate!(self, s => s.agent(id))
    }
    async fn agents(&self, bu: BusinessUnitId, page: PageRequest) -> StoreResult<Page<Agent>> {
        delegate!(self, s => s.agents(bu, page))
    }
    async fn set_availability(
        &self,
        id: AgentId,
        availability: &Availability,
    ) -> StoreResult<Agent> {
        delegate!(self, s => s.set_availability(id, availability))
    }
}

impl ScheduleStore for Store {
    async fn shift_slots(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
    ) -> StoreResult<Vec<rota_core::schedule::ShiftSlot>> {
        delegate!(self, s => s.shift_slots(id, filter))
    }
    async fn import_schedule(
        &self,
        new: &NewSchedule,
        ctx: &CommitContext,
    ) -> StoreResult<Schedule> {
        delegate!(self, s => s.import_schedule(new, ctx))
    }
    async fn schedule(&self, id: ScheduleId) -> StoreResult<Schedule> {
        delegate!(self, s => s.schedule(id))
    }
    async fn shift(&self, id: rota_core::ids::ShiftId) -> StoreResult<Shift> {
        delegate!(self, s => s.shift(id))
    }
    async fn find_schedule(
        &self,
        bu: BusinessUnitId,
        week_start: Date,
    ) -> StoreResult<Option<Schedule>> {
        delegate!(self, s => s.find_schedule(bu, week_start))
    }
    async fn shifts(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Shift>> {
        delegate!(self, s => s.shifts(id, filter, page))
    }
    async fn versions(
        &self,
        id: ScheduleId,
        page: PageRequest,
    ) -> StoreResult<Page<VersionRecord>> {
        delegate!(self, s => s.versions(id, page))
    }
    async fn changes_since(
        &self,
        id: ScheduleId,
        since: Option<ScheduleVersion>,
    ) -> StoreResult<Vec<VersionChanges>> {
        delegate!(self, s => s.changes_since(id, since))
    }
    async fn schedule_as_of(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
    ) -> StoreResult<Vec<Shift>> {
        delegate!(self, s => s.schedule_as_of(id, version))
    }
    async fn apply_swaps(&self, req: &SwapRequest, ctx: &CommitContext) -> StoreResult<SwapResult> {
        delegate!(self, s => s.apply_swaps(req, ctx))
    }
    async fn edit_shift(&self, edit: &ShiftEdit, ctx: &CommitContext) -> StoreResult<SwapResult> {
        delegate!(self, s => s.edit_shift(edit, ctx))
    }
    async fn publish(&self, id: ScheduleId, ctx: &CommitContext) -> StoreResult<Schedule> {
        delegate!(self, s => s.publish(id, ctx))
    }
}

impl IdempotencyStore for Store {
    async fn claim(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        keep: std::time::Duration,
    ) -> StoreResult<ClaimOutcome> {
        delegate!(self, s => s.claim(claim, request_hash, now, lease, keep))
    }
    async fn lookup(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<ClaimOutcome> {
        delegate!(self, s => s.lookup(claim, request_hash, now))
    }
    async fn complete(&self, claim: &IdempotencyClaim, result: &str) -> StoreResult<()> {
        delegate!(self, s => s.complete(claim, result))
    }
    async fn release(&self, claim: &IdempotencyClaim) -> StoreResult<()> {
        delegate!(self, s => s.release(claim))
    }
    async fn purge_idempotency(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        delegate!(self, s => s.purge_idempotency(now))
    }
}

impl batch_runs::BatchRunStore for Store {
    async fn create_batch_run(&self, run: &batch_runs::BatchRun) -> StoreResult<()> {
        delegate!(self, s => s.create_batch_run(run))
    }
    async fn batch_run(&self, id: rota_core::ids::BatchRunId) -> StoreResult<batch_runs::BatchRun> {
        delegate!(self, s => s.batch_run(id))
    }
    async fn batch_runs(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> StoreResult<Page<batch_runs::BatchRun>> {
        delegate!(self, s => s.batch_runs(bu, page))
    }
    async fn record_batch_progress(
        &self,
        id: rota_core::ids::BatchRunId,
        lines: &str,
        done: u32,
        counts: &std::collections::BTreeMap<String, u32>,
        now: jiff::Timestamp,
    ) -> StoreResult<()> {
        delegate!(self, s => s.record_batch_progress(id, lines, done, counts, now))
    }
    async fn finish_batch_run(
        &self,
        id: rota_core::ids::BatchRunId,
        detail: Option<&str>,
        now: jiff::Timestamp,
    ) -> StoreResult<()> {
        delegate!(self, s => s.finish_batch_run(id, detail, now))
    }
    async fn batch_report(&self, id: rota_core::ids::BatchRunId) -> StoreResult<String> {
        delegate!(self, s => s.batch_report(id))
    }
}

impl rota_core::store::UserStore for Store {
    async fn create_user(&self, user: &rota_core::auth::User) -> StoreResult<()> {
        delegate!(self, s => s.create_user(user))
    }
    async fn user(&self, id: rota_core::ids::UserId) -> StoreResult<rota_core::auth::User> {
        delegate!(self, s => s.user(id))
    }
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<rota_core::auth::User>> {
        delegate!(self, s => s.user_by_name(username))
    }
    async fn set_password(
        &self,
        id: rota_core::ids::UserId,
        password_hash: &str,
    ) -> StoreResult<()> {
        delegate!(self, s => s.set_password(id, password_hash))
    }
    async fn sign_in_failures(
        &self,
        id: rota_core::ids::UserId,
    ) -> StoreResult<rota_core::store::SignInFailures> {
        delegate!(self, s => s.sign_in_failures(id))
    }
    async fn record_sign_in_failure(
        &self,
        id: rota_core::ids::UserId,
        now: jiff::Timestamp,
    ) -> StoreResult<rota_core::store::SignInFailures> {
        delegate!(self, s => s.record_sign_in_failure(id, now))
    }
    async fn clear_sign_in_failures(&self, id: rota_core::ids::UserId) -> StoreResult<()> {
        delegate!(self, s => s.clear_sign_in_failures(id))
    }
    async fn create_sign_in_link(
        &self,
        token_hash: &str,
        user: rota_core::ids::UserId,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        delegate!(self, s => s.create_sign_in_link(token_hash, user, expires_at))
    }
    async fn redeem_sign_in_link(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<rota_core::auth::User>> {
        delegate!(self, s => s.redeem_sign_in_link(token_hash, now))
    }
    async fn create_session(
        &self,
        session_hash: &str,
        user: rota_core::ids::UserId,
        csrf_token: &str,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        delegate!(self, s => s.create_session(session_hash, user, csrf_token, expires_at))
    }
    async fn session(
        &self,
        session_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<rota_core::auth::Session>> {
        delegate!(self, s => s.session(session_hash, now))
    }
    async fn end_session(&self, session_hash: &str) -> StoreResult<()> {
        delegate!(self, s => s.end_session(session_hash))
    }
    async fn purge_sessions(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        delegate!(self, s => s.purge_sessions(now))
    }
    async fn seen_version(
        &self,
        user: rota_core::ids::UserId,
        schedule: ScheduleId,
    ) -> StoreResult<Option<ScheduleVersion>> {
        delegate!(self, s => s.seen_version(user, schedule))
    }
    async fn mark_seen(
        &self,
        user: rota_core::ids::UserId,
        schedule: ScheduleId,
        version: ScheduleVersion,
    ) -> StoreResult<()> {
        delegate!(self, s => s.mark_seen(user, schedule, version))
    }
}

impl AuthStore for Store {
    async fn live_tokens(&self, client_id: &str, now: jiff::Timestamp) -> StoreResult<u64> {
        delegate!(self, s => s.live_tokens(client_id, now))
    }
    async fn create_client(&self, client: &rota_core::auth::ApiClient) -> StoreResult<()> {
        delegate!(self, s => s.create_client(client))
    }
    async fn client(&self, client_id: &str) -> StoreResult<Option<rota_core::auth::ApiClient>> {
        delegate!(self, s => s.client(client_id))
    }
    async fn clients(&self) -> StoreResult<Vec<rota_core::auth::ApiClient>> {
        delegate!(self, s => s.clients())
    }
    async fn revoke_client(&self, client_id: &str) -> StoreResult<bool> {
        delegate!(self, s => s.revoke_client(client_id))
    }
    async fn store_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        delegate!(self, s => s.store_token(token_hash, client_id, expires_at))
    }
    async fn purge_tokens(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        delegate!(self, s => s.purge_tokens(now))
    }
    async fn principal(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<(rota_core::auth::Principal, jiff::Timestamp)>> {
        delegate!(self, s => s.principal(token_hash, now))
    }
}

impl TradeStore for Store {
    async fn preview_match(
        &self,
        id: TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<ShiftId>,
        now: jiff::Timestamp,
    ) -> StoreResult<rota_core::trade::TradeCheck> {
        delegate!(self, s => s.preview_match(id, expected_version, receiver, shift, now))
    }
    async fn settings(&self, bu: BusinessUnitId) -> StoreResult<BusinessUnitSettings> {
        delegate!(self, s => s.settings(bu))
    }
    async fn set_settings(
        &self,
        bu: BusinessUnitId,
        settings: &BusinessUnitSettings,
    ) -> StoreResult<()> {
        delegate!(self, s => s.set_settings(bu, settings))
    }
    async fn self_service(
        &self,
        shift: ShiftId,
        agent: AgentId,
        action: SelfServiceAction,
        seen: Option<ScheduleVersion>,
        ctx: &CommitContext,
    ) -> StoreResult<SwapResult> {
        delegate!(self, s => s.self_service(shift, agent, action, seen, ctx))
    }
    async fn create_trade(&self, new: &NewTrade, ctx: &CommitContext) -> StoreResult<Trade> {
        delegate!(self, s => s.create_trade(new, ctx))
    }
    async fn trade(&self, id: TradeId) -> StoreResult<Trade> {
        delegate!(self, s => s.trade(id))
    }
    async fn trades(&self, filter: TradeFilter, page: PageRequest) -> StoreResult<Page<Trade>> {
        delegate!(self, s => s.trades(filter, page))
    }
    async fn match_trade(
        &self,
        id: TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<ShiftId>,
        ctx: &CommitContext,
    ) -> StoreResult<Trade> {
        delegate!(self, s => s.match_trade(id, expected_version, receiver, shift, ctx))
    }
    async fn cancel_trade(
        &self,
        id: TradeId,
        expected_version: u32,
        by: AgentId,
        ctx: &CommitContext,
    ) -> StoreResult<Trade> {
        delegate!(self, s => s.cancel_trade(id, expected_version, by, ctx))
    }
    async fn review_trade(&self, review: &TradeReview, ctx: &CommitContext) -> StoreResult<Trade> {
        delegate!(self, s => s.review_trade(review, ctx))
    }
    async fn expire_trades(&self, now: jiff::Timestamp) -> StoreResult<Vec<Trade>> {
        delegate!(self, s => s.expire_trades(now))
    }
}

impl WebhookStore for Store {
    async fn create_subscription(&self, new: &NewSubscription) -> StoreResult<()> {
        delegate!(self, s => s.create_subscription(new))
    }
    async fn subscription(&self, id: SubscriptionId) -> StoreResult<Subscription> {
        delegate!(self, s => s.subscription(id))
    }
    async fn subscriptions(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        delegate!(self, s => s.subscriptions(bu, page))
    }
    async fn update_subscription(
        &self,
        id: SubscriptionId,
        update: &SubscriptionUpdate,
    ) -> StoreResult<Subscription> {
        delegate!(self, s => s.update_subscription(id, update))
    }
    async fn delete_subscription(&self, id: SubscriptionId) -> StoreResult<()> {
        delegate!(self, s => s.delete_subscription(id))
    }
    async fn deliveries(
        &self,
        id: SubscriptionId,
        page: PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        delegate!(self, s => s.deliveries(id, page))
    }
    async fn lease_due(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        queues: u32,
        per_queue: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        delegate!(self, s => s.lease_due(now, lease_until, queues, per_queue))
    }
    async fn purge_deliveries(&self, before: jiff::Timestamp) -> StoreResult<u64> {
        delegate!(self, s => s.purge_deliveries(before))
    }
    async fn record_attempts(
        &self,
        attempts: &[(i64, AttemptResult)],
        now: jiff::Timestamp,
        max_failures: u32,
    ) -> StoreResult<Vec<Subscription>> {
        delegate!(self, s => s.record_attempts(attempts, now, max_failures))
    }
}

impl CoverageStore for Store {
    async fn set_requirements(
        &self,
        id: ScheduleId,
        runs: &[RequirementRun],
        ctx: &CommitContext,
    ) -> StoreResult<Schedule> {
        delegate!(self, s => s.set_requirements(id, runs, ctx))
    }
    async fn coverage(
        &self,
        id: ScheduleId,
        version: Option<ScheduleVersion>,
    ) -> StoreResult<CoverageReport> {
        delegate!(self, s => s.coverage(id, version))
    }
    async fn held_change(&self, id: HeldChangeId) -> StoreResult<HeldChange> {
        delegate!(self, s => s.held_change(id))
    }
    async fn held_changes(
        &self,
        filter: HeldFilter,
        page: PageRequest,
    ) -> StoreResult<Page<HeldChange>> {
        delegate!(self, s => s.held_changes(filter, page))
    }
    async fn decide_held(
        &self,
        decision: &HeldDecision,
        ctx: &CommitContext,
    ) -> StoreResult<HeldChange> {
        delegate!(self, s => s.decide_held(decision, ctx))
    }
}

impl rota_core::store::TimeOffStore for Store {
    async fn request_time_off(
        &self,
        new: &rota_core::timeoff::NewTimeOff,
        ctx: &CommitContext,
    ) -> StoreResult<rota_core::timeoff::TimeOffRequest> {
        delegate!(self, s => s.request_time_off(new, ctx))
    }
    async fn time_off(
        &self,
        id: rota_core::ids::TimeOffId,
    ) -> StoreResult<rota_core::timeoff::TimeOffRequest> {
        delegate!(self, s => s.time_off(id))
    }
    async fn time_off_requests(
        &self,
        filter: rota_core::store::TimeOffFilter,
        page: PageRequest,
    ) -> StoreResult<Page<rota_core::timeoff::TimeOffRequest>> {
        delegate!(self, s => s.time_off_requests(filter, page))
    }
    async fn decide_time_off(
        &self,
        review: &rota_core::timeoff::TimeOffReview,
        ctx: &CommitContext,
    ) -> StoreResult<rota_core::timeoff::TimeOffRequest> {
        delegate!(self, s => s.decide_time_off(review, ctx))
    }
    async fn cancel_time_off(
        &self,
        id: rota_core::ids::TimeOffId,
        expected_version: u32,
        enforce_cutoff: bool,
        ctx: &CommitContext,
    ) -> StoreResult<rota_core::timeoff::TimeOffRequest> {
        delegate!(self, s => s.cancel_time_off(id, expected_version, enforce_cutoff, ctx))
    }
    async fn set_balance(
        &self,
        agent: AgentId,
        code: &rota_core::schedule::ActivityCode,
        minutes: i64,
    ) -> StoreResult<rota_core::timeoff::Balance> {
        delegate!(self, s => s.set_balance(agent, code, minutes))
    }
    async fn balances(&self, agent: AgentId) -> StoreResult<Vec<rota_core::timeoff::Balance>> {
        delegate!(self, s => s.balances(agent))
    }
    async fn set_allowances(
        &self,
        bu: BusinessUnitId,
        allowances: &[rota_core::timeoff::Allowance],
        ctx: &CommitContext,
    ) -> StoreResult<Vec<rota_core::timeoff::AllowanceDay>> {
        delegate!(self, s => s.set_allowances(bu, allowances, ctx))
    }
    async fn allowances(
        &self,
        bu: BusinessUnitId,
        group: &str,
        from: Date,
        to: Date,
    ) -> StoreResult<Vec<rota_core::timeoff::AllowanceDay>> {
        delegate!(self, s => s.allowances(bu, group, from, to))
    }
}
