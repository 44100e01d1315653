//! Staffing requirements, and the decisions on changes the coverage guard held.

use rota_api::coverage::{HeldDecisionBody, RequirementsBody};
use rota_core::auth::Action;
use rota_core::held::HeldChange;
use rota_core::ids::{HeldChangeId, ScheduleId};
use rota_core::schedule::Schedule;
use rota_core::store::{CoverageStore, HeldDecision, ScheduleStore};

use crate::command::Command;
use crate::error::{AppError, AppResult, bounded};
use crate::idempotency::{Outcome, Recording};

/// Requirement runs one request may set: a week of every interval for 100 skills, in runs as
/// short as one interval.
const MAX_RUNS: usize = 100_000;

/// Sets the staffing requirement of the intervals the runs name, as one version of the
/// schedule (cause `requirements`): in the history and as of any version like a shift change.
pub async fn set_requirements(
    cmd: &Command,
    id: ScheduleId,
    body: RequirementsBody,
) -> AppResult<Outcome<Schedule>> {
    bounded("requirements", body.requirements.len(), MAX_RUNS)?;
    if body.requirements.is_empty() {
        return Err(AppError::validation(
            "requirements",
            "at least one requirement run is required",
        ));
    }
    let store = cmd.app.store().clone();
    let schedule = store.schedule(id).await?;
    cmd.caller.require(
        Action::SetRequirements,
        schedule.business_unit_id,
        ("schedule", id),
    )?;
    let runs = body.requirements.clone();
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.set_requirements(id, &runs, &ctx).await
    })
    .await
}

/// Approves (applying the change if no shift it touches changed since it was held, every rule
/// but the guard checked now) or denies a held change.
pub async fn decide_held(
    cmd: &Command,
    id: HeldChangeId,
    body: HeldDecisionBody,
) -> AppResult<Outcome<HeldChange>> {
    let store = cmd.app.store().clone();
    let held = store.held_change(id).await?;
    cmd.caller.require(
        Action::ReviewHeld,
        held.business_unit_id,
        ("held change", id),
    )?;
    let decision = HeldDecision {
        id,
        expected_version: body.expected_version,
        approve: body.approve,
        reason: body.reason.clone(),
    };
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.decide_held(&decision, &ctx).await
    })
    .await
}
