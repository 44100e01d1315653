//! Schedules: import, reads, the version history, and the commands that change shifts.

use std::collections::HashMap;

use const_format::concatcp;
use jiff::civil::Date;
use rota_core::command::{
    CommandError, EditChange, ShiftEdit, SwapRequest, SwapResult, Violation, ViolationCode,
};
use rota_core::coverage::Guarded;
use rota_core::engine::{self, Commit, Snapshot};
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
use rota_core::replay::replay;
use rota_core::schedule::{NewSchedule, Schedule, ScheduleState, Shift};
use rota_core::store::{
    DirectoryStore, Page, PageRequest, ScheduleStore, ShiftFilter, StoreError, StoreResult,
};
use rota_core::version::{
    CommitContext, ScheduleVersion, ShiftChange, VersionCause, VersionChanges, VersionRecord,
};
use rota_core::webhook::{EventType, Wanted};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::batch::Batch;
use super::commands::{commit_plan, no_events, push_changes, push_version, write_commit};
use super::coverage::guard;
use super::decode::{
    SHIFT_COLS, SHIFT_INSERT_COLS, agents_by_ids, decode_schedule, decode_shift, decode_version,
    page_args, shifts_by_ids, total,
};
use super::dialect::{Backend, Db, SLOT_JSON, UNIT_LOCK};
use super::idempotency::{push_key, record_result};
use super::outbox::{push_events, wanted_of};
use super::snapshot::{load_schedule, snapshot};
use super::{CHUNK, Conn};
use crate::rows::{self, db_error, micros, version_i64};

pub(super) async fn history(
    conn: &mut Conn,
    id: ScheduleId,
    after: i64,
    up_to: i64,
) -> StoreResult<Vec<VersionChanges>> {
    let records = sqlx::query(
        "SELECT schedule_id, version, cause, actor, request_id, created_at, change_count \
         FROM schedule_versions WHERE schedule_id = $1 AND version > $2 AND version <= $3 ORDER BY version",
    )
    .bind(id.as_uuid())
    .bind(after)
    .bind(up_to)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut out: Vec<VersionChanges> = Vec::with_capacity(records.len());
    let mut index: HashMap<ScheduleVersion, usize> = HashMap::with_capacity(records.len());
    for row in &records {
        let record = decode_version(row)?;
        index.insert(record.version, out.len());
        out.push(VersionChanges {
            record,
            changes: Vec::new(),
        });
    }
    let changes = sqlx::query(
        "SELECT version, shift_id, owner_before, start_before, end_before, owner_after, start_after, end_after \
         FROM shift_changes WHERE schedule_id = $1 AND version > $2 AND version <= $3 \
         ORDER BY version, shift_id",
    )
    .bind(id.as_uuid())
    .bind(after)
    .bind(up_to)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for row in &changes {
        let version = rows::version(row.try_get(0).map_err(db_error)?)?;
        let start_before: Option<i64> = row.try_get(3).map_err(db_error)?;
        let before = match start_before {
            Some(start) => Some(rows::shift_state(
                row.try_get(2).map_err(db_error)?,
                start,
                row.try_get::<Option<i64>, _>(4)
                    .map_err(db_error)?
                    .unwrap_or(start),
            )?),
            None => None,
        };
        let change = ShiftChange {
            shift_id: ShiftId::from_uuid(row.try_get(1).map_err(db_error)?),
            before,
            after: rows::shift_state(
                row.try_get(5).map_err(db_error)?,
                row.try_get(6).map_err(db_error)?,
                row.try_get(7).map_err(db_error)?,
            )?,
        };
        let slot = index
            .get(&version)
            .ok_or_else(|| rows::corrupt(format!("change of missing version {version}")))?;
        out[*slot].changes.push(change);
    }
    Ok(out)
}

/// The owned shifts of the unit's other weeks within the span of `new`'s shifts: those of
/// the weeks before and after that reach across the week's edges.
async fn booked_near(conn: &mut Conn, new: &NewSchedule) -> StoreResult<Vec<engine::Booked>> {
    let (Some(from), Some(to)) = (
        new.shifts.iter().map(|s| s.window.start()).min(),
        new.shifts.iter().map(|s| s.window.end()).max(),
    ) else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "SELECT s.id, s.owner_agent_id, s.start_at, s.end_at FROM shifts s \
         JOIN schedules sc ON sc.id = s.schedule_id \
         WHERE sc.business_unit_id = $1 AND s.owner_agent_id IS NOT NULL \
         AND s.start_at < $2 AND s.end_at > $3 AND sc.week_start <> $4",
    )
    .bind(new.business_unit_id.as_uuid())
    .bind(micros(to))
    .bind(micros(from))
    // The same week again is answered as existing already, not as overlapping itself.
    .bind(new.week_start.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let id: Uuid = r.try_get(0).map_err(db_error)?;
            let owner: Uuid = r.try_get(1).map_err(db_error)?;
            Ok(engine::Booked {
                shift_id: ShiftId::from_uuid(id),
                owner: AgentId::from_uuid(owner),
                start: rows::instant(r.try_get(2).map_err(db_error)?)?,
                end: rows::instant(r.try_get(3).map_err(db_error)?)?,
            })
        })
        .collect()
}

impl ScheduleStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn import_schedule(
        &self,
        new: &NewSchedule,
        ctx: &CommitContext,
    ) -> StoreResult<Schedule> {
        let bu = self.business_unit(new.business_unit_id).await?;
        let mut w = self.begin_write().await?;
        let mut owners: Vec<AgentId> = new.shifts.iter().filter_map(|s| s.owner).collect();
        owners.sort_unstable();
        owners.dedup();
        let found = agents_by_ids(&mut w.tx, &owners).await?;
        let mut foreign: Vec<Violation> = owners
            .iter()
            .filter(|id| {
                !found
                    .iter()
                    .any(|a| a.id == **id && a.business_unit_id == bu.id)
            })
            .map(|id| Violation {
                code: ViolationCode::AgentNotFound,
                agent_id: Some(*id),
                shift_id: None,
                detail: format!("agent {id} is not an agent of this business unit"),
                coverage: None,
            })
            .collect();
        foreign.extend(engine::import_violations(new, &bu));
        if foreign.is_empty() && !owners.is_empty() {
            // Imports of one unit one at a time, so two neighbouring weeks imported at once
            // each see the other's shifts.
            sqlx::query(concatcp!(
                "SELECT id FROM business_units WHERE id = $1",
                UNIT_LOCK
            ))
            .bind(bu.id.as_uuid())
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
            let booked = booked_near(&mut w.tx, new).await?;
            foreign.extend(engine::booked_elsewhere(new, &booked));
        }
        if !foreign.is_empty() {
            return Err(CommandError::Rejected(foreign).into());
        }
        let (schedule, shifts, commit) = engine::plan_import(new, ctx);
        sqlx::query(
            "INSERT INTO schedules (id, business_unit_id, week_start, state, version) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(schedule.id.as_uuid())
        .bind(schedule.business_unit_id.as_uuid())
        .bind(schedule.week_start.to_string())
        .bind(schedule.state.as_str())
        .bind(version_i64(schedule.version))
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        for chunk in shifts.chunks(CHUNK) {
            let mut q =
                QueryBuilder::<Db>::new(concatcp!("INSERT INTO shifts (", SHIFT_INSERT_COLS, ") "));
            q.push_values(chunk, |mut row, s| {
                row.push_bind(s.id.as_uuid())
                    .push_bind(s.schedule_id.as_uuid())
                    .push_bind(s.owner.map(|a| a.as_uuid()))
                    .push_bind(micros(s.window.start()))
                    .push_bind(micros(s.window.end()))
                    .push_bind(s.required_skill.as_ref().map(|k| k.as_str().to_owned()))
                    .push_bind(s.activity_code.as_str().to_owned())
                    .push_bind(version_i64(s.version));
            });
            q.build().execute(&mut *w.tx).await.map_err(db_error)?;
            let mut q =
                QueryBuilder::<Db>::new("INSERT INTO shift_activities (shift_id, activities) ");
            q.push_values(chunk, |mut row, s| {
                row.push_bind(s.id.as_uuid())
                    .push_bind(rows::activities_json(&s.activities, s.window.start()));
            });
            q.build().execute(&mut *w.tx).await.map_err(db_error)?;
        }
        let wanted = wanted_of(&mut w, schedule.business_unit_id).await?;
        let mut batch = Batch::new();
        push_version(&mut batch, &commit.record);
        push_changes(&mut batch, &commit.record, &commit.changes);
        super::coverage::push_first(
            &mut batch,
            &schedule,
            &rota_core::coverage::WeekGrid::new(schedule.week_window(&bu.time_zone)),
            &shifts,
            &found,
        );
        push_events(
            &mut batch,
            &wanted,
            schedule.business_unit_id,
            ctx.now,
            |w| {
                w.one(EventType::ScheduleVersionCreated, || {
                    rota_api::events::version_created(&schedule, &commit)
                })
            },
        );
        push_key(&mut batch, ctx, &schedule)?;
        batch.run(&mut w.tx).await?;
        w.commit().await?;
        Ok(schedule)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn schedule(&self, id: ScheduleId) -> StoreResult<Schedule> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        load_schedule(&mut conn, id, false)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| StoreError::not_found("schedule", id))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn shift(&self, id: ShiftId) -> StoreResult<Shift> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        shifts_by_ids(&mut conn, &[id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("shift", id))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_schedule(
        &self,
        bu: BusinessUnitId,
        week_start: Date,
    ) -> StoreResult<Option<Schedule>> {
        let row = sqlx::query(
            "SELECT id, business_unit_id, week_start, state, version FROM schedules \
             WHERE business_unit_id = $1 AND week_start = $2",
        )
        .bind(bu.as_uuid())
        .bind(week_start.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(decode_schedule).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn shifts(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Shift>> {
        let (limit, offset) = page_args(page);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        if load_schedule(&mut conn, id, false).await?.is_none() {
            return Err(StoreError::not_found("schedule", id));
        }
        let owner_clause = match (filter.agent, filter.open) {
            (Some(_), _) => " AND owner_agent_id = $4",
            (None, true) => " AND owner_agent_id IS NULL",
            (None, false) => "",
        };
        let sql = format!(
            "SELECT {SHIFT_COLS} FROM shifts WHERE schedule_id = $1{owner_clause} \
             ORDER BY start_at, id LIMIT $2 OFFSET $3"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .bind(limit)
            .bind(offset);
        let count_sql = format!(
            "SELECT COUNT(*) FROM shifts WHERE schedule_id = $1{}",
            owner_clause.replace("$4", "$2")
        );
        let mut count =
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql)).bind(id.as_uuid());
        if let Some(agent) = filter.agent {
            query = query.bind(agent.as_uuid());
            count = count.bind(agent.as_uuid());
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(db_error)?;
        let count = count.fetch_one(&mut *conn).await.map_err(db_error)?;
        Ok(Page {
            items: rows.iter().map(decode_shift).collect::<StoreResult<_>>()?,
            total: total(count),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn shift_slots(
        &self,
        id: ScheduleId,
        filter: ShiftFilter,
    ) -> StoreResult<Vec<rota_core::schedule::ShiftSlot>> {
        let owner_clause = match (filter.agent, filter.open) {
            (Some(_), _) => " AND owner_agent_id = $2",
            (None, true) => " AND owner_agent_id IS NULL",
            (None, false) => "",
        };
        let sql = format!(
            "SELECT {SLOT_JSON} FROM (SELECT * FROM shifts WHERE schedule_id = $1{owner_clause} \
             ORDER BY start_at, id) AS shifts"
        );
        let mut query =
            sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid());
        if let Some(agent) = filter.agent {
            query = query.bind(agent.as_uuid());
        }
        let doc = query.fetch_one(&self.pool).await.map_err(db_error)?;
        let mut slots = rows::slots_from_json(doc.as_deref().unwrap_or("[]"))?;
        slots.sort_by_key(|s| (s.window.start(), s.id));
        Ok(slots)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn versions(
        &self,
        id: ScheduleId,
        page: PageRequest,
    ) -> StoreResult<Page<VersionRecord>> {
        let (limit, offset) = page_args(page);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
            return Err(StoreError::not_found("schedule", id));
        };
        let rows = sqlx::query(
            "SELECT schedule_id, version, cause, actor, request_id, created_at, change_count \
             FROM schedule_versions WHERE schedule_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
        )
        .bind(id.as_uuid())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(Page {
            items: rows
                .iter()
                .map(decode_version)
                .collect::<StoreResult<_>>()?,
            // Versions are 1..=current without gaps, so the count is the current version.
            total: schedule.version.get(),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn changes_since(
        &self,
        id: ScheduleId,
        since: Option<ScheduleVersion>,
    ) -> StoreResult<Vec<VersionChanges>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
            return Err(StoreError::not_found("schedule", id));
        };
        if let Some(since) = since
            && since > schedule.version
        {
            return Err(CommandError::UnknownVersion {
                schedule: id,
                requested: since,
                current: schedule.version,
            }
            .into());
        }
        history(
            &mut conn,
            id,
            since.map_or(0, version_i64),
            version_i64(schedule.version),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn schedule_as_of(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
    ) -> StoreResult<Vec<Shift>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
            return Err(StoreError::not_found("schedule", id));
        };
        if version > schedule.version {
            return Err(CommandError::UnknownVersion {
                schedule: id,
                requested: version,
                current: schedule.version,
            }
            .into());
        }
        let entries = history(&mut conn, id, 0, version_i64(version)).await?;
        let states = replay(&entries).map_err(rows::corrupt)?;
        // Each shift's states before the changes after `version`, newest first: the way back
        // is walked one change at a time, as each change laid the activities out (a moved
        // start alone and a move of both ends lay them out differently, so one jump back
        // from the current window would not undo both).
        let later = history(
            &mut conn,
            id,
            version_i64(version),
            version_i64(schedule.version),
        )
        .await?;
        let mut back: std::collections::HashMap<rota_core::ids::ShiftId, Vec<_>> =
            std::collections::HashMap::new();
        for entry in later.iter().rev() {
            for c in &entry.changes {
                if let Some(before) = c.before {
                    back.entry(c.shift_id)
                        .or_default()
                        .push((before, entry.record.version));
                }
            }
        }
        let sql = format!("SELECT {SHIFT_COLS} FROM shifts WHERE schedule_id = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        let mut shifts = Vec::with_capacity(states.len());
        for row in &rows {
            let mut shift = decode_shift(row)?;
            let Some(then) = states.get(&shift.id) else {
                continue;
            };
            // Through `Shift::apply`, so the activities are laid out as the shift then was.
            for (before, at) in back.get(&shift.id).into_iter().flatten() {
                shift.apply(before, *at).map_err(rows::corrupt)?;
            }
            shift
                .apply(&then.state, then.version)
                .map_err(rows::corrupt)?;
            shifts.push(shift);
        }
        shifts.sort_unstable_by_key(|s| (s.window.start(), s.id));
        Ok(shifts)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply_swaps(&self, req: &SwapRequest, ctx: &CommitContext) -> StoreResult<SwapResult> {
        let mut w = self.begin_write().await?;
        let touched = req.touched_shifts();
        let mut snap = snapshot(&mut w, req.base.schedule(), &touched, |found| {
            Snapshot::involved_agents(&req.items, found)
        })
        .await?;
        guard(&mut w, &mut snap, Guarded::BulkSwap, &touched, None, false).await?;
        let plan = engine::plan_swaps(&snap, req, ctx.now)?;
        let applied: Vec<&rota_core::command::SwapItem> = req
            .items
            .iter()
            .zip(&plan.outcomes)
            .filter(|(_, o)| o.is_applied())
            .map(|(item, _)| item)
            .collect();
        let version = snap.schedule.version.next();
        let swap_events = |w: &Wanted| {
            if !w.wants(EventType::ShiftSwapApplied) {
                return Vec::new();
            }
            applied
                .iter()
                .map(|item| {
                    let counterpart = snap.shifts.get(&item.new_shift_id).and_then(|s| s.owner);
                    rota_api::events::swap_applied(&snap.schedule, version, item, counterpart, None)
                })
                .collect()
        };
        commit_plan(
            w,
            &snap.schedule,
            plan,
            VersionCause::BulkSwap,
            ctx,
            swap_events,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn edit_shift(&self, edit: &ShiftEdit, ctx: &CommitContext) -> StoreResult<SwapResult> {
        let mut w = self.begin_write().await?;
        let schedule_id: Uuid = sqlx::query_scalar("SELECT schedule_id FROM shifts WHERE id = $1")
            .bind(edit.shift_id.as_uuid())
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db_error)?
            .ok_or(CommandError::ShiftNotFound(edit.shift_id))?;
        let schedule_id = ScheduleId::from_uuid(schedule_id);
        let mut snap = snapshot(&mut w, schedule_id, &[edit.shift_id], |touched| {
            let mut agents: Vec<AgentId> = touched.iter().filter_map(|s| s.owner).collect();
            if let EditChange::Reassign { agent_id } = edit.change {
                agents.push(agent_id);
            }
            agents
        })
        .await?;
        let moved_to = match edit.change {
            EditChange::Move { window } => Some((window.start(), window.end())),
            _ => None,
        };
        guard(
            &mut w,
            &mut snap,
            Guarded::SupervisorEdit,
            &[edit.shift_id],
            moved_to,
            matches!(edit.change, EditChange::Reassign { .. }),
        )
        .await?;
        let plan = engine::plan_edit(&snap, edit, ctx.now)?;
        commit_plan(
            w,
            &snap.schedule,
            plan,
            VersionCause::SupervisorEdit,
            ctx,
            no_events,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn publish(&self, id: ScheduleId, ctx: &CommitContext) -> StoreResult<Schedule> {
        let mut w = self.begin_write().await?;
        let (mut schedule, _) = load_schedule(&mut w.tx, id, true)
            .await?
            .ok_or_else(|| StoreError::not_found("schedule", id))?;
        if schedule.state == ScheduleState::Published {
            record_result(&mut w.tx, ctx, &schedule).await?;
            w.commit().await?;
            return Ok(schedule);
        }
        let commit = Commit::new(
            schedule.id,
            schedule.version.next(),
            VersionCause::Publish,
            ctx,
            Vec::new(),
        );
        write_commit(&mut w, &schedule, &commit, no_events).await?;
        sqlx::query("UPDATE schedules SET state = $1 WHERE id = $2")
            .bind(ScheduleState::Published.as_str())
            .bind(id.as_uuid())
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
        schedule.state = ScheduleState::Published;
        schedule.version = commit.record.version;
        record_result(&mut w.tx, ctx, &schedule).await?;
        w.commit().await?;
        Ok(schedule)
    }
}
