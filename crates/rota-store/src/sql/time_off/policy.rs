//! Answering a request by the business unit's policy, applying an approval, and promoting
//! the waitlist when room appears.

use super::*;

/// Applies an approval: the schedule versions, the deduction, the agent's time off.
pub(super) async fn apply(
    w: &mut Tx,
    req: &mut TimeOffRequest,
    check: Check,
    ctx: &CommitContext,
) -> StoreResult<()> {
    for (schedule, plan) in &check.plans {
        if let Some(commit) = Commit::of_plan(schedule, VersionCause::TimeOff, ctx, &plan.plan) {
            write_commit(w, schedule, &commit, no_events).await?;
            req.versions
                .push(ScheduleVersionId::new(schedule.id, commit.record.version));
        }
    }
    if check.deduction != 0 {
        add_balance(w, req.agent_id, &req.code, -check.deduction).await?;
    }
    req.deducted_minutes = check.deduction;
    let keep_after = ctx.now - jiff::SignedDuration::from_hours(24 * 7);
    update_agent(w, req.agent_id, |agent| {
        agent.time_off.retain(|t| t.end > keep_after);
        agent.time_off.push(TimeOffWindow {
            request_id: req.id,
            start: req.start,
            end: req.end,
        });
    })
    .await
}

/// Changes the agent's time off, stamped with the next agent revision so that write caches
/// re-read the agent.
pub(super) async fn update_agent(
    w: &mut Tx,
    id: AgentId,
    change: impl FnOnce(&mut Agent),
) -> StoreResult<()> {
    let mut agent = agents_by_ids(&mut w.tx, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("agent", id))?;
    change(&mut agent);
    let revision: i64 = sqlx::query_scalar(
        "UPDATE agent_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
    )
    .fetch_one(&mut *w.tx)
    .await
    .map_err(db_error)?;
    sqlx::query("UPDATE agents SET time_off = $1, revision = $2 WHERE id = $3")
        .bind(rows::time_off_json(&agent.time_off))
        .bind(revision)
        .bind(id.as_uuid())
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Answers `req` (pending or waitlisted) by the business unit's policy: approves, denies,
/// waitlists or leaves it to a supervisor.
pub(super) async fn answer_by_policy(
    w: &mut Tx,
    req: &mut TimeOffRequest,
    zone: &Zone,
    settings: &TimeOffSettings,
    ctx: &CommitContext,
) -> StoreResult<()> {
    let decided = |reason: &str, overridden: Vec<ViolationCode>| TimeOffDecision {
        by: SYSTEM.into(),
        at: ctx.now,
        reason: Some(reason.into()),
        overridden,
    };
    if settings.approval == ApprovalPolicy::Never {
        req.state = TimeOffState::Denied;
        req.decision = Some(decided(
            "the business unit does not approve time off at present",
            Vec::new(),
        ));
        return Ok(());
    }
    let coverage = settings.approval == ApprovalPolicy::WhenRulesAllow;
    let check = check(w, req, zone, settings, ctx.now, coverage).await?;
    req.violations = check.violations.clone();
    let codes: Vec<ViolationCode> = check.violations.iter().map(|v| v.code).collect();
    let allowance_only =
        !codes.is_empty() && codes.iter().all(|c| *c == ViolationCode::AllowanceFull);
    match settings.approval {
        ApprovalPolicy::Always => {
            req.state = TimeOffState::Approved;
            req.decision = Some(decided("approved by the business unit's policy", codes));
            apply(w, req, check, ctx).await?;
        }
        ApprovalPolicy::WhenRulesAllow if codes.is_empty() => {
            req.state = TimeOffState::Approved;
            req.decision = Some(decided(
                "balance, allowance and coverage allow it",
                Vec::new(),
            ));
            apply(w, req, check, ctx).await?;
        }
        _ if codes.contains(&ViolationCode::AllowanceFull) && allowance_only => {
            req.state = TimeOffState::Waitlisted;
        }
        _ => req.state = TimeOffState::Pending,
    }
    Ok(())
}

/// Promotes the waitlist of `group` on the days `[start, end)` touches, in request order: each
/// waitlisted request whose days now have room is answered by the policy again.
pub(super) async fn promote(
    w: &mut Tx,
    bu: BusinessUnitId,
    group: &str,
    (start, end): (Timestamp, Timestamp),
    zone: &Zone,
    settings: &TimeOffSettings,
    ctx: &CommitContext,
) -> StoreResult<()> {
    let days = local_days(zone, start, end);
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(());
    };
    let from = zone.instant(*first, 0);
    let to = zone.instant(last.tomorrow().map_err(rows::corrupt)?, 0);
    let mut q = QueryBuilder::<Db>::new(
        "SELECT doc FROM time_off_requests WHERE state = 'waitlisted' AND business_unit_id = ",
    );
    q.push_bind(bu.as_uuid())
        .push(" AND grp = ")
        .push_bind(group.to_owned())
        .push(" AND start_at < ")
        .push_bind(micros(to))
        .push(" AND end_at > ")
        .push_bind(micros(from))
        .push(" ORDER BY created_at, id");
    for mut req in requests(w, &mut q).await? {
        answer_by_policy(w, &mut req, zone, settings, ctx).await?;
        if req.state != TimeOffState::Waitlisted {
            req.version += 1;
            save(w, &req, Some(TimeOffState::Waitlisted), ctx.now).await?;
        }
    }
    Ok(())
}
