//! The trade store: business-unit settings, agent self-service, and shift trades from offer
//! to decision.

use const_format::concatcp;
use rota_core::command::{CommandError, SwapResult, Violation};
use rota_core::engine::{self, SelfServiceAction};
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId, TradeId};
use rota_core::schedule::ScheduleState;
use rota_core::store::{
    NewTrade, Page, PageRequest, StoreError, StoreResult, TradeFilter, TradeReview, TradeStore,
};
use rota_core::trade::{BusinessUnitSettings, Decision, Trade, TradeError, TradeState, Verdict};
use rota_core::version::{CommitContext, ScheduleVersion, VersionCause};
use rota_core::webhook::EventType;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::commands::{commit_plan, no_events};
use super::decode::{agents_by_ids, doc_page, shifts_by_ids};
use super::dialect::{Backend, Db, ROW_LOCK};
use super::idempotency::record_result;
use super::outbox::emit;
use super::snapshot::{holds_of, load_schedule, snapshot};
use crate::rows::{db_error, micros};

use super::trade_rows::{
    SYSTEM, apply_trade, check_trade, decode_trade, insert_trade, open_trade, settings_of,
    transition,
};

/// The trade `id` as `receiver` would match it with `shift`, after the checks a match makes
/// before its rules: the trade's version and expiry, its state, the shift's fit.
async fn matchable(
    w: &mut super::Tx,
    id: TradeId,
    expected_version: u32,
    receiver: AgentId,
    shift: Option<ShiftId>,
    now: jiff::Timestamp,
) -> StoreResult<Trade> {
    let mut trade = open_trade(&mut w.tx, id, expected_version, now).await?;
    if trade.state != TradeState::Unmatched {
        return Err(TradeError::InvalidTransition {
            from: trade.state,
            to: TradeState::Matched,
        }
        .into());
    }
    let receiving = match shift {
        Some(s) => Some(
            shifts_by_ids(&mut w.tx, &[s])
                .await?
                .pop()
                .ok_or(CommandError::ShiftNotFound(s))?,
        ),
        None => None,
    };
    trade.check_match(receiver, receiving.as_ref())?;
    trade.receiving_agent_id = Some(receiver);
    trade.receiving_shift_id = shift;
    Ok(trade)
}

impl TradeStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn settings(&self, bu: BusinessUnitId) -> StoreResult<BusinessUnitSettings> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        settings_of(&mut conn, bu).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_settings(
        &self,
        bu: BusinessUnitId,
        settings: &BusinessUnitSettings,
    ) -> StoreResult<()> {
        let doc = serde_json::to_string(settings).map_err(|e| StoreError::Backend(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO business_unit_settings (business_unit_id, settings) VALUES ($1, $2) \
             ON CONFLICT (business_unit_id) DO UPDATE SET settings = excluded.settings",
        )
        .bind(bu.as_uuid())
        .bind(doc)
        .execute(self.pool())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn self_service(
        &self,
        shift_id: ShiftId,
        agent: AgentId,
        action: SelfServiceAction,
        seen: Option<rota_core::version::ScheduleVersion>,
        ctx: &CommitContext,
    ) -> StoreResult<SwapResult> {
        let mut w = self.begin_write().await?;
        let schedule_id: Uuid = sqlx::query_scalar("SELECT schedule_id FROM shifts WHERE id = $1")
            .bind(shift_id.as_uuid())
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_error)?
            .ok_or(CommandError::ShiftNotFound(shift_id))?;
        let schedule_id = ScheduleId::from_uuid(schedule_id);
        let mut snap = snapshot(&mut w, schedule_id, &[shift_id], |touched| {
            touched
                .iter()
                .filter_map(|s| s.owner)
                .chain([agent])
                .collect()
        })
        .await?;
        let cause = match action {
            SelfServiceAction::Pickup => rota_core::coverage::Guarded::Pickup,
            SelfServiceAction::Release => rota_core::coverage::Guarded::Release,
        };
        super::coverage::guard(&mut w, &mut snap, cause, &[shift_id], None, false).await?;
        // Agents see published schedules only: a draft's shifts do not exist for them.
        if snap.schedule.state != ScheduleState::Published {
            return Err(CommandError::ShiftNotFound(shift_id).into());
        }
        let policy = settings_of(&mut w.tx, snap.schedule.business_unit_id)
            .await?
            .self_service;
        let plan =
            engine::plan_self_service(&snap, shift_id, agent, action, seen, &policy, ctx.now)?;
        commit_plan(
            w,
            &snap.schedule,
            plan,
            VersionCause::SelfService,
            ctx,
            no_events,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_trade(&self, new: &NewTrade, ctx: &CommitContext) -> StoreResult<Trade> {
        let mut w = self.begin_write().await?;
        let shift = shifts_by_ids(&mut w.tx, &[new.shift_id])
            .await?
            .pop()
            .ok_or(CommandError::ShiftNotFound(new.shift_id))?;
        let (schedule, _) = load_schedule(&mut w.tx, shift.schedule_id, false)
            .await?
            .ok_or(CommandError::ScheduleNotFound(shift.schedule_id))?;
        if schedule.state != ScheduleState::Published {
            return Err(CommandError::ShiftNotFound(new.shift_id).into());
        }
        if shift.owner != Some(new.initiating_agent_id) {
            return Err(TradeError::Invalid(format!("shift {} is not yours", shift.id)).into());
        }
        if new.target_agent_id == Some(new.initiating_agent_id) {
            return Err(
                TradeError::Invalid("a trade cannot be offered to its initiator".into()).into(),
            );
        }
        if shift.window.start() <= ctx.now {
            return Err(
                TradeError::Invalid(format!("shift {} has already started", shift.id)).into(),
            );
        }
        if new.expires_at <= ctx.now || new.expires_at > shift.window.start() {
            return Err(TradeError::Invalid(
                "expiresAt must be in the future and no later than the shift's start".into(),
            )
            .into());
        }
        if let Some(target) = new.target_agent_id {
            let found = agents_by_ids(&mut w.tx, &[target]).await?;
            if !found
                .iter()
                .any(|a| a.business_unit_id == schedule.business_unit_id)
            {
                return Err(TradeError::Invalid(format!(
                    "agent {target} is not in this business unit"
                ))
                .into());
            }
        }
        let trade = Trade {
            id: TradeId::new(),
            business_unit_id: schedule.business_unit_id,
            schedule_id: schedule.id,
            initiating_agent_id: new.initiating_agent_id,
            initiating_shift_id: shift.id,
            target_agent_id: new.target_agent_id,
            acceptable_intervals: new.acceptable_intervals.clone(),
            expires_at: new.expires_at,
            state: TradeState::Unmatched,
            receiving_agent_id: None,
            receiving_shift_id: None,
            matched_version: None,
            check: None,
            decision: None,
            applied_version_id: None,
            version: 1,
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        insert_trade(&mut w.tx, &trade).await?;
        emit(&mut w, trade.business_unit_id, ctx.now, |w| {
            w.one(EventType::TradeStateChanged, || {
                rota_api::events::trade_changed(&trade, None)
            })
        })
        .await?;
        record_result(&mut w.tx, ctx, &trade).await?;
        w.commit().await?;
        Ok(trade)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn trade(&self, id: TradeId) -> StoreResult<Trade> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM trades WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.pool())
            .await
            .map_err(db_error)?;
        decode_trade(&doc.ok_or(TradeError::NotFound(id))?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn trades(&self, filter: TradeFilter, page: PageRequest) -> StoreResult<Page<Trade>> {
        let conditions = |q: &mut QueryBuilder<Db>| {
            if let Some(bu) = filter.business_unit {
                q.push(" AND business_unit_id = ").push_bind(bu.as_uuid());
            }
            if let Some(state) = filter.state {
                q.push(" AND state = ").push_bind(state.as_str());
            }
            if let Some(agent) = filter.visible_to {
                let id = agent.as_uuid();
                q.push(" AND (initiating_agent_id = ").push_bind(id);
                q.push(" OR receiving_agent_id = ").push_bind(id);
                q.push(" OR target_agent_id = ").push_bind(id);
                q.push(" OR (target_agent_id IS NULL AND state = 'Unmatched'))");
            }
        };
        doc_page(self.pool(), "trades", conditions, "id DESC", page).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn preview_match(
        &self,
        id: TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<ShiftId>,
        now: jiff::Timestamp,
    ) -> StoreResult<rota_core::trade::TradeCheck> {
        // The match's own steps up to its verdict; the transaction is dropped, so nothing is
        // written (nor held).
        let mut w = self.begin_write().await?;
        let trade = matchable(&mut w, id, expected_version, receiver, shift, now).await?;
        let settings = settings_of(&mut w.tx, trade.business_unit_id).await?.trades;
        let (_, violations) = check_trade(&mut w, &trade, &settings, now).await?;
        Ok(settings.review(violations))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn match_trade(
        &self,
        id: TradeId,
        expected_version: u32,
        receiver: AgentId,
        shift: Option<ShiftId>,
        ctx: &CommitContext,
    ) -> StoreResult<Trade> {
        let mut w = self.begin_write().await?;
        let mut trade = matchable(&mut w, id, expected_version, receiver, shift, ctx.now).await?;
        let settings = settings_of(&mut w.tx, trade.business_unit_id).await?.trades;
        // Under the schedule's lock from here on (check_trade takes it): holds of one
        // schedule's shifts are taken one transaction at a time.
        let (version, violations) = check_trade(&mut w, &trade, &settings, ctx.now).await?;
        if let Some((shift, holder)) = holds_of(&mut w.tx, &trade.shifts())
            .await?
            .into_iter()
            .next()
        {
            return Err(TradeError::ShiftInTrade {
                shift,
                trade: holder,
            }
            .into());
        }
        let check = settings.review(violations);
        trade.matched_version = Some(version);
        let verdict = check.verdict;
        trade.check = Some(check);
        match verdict {
            Verdict::Deny => {
                trade.decision = Some(Decision {
                    by: SYSTEM.into(),
                    at: ctx.now,
                    reason: Some("the automatic review denied the trade: it breaks rules the business unit denies".into()),
                    violations: Vec::new(),
                });
                transition(&mut w, &mut trade, TradeState::Denied, ctx.now).await?;
            }
            Verdict::Supervisor => {
                for shift in trade.shifts() {
                    sqlx::query("INSERT INTO trade_holds (shift_id, trade_id) VALUES ($1, $2)")
                        .bind(shift.as_uuid())
                        .bind(trade.id.as_uuid())
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                }
                transition(&mut w, &mut trade, TradeState::Matched, ctx.now).await?;
            }
            Verdict::Approve => {
                let applied =
                    apply_trade(&mut w, &trade, version, &settings.waived(false), ctx).await?;
                trade.decision = Some(Decision {
                    by: SYSTEM.into(),
                    at: ctx.now,
                    reason: Some("approved by the automatic review".into()),
                    violations: applied.as_ref().err().cloned().unwrap_or_default(),
                });
                let to = match applied {
                    Ok(version_id) => {
                        trade.applied_version_id = Some(version_id);
                        TradeState::Approved
                    }
                    Err(_) => TradeState::Denied,
                };
                transition(&mut w, &mut trade, to, ctx.now).await?;
            }
        }
        record_result(&mut w.tx, ctx, &trade).await?;
        w.commit().await?;
        Ok(trade)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn cancel_trade(
        &self,
        id: TradeId,
        expected_version: u32,
        by: AgentId,
        ctx: &CommitContext,
    ) -> StoreResult<Trade> {
        let mut w = self.begin_write().await?;
        let mut trade = open_trade(&mut w.tx, id, expected_version, ctx.now).await?;
        if trade.initiating_agent_id != by {
            return Err(
                TradeError::Forbidden(format!("only the initiator may cancel trade {id}")).into(),
            );
        }
        transition(&mut w, &mut trade, TradeState::Canceled, ctx.now).await?;
        record_result(&mut w.tx, ctx, &trade).await?;
        w.commit().await?;
        Ok(trade)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn review_trade(&self, review: &TradeReview, ctx: &CommitContext) -> StoreResult<Trade> {
        let mut w = self.begin_write().await?;
        let mut trade =
            open_trade(&mut w.tx, review.trade_id, review.expected_version, ctx.now).await?;
        let wanted = if review.approve {
            TradeState::Approved
        } else {
            TradeState::Denied
        };
        if trade.state != TradeState::Matched {
            return Err(TradeError::InvalidTransition {
                from: trade.state,
                to: wanted,
            }
            .into());
        }
        let mut decision = Decision {
            by: ctx.actor.clone(),
            at: ctx.now,
            reason: review.reason.clone(),
            violations: Vec::new(),
        };
        let to = if review.approve {
            let settings = settings_of(&mut w.tx, trade.business_unit_id).await?.trades;
            let base = trade.matched_version.unwrap_or(ScheduleVersion::FIRST);
            let waived = settings.waived(true);
            // The trade's own rules, checked again now: notice shrinks while a trade waits.
            let shifts = shifts_by_ids(&mut w.tx, &trade.shifts()).await?;
            let initiating = shifts.iter().find(|s| s.id == trade.initiating_shift_id);
            let receiving = trade
                .receiving_shift_id
                .and_then(|id| shifts.iter().find(|s| s.id == id));
            let mut broken: Vec<Violation> = initiating
                .map(|i| settings.trade_violations(i, receiving, ctx.now))
                .unwrap_or_default();
            broken.retain(|v| !waived.contains(&v.code));
            let applied = if broken.is_empty() {
                apply_trade(&mut w, &trade, base, &waived, ctx).await?
            } else {
                Err(broken)
            };
            match applied {
                Ok(version_id) => {
                    trade.applied_version_id = Some(version_id);
                    TradeState::Approved
                }
                Err(violations) => {
                    decision.reason = Some("the approval could not apply: the trade breaks rules or its shifts changed".into());
                    decision.violations = violations;
                    TradeState::Denied
                }
            }
        } else {
            TradeState::Denied
        };
        trade.decision = Some(decision);
        transition(&mut w, &mut trade, to, ctx.now).await?;
        record_result(&mut w.tx, ctx, &trade).await?;
        w.commit().await?;
        Ok(trade)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn expire_trades(&self, now: jiff::Timestamp) -> StoreResult<Vec<Trade>> {
        let mut w = self.begin_write().await?;
        let docs: Vec<String> = sqlx::query_scalar(concatcp!(
            "SELECT doc FROM trades WHERE state IN ('Unmatched', 'Matched') AND expires_at <= $1 ORDER BY id",
            ROW_LOCK
        ))
        .bind(micros(now))
        .fetch_all(&mut *w.tx)
        .await
        .map_err(db_error)?;
        let mut expired = Vec::with_capacity(docs.len());
        for doc in docs {
            let mut trade = decode_trade(&doc)?;
            trade.decision = Some(Decision {
                by: SYSTEM.into(),
                at: now,
                reason: Some("expired".into()),
                violations: Vec::new(),
            });
            transition(&mut w, &mut trade, TradeState::Expired, now).await?;
            expired.push(trade);
        }
        w.commit().await?;
        Ok(expired)
    }
}
