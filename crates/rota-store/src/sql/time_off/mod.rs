//! Time off: requests answered by the business unit's policy, supervisors' decisions,
//! cancellations, balances, allowances and the waitlist. Every operation that changes a request
//! first takes the business unit's time-off lock (its row, `UNIT_LOCK`), then the write lock of
//! each schedule it changes, in week order; nothing else takes the unit's lock, so no cycle.
//!
//! - `rules`: what an approval would do and break now: the plans, the deduction, balance and
//!   allowance.
//! - `policy`: answering a request by the business unit's policy, applying an approval, the
//!   waitlist's promotion.

use std::collections::BTreeMap;

use const_format::concatcp;
use jiff::Timestamp;
use jiff::civil::Date;
use rota_core::command::{Violation, ViolationCode};
use rota_core::coverage::Guarded;
use rota_core::directory::{Agent, TimeOffWindow, Zone};
use rota_core::engine::{self, Commit, TimeOffPlan};
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, TimeOffId};
use rota_core::schedule::{ActivityCode, Schedule};
use rota_core::store::{Page, PageRequest, StoreError, StoreResult, TimeOffFilter, TimeOffStore};
use rota_core::timeoff::{
    Allowance, AllowanceDay, ApprovalPolicy, Balance, NewTimeOff, Span, TimeOffDecision,
    TimeOffError, TimeOffRequest, TimeOffReview, TimeOffSettings, TimeOffState, local_days,
};
use rota_core::trade::BusinessUnitSettings;
use rota_core::version::{CommitContext, ScheduleVersionId, VersionCause};
use rota_core::webhook::EventType;
use sqlx::{QueryBuilder, Row};

use super::batch::Batch;
use super::commands::{no_events, write_commit};
use super::decode::{agents_by_ids, doc_page};
use super::dialect::{Backend, Db, ROW_LOCK, UNIT_LOCK};
use super::idempotency::push_key;
use super::outbox::emit;
use super::snapshot::{load_schedule, snapshot};
use super::trade_rows::settings_of;
use super::{Conn, Tx};
use crate::rows::{self, db_error, micros};

mod policy;
mod rules;

use policy::{answer_by_policy, apply, promote, update_agent};
use rules::{Check, add_balance, allowance_days, check, runs_of_days};

/// Who the policy and the waitlist decide as.
const SYSTEM: &str = "system";

const LIVE: &str = "('pending', 'waitlisted', 'approved')";

fn doc(req: &TimeOffRequest) -> StoreResult<String> {
    serde_json::to_string(req).map_err(|e| StoreError::Backend(Box::new(e)))
}

fn violation(code: ViolationCode, agent: AgentId, detail: String) -> Violation {
    Violation::new(code, Some(agent), None, detail)
}

/// Takes the business unit's time-off lock; answers its zone and settings.
async fn lock_unit(w: &mut Tx, bu: BusinessUnitId) -> StoreResult<(Zone, BusinessUnitSettings)> {
    let zone: Option<String> = sqlx::query_scalar(concatcp!(
        "SELECT time_zone FROM business_units WHERE id = $1",
        UNIT_LOCK
    ))
    .bind(bu.as_uuid())
    .fetch_optional(&mut *w.tx)
    .await
    .map_err(db_error)?;
    let zone = zone.ok_or_else(|| StoreError::not_found("business unit", bu))?;
    let zone = Zone::parse(&zone).map_err(rows::corrupt)?;
    Ok((zone, settings_of(&mut w.tx, bu).await?))
}

async fn load(w: &mut Tx, id: TimeOffId) -> StoreResult<TimeOffRequest> {
    let doc: Option<String> = sqlx::query_scalar(concatcp!(
        "SELECT doc FROM time_off_requests WHERE id = $1",
        ROW_LOCK
    ))
    .bind(id.as_uuid())
    .fetch_optional(&mut *w.tx)
    .await
    .map_err(db_error)?;
    serde_json::from_str(&doc.ok_or(TimeOffError::NotFound(id))?).map_err(rows::corrupt)
}

/// Requests of `sql`'s filter, oldest first, decoded.
async fn requests(w: &mut Tx, q: &mut QueryBuilder<Db>) -> StoreResult<Vec<TimeOffRequest>> {
    let docs: Vec<String> = q
        .build_query_scalar()
        .fetch_all(&mut *w.tx)
        .await
        .map_err(db_error)?;
    docs.iter()
        .map(|d| serde_json::from_str(d).map_err(rows::corrupt))
        .collect()
}

/// Writes `req` (inserted when it is version 1) and its event, coming from `from`.
async fn save(
    w: &mut Tx,
    req: &TimeOffRequest,
    from: Option<TimeOffState>,
    now: Timestamp,
) -> StoreResult<()> {
    let mut batch = Batch::new();
    if from.is_none() {
        batch
            .push(
                "INSERT INTO time_off_requests (id, business_unit_id, agent_id, grp, state, \
                 start_at, end_at, created_at, version, doc) VALUES (",
            )
            .separated(", ")
            .push_bind(req.id.as_uuid())
            .push_bind(req.business_unit_id.as_uuid())
            .push_bind(req.agent_id.as_uuid())
            .push_bind(req.group.clone())
            .push_bind(req.state.as_str())
            .push_bind(micros(req.start))
            .push_bind(micros(req.end))
            .push_bind(micros(req.created_at))
            .push_bind(i64::from(req.version))
            .push_bind(doc(req)?)
            .push_unseparated(")");
    } else {
        batch
            .push_checked(
                "UPDATE time_off_requests SET state = ",
                Some((1, || {
                    StoreError::Busy("the time-off request moved under its lock".into())
                })),
            )
            .push_bind(req.state.as_str())
            .push(", version = ")
            .push_bind(i64::from(req.version))
            .push(", doc = ")
            .push_bind(doc(req)?)
            .push(" WHERE id = ")
            .push_bind(req.id.as_uuid())
            .push(" AND version = ")
            .push_bind(i64::from(req.version - 1));
    }
    batch.run(&mut w.tx).await?;
    emit(w, req.business_unit_id, now, |wanted| {
        wanted.one(EventType::TimeOffRequestChanged, || {
            rota_api::events::time_off_changed(req, from)
        })
    })
    .await
}

impl TimeOffStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn request_time_off(
        &self,
        new: &NewTimeOff,
        ctx: &CommitContext,
    ) -> StoreResult<TimeOffRequest> {
        if new
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > rota_core::timeoff::MAX_NOTE_CHARS)
        {
            return Err(TimeOffError::Invalid(format!(
                "a note holds at most {} characters",
                rota_core::timeoff::MAX_NOTE_CHARS
            ))
            .into());
        }
        let mut w = self.begin_write().await?;
        let agent = agents_by_ids(&mut w.tx, &[new.agent_id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("agent", new.agent_id))?;
        let (zone, settings) = lock_unit(&mut w, agent.business_unit_id).await?;
        let settings = settings.time_off;
        let code = settings
            .code(&new.code)
            .ok_or_else(|| TimeOffError::UnknownCode(new.code.to_string()))?
            .clone();
        let (start, end) = new.span.window(&zone)?;
        let mut refusals = Vec::new();
        let notice = jiff::SignedDuration::from_hours(i64::from(code.min_notice_hours));
        if start.duration_since(ctx.now) < notice {
            refusals.push(violation(
                ViolationCode::TooCloseToStart,
                agent.id,
                format!(
                    "`{}` needs {} hours' notice; the request starts at {start}",
                    code.code, code.min_notice_hours
                ),
            ));
        }
        let mut q = QueryBuilder::<Db>::new(concatcp!(
            "SELECT doc FROM time_off_requests WHERE state IN ",
            LIVE,
            " AND agent_id = "
        ));
        q.push_bind(agent.id.as_uuid())
            .push(" AND start_at < ")
            .push_bind(micros(end))
            .push(" AND end_at > ")
            .push_bind(micros(start))
            .push(" ORDER BY created_at, id");
        for other in requests(&mut w, &mut q).await? {
            refusals.push(violation(
                ViolationCode::ConflictingTimeOffRequest,
                agent.id,
                format!(
                    "request {} ({}, {} to {}) overlaps this one",
                    other.id, other.state, other.start, other.end
                ),
            ));
        }
        if !refusals.is_empty() {
            return Err(TimeOffError::Refused(refusals).into());
        }
        let mut req = TimeOffRequest {
            id: TimeOffId::new(),
            business_unit_id: agent.business_unit_id,
            agent_id: agent.id,
            code: code.code.clone(),
            paid: code.paid,
            group: code.group.clone(),
            days: match new.span {
                Span::Days(d) => Some(d),
                Span::Window(..) => None,
            },
            start,
            end,
            note: new.note.clone(),
            state: TimeOffState::Pending,
            requested_by: ctx.actor.clone(),
            request_id: ctx.request_id.clone(),
            created_at: ctx.now,
            violations: Vec::new(),
            decision: None,
            deducted_minutes: 0,
            versions: Vec::new(),
            version: 1,
        };
        answer_by_policy(&mut w, &mut req, &zone, &settings, ctx).await?;
        save(&mut w, &req, None, ctx.now).await?;
        finish(w, ctx, &req).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn time_off(&self, id: TimeOffId) -> StoreResult<TimeOffRequest> {
        let doc: Option<String> =
            sqlx::query_scalar("SELECT doc FROM time_off_requests WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(self.pool())
                .await
                .map_err(db_error)?;
        serde_json::from_str(&doc.ok_or(TimeOffError::NotFound(id))?).map_err(rows::corrupt)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn time_off_requests(
        &self,
        filter: TimeOffFilter,
        page: PageRequest,
    ) -> StoreResult<Page<TimeOffRequest>> {
        let conditions = |q: &mut QueryBuilder<Db>| {
            if let Some(bu) = filter.business_unit {
                q.push(" AND business_unit_id = ").push_bind(bu.as_uuid());
            }
            if let Some(agent) = filter.agent {
                q.push(" AND agent_id = ").push_bind(agent.as_uuid());
            }
            if let Some(state) = filter.state {
                q.push(" AND state = ").push_bind(state.as_str());
            }
        };
        doc_page(
            self.pool(),
            "time_off_requests",
            conditions,
            "created_at DESC, id DESC",
            page,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn decide_time_off(
        &self,
        review: &TimeOffReview,
        ctx: &CommitContext,
    ) -> StoreResult<TimeOffRequest> {
        let mut w = self.begin_write().await?;
        let bu = unit_of(&mut w, review.id).await?;
        let (zone, settings) = lock_unit(&mut w, bu).await?;
        let settings = settings.time_off;
        let mut req = load(&mut w, review.id).await?;
        if req.version != review.expected_version {
            return Err(TimeOffError::VersionConflict {
                expected: review.expected_version,
                current: Box::new(req),
            }
            .into());
        }
        if !matches!(req.state, TimeOffState::Pending | TimeOffState::Waitlisted) {
            return Err(TimeOffError::WrongState {
                what: "only a pending or waitlisted request can be decided",
                current: Box::new(req),
            }
            .into());
        }
        let from = req.state;
        let mut decision = TimeOffDecision {
            by: ctx.actor.clone(),
            at: ctx.now,
            reason: review.reason.clone(),
            overridden: Vec::new(),
        };
        if review.approve {
            let check = check(&mut w, &req, &zone, &settings, ctx.now, true).await?;
            if !check.violations.is_empty() && !review.override_rules {
                return Err(TimeOffError::RulesFailed(check.violations).into());
            }
            decision.overridden = check.violations.iter().map(|v| v.code).collect();
            decision.overridden.dedup();
            req.violations = check.violations.clone();
            req.state = TimeOffState::Approved;
            apply(&mut w, &mut req, check, ctx).await?;
        } else {
            req.state = TimeOffState::Denied;
        }
        req.decision = Some(decision);
        req.version += 1;
        save(&mut w, &req, Some(from), ctx.now).await?;
        finish(w, ctx, &req).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn cancel_time_off(
        &self,
        id: TimeOffId,
        expected_version: u32,
        enforce_cutoff: bool,
        ctx: &CommitContext,
    ) -> StoreResult<TimeOffRequest> {
        let mut w = self.begin_write().await?;
        let bu = unit_of(&mut w, id).await?;
        let (zone, settings) = lock_unit(&mut w, bu).await?;
        let settings = settings.time_off;
        let mut req = load(&mut w, id).await?;
        if req.version != expected_version {
            return Err(TimeOffError::VersionConflict {
                expected: expected_version,
                current: Box::new(req),
            }
            .into());
        }
        if !req.state.is_live() {
            return Err(TimeOffError::WrongState {
                what: "only a pending, waitlisted or approved request can be cancelled",
                current: Box::new(req),
            }
            .into());
        }
        let from = req.state;
        if from == TimeOffState::Approved {
            let cutoff = jiff::SignedDuration::from_hours(i64::from(settings.cancel_cutoff_hours));
            if enforce_cutoff && req.start.duration_since(ctx.now) < cutoff {
                return Err(TimeOffError::Refused(vec![violation(
                    ViolationCode::TooCloseToStart,
                    req.agent_id,
                    format!(
                        "approved time off can be cancelled until {} hours before it starts ({})",
                        settings.cancel_cutoff_hours, req.start
                    ),
                )])
                .into());
            }
            if req.deducted_minutes != 0 {
                add_balance(&mut w, req.agent_id, &req.code, req.deducted_minutes).await?;
            }
            update_agent(&mut w, req.agent_id, |agent| {
                agent.time_off.retain(|t| t.request_id != req.id);
            })
            .await?;
            // The shifts stay as approval left them: a version per schedule it changed says
            // so in the history.
            let mut schedules: Vec<ScheduleId> =
                req.versions.iter().map(|v| v.schedule()).collect();
            schedules.dedup();
            for sid in schedules {
                let Some((schedule, _)) = load_schedule(&mut w.tx, sid, true).await? else {
                    continue;
                };
                let commit = Commit::new(
                    schedule.id,
                    schedule.version.next(),
                    VersionCause::TimeOff,
                    ctx,
                    Vec::new(),
                );
                write_commit(&mut w, &schedule, &commit, no_events).await?;
                req.versions
                    .push(ScheduleVersionId::new(schedule.id, commit.record.version));
            }
        }
        req.state = TimeOffState::Cancelled;
        req.decision = Some(TimeOffDecision {
            by: ctx.actor.clone(),
            at: ctx.now,
            reason: Some("cancelled".into()),
            overridden: Vec::new(),
        });
        req.version += 1;
        save(&mut w, &req, Some(from), ctx.now).await?;
        if from == TimeOffState::Approved {
            let group = req.group.clone();
            promote(
                &mut w,
                bu,
                &group,
                (req.start, req.end),
                &zone,
                &settings,
                ctx,
            )
            .await?;
        }
        finish(w, ctx, &req).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_balance(
        &self,
        agent: AgentId,
        code: &ActivityCode,
        minutes: i64,
    ) -> StoreResult<Balance> {
        let mut w = self.begin_write().await?;
        let found = agents_by_ids(&mut w.tx, &[agent])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("agent", agent))?;
        let settings = settings_of(&mut w.tx, found.business_unit_id).await?;
        if settings.time_off.code(code).is_none() {
            return Err(TimeOffError::UnknownCode(code.to_string()).into());
        }
        sqlx::query(
            "INSERT INTO time_off_balances (agent_id, code, minutes) VALUES ($1, $2, $3) \
             ON CONFLICT (agent_id, code) DO UPDATE SET minutes = excluded.minutes",
        )
        .bind(agent.as_uuid())
        .bind(code.as_str().to_owned())
        .bind(minutes)
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        w.commit().await?;
        Ok(Balance {
            agent_id: agent,
            code: code.clone(),
            minutes,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn balances(&self, agent: AgentId) -> StoreResult<Vec<Balance>> {
        let found = sqlx::query(
            "SELECT code, minutes FROM time_off_balances WHERE agent_id = $1 ORDER BY code",
        )
        .bind(agent.as_uuid())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        found
            .iter()
            .map(|r| {
                let code: String = r.try_get(0).map_err(db_error)?;
                Ok(Balance {
                    agent_id: agent,
                    code: ActivityCode::parse(&code).map_err(rows::corrupt)?,
                    minutes: r.try_get(1).map_err(db_error)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_allowances(
        &self,
        bu: BusinessUnitId,
        allowances: &[Allowance],
        ctx: &CommitContext,
    ) -> StoreResult<Vec<AllowanceDay>> {
        for a in allowances {
            a.validate()?;
        }
        let mut w = self.begin_write().await?;
        let (zone, settings) = lock_unit(&mut w, bu).await?;
        let settings = settings.time_off;
        for a in allowances {
            sqlx::query(
                "INSERT INTO time_off_allowances (business_unit_id, grp, day, agents) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (business_unit_id, grp, day) \
                 DO UPDATE SET agents = excluded.agents",
            )
            .bind(bu.as_uuid())
            .bind(a.group.clone())
            .bind(a.date.to_string())
            .bind(i64::from(a.agents))
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
        }
        let mut out = Vec::new();
        let mut groups: Vec<&str> = allowances.iter().map(|a| a.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        for group in groups {
            let dates = allowances
                .iter()
                .filter(|a| a.group == group)
                .map(|a| a.date);
            for (first, last) in runs_of_days(dates) {
                let window = (
                    zone.instant(first, 0),
                    zone.instant(last.tomorrow().map_err(rows::corrupt)?, 0),
                );
                promote(&mut w, bu, group, window, &zone, &settings, ctx).await?;
                out.extend(
                    allowance_days(&mut w.tx, bu, &zone, &settings, group, window)
                        .await?
                        .into_iter()
                        .filter(|d| {
                            allowances
                                .iter()
                                .any(|a| a.group == group && a.date == d.date)
                        }),
                );
            }
        }
        w.commit().await?;
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn allowances(
        &self,
        bu: BusinessUnitId,
        group: &str,
        from: Date,
        to: Date,
    ) -> StoreResult<Vec<AllowanceDay>> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        let zone: Option<String> =
            sqlx::query_scalar("SELECT time_zone FROM business_units WHERE id = $1")
                .bind(bu.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
        let zone = zone.ok_or_else(|| StoreError::not_found("business unit", bu))?;
        let zone = Zone::parse(&zone).map_err(rows::corrupt)?;
        let settings = settings_of(&mut conn, bu).await?;
        let window = (
            zone.instant(from, 0),
            zone.instant(to.tomorrow().map_err(rows::corrupt)?, 0),
        );
        allowance_days(&mut conn, bu, &zone, &settings.time_off, group, window).await
    }
}

async fn unit_of(w: &mut Tx, id: TimeOffId) -> StoreResult<BusinessUnitId> {
    let bu: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT business_unit_id FROM time_off_requests WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_error)?;
    Ok(BusinessUnitId::from_uuid(
        bu.ok_or(TimeOffError::NotFound(id))?,
    ))
}

/// Records the idempotency key with the answer and commits.
async fn finish(
    mut w: Tx,
    ctx: &CommitContext,
    req: &TimeOffRequest,
) -> StoreResult<TimeOffRequest> {
    let mut batch = Batch::new();
    push_key(&mut batch, ctx, req)?;
    batch.run(&mut w.tx).await?;
    w.commit().await?;
    Ok(req.clone())
}
