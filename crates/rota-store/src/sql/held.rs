//! The coverage store: the requirement and coverage reads (see `coverage`), and the changes the
//! guard held, written by the command that held them and decided by a supervisor.

use const_format::concatcp;
use rota_core::coverage::RequirementRun;
use rota_core::engine::{self, Commit};
use rota_core::held::{HeldChange, HeldError, HeldState, NewHeld};
use rota_core::ids::{AgentId, HeldChangeId, ScheduleId};
use rota_core::schedule::Schedule;
use rota_core::store::{
    CoverageReport, CoverageStore, HeldDecision, HeldFilter, Page, PageRequest, StoreError,
    StoreResult,
};
use rota_core::trade::Decision;
use rota_core::version::{CommitContext, ScheduleVersion, ScheduleVersionId, VersionCause};
use sqlx::QueryBuilder;

use super::batch::Batch;
use super::commands::{no_events, write_commit};
use super::decode::doc_page;
use super::dialect::{Backend, Db, ROW_LOCK};
use super::idempotency::push_key;
use super::snapshot::snapshot;
use crate::rows::{self, db_error, micros};

fn held_doc(held: &HeldChange) -> StoreResult<String> {
    serde_json::to_string(held).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Writes the changes a command's plan held, as pending, in the command's transaction.
pub(super) fn push_held(
    batch: &mut Batch,
    schedule: &Schedule,
    cause: VersionCause,
    ctx: &CommitContext,
    held: &[NewHeld],
) -> StoreResult<()> {
    for h in held {
        let change = HeldChange {
            id: h.id,
            business_unit_id: schedule.business_unit_id,
            schedule_id: schedule.id,
            cause,
            requested_by: ctx.actor.clone(),
            request_id: ctx.request_id.clone(),
            created_at: ctx.now,
            shifts: h.shifts.clone(),
            violations: h.violations.clone(),
            state: HeldState::Pending,
            decision: None,
            applied_version_id: None,
            version: 1,
        };
        batch
            .push(
                "INSERT INTO held_changes \
                 (id, business_unit_id, schedule_id, state, created_at, version, doc) VALUES (",
            )
            .separated(", ")
            .push_bind(change.id.as_uuid())
            .push_bind(change.business_unit_id.as_uuid())
            .push_bind(change.schedule_id.as_uuid())
            .push_bind(change.state.as_str())
            .push_bind(micros(change.created_at))
            .push_bind(i64::from(change.version))
            .push_bind(held_doc(&change)?)
            .push_unseparated(")");
    }
    Ok(())
}

impl CoverageStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_requirements(
        &self,
        id: ScheduleId,
        runs: &[RequirementRun],
        ctx: &CommitContext,
    ) -> StoreResult<Schedule> {
        super::coverage::set_requirements(self, id, runs, ctx).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn coverage(
        &self,
        id: ScheduleId,
        version: Option<ScheduleVersion>,
    ) -> StoreResult<CoverageReport> {
        super::coverage::coverage_at(self, id, version).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn held_change(&self, id: HeldChangeId) -> StoreResult<HeldChange> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM held_changes WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.pool())
            .await
            .map_err(db_error)?;
        serde_json::from_str(&doc.ok_or(HeldError::NotFound(id))?).map_err(rows::corrupt)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn held_changes(
        &self,
        filter: HeldFilter,
        page: PageRequest,
    ) -> StoreResult<Page<HeldChange>> {
        let conditions = |q: &mut QueryBuilder<Db>| {
            if let Some(bu) = filter.business_unit {
                q.push(" AND business_unit_id = ").push_bind(bu.as_uuid());
            }
            if let Some(state) = filter.state {
                q.push(" AND state = ").push_bind(state.as_str());
            }
        };
        doc_page(
            self.pool(),
            "held_changes",
            conditions,
            "created_at, id",
            page,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn decide_held(
        &self,
        decision: &HeldDecision,
        ctx: &CommitContext,
    ) -> StoreResult<HeldChange> {
        let mut w = self.begin_write().await?;
        let doc: Option<String> = sqlx::query_scalar(concatcp!(
            "SELECT doc FROM held_changes WHERE id = $1",
            ROW_LOCK
        ))
        .bind(decision.id.as_uuid())
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(db_error)?;
        let mut held: HeldChange =
            serde_json::from_str(&doc.ok_or(HeldError::NotFound(decision.id))?)
                .map_err(rows::corrupt)?;
        if held.version != decision.expected_version {
            return Err(HeldError::VersionConflict {
                expected: decision.expected_version,
                current: Box::new(held),
            }
            .into());
        }
        if held.state != HeldState::Pending {
            return Err(HeldError::Decided(Box::new(held)).into());
        }
        let mut verdict = Decision {
            by: ctx.actor.clone(),
            at: ctx.now,
            reason: decision.reason.clone(),
            violations: Vec::new(),
        };
        held.state = HeldState::Denied;
        if decision.approve {
            let touched: Vec<_> = held.shifts.iter().map(|s| s.shift_id).collect();
            let receivers: Vec<AgentId> =
                held.shifts.iter().filter_map(|s| s.after.owner).collect();
            let snap = snapshot(&mut w, held.schedule_id, &touched, |found| {
                found
                    .iter()
                    .filter_map(|s| s.owner)
                    .chain(receivers.iter().copied())
                    .collect()
            })
            .await?;
            let planned = engine::plan_held(&snap, &held, ctx.now);
            match planned.map(|plan| Commit::of_plan(&snap.schedule, held.cause, ctx, &plan)) {
                Ok(Some(commit)) => {
                    write_commit(&mut w, &snap.schedule, &commit, no_events).await?;
                    held.state = HeldState::Approved;
                    held.applied_version_id = Some(ScheduleVersionId::new(
                        held.schedule_id,
                        commit.record.version,
                    ));
                }
                Ok(None) => held.state = HeldState::Failed,
                Err(violations) => {
                    held.state = HeldState::Failed;
                    verdict.violations = violations;
                }
            }
        }
        held.decision = Some(verdict);
        held.version += 1;
        let mut batch = Batch::new();
        batch
            .push_checked(
                "UPDATE held_changes SET state = ",
                Some((1, || {
                    StoreError::Busy("the held change moved under its lock".into())
                })),
            )
            .push_bind(held.state.as_str())
            .push(", version = ")
            .push_bind(i64::from(held.version))
            .push(", doc = ")
            .push_bind(held_doc(&held)?)
            .push(" WHERE id = ")
            .push_bind(held.id.as_uuid())
            .push(" AND version = ")
            .push_bind(i64::from(held.version - 1));
        push_key(&mut batch, ctx, &held)?;
        batch.run(&mut w.tx).await?;
        w.commit().await?;
        Ok(held)
    }
}
