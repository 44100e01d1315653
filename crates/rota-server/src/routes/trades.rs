//! Agent self-service (my schedule, open-shift pickup, release) and shift trades (offer,
//! match, cancel, supervisor review).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use rota_api::paging::Paging;
use rota_api::swaps::SwapResponseBody;
use rota_core::auth::Action;
use rota_core::engine::SelfServiceAction;
use rota_core::ids::{AgentId, ShiftId, TradeId};
use rota_core::schedule::ScheduleState;
use rota_core::store::{
    DirectoryStore, NewTrade, PageRequest, ScheduleStore, ShiftFilter, TradeFilter, TradeReview,
    TradeStore,
};
use rota_core::trade::{Trade, TradeState};
use serde::Serialize;

use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Outcome;
use crate::routes::{page, parse_id};
use crate::startup::AppState;
use rota_api::trades::{
    CancelBody, MatchBody, MatchCheckQuery, MySchedule, NewTradeBody, ReviewBody, ReviewDecision,
    ReviewError, ReviewItem, ReviewOutcome, ReviewResponse, ReviewResult, TradeQuery, WeekQuery,
};
use rota_core::command::SwapResult;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/wfm/agents/me/schedule", get(my_schedule))
        .route(
            "/api/v2/wfm/agents/me/shifts/{shiftId}/pickup",
            post(pickup),
        )
        .route(
            "/api/v2/wfm/agents/me/shifts/{shiftId}/release",
            post(release),
        )
        .route("/api/v2/wfm/trades", post(create).get(list))
        .route("/api/v2/wfm/trades/{tradeId}", get(read))
        .route("/api/v2/wfm/trades/{tradeId}/match", post(match_trade))
        .route("/api/v2/wfm/trades/{tradeId}/match-check", get(match_check))
        .route("/api/v2/wfm/trades/{tradeId}/cancel", post(cancel))
        .route("/api/v2/wfm/trades/reviews", post(review))
}

/// The agent a self-service caller acts as; 403 for any other client.
pub(crate) fn me(caller: &Caller) -> Result<AgentId, ApiError> {
    caller.0.agent.ok_or_else(|| {
        ApiError::Forbidden(format!(
            "client {} acts for no agent: self-service and trades are for agent clients",
            caller.0.client_id
        ))
    })
}

/// The caller's own shifts in a published week, and the week's open shifts.
#[utoipa::path(get, path = "/api/v2/wfm/agents/me/schedule", tag = "self-service", params(WeekQuery),
    responses((status = 200, description = "My shifts and the open shifts of a published week", body = MySchedule), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn my_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WeekQuery>,
) -> Result<Json<MySchedule>, ApiError> {
    let agent = state.store.agent(me(&caller)?).await?;
    caller.require(Action::SelfService, agent.business_unit_id)?;
    let schedule = state
        .store
        .find_schedule(agent.business_unit_id, q.week_date)
        .await?
        .filter(|s| s.state == ScheduleState::Published)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no published schedule for the week of {}",
                q.week_date
            ))
        })?;
    let all = state
        .store
        .shifts(schedule.id, ShiftFilter::default(), PageRequest::all())
        .await?;
    let (shifts, open_shifts) = all
        .items
        .into_iter()
        .filter(|s| s.owner.is_none() || s.owner == Some(agent.id))
        .partition(|s| s.owner.is_some());
    Ok(Json(MySchedule {
        schedule_id: schedule.id,
        schedule_version_id: schedule.version_id().to_string(),
        week_start: schedule.week_start,
        shifts,
        open_shifts,
    }))
}

/// Takes an open shift: the same rules and commit path as a swap (skill, availability,
/// overlap, rest, weekly maximum), checked at commit.
#[utoipa::path(post, path = "/api/v2/wfm/agents/me/shifts/{shiftId}/pickup", tag = "self-service",
    params(("shiftId" = uuid::Uuid, Path, description = "An open shift"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "Picked up; the schedule's new version", body = rota_api::swaps::SwapResponseBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn pickup(cmd: Command, Path(shift): Path<String>) -> Result<Response, ApiError> {
    self_service(cmd, shift, SelfServiceAction::Pickup).await
}

/// Gives up one's shift (it becomes open), when the business unit allows releases and the
/// shift starts far enough ahead.
#[utoipa::path(post, path = "/api/v2/wfm/agents/me/shifts/{shiftId}/release", tag = "self-service",
    params(("shiftId" = uuid::Uuid, Path, description = "A shift of mine"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "Released; the schedule's new version", body = rota_api::swaps::SwapResponseBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn release(cmd: Command, Path(shift): Path<String>) -> Result<Response, ApiError> {
    self_service(cmd, shift, SelfServiceAction::Release).await
}

async fn self_service(
    cmd: Command,
    shift: String,
    action: SelfServiceAction,
) -> Result<Response, ApiError> {
    let shift: ShiftId = parse_id("shiftId", &shift)?;
    let done = run_self_service(&cmd, shift, action, None).await?;
    Ok(done.map(SwapResponseBody::from).respond_by(|body| {
        if body.is_held() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        }
    }))
}

/// A pickup or release by the caller: what the API and the portal both run. `seen`: the
/// shift's version the caller's page showed (the portal's forms carry it).
pub(crate) async fn run_self_service(
    cmd: &Command,
    shift: ShiftId,
    action: SelfServiceAction,
    seen: Option<rota_core::version::ScheduleVersion>,
) -> Result<Outcome<SwapResult>, ApiError> {
    let store = cmd.state.store.clone();
    let agent = store.agent(me(&cmd.caller)?).await?;
    cmd.caller
        .require(Action::SelfService, agent.business_unit_id)?;
    // `seen` is part of what the request means; `None` fingerprints as the bodiless request.
    cmd.once(&seen, true, |ctx| async move {
        store
            .self_service(shift, agent.id, action, seen, &ctx)
            .await
    })
    .await
}

/// Offers one of the caller's shifts in a published schedule.
#[utoipa::path(operation_id = "create_trade", post, path = "/api/v2/wfm/trades", tag = "trades", request_body = NewTradeBody,
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 201, description = "The trade, Unmatched", body = rota_core::trade::Trade), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(cmd: Command, ApiJson(body): ApiJson<NewTradeBody>) -> Result<Response, ApiError> {
    Ok(run_create(&cmd, body).await?.respond(StatusCode::CREATED))
}

/// An offer by the caller: what the API and the portal both run.
pub(crate) async fn run_create(
    cmd: &Command,
    body: NewTradeBody,
) -> Result<Outcome<Trade>, ApiError> {
    crate::error::bounded(
        "acceptableIntervals",
        body.acceptable_intervals.len(),
        MAX_INTERVALS,
    )?;
    let store = cmd.state.store.clone();
    let agent = store.agent(me(&cmd.caller)?).await?;
    cmd.caller
        .require(Action::SelfService, agent.business_unit_id)?;
    let new = NewTrade {
        initiating_agent_id: agent.id,
        shift_id: body.shift_id,
        target_agent_id: body.target_agent_id,
        acceptable_intervals: body.acceptable_intervals.clone(),
        expires_at: body.expires_at,
    };
    cmd.once(&body, true, |ctx| async move {
        store.create_trade(&new, &ctx).await
    })
    .await
}

/// Trades, newest first. Agents see theirs, those offered to them, and unmatched ones open to
/// anyone in their business unit; supervisors see their business unit's.
#[utoipa::path(operation_id = "list_trades", get, path = "/api/v2/wfm/trades", tag = "trades", params(TradeQuery),
    responses((status = 200, description = "A page of trades", body = rota_api::schedules::Page<rota_core::trade::Trade>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TradeQuery>,
) -> Result<Json<rota_api::schedules::Page<Trade>>, ApiError> {
    let state_filter = q
        .state
        .as_deref()
        .map(|s| {
            TradeState::parse(s).ok_or_else(|| {
                ApiError::validation(
                    "state",
                    "one of Unmatched, Matched, Approved, Denied, Canceled, Expired",
                )
            })
        })
        .transpose()?;
    let requested = q
        .business_unit_id
        .as_deref()
        .map(|b| parse_id("businessUnitId", b))
        .transpose()?;
    let (bu, visible_to) = match caller.0.agent {
        Some(agent) if caller.is_agent() => (
            Some(state.store.agent(agent).await?.business_unit_id),
            Some(agent),
        ),
        _ => (requested.or(caller.0.business_unit), None),
    };
    let bu =
        bu.ok_or_else(|| ApiError::unprocessable("businessUnitId", "required for this client"))?;
    caller.require(Action::ReadTrades, bu)?;
    let filter = TradeFilter {
        business_unit: Some(bu),
        state: state_filter,
        visible_to,
    };
    let paging = Paging {
        offset: q.offset,
        limit: q.limit,
    };
    Ok(Json(page(
        state.store.trades(filter, (&paging).into()).await?,
    )))
}

/// Whether the caller may see `trade`.
fn may_see(caller: &Caller, trade: &Trade) -> Result<(), ApiError> {
    caller.require(Action::ReadTrades, trade.business_unit_id)?;
    if !caller.is_agent() {
        return Ok(());
    }
    let me = me(caller)?;
    let party = trade.initiating_agent_id == me
        || trade.receiving_agent_id == Some(me)
        || trade.target_agent_id == Some(me)
        || (trade.target_agent_id.is_none() && trade.state == TradeState::Unmatched);
    if party {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "trade {} does not exist",
            trade.id
        )))
    }
}

#[utoipa::path(operation_id = "read_trade", get, path = "/api/v2/wfm/trades/{tradeId}", tag = "trades",
    params(("tradeId" = uuid::Uuid, Path, description = "Trade id")),
    responses((status = 200, description = "The trade, with its rule check once matched", body = rota_core::trade::Trade), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Trade>, ApiError> {
    let trade = state.store.trade(parse_id("tradeId", &id)?).await?;
    may_see(&caller, &trade)?;
    Ok(Json(trade))
}

/// Matches a trade as the caller. The rule check runs at once and is in the answer: the
/// business unit's settings may approve (applying the swap), deny, or leave the trade
/// Matched for a supervisor, holding both shifts.
#[utoipa::path(post, path = "/api/v2/wfm/trades/{tradeId}/match", tag = "trades", request_body = MatchBody,
    params(("tradeId" = uuid::Uuid, Path, description = "Trade id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The trade after the match and its automatic review", body = rota_core::trade::Trade), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn match_trade(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MatchBody>,
) -> Result<Response, ApiError> {
    let id: TradeId = parse_id("tradeId", &id)?;
    Ok(run_match(&cmd, id, body).await?.respond(StatusCode::OK))
}

/// A match by the caller: what the API and the portal both run.
pub(crate) async fn run_match(
    cmd: &Command,
    id: TradeId,
    body: MatchBody,
) -> Result<Outcome<Trade>, ApiError> {
    on_trade(cmd, id, body, |store, id, me, body, ctx| async move {
        store
            .match_trade(id, body.version, me, body.shift_id, &ctx)
            .await
    })
    .await
}

/// What matching the trade as the caller would find now: the same checks as the match (the
/// trade's version, the shift, the rules, the business unit's review), writing nothing. The
/// match checks again when it commits.
#[utoipa::path(get, path = "/api/v2/wfm/trades/{tradeId}/match-check", tag = "trades",
    params(("tradeId" = uuid::Uuid, Path, description = "Trade id"), MatchCheckQuery),
    responses((status = 200, description = "The rule check a match would have now", body = rota_core::trade::TradeCheck), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn match_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MatchCheckQuery>,
) -> Result<Json<rota_core::trade::TradeCheck>, ApiError> {
    let id: TradeId = parse_id("tradeId", &id)?;
    Ok(Json(
        run_match_check(&state, &caller, id, q.version, q.shift_id).await?,
    ))
}

/// A match's check without the match: what the API and the portal both run.
pub(crate) async fn run_match_check(
    state: &AppState,
    caller: &Caller,
    id: TradeId,
    version: u32,
    shift: Option<ShiftId>,
) -> Result<rota_core::trade::TradeCheck, ApiError> {
    let agent = me(caller)?;
    let trade = state.store.trade(id).await?;
    may_see(caller, &trade)?;
    caller.require(Action::SelfService, trade.business_unit_id)?;
    Ok(state
        .store
        .preview_match(id, version, agent, shift, state.clock.now())
        .await?)
}

/// Runs an agent's operation on a trade they may see, in its business unit, once per
/// idempotency key; answers the trade as it then stands.
async fn on_trade<B, F, Fut>(
    cmd: &Command,
    id: TradeId,
    body: B,
    operation: F,
) -> Result<Outcome<Trade>, ApiError>
where
    B: Serialize + Clone,
    F: FnOnce(rota_store::Store, TradeId, AgentId, B, rota_core::version::CommitContext) -> Fut,
    Fut: std::future::Future<Output = Result<Trade, rota_core::store::StoreError>>,
{
    let agent = me(&cmd.caller)?;
    let store = cmd.state.store.clone();
    let trade = store.trade(id).await?;
    may_see(&cmd.caller, &trade)?;
    cmd.caller
        .require(Action::SelfService, trade.business_unit_id)?;
    cmd.once(&body, true, |ctx| {
        operation(store, id, agent, body.clone(), ctx)
    })
    .await
}

/// The initiator withdraws an Unmatched or Matched trade (its holds are released).
#[utoipa::path(operation_id = "cancel_trade", post, path = "/api/v2/wfm/trades/{tradeId}/cancel", tag = "trades", request_body = CancelBody,
    params(("tradeId" = uuid::Uuid, Path, description = "Trade id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The trade, Canceled", body = rota_core::trade::Trade), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn cancel(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Response, ApiError> {
    let id: TradeId = parse_id("tradeId", &id)?;
    Ok(run_cancel(&cmd, id, body).await?.respond(StatusCode::OK))
}

/// The initiator's withdrawal: what the API and the portal both run.
pub(crate) async fn run_cancel(
    cmd: &Command,
    id: TradeId,
    body: CancelBody,
) -> Result<Outcome<Trade>, ApiError> {
    on_trade(cmd, id, body, |store, id, me, body, ctx| async move {
        store.cancel_trade(id, body.version, me, &ctx).await
    })
    .await
}

/// Most reviews in one request.
/// The most acceptable intervals one offer may list (a week in 15-minute pieces is 672).
const MAX_INTERVALS: usize = 100;
const MAX_REVIEWS: usize = 500;

/// A supervisor approves or denies many matched trades; each is its own transaction with its
/// own result. Approval applies the swap through the same path as the bulk endpoint, rules
/// checked at commit; a trade whose shifts changed after matching is denied with
/// `SHIFT_CHANGED_SINCE_MATCH`, never swapped silently.
#[utoipa::path(post, path = "/api/v2/wfm/trades/reviews", tag = "trades", request_body = ReviewBody,
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "A result per review, in request order", body = ReviewResponse), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn review(cmd: Command, ApiJson(body): ApiJson<ReviewBody>) -> Result<Response, ApiError> {
    Ok(run_review(&cmd, body).await?.respond(StatusCode::OK))
}

/// A supervisor's decisions: what the API and the portal both run.
pub(crate) async fn run_review(
    cmd: &Command,
    body: ReviewBody,
) -> Result<Outcome<ReviewResponse>, ApiError> {
    if body.reviews.is_empty() {
        return Err(ApiError::validation(
            "reviews",
            "at least one review is required",
        ));
    }
    crate::error::bounded("reviews", body.reviews.len(), MAX_REVIEWS)?;
    if cmd.caller.is_agent() {
        return Err(ApiError::Forbidden("agents cannot review trades".into()));
    }
    let store = cmd.state.store.clone();
    let reviewer = cmd.caller.clone();
    let reviews = body.reviews.clone();
    // Each review commits on its own, so the response is recorded under the key after all of
    // them; a retry after a crash in between finds the reviewed trades at a newer version
    // and answers TRADE_VERSION_CONFLICT for them, never applying one twice.
    cmd.once(&body, false, |ctx| async move {
        let ctx = rota_core::version::CommitContext {
            idempotency: None,
            ..ctx
        };
        let mut results = Vec::with_capacity(reviews.len());
        for item in reviews {
            let outcome = review_one(&store, &reviewer, &item, &ctx).await;
            results.push(match outcome {
                Ok(trade) => ReviewResult {
                    trade_id: item.trade_id,
                    outcome: if trade.state == TradeState::Approved {
                        ReviewOutcome::Approved
                    } else {
                        ReviewOutcome::Denied
                    },
                    trade: Some(trade),
                    error: None,
                },
                Err(e) => ReviewResult {
                    trade_id: item.trade_id,
                    outcome: ReviewOutcome::Failed,
                    trade: None,
                    error: Some(e),
                },
            });
        }
        Ok::<_, rota_core::store::StoreError>(ReviewResponse { results })
    })
    .await
}

async fn review_one(
    store: &rota_store::Store,
    caller: &Caller,
    item: &ReviewItem,
    ctx: &rota_core::version::CommitContext,
) -> Result<Trade, ReviewError> {
    let failed = |e: ApiError| {
        let (status, code) = e.status_and_code();
        ReviewError {
            status: status.as_u16(),
            code,
            detail: e.to_string(),
        }
    };
    let trade = store
        .trade(item.trade_id)
        .await
        .map_err(|e| failed(e.into()))?;
    caller
        .require(Action::ReviewTrades, trade.business_unit_id)
        .map_err(failed)?;
    let review = TradeReview {
        trade_id: item.trade_id,
        expected_version: item.version,
        approve: item.decision == ReviewDecision::Approve,
        reason: item.reason.clone(),
    };
    store
        .review_trade(&review, ctx)
        .await
        .map_err(|e| failed(e.into()))
}
