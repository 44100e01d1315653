//! Time off: agents request and cancel their own; supervisors request for their business unit's
//! agents, decide, set allowances; supervisors and integrations set balances.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rota_api::schedules::Page;
use rota_api::timeoff::{
    AllowanceQuery, AllowancesBody, BalanceBody, NewTimeOffBody, TimeOffCancelBody,
    TimeOffDecisionBody, TimeOffQuery,
};
use rota_core::auth::Action;
use rota_core::ids::{AgentId, BusinessUnitId, TimeOffId};
use rota_core::schedule::ActivityCode;
use rota_core::store::{DirectoryStore, PageRequest, TimeOffFilter, TimeOffStore};
use rota_core::timeoff::{AllowanceDay, Balance, NewTimeOff, TimeOffRequest, TimeOffReview};

use super::{page, parse_id};
use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Outcome;
use crate::startup::AppState;

/// The most days one allowance request may set.
const MAX_ALLOWANCES: usize = 400;
/// The most days one allowance read may span.
const MAX_ALLOWANCE_DAYS: i32 = 366;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/wfm/time-off-requests", post(create).get(list))
        .route("/api/v2/wfm/time-off-requests/{timeOffId}", get(read))
        .route(
            "/api/v2/wfm/time-off-requests/{timeOffId}/decision",
            post(decide),
        )
        .route(
            "/api/v2/wfm/time-off-requests/{timeOffId}/cancel",
            post(cancel),
        )
        .route(
            "/api/v2/wfm/agents/{agentId}/time-off-balances",
            get(balances),
        )
        .route(
            "/api/v2/wfm/agents/{agentId}/time-off-balances/{code}",
            put(set_balance),
        )
        .route(
            "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances",
            put(set_allowances).get(allowances),
        )
}

/// The request, 404 unless the caller may see it (an agent's own; a supervisor's unit's).
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<TimeOffRequest, ApiError> {
    let id: TimeOffId = parse_id("timeOffId", id)?;
    let req = state.store.time_off(id).await?;
    if !caller
        .0
        .may(Action::TimeOff(req.agent_id), req.business_unit_id)
    {
        return Err(ApiError::NotFound(format!(
            "time-off request {id} does not exist"
        )));
    }
    Ok(req)
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
    Ok(run_request(&cmd, body).await?.respond(StatusCode::CREATED))
}

/// A request for time off: what the API and the portal both run.
pub(crate) async fn run_request(
    cmd: &Command,
    body: NewTimeOffBody,
) -> Result<Outcome<TimeOffRequest>, ApiError> {
    let agent_id = match (body.agent_id, cmd.caller.0.agent) {
        (Some(a), _) => a,
        (None, Some(me)) => me,
        (None, None) => {
            return Err(ApiError::unprocessable(
                "agentId",
                "name the agent the request is for",
            ));
        }
    };
    let span = body
        .span()
        .map_err(|m| ApiError::unprocessable("days", m))?;
    let code =
        ActivityCode::parse(&body.code).map_err(|e| ApiError::validation("code", e.to_string()))?;
    let store = cmd.state.store.clone();
    let agent = store.agent(agent_id).await?;
    cmd.caller
        .require(Action::TimeOff(agent.id), agent.business_unit_id)?;
    let new = NewTimeOff {
        agent_id: agent.id,
        code,
        span,
        note: body.note.clone(),
    };
    cmd.once(&body, true, |ctx| async move {
        store.request_time_off(&new, &ctx).await
    })
    .await
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
            let found = state.store.agent(agent).await?;
            caller.require(Action::TimeOff(agent), found.business_unit_id)?;
            TimeOffFilter {
                business_unit: Some(found.business_unit_id),
                agent: Some(agent),
                state: q.state,
            }
        }
        (None, Some(bu)) => {
            caller.require(Action::ReviewTimeOff, bu)?;
            TimeOffFilter {
                business_unit: Some(bu),
                agent: None,
                state: q.state,
            }
        }
        (None, None) => {
            return Err(ApiError::unprocessable(
                "businessUnitId",
                "name an agent (agentId) or a business unit (businessUnitId)",
            ));
        }
    };
    let found = state
        .store
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
    Ok(Json(visible(&state, &caller, &id).await?))
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
    Ok(run_decide(&cmd, &id, body).await?.respond(StatusCode::OK))
}

/// A supervisor's decision: what the API and the portal both run.
pub(crate) async fn run_decide(
    cmd: &Command,
    id: &str,
    body: TimeOffDecisionBody,
) -> Result<Outcome<TimeOffRequest>, ApiError> {
    let req = visible(&cmd.state, &cmd.caller, id).await?;
    cmd.caller
        .require(Action::ReviewTimeOff, req.business_unit_id)?;
    let review = TimeOffReview {
        id: req.id,
        expected_version: body.expected_version,
        approve: body.approve,
        override_rules: body.override_rules,
        reason: body.reason.clone(),
    };
    let store = cmd.state.store.clone();
    cmd.once(&body, true, |ctx| async move {
        store.decide_time_off(&review, &ctx).await
    })
    .await
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
    Ok(run_cancel(&cmd, &id, body).await?.respond(StatusCode::OK))
}

/// A cancellation: what the API and the portal both run.
pub(crate) async fn run_cancel(
    cmd: &Command,
    id: &str,
    body: TimeOffCancelBody,
) -> Result<Outcome<TimeOffRequest>, ApiError> {
    let req = visible(&cmd.state, &cmd.caller, id).await?;
    let enforce_cutoff = cmd.caller.is_agent();
    let store = cmd.state.store.clone();
    let expected = body.expected_version;
    cmd.once(&body, true, |ctx| async move {
        store
            .cancel_time_off(req.id, expected, enforce_cutoff, &ctx)
            .await
    })
    .await
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
    let found = state.store.agent(agent).await?;
    if !caller.0.may(Action::TimeOff(agent), found.business_unit_id)
        && !caller.0.may(Action::SetBalances, found.business_unit_id)
    {
        return Err(ApiError::NotFound(format!("agent {agent} does not exist")));
    }
    Ok(Json(state.store.balances(agent).await?))
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
    let code =
        ActivityCode::parse(&code).map_err(|e| ApiError::validation("code", e.to_string()))?;
    if body.minutes.abs() > 10_000_000 {
        return Err(ApiError::validation(
            "minutes",
            "a balance is at most 10,000,000 minutes either way",
        ));
    }
    let store = cmd.state.store.clone();
    let found = store.agent(agent).await?;
    cmd.caller
        .require(Action::SetBalances, found.business_unit_id)?;
    let minutes = body.minutes;
    let done = cmd
        .once(&body, false, |_| async move {
            store.set_balance(agent, &code, minutes).await
        })
        .await?;
    Ok(done.respond(StatusCode::OK))
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
    if body.allowances.is_empty() {
        return Err(ApiError::validation(
            "allowances",
            "at least one allowance is required",
        ));
    }
    crate::error::bounded("allowances", body.allowances.len(), MAX_ALLOWANCES)?;
    cmd.caller.require(Action::ReviewTimeOff, bu)?;
    let store = cmd.state.store.clone();
    let allowances = body.allowances.clone();
    let done = cmd
        .once(&body, false, |ctx| async move {
            store.set_allowances(bu, &allowances, &ctx).await
        })
        .await?;
    Ok(done.respond(StatusCode::OK))
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
        return Err(ApiError::unprocessable(
            "to",
            format!("`to` must be on or after `from`, at most {MAX_ALLOWANCE_DAYS} days on"),
        ));
    }
    caller.require(Action::ReviewTimeOff, bu)?;
    Ok(Json(
        state.store.allowances(bu, &q.group, q.from, q.to).await?,
    ))
}
