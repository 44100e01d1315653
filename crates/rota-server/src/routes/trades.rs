//! Agent self-service (my schedule, open-shift pickup, release) and shift trades (offer,
//! match, cancel, supervisor review).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rota_api::paging::Paging;
use rota_api::trades::{
    CancelBody, MatchBody, MatchCheckQuery, MySchedule, NewTradeBody, ReviewBody, ReviewResponse,
    TradeQuery, WeekQuery,
};
use rota_app::{AppError, trades};
use rota_core::auth::Action;
use rota_core::engine::SelfServiceAction;
use rota_core::ids::{ShiftId, TradeId};
use rota_core::schedule::ScheduleState;
use rota_core::store::{
    DirectoryStore, PageRequest, ScheduleStore, ShiftFilter, TradeFilter, TradeStore,
};
use rota_core::trade::{Trade, TradeState};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Respond;
use crate::routes::{page, parse_id};
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_schedule))
        .routes(routes!(pickup))
        .routes(routes!(release))
        .routes(routes!(create, list))
        .routes(routes!(read))
        .routes(routes!(match_trade))
        .routes(routes!(match_check))
        .routes(routes!(cancel))
        .routes(routes!(review))
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
    let agent = state.app.store().agent(caller.me()?).await?;
    caller.require(
        Action::SelfService,
        agent.business_unit_id,
        ("agent", agent.id),
    )?;
    let schedule = state
        .app
        .store()
        .find_schedule(agent.business_unit_id, q.week_date)
        .await?
        .filter(|s| s.state == ScheduleState::Published)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no published schedule for the week of {}",
                q.week_date
            ))
        })?;
    let all = state
        .app
        .store()
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
    let done = trades::self_service(&cmd, shift, action, None).await?;
    Ok(super::schedules::held_or_applied(done))
}

/// Offers one of the caller's shifts in a published schedule.
#[utoipa::path(operation_id = "create_trade", post, path = "/api/v2/wfm/trades", tag = "trades", request_body = NewTradeBody,
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 201, description = "The trade, Unmatched", body = rota_core::trade::Trade), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(cmd: Command, ApiJson(body): ApiJson<NewTradeBody>) -> Result<Response, ApiError> {
    Ok(trades::create(&cmd, body)
        .await?
        .respond(StatusCode::CREATED))
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
                AppError::validation(
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
            Some(state.app.store().agent(agent).await?.business_unit_id),
            Some(agent),
        ),
        _ => (requested.or(caller.0.business_unit), None),
    };
    let bu =
        bu.ok_or_else(|| AppError::unprocessable("businessUnitId", "required for this client"))?;
    caller.require(Action::ReadTrades, bu, ("business unit", bu))?;
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
        state.app.store().trades(filter, (&paging).into()).await?,
    )))
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
    let id = parse_id("tradeId", &id)?;
    Ok(Json(trades::visible(&state.app, &caller, id).await?))
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
    Ok(trades::match_trade(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
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
        trades::match_check(&state.app, &caller, id, q.version, q.shift_id).await?,
    ))
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
    Ok(trades::cancel(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
}

/// A supervisor approves or denies many matched trades; each is its own transaction with its
/// own result. Approval applies the swap through the same path as the bulk endpoint, rules
/// checked at commit; a trade whose shifts changed after matching is denied with
/// `SHIFT_CHANGED_SINCE_MATCH`, never swapped silently.
#[utoipa::path(post, path = "/api/v2/wfm/trades/reviews", tag = "trades", request_body = ReviewBody,
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "A result per review, in request order", body = ReviewResponse), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn review(cmd: Command, ApiJson(body): ApiJson<ReviewBody>) -> Result<Response, ApiError> {
    Ok(trades::review(&cmd, body).await?.respond(StatusCode::OK))
}
