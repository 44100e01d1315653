//! `POST /api/v2/wfm/schedules/shift-swaps`: the bulk swap.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rota_api::swaps::{SwapBodyError, SwapRequestBody, SwapResponseBody};
use rota_core::command::{ConflictScope, ItemOutcome, SwapMode, SwapResult};
use rota_core::store::ScheduleStore;
use rota_core::version::ScheduleVersionId;

use crate::command::Command;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::idempotency;
use crate::startup::AppState;
use rota_core::auth::Action;

const PATH: &str = "/api/v2/wfm/schedules/shift-swaps";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(shift_swaps))
}

/// The version an `If-Match` header names, if any (`"<versionId>"`, quotes optional).
fn if_match(headers: &HeaderMap) -> Result<Option<ScheduleVersionId>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::validation("If-Match", "not a version id"))?
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    raw.parse().map(Some).map_err(|_| {
        ApiError::PreconditionFailed(format!(
            "If-Match `{raw}` names no version of this schedule"
        ))
    })
}

/// Applies the swaps in one transaction. Atomic requests answer 409 if any item conflicts and
/// 422 if items only break rules; partial requests answer 200 with every item's outcome.
/// `If-Match` asks for the strict whole-schedule check: 412 if the schedule is not at that
/// version when the request commits.
#[utoipa::path(
    post,
    path = "/api/v2/wfm/schedules/shift-swaps",
    tag = "swaps",
    request_body = rota_api::swaps::SwapRequestBody,
    params(
        ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Makes retries safe: the same key with the same body replays the first result"),
        ("If-Match" = Option<String>, Header, pattern = "^\"?[A-Za-z0-9_-]{32}\"?$", description = "Strict whole-schedule check: 412 unless the schedule is at this version"),
        ("X-Request-Id" = Option<String>, Header, description = "Request id (also accepted as X-Genesys-Request-Id or ININ-Correlation-Id)"),
    ),
    responses(
        (status = 200, description = "Per-item results and the schedule's version after the request", body = rota_api::swaps::SwapResponseBody), crate::openapi::Problems
    ),
    security(("bearer" = []))
)]
async fn shift_swaps(
    cmd: Command,
    ApiJson(body): ApiJson<SwapRequestBody>,
) -> Result<Response, ApiError> {
    let state = &cmd.state;
    let mut req = body
        .clone()
        .into_request(state.config.max_swap_items)
        .map_err(|e| match e {
            SwapBodyError::TooManyItems { max, got } => ApiError::TooManyItems {
                field: "shiftSwaps".into(),
                max,
                got,
            },
            SwapBodyError::Fields(errors) => ApiError::Validation {
                detail: errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors,
            },
        })?;
    cmd.caller.require(
        Action::BulkSwap,
        state
            .store
            .schedule(req.base.schedule())
            .await?
            .business_unit_id,
    )?;
    let strict = if_match(cmd.headers())?;
    if let Some(expected) = strict {
        if expected.schedule() != req.base.schedule() {
            return Err(ApiError::PreconditionFailed(
                "If-Match names another schedule than scheduleVersionId".into(),
            ));
        }
        req.base = expected;
        req.scope = ConflictScope::Schedule;
    }
    let store = state.store.clone();
    let mode = req.mode;
    let done = cmd
        .once_varying(&body, &[header::IF_MATCH], true, |ctx| async move {
            store.apply_swaps(&req, &ctx).await
        })
        .await?;
    if !done.replayed {
        crate::telemetry::swap_outcomes(&done.value.outcomes);
    }
    let mut response = respond(mode, strict.is_some(), done.value).into_response();
    idempotency::mark_replayed(&mut response, done.replayed);
    Ok(response)
}

/// The HTTP answer to a swap result: a pure function of the result and the request's mode
/// and strictness, so a replayed result answers exactly as the first time.
fn respond(
    mode: SwapMode,
    strict: bool,
    result: SwapResult,
) -> Result<Json<SwapResponseBody>, ApiError> {
    let body = SwapResponseBody::from(result);
    let total = body.results.len();
    let count =
        |pred: fn(&ItemOutcome) -> bool| body.results.iter().filter(|i| pred(&i.outcome)).count();
    let conflicts = count(|o| matches!(o, ItemOutcome::Conflict { .. }));
    let rejected = count(|o| matches!(o, ItemOutcome::Rejected { .. }));
    if strict && conflicts > 0 {
        return Err(ApiError::PreconditionFailed(format!(
            "the schedule is at version {}, not the one If-Match names",
            body.schedule_version_id
        )));
    }
    if mode == SwapMode::Atomic && conflicts > 0 {
        return Err(ApiError::Conflict {
            detail: format!(
                "{conflicts} of {total} swaps touch shifts that changed after the base version; nothing was applied"
            ),
            current_version_id: body.schedule_version_id,
            items: body.results,
        });
    }
    if mode == SwapMode::Atomic && rejected > 0 {
        return Err(ApiError::RuleViolation {
            detail: format!("{rejected} of {total} swaps break rules; nothing was applied"),
            items: body.results,
        });
    }
    Ok(Json(body))
}
