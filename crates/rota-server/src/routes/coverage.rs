//! Staffing requirements, coverage, and the changes the coverage guard held for a supervisor.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rota_api::coverage::{
    CoverageBody, CoverageQuery, HeldDecisionBody, HeldQuery, RequirementsBody,
};
use rota_api::schedules::Page;
use rota_core::auth::Action;
use rota_core::held::HeldChange;
use rota_core::ids::{BusinessUnitId, HeldChangeId, ScheduleId};
use rota_core::schedule::ScheduleState;
use rota_core::store::{CoverageStore, HeldFilter, PageRequest, ScheduleStore};
use rota_core::version::ScheduleVersionId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{page, parse_id};
use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Respond;
use crate::startup::AppState;
use rota_app::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_requirements))
        .routes(routes!(coverage))
        .routes(routes!(list_held))
        .routes(routes!(read_held))
        .routes(routes!(decide_held))
}

/// Sets the staffing requirement of the intervals the runs name, as one version of the
/// schedule (cause `requirements`): in the history and as of any version like a shift change.
#[utoipa::path(put, path = "/api/v2/wfm/schedules/{scheduleId}/requirements", tag = "coverage",
    request_body = RequirementsBody,
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The schedule at the version that set the requirement (unchanged if nothing changed)", body = rota_core::schedule::Schedule), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn set_requirements(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RequirementsBody>,
) -> Result<Response, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    Ok(rota_app::coverage::set_requirements(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
}

/// Required against scheduled on-queue time per skill and 15-minute interval, as maintained by
/// every commit; with `versionId`, as of that version.
#[utoipa::path(get, path = "/api/v2/wfm/schedules/{scheduleId}/coverage", tag = "coverage",
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), CoverageQuery),
    responses((status = 200, description = "Coverage per skill and interval", body = CoverageBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn coverage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CoverageQuery>,
) -> Result<Json<CoverageBody>, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    let skill = q
        .skill
        .as_deref()
        .map(rota_core::directory::Skill::parse)
        .transpose()
        .map_err(|e| AppError::validation("skill", e.to_string()))?;
    let version = q
        .version_id
        .as_deref()
        .map(|v| parse_id::<ScheduleVersionId>("versionId", v))
        .transpose()?;
    if let Some(v) = version
        && v.schedule() != id
    {
        return Err(AppError::unprocessable(
            "versionId",
            format!("version {v} is not a version of schedule {id}"),
        )
        .into());
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to <= from
    {
        return Err(AppError::unprocessable("to", "`to` must be after `from`").into());
    }
    let schedule = state.app.store().schedule(id).await?;
    caller.require(
        Action::ReadSchedule,
        schedule.business_unit_id,
        ("schedule", id),
    )?;
    if caller.is_agent() && schedule.state != ScheduleState::Published {
        return Err(AppError::Forbidden("agents see published schedules only".into()).into());
    }
    let report = state
        .app
        .store()
        .coverage(id, version.map(|v| v.version()))
        .await?;
    Ok(Json(CoverageBody::new(
        &report,
        skill.as_ref(),
        q.from,
        q.to,
    )))
}

/// The changes the coverage guard held in a business unit, oldest first.
#[utoipa::path(get, path = "/api/v2/wfm/business-units/{businessUnitId}/held-changes", tag = "coverage",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), HeldQuery),
    responses((status = 200, description = "Held changes, oldest first", body = Page<HeldChange>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list_held(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
    ApiQuery(q): ApiQuery<HeldQuery>,
) -> Result<Json<Page<HeldChange>>, ApiError> {
    let bu: BusinessUnitId = parse_id("businessUnitId", &bu)?;
    caller.require(Action::ReviewHeld, bu, ("business unit", bu))?;
    let found = state
        .app
        .store()
        .held_changes(
            HeldFilter {
                business_unit: Some(bu),
                state: q.state,
            },
            PageRequest::new(q.offset, q.limit),
        )
        .await?;
    Ok(Json(page(found)))
}

#[utoipa::path(get, path = "/api/v2/wfm/held-changes/{heldChangeId}", tag = "coverage",
    params(("heldChangeId" = uuid::Uuid, Path, description = "Held change id")),
    responses((status = 200, description = "The held change", body = HeldChange), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read_held(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HeldChange>, ApiError> {
    let held = state
        .app
        .store()
        .held_change(parse_id::<HeldChangeId>("heldChangeId", &id)?)
        .await?;
    caller.require(
        Action::ReviewHeld,
        held.business_unit_id,
        ("held change", held.id),
    )?;
    Ok(Json(held))
}

/// Approves (applying the change if no shift it touches changed since it was held, every rule
/// but the guard checked now) or denies a held change.
#[utoipa::path(post, path = "/api/v2/wfm/held-changes/{heldChangeId}/decision", tag = "coverage",
    request_body = HeldDecisionBody,
    params(("heldChangeId" = uuid::Uuid, Path, description = "Held change id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The held change decided: approved (with the version it created), denied, or failed with the reasons", body = HeldChange), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn decide_held(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HeldDecisionBody>,
) -> Result<Response, ApiError> {
    let id: HeldChangeId = parse_id("heldChangeId", &id)?;
    Ok(rota_app::coverage::decide_held(&cmd, id, body)
        .await?
        .respond(StatusCode::OK))
}
