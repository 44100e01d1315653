//! `POST /api/v2/wfm/schedules/shift-swaps`: the bulk swap.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use axum::{Json, Router};
use rota_api::swaps::{ItemResult, SwapBodyError, SwapRequestBody, SwapResponseBody};
use rota_core::command::{ConflictScope, ItemOutcome, SwapMode};
use rota_core::store::ScheduleStore;
use rota_core::version::ScheduleVersionId;

use super::schedules::context;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::request_id::RequestId;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v2/wfm/schedules/shift-swaps", post(shift_swaps))
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
async fn shift_swaps(
    State(state): State<AppState>,
    request_id: RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SwapRequestBody>,
) -> Result<Json<SwapResponseBody>, ApiError> {
    let mut req = body
        .into_request(state.config.max_swap_items)
        .map_err(|e| match e {
            SwapBodyError::TooManyItems { max, got } => ApiError::TooManyItems { max, got },
            SwapBodyError::Fields(errors) => ApiError::Validation {
                detail: errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors,
            },
        })?;
    let strict = if_match(&headers)?;
    if let Some(expected) = strict {
        if expected.schedule() != req.base.schedule() {
            return Err(ApiError::PreconditionFailed(
                "If-Match names another schedule than scheduleVersionId".into(),
            ));
        }
        req.base = expected;
        req.scope = ConflictScope::Schedule;
    }
    let result = state
        .store
        .apply_swaps(&req, &context(&state, &request_id))
        .await?;
    let current = result.current_version_id.to_string();
    let items: Vec<ItemResult> = result
        .outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| ItemResult { index, outcome })
        .collect();
    let conflicts = items
        .iter()
        .filter(|i| matches!(i.outcome, ItemOutcome::Conflict { .. }))
        .count();
    let rejected = items
        .iter()
        .filter(|i| matches!(i.outcome, ItemOutcome::Rejected { .. }))
        .count();
    if strict.is_some() && conflicts > 0 {
        return Err(ApiError::PreconditionFailed(format!(
            "the schedule is at version {current}, not the one If-Match names"
        )));
    }
    if req.mode == SwapMode::Atomic && conflicts > 0 {
        return Err(ApiError::Conflict {
            detail: format!(
                "{conflicts} of {} swaps touch shifts that changed after the base version; nothing was applied",
                items.len()
            ),
            current_version_id: current,
            items,
        });
    }
    if req.mode == SwapMode::Atomic && rejected > 0 {
        return Err(ApiError::RuleViolation {
            detail: format!(
                "{rejected} of {} swaps break rules; nothing was applied",
                items.len()
            ),
            items,
        });
    }
    Ok(Json(SwapResponseBody {
        schedule_version_id: current,
        committed_version: result.committed.map(|c| c.version.get()),
        results: items,
    }))
}
