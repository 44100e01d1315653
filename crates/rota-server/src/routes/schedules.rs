//! Schedules: import, read (with ETag), versions, as-of, publish, and supervisor shift edits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rota_api::paging::Paging;
use rota_api::schedules::{
    AsOfBody, EditBody, FindQuery, ImportBody, Page, ReadQuery, ScheduleBody, VersionBody,
    VersionsBody, VersionsQuery,
};
use rota_api::swaps::SwapResponseBody;
use rota_app::{AppError, schedules};
use rota_core::auth::Action;
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
use rota_core::schedule::Schedule;
use rota_core::store::{ScheduleStore, ShiftFilter};
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find, import))
        .routes(routes!(read))
        .routes(routes!(versions))
        .routes(routes!(as_of))
        .routes(routes!(publish))
        .routes(routes!(edit_shift))
}

/// The strong entity tag of a schedule version.
pub fn etag(id: ScheduleVersionId) -> String {
    format!("\"{id}\"")
}

#[utoipa::path(get, path = "/api/v2/wfm/schedules", tag = "schedules", params(FindQuery),
    responses((status = 200, description = "The schedule of that week, if any", body = Vec<rota_core::schedule::Schedule>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn find(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FindQuery>,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    let bu: BusinessUnitId = parse_id("businessUnitId", &q.business_unit_id)?;
    caller.require(Action::ReadSchedule, bu, ("business unit", bu))?;
    Ok(Json(
        state
            .app
            .store()
            .find_schedule(bu, q.week_date)
            .await?
            .into_iter()
            // Agents see published schedules only.
            .filter(|s| {
                !caller.is_agent() || s.state == rota_core::schedule::ScheduleState::Published
            })
            .collect(),
    ))
}

#[utoipa::path(operation_id = "read_schedule", get, path = "/api/v2/wfm/schedules/{scheduleId}", tag = "schedules",
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), ReadQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier read: 304 if unchanged")),
    responses((status = 200, description = "The schedule with a page of shifts; ETag is the version id", body = rota_api::schedules::ScheduleBody),
        (status = 304, description = "Not modified"), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> Result<Response, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    let agent: Option<AgentId> = q
        .agent_id
        .as_deref()
        .map(|a| parse_id("agentId", a))
        .transpose()?;
    let schedule = state.app.store().schedule(id).await?;
    caller.require(
        Action::ReadSchedule,
        schedule.business_unit_id,
        ("schedule", id),
    )?;
    // Self-service shows an agent their own shifts of published schedules, nothing more.
    let agent = if caller.is_agent() {
        if schedule.state != rota_core::schedule::ScheduleState::Published {
            return Err(AppError::Forbidden("agents see published schedules only".into()).into());
        }
        if agent.is_some_and(|a| Some(a) != caller.0.agent) {
            return Err(AppError::Forbidden("agents see their own shifts only".into()).into());
        }
        caller.0.agent
    } else {
        agent
    };
    let tag = etag(schedule.version_id());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    let shifts = state
        .app
        .store()
        .shifts(
            id,
            ShiftFilter {
                agent,
                ..ShiftFilter::default()
            },
            rota_core::store::PageRequest::new(q.offset, q.limit),
        )
        .await?;
    let body = ScheduleBody {
        schedule_version_id: schedule.version_id().to_string(),
        schedule,
        shifts: page(shifts),
    };
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// Newest first, paged; with `since=<versionId>`, the versions after it with their changes.
#[utoipa::path(get, path = "/api/v2/wfm/schedules/{scheduleId}/versions", tag = "schedules",
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), VersionsQuery),
    responses((status = 200, description = "Versions newest first (paged), or with `since` the versions after it with their changes", body = rota_api::schedules::Page<rota_api::schedules::VersionBody>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<VersionsBody>, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    caller.require(
        Action::ReadHistory,
        state.app.store().schedule(id).await?.business_unit_id,
        ("schedule", id),
    )?;
    if let Some(since) = q.since {
        let since: ScheduleVersionId = parse_id("since", &since)?;
        if since.schedule() != id {
            return Err(
                AppError::unprocessable("since", "the version id names another schedule").into(),
            );
        }
        return Ok(Json(VersionsBody::Changes(
            state
                .app
                .store()
                .changes_since(id, Some(since.version()))
                .await?,
        )));
    }
    let paging = Paging {
        offset: q.offset,
        limit: q.limit,
    };
    let versions = state.app.store().versions(id, (&paging).into()).await?;
    let versions = page(versions);
    Ok(Json(VersionsBody::Page(Page {
        items: versions.items.into_iter().map(VersionBody::from).collect(),
        total: versions.total,
        offset: versions.offset,
        next_offset: versions.next_offset,
    })))
}

#[utoipa::path(get, path = "/api/v2/wfm/schedules/{scheduleId}/versions/{versionId}", tag = "schedules",
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), ("versionId" = rota_core::version::ScheduleVersionId, Path, description = "Schedule version id")),
    responses((status = 200, description = "The shifts as they stood at that version", body = AsOfBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn as_of(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version_id)): Path<(String, String)>,
) -> Result<Json<AsOfBody>, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    caller.require(
        Action::ReadHistory,
        state.app.store().schedule(id).await?.business_unit_id,
        ("schedule", id),
    )?;
    let version: ScheduleVersionId = parse_id("versionId", &version_id)?;
    if version.schedule() != id {
        return Err(
            AppError::NotFound(format!("schedule {id} has no version {version_id}")).into(),
        );
    }
    let shifts = state
        .app
        .store()
        .schedule_as_of(id, version.version())
        .await?;
    Ok(Json(AsOfBody {
        schedule_id: id,
        schedule_version_id: version.to_string(),
        version: version.version(),
        shifts,
    }))
}

#[utoipa::path(post, path = "/api/v2/wfm/schedules/{scheduleId}/publish", tag = "schedules",
    params(("scheduleId" = uuid::Uuid, Path, description = "Schedule id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    responses((status = 200, description = "The published schedule (a version of its own; publishing again changes nothing)", body = rota_core::schedule::Schedule), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn publish(cmd: Command, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id: ScheduleId = parse_id("scheduleId", &id)?;
    Ok(schedules::publish(&cmd, id).await?.respond(StatusCode::OK))
}

/// A supervisor's change to one shift (move, reassign, open), checked against the shift's
/// version and the rules at commit.
#[utoipa::path(post, path = "/api/v2/wfm/shifts/{shiftId}/edits", tag = "schedules",
    params(("shiftId" = uuid::Uuid, Path, description = "Shift id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    request_body = EditBody,
    responses((status = 200, description = "The edit applied as a new version", body = rota_api::swaps::SwapResponseBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn edit_shift(
    cmd: Command,
    Path(shift_id): Path<String>,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Response, ApiError> {
    let shift_id: ShiftId = parse_id("shiftId", &shift_id)?;
    let done = schedules::edit_shift(&cmd, shift_id, body).await?;
    Ok(held_or_applied(done))
}

/// Imports a week's shifts as version 1 of a new schedule.
#[utoipa::path(operation_id = "import_schedule", post, path = "/api/v2/wfm/schedules", tag = "schedules",
    params(("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    request_body = ImportBody,
    responses((status = 201, description = "The imported week as version 1", body = rota_core::schedule::Schedule), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn import(cmd: Command, ApiJson(body): ApiJson<ImportBody>) -> Result<Response, ApiError> {
    Ok(schedules::import(&cmd, body)
        .await?
        .respond(StatusCode::CREATED))
}

/// A single change's answer: 202 when the coverage guard held it for a supervisor, 200 when it
/// applied; a replay answers as the first time did.
pub(crate) fn held_or_applied(done: rota_app::Outcome<rota_core::command::SwapResult>) -> Response {
    let done = done.map(SwapResponseBody::from);
    let status = if done.value.is_held() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    done.respond(status)
}
