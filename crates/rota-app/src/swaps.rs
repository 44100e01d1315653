//! The bulk swap.

use rota_api::swaps::{SwapBodyError, SwapRequestBody};
use rota_core::auth::Action;
use rota_core::command::{ConflictScope, SwapResult};
use rota_core::store::ScheduleStore;
use rota_core::version::ScheduleVersionId;

use crate::command::Command;
use crate::error::{AppError, AppResult};
use crate::idempotency::{Outcome, Recording};

/// The version a condition (`If-Match: "<versionId>"`, quotes and `W/` optional) names.
fn condition_version(raw: &str) -> AppResult<ScheduleVersionId> {
    let raw = raw.trim().trim_start_matches("W/").trim_matches('"');
    raw.parse().map_err(|_| {
        AppError::PreconditionFailed(format!(
            "If-Match `{raw}` names no version of this schedule"
        ))
    })
}

/// Applies the swaps in one transaction. `condition`: the version a conditional request names
/// as it was sent, for the strict whole-schedule check (every item conflicts unless the
/// schedule is at that version when the request commits); the same key with another condition
/// is another request.
pub async fn apply(
    cmd: &Command,
    body: SwapRequestBody,
    condition: Option<&str>,
) -> AppResult<Outcome<SwapResult>> {
    let mut req = body
        .clone()
        .into_request(cmd.app.settings().max_swap_items)
        .map_err(|e| match e {
            SwapBodyError::TooManyItems { max, got } => AppError::TooManyItems {
                field: "shiftSwaps".into(),
                max,
                got,
            },
            SwapBodyError::Fields(errors) => AppError::Validation {
                detail: errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors,
            },
        })?;
    let store = cmd.app.store().clone();
    cmd.caller.require(
        Action::BulkSwap,
        store.schedule(req.base.schedule()).await?.business_unit_id,
        ("schedule", req.base.schedule()),
    )?;
    if let Some(expected) = condition.map(condition_version).transpose()? {
        if expected.schedule() != req.base.schedule() {
            return Err(AppError::PreconditionFailed(
                "If-Match names another schedule than scheduleVersionId".into(),
            ));
        }
        req.base = expected;
        req.scope = ConflictScope::Schedule;
    }
    cmd.once_varying(
        &body,
        &[condition],
        Recording::InTransaction,
        |ctx| async move { store.apply_swaps(&req, &ctx).await },
    )
    .await
}
