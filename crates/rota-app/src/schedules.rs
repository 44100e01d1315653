//! Schedules: import a week, publish it, a supervisor's edit of one shift.

use rota_api::schedules::{EditBody, ImportBody};
use rota_core::auth::Action;
use rota_core::command::{EditChange, ShiftEdit, SwapResult};
use rota_core::directory::Skill;
use rota_core::ids::{BusinessUnitId, ScheduleId, ShiftId};
use rota_core::schedule::{ActivityCode, NewSchedule, NewShift, Schedule, TimeWindow};
use rota_core::store::ScheduleStore;
use rota_core::version::ScheduleVersion;

use crate::command::Command;
use crate::error::{AppError, AppResult, bounded, parse_id};
use crate::idempotency::{Outcome, Recording};

/// The most shifts one imported week may hold (10,000 agents, a shift a day each, and more).
const MAX_IMPORT_SHIFTS: usize = 200_000;

/// Publishing (a version of its own; publishing again changes nothing).
pub async fn publish(cmd: &Command, id: ScheduleId) -> AppResult<Outcome<Schedule>> {
    let store = cmd.app.store().clone();
    cmd.caller.require(
        Action::Publish,
        store.schedule(id).await?.business_unit_id,
        ("schedule", id),
    )?;
    cmd.once(&(), Recording::InTransaction, |ctx| async move {
        store.publish(id, &ctx).await
    })
    .await
}

/// A supervisor's change to one shift (move, reassign, open), checked against the shift's
/// version and the rules at commit.
pub async fn edit_shift(
    cmd: &Command,
    shift_id: ShiftId,
    body: EditBody,
) -> AppResult<Outcome<SwapResult>> {
    let store = cmd.app.store().clone();
    let shift = store.shift(shift_id).await?;
    let bu = store.schedule(shift.schedule_id).await?.business_unit_id;
    cmd.caller
        .require(Action::EditShift, bu, ("shift", shift_id))?;
    let expected_version = ScheduleVersion::new(body.expected_version)
        .map_err(|e| AppError::validation("expectedVersion", e.to_string()))?;
    let change = EditChange::try_from(body.change)
        .map_err(|e| AppError::unprocessable("change.window", e.to_string()))?;
    let edit = ShiftEdit {
        shift_id,
        expected_version,
        change,
    };
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.edit_shift(&edit, &ctx).await
    })
    .await
}

/// Imports a week's shifts as version 1 of a new schedule.
pub async fn import(cmd: &Command, body: ImportBody) -> AppResult<Outcome<Schedule>> {
    let business_unit_id: BusinessUnitId = parse_id("businessUnitId", &body.business_unit_id)?;
    cmd.caller.require(
        Action::Import,
        business_unit_id,
        ("business unit", business_unit_id),
    )?;
    bounded("shifts", body.shifts.len(), MAX_IMPORT_SHIFTS)?;
    let mut shifts = Vec::with_capacity(body.shifts.len());
    for (i, s) in body.shifts.iter().enumerate() {
        let at = |f: &str| format!("shifts[{i}].{f}");
        let shift = NewShift::new(
            s.id.as_deref()
                .map(|v| parse_id(&at("id"), v))
                .transpose()?
                .unwrap_or_default(),
            s.agent_id
                .as_deref()
                .map(|v| parse_id(&at("agentId"), v))
                .transpose()?,
            TimeWindow::new(s.start, s.end)
                .map_err(|e| AppError::unprocessable(&at("end"), e.to_string()))?,
            s.required_skill
                .as_deref()
                .map(Skill::parse)
                .transpose()
                .map_err(|e| AppError::validation(&at("requiredSkill"), e.to_string()))?,
            ActivityCode::parse(&s.activity_code)
                .map_err(|e| AppError::validation(&at("activityCode"), e.to_string()))?,
            s.activities.clone(),
        )
        .map_err(|e| AppError::unprocessable(&at("activities"), e.to_string()))?;
        shifts.push(shift);
    }
    let new = NewSchedule {
        id: ScheduleId::new(),
        business_unit_id,
        week_start: body.week_start,
        shifts,
    };
    let store = cmd.app.store().clone();
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.import_schedule(&new, &ctx).await
    })
    .await
}
