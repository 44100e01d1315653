//! `POST /api/v2/wfm/schedules/shift-swaps`: the bulk swap.

use axum::Json;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use rota_api::swaps::{SwapRequestBody, SwapResponseBody};
use rota_app::{AppError, swaps};
use rota_core::command::{ItemOutcome, SwapMode, SwapResult};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::command::Command;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::idempotency;
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(shift_swaps))
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
    headers: HeaderMap,
    ApiJson(body): ApiJson<SwapRequestBody>,
) -> Result<Response, ApiError> {
    let mode = body.mode.unwrap_or_default();
    let condition = match headers.get(header::IF_MATCH) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| AppError::validation("If-Match", "not a version id"))?,
        ),
        None => None,
    };
    let done = swaps::apply(&cmd, body, condition).await?;
    if !done.replayed {
        crate::telemetry::swap_outcomes(&done.value.outcomes);
    }
    let mut response = respond(mode, condition.is_some(), done.value)
        .map_err(ApiError::from)
        .into_response();
    idempotency::mark_replayed(&mut response, done.replayed);
    Ok(response)
}

/// The HTTP answer to a swap result: a pure function of the result and the request's mode
/// and strictness, so a replayed result answers exactly as the first time.
fn respond(
    mode: SwapMode,
    strict: bool,
    result: SwapResult,
) -> Result<Json<SwapResponseBody>, AppError> {
    let body = SwapResponseBody::from(result);
    let total = body.results.len();
    let count =
        |pred: fn(&ItemOutcome) -> bool| body.results.iter().filter(|i| pred(&i.outcome)).count();
    let conflicts = count(|o| matches!(o, ItemOutcome::Conflict { .. }));
    let rejected = count(|o| matches!(o, ItemOutcome::Rejected { .. }));
    if strict && conflicts > 0 {
        return Err(AppError::PreconditionFailed(format!(
            "the schedule is at version {}, not the one If-Match names",
            body.schedule_version_id
        )));
    }
    if mode == SwapMode::Atomic && conflicts > 0 {
        return Err(AppError::Conflict {
            detail: format!(
                "{conflicts} of {total} swaps touch shifts that changed after the base version; nothing was applied"
            ),
            current_version_id: body.schedule_version_id,
            items: body.results,
        });
    }
    if mode == SwapMode::Atomic && rejected > 0 {
        return Err(AppError::RuleViolation {
            detail: format!("{rejected} of {total} swaps break rules; nothing was applied"),
            items: body.results,
        });
    }
    Ok(Json(body))
}
