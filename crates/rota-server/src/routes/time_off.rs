//! Time off: agents request and cancel their own; supervisors request for their business unit's
//! agents, decide, set allowances; supervisors and integrations set balances.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rota_api::schedules::Page;
use rota_api::timeoff::{
    AllowanceQuery, AllowancesBody, BalanceBody, NewTimeOffBody, TimeOffCancelBody,
    TimeOffDecisionBody, TimeOffQuery,
};
use rota_app::{AppError, time_off};
use rota_core::auth::Action;
use rota_core::ids::{AgentId, BusinessUnitId, TimeOffId};
use rota_core::store::{DirectoryStore, PageRequest, TimeOffFilter, TimeOffStore};
use rota_core::timeoff::{AllowanceDay, Balance, TimeOffRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{page, parse_id};
use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Respond;
use crate::startup::AppState;

/// The most days one allowance read may span.
const MAX_ALLOWANCE_DAYS: i32 = 366;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read))
        .routes(routes!(decide))
        .routes(routes!(cancel))
        .routes(routes!(balances))
        .routes(routes!(set_balance))
        .routes(routes!(set_allowances, allowances))
}

/// Files a request for time off. The business unit's policy answers at once: approved (the
/// schedule changes in the same transaction), denied, waitlisted or pending for a supervisor.
#[utoipa::path(operation_id = "request_time_off", post, path = "/api/v2/wfm/time-off-requests", tag = "time-off",
    request_body = NewTimeOffBody,
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 201, description = "The request as the policy answered it", body = TimeOffRequest), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(
    cmd: Command,
    ApiJson(body): ApiJson<NewTimeOffBody>,
) -> Result<Response, ApiError> {
    Ok(time_off::request(&cmd, body)
        .await?
        .respond(StatusCode::CREATED))
}

/// Requests, newest first: an agent's (agents: their own) or a business unit's (supervisors).
#[utoipa::path(operation_id = "list_time_off_requests", get, path = "/api/v2/wfm/time-off-requests", tag = "time-off", params(TimeOffQuery),
    responses((status = 200, description = "A page of requests", body = Page<TimeOffRequest>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TimeOffQuery>,
) -> Result<Json<Page<TimeOffRequest>>, ApiError> {
    let agent = q.agent_id.or(if caller.is_agent() {
        caller.0.agent
    } else {
        None
    });
    let filter = match (agent, q.business_unit_id) {
        (Some(agent), _) => {
            let found = state.app.store().agent(agent).await?;
            caller.require(
                Action::TimeOff(agent),
                found.business_unit_id,
                ("agent", agent),
            )?;
            TimeOffFilter {
                business_unit: Some(found.business_unit_id),
                agent: Some(agent),
                state: q.state,
            }
        }
        (None, Some(bu)) => {
            caller.require(Action::ReviewTimeOff, bu, ("business unit", bu))?;
            TimeOffFilter {
                business_unit: Some(bu),
                agent: None,
                state: q.state,
            }
        }
        (None, None) => {
            return Err(AppError::unprocessable(
                "businessUnitId",
                "name an agent (agentId) or a business unit (businessUnitId)",
            )
            .into());
        }
    };
    let found = state
        .app
        .store()
        .time_off_requests(filter, PageRequest::new(q.offset, q.limit))
        .await?;
    Ok(Json(page(found)))
}

#[utoipa::path(operation_id = "read_time_off_request", get, path = "/api/v2/wfm/time-off-requests/{timeOffId}", tag = "time-off",
    params(("timeOffId" = uuid::Uuid, Path, description = "Time-off request id")),
    responses((status = 200, description = "The request", body = TimeOffRequest), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TimeOffRequest>, ApiError> {
    let id: TimeOffId = parse_id("timeOffId", &id)?;
    Ok(Json(time_off::visible(&state.app, &caller, id).await?))
}

/// A supervisor approves (the schedule changes in the same transaction; with `override`, even
/// though balance, allowance or coverage fail, recorded in the decision) or denies a pending or
/// waitlisted request. An approval whose rules fail without `override` answers 422 with them
/// and changes nothing.
#[utoipa::path(post, path = "/api/v2/wfm/time-off-requests/{timeOffId}/decision", tag = "time-off",
    request_body = TimeOffDecisionBody,
    params(("timeOffId" = uuid::Uuid, Path, description = "Time-off request id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The request decided", body = TimeOffRequest), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn decide(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TimeOffDecisionBody>,
) -> Result<Response, ApiError> {
    let id: TimeOffId = parse_id("timeOffId", &id)?;
    Ok(time_off::decide(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
}

/// Cancels a request: pending or waitlisted at any time; approved until the business unit's
/// cutoff for agents (supervisors at any time). Cancelling approved time off returns what it
/// deducted and leaves the shifts as they are; a version per schedule says so.
#[utoipa::path(operation_id = "cancel_time_off", post, path = "/api/v2/wfm/time-off-requests/{timeOffId}/cancel", tag = "time-off",
    request_body = TimeOffCancelBody,
    params(("timeOffId" = uuid::Uuid, Path, description = "Time-off request id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The request, cancelled", body = TimeOffRequest), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn cancel(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TimeOffCancelBody>,
) -> Result<Response, ApiError> {
    let id: TimeOffId = parse_id("timeOffId", &id)?;
    Ok(time_off::cancel(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
}

#[utoipa::path(get, path = "/api/v2/wfm/agents/{agentId}/time-off-balances", tag = "time-off",
    params(("agentId" = uuid::Uuid, Path, description = "Agent id")),
    responses((status = 200, description = "The agent's balances, by code", body = Vec<Balance>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn balances(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent): Path<String>,
) -> Result<Json<Vec<Balance>>, ApiError> {
    let agent: AgentId = parse_id("agentId", &agent)?;
    Ok(Json(time_off::balances(&state.app, &caller, agent).await?))
}

/// Sets an agent's balance of a code: the value replaces the stored one, so a retry is safe.
#[utoipa::path(put, path = "/api/v2/wfm/agents/{agentId}/time-off-balances/{code}", tag = "time-off",
    request_body = BalanceBody,
    params(("agentId" = uuid::Uuid, Path, description = "Agent id"), ("code" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Time-off code")),
    responses((status = 200, description = "The balance", body = Balance), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn set_balance(
    cmd: Command,
    Path((agent, code)): Path<(String, String)>,
    ApiJson(body): ApiJson<BalanceBody>,
) -> Result<Response, ApiError> {
    let agent: AgentId = parse_id("agentId", &agent)?;
    Ok(time_off::set_balance(&cmd, agent, &code, body)
        .await?
        .respond(StatusCode::OK))
}

/// Sets the allowance of each group and day named, and promotes the waitlist of those days in
/// request order where room appeared.
#[utoipa::path(put, path = "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances", tag = "time-off",
    request_body = AllowancesBody,
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The days set, with their use", body = Vec<AllowanceDay>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn set_allowances(
    cmd: Command,
    Path(bu): Path<String>,
    ApiJson(body): ApiJson<AllowancesBody>,
) -> Result<Response, ApiError> {
    let bu: BusinessUnitId = parse_id("businessUnitId", &bu)?;
    Ok(time_off::set_allowances(&cmd, bu, body)
        .await?
        .respond(StatusCode::OK))
}

/// One group's allowance per day: the limit, and the agents approved and waitlisted.
#[utoipa::path(get, path = "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances", tag = "time-off",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), AllowanceQuery),
    responses((status = 200, description = "The days of the range", body = Vec<AllowanceDay>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn allowances(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
    ApiQuery(q): ApiQuery<AllowanceQuery>,
) -> Result<Json<Vec<AllowanceDay>>, ApiError> {
    let bu: BusinessUnitId = parse_id("businessUnitId", &bu)?;
    if q.to < q.from || (q.to - q.from).get_days() > MAX_ALLOWANCE_DAYS {
        return Err(AppError::unprocessable(
            "to",
            format!("`to` must be on or after `from`, at most {MAX_ALLOWANCE_DAYS} days on"),
        )
        .into());
    }
    caller.require(Action::ReviewTimeOff, bu, ("business unit", bu))?;
    Ok(Json(
        state
            .app
            .store()
            .allowances(bu, &q.group, q.from, q.to)
            .await?,
    ))
}
