//! Time off: agents request and cancel their own; supervisors request for their business
//! unit's agents, decide, set allowances; supervisors and integrations set balances.

use rota_api::timeoff::{
    AllowancesBody, BalanceBody, NewTimeOffBody, TimeOffCancelBody, TimeOffDecisionBody,
};
use rota_core::auth::Action;
use rota_core::ids::{AgentId, BusinessUnitId, TimeOffId};
use rota_core::schedule::ActivityCode;
use rota_core::store::{DirectoryStore, TimeOffStore};
use rota_core::timeoff::{AllowanceDay, Balance, NewTimeOff, TimeOffRequest, TimeOffReview};

use crate::App;
use crate::caller::Caller;
use crate::command::Command;
use crate::error::{AppError, AppResult, bounded};
use crate::idempotency::{Outcome, Recording};

/// The most days one allowance request may set.
const MAX_ALLOWANCES: usize = 400;
/// The largest balance either way, in minutes.
const MAX_BALANCE_MINUTES: i64 = 10_000_000;

/// The request, `NOT_FOUND` unless the caller may see it (an agent's own; a supervisor's
/// unit's).
pub async fn visible(app: &App, caller: &Caller, id: TimeOffId) -> AppResult<TimeOffRequest> {
    let req = app.store().time_off(id).await?;
    if !caller
        .0
        .may(Action::TimeOff(req.agent_id), req.business_unit_id)
    {
        return Err(AppError::NotFound(format!(
            "time-off request {id} does not exist"
        )));
    }
    Ok(req)
}

/// A request for time off. The business unit's policy answers at once: approved (the schedule
/// changes in the same transaction), denied, waitlisted or pending for a supervisor.
pub async fn request(cmd: &Command, body: NewTimeOffBody) -> AppResult<Outcome<TimeOffRequest>> {
    let agent_id = match (body.agent_id, cmd.caller.0.agent) {
        (Some(a), _) => a,
        (None, Some(me)) => me,
        (None, None) => {
            return Err(AppError::unprocessable(
                "agentId",
                "name the agent the request is for",
            ));
        }
    };
    let span = body
        .span()
        .map_err(|m| AppError::unprocessable("days", m))?;
    let code =
        ActivityCode::parse(&body.code).map_err(|e| AppError::validation("code", e.to_string()))?;
    let store = cmd.app.store().clone();
    let agent = store.agent(agent_id).await?;
    cmd.caller.require(
        Action::TimeOff(agent.id),
        agent.business_unit_id,
        ("agent", agent.id),
    )?;
    let new = NewTimeOff {
        agent_id: agent.id,
        code,
        span,
        note: body.note.clone(),
    };
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.request_time_off(&new, &ctx).await
    })
    .await
}

/// A supervisor's decision on a pending or waitlisted request (with `override`, approved even
/// though balance, allowance or coverage fail, recorded in the decision).
pub async fn decide(
    cmd: &Command,
    id: TimeOffId,
    body: TimeOffDecisionBody,
) -> AppResult<Outcome<TimeOffRequest>> {
    let req = visible(&cmd.app, &cmd.caller, id).await?;
    cmd.caller.require(
        Action::ReviewTimeOff,
        req.business_unit_id,
        ("time-off request", req.id),
    )?;
    let review = TimeOffReview {
        id: req.id,
        expected_version: body.expected_version,
        approve: body.approve,
        override_rules: body.override_rules,
        reason: body.reason.clone(),
    };
    let store = cmd.app.store().clone();
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.decide_time_off(&review, &ctx).await
    })
    .await
}

/// A cancellation: pending or waitlisted at any time; approved until the business unit's
/// cutoff for agents (supervisors at any time).
pub async fn cancel(
    cmd: &Command,
    id: TimeOffId,
    body: TimeOffCancelBody,
) -> AppResult<Outcome<TimeOffRequest>> {
    let req = visible(&cmd.app, &cmd.caller, id).await?;
    let enforce_cutoff = cmd.caller.is_agent();
    let store = cmd.app.store().clone();
    let expected = body.expected_version;
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store
            .cancel_time_off(req.id, expected, enforce_cutoff, &ctx)
            .await
    })
    .await
}

/// An agent's balances, for the agent, their supervisors and the integrations that set them.
pub async fn balances(app: &App, caller: &Caller, agent: AgentId) -> AppResult<Vec<Balance>> {
    let found = app.store().agent(agent).await?;
    if !caller.0.may(Action::TimeOff(agent), found.business_unit_id)
        && !caller.0.may(Action::SetBalances, found.business_unit_id)
    {
        return Err(AppError::NotFound(format!("agent {agent} does not exist")));
    }
    Ok(app.store().balances(agent).await?)
}

/// Sets an agent's balance of a code: the value replaces the stored one, so a retry is safe.
pub async fn set_balance(
    cmd: &Command,
    agent: AgentId,
    code: &str,
    body: BalanceBody,
) -> AppResult<Outcome<Balance>> {
    let code =
        ActivityCode::parse(code).map_err(|e| AppError::validation("code", e.to_string()))?;
    if body.minutes.abs() > MAX_BALANCE_MINUTES {
        return Err(AppError::validation(
            "minutes",
            "a balance is at most 10,000,000 minutes either way",
        ));
    }
    let store = cmd.app.store().clone();
    let found = store.agent(agent).await?;
    cmd.caller.require(
        Action::SetBalances,
        found.business_unit_id,
        ("agent", found.id),
    )?;
    let minutes = body.minutes;
    cmd.once(&body, Recording::Claimed, |_| async move {
        store.set_balance(agent, &code, minutes).await
    })
    .await
}

/// Sets the allowance of each group and day named, and promotes the waitlist of those days in
/// request order where room appeared.
pub async fn set_allowances(
    cmd: &Command,
    bu: BusinessUnitId,
    body: AllowancesBody,
) -> AppResult<Outcome<Vec<AllowanceDay>>> {
    if body.allowances.is_empty() {
        return Err(AppError::validation(
            "allowances",
            "at least one allowance is required",
        ));
    }
    bounded("allowances", body.allowances.len(), MAX_ALLOWANCES)?;
    cmd.caller
        .require(Action::ReviewTimeOff, bu, ("business unit", bu))?;
    let store = cmd.app.store().clone();
    let allowances = body.allowances.clone();
    cmd.once(&body, Recording::Claimed, |ctx| async move {
        store.set_allowances(bu, &allowances, &ctx).await
    })
    .await
}
