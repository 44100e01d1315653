//! What the engine needs for a command, from the write cache validated under the
//! schedule's write lock.

use std::collections::HashMap;

use const_format::concatcp;
use rota_core::command::CommandError;
use rota_core::directory::{Agent, Zone};
use rota_core::engine::{NEIGHBOURHOOD_MINUTES, Snapshot};
use rota_core::ids::{AgentId, ScheduleId, ShiftId};
use rota_core::schedule::{Schedule, Shift};
use rota_core::store::StoreResult;
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::batch::{Batch, Done};
use super::decode::{agents_by_ids, decode_schedule_zone, fetch_json, push_in_list, shifts_by_ids};
use super::dialect::{AGENT_JSON, Db, SCHEDULE_LOCK, SHIFT_JSON, WEEKS_AFTER, WEEKS_BEFORE};
use super::outbox::{WANTED, decode_wanted};
use super::{CHUNK, Conn, Tx};
use crate::cache::Refresh;
use crate::rows::{self, db_error, version_i64};

/// The schedule and its business unit's zone; locked for the transaction when `lock`.
pub(super) async fn load_schedule(
    conn: &mut Conn,
    id: ScheduleId,
    lock: bool,
) -> StoreResult<Option<(Schedule, Zone)>> {
    let mut batch = Batch::new();
    push_schedule(&mut batch, id, lock);
    let done = batch.run(conn).await?;
    done[0].rows.first().map(decode_schedule_zone).transpose()
}

/// The statement that reads schedule `id` with its business unit's zone (see
/// [`decode_schedule_zone`]), locking it for the transaction when `lock`.
pub(super) fn push_schedule(batch: &mut Batch, id: ScheduleId, lock: bool) {
    batch
        .push(
            "SELECT s.id, s.business_unit_id, s.week_start, s.state, s.version, b.time_zone \
             FROM schedules s JOIN business_units b ON b.id = s.business_unit_id WHERE s.id = ",
        )
        .push_bind(id.as_uuid())
        .push(if lock { SCHEDULE_LOCK } else { "" });
}

/// Brings the neighbourhood's schedules up to date in the cache, given their ids and
/// versions as read under the write lock (`schedule` itself among them).
pub(super) async fn fresh_neighbourhood(
    w: &mut Tx,
    schedule: &Schedule,
    done: &Done,
) -> StoreResult<Vec<ScheduleId>> {
    let mut ids = Vec::with_capacity(done.rows.len());
    for row in &done.rows {
        let id = ScheduleId::from_uuid(row.try_get(0).map_err(db_error)?);
        // The locked schedule's own version, as read under the lock.
        let version = if id == schedule.id {
            schedule.version
        } else {
            rows::version(row.try_get(1).map_err(db_error)?)?
        };
        match w.cache.schedule_refresh(id, version) {
            Refresh::Current => {}
            Refresh::Whole => {
                let mut q = QueryBuilder::<Db>::new(concatcp!(
                    "SELECT ",
                    SHIFT_JSON,
                    " FROM shifts WHERE schedule_id = "
                ));
                q.push_bind(id.as_uuid());
                let shifts = rows::shifts_from_json(&fetch_json(&mut q, &mut w.tx).await?)?;
                w.cache.put_schedule(id, version, shifts);
            }
            Refresh::Since(cached) => {
                let changed: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT DISTINCT shift_id FROM shift_changes WHERE schedule_id = $1 AND version > $2",
                )
                .bind(id.as_uuid())
                .bind(version_i64(cached))
                .fetch_all(&mut *w.tx)
                .await
                .map_err(db_error)?;
                let changed: Vec<ShiftId> = changed.into_iter().map(ShiftId::from_uuid).collect();
                let shifts = shifts_by_ids(&mut w.tx, &changed).await?;
                w.cache.refresh_schedule(id, cached, version, shifts);
            }
        }
        ids.push(id);
    }
    Ok(ids)
}

/// `ids` as agents, current at agent revision `revision` (read under the write lock):
/// re-reads the agents written since the cache last looked, then whatever it has not
/// seen.
pub(super) async fn fresh_agents(
    w: &mut Tx,
    revision: i64,
    ids: &[AgentId],
) -> StoreResult<Vec<Agent>> {
    let cached = w.cache.agents_revision();
    if cached != Some(revision) {
        let changed = match cached {
            Some(cached) if cached < revision => {
                let q = concatcp!("SELECT ", AGENT_JSON, " FROM agents WHERE revision > $1");
                let doc: Option<String> = sqlx::query_scalar(q)
                    .bind(cached)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
                rows::agents_from_json(doc.as_deref().unwrap_or("[]"))?
            }
            _ => Vec::new(),
        };
        w.cache
            .refresh_agents(cached.filter(|c| *c < revision), revision, changed);
    }
    let missing = w.cache.missing_agents(ids);
    if !missing.is_empty() {
        w.cache
            .put_agents(agents_by_ids(&mut w.tx, &missing).await?);
    }
    Ok(w.cache.agents(ids))
}

/// What the engine needs for a command on schedule `id`, from the cache validated under
/// the write lock: the schedule (locked), the shifts of `touched` (read from the
/// database when outside the schedule, so the engine can name them), the agents
/// `agents_of` them names, and those agents' shifts near the week. The schedule row,
/// what the cache is validated by (the neighbourhood's versions, the agent revision),
/// the trade holds on `touched`, the event types the business unit's subscriptions want and
/// its settings are read in one batch; the wanted types and the settings stay with `w` for
/// the commit's events and its coverage guard.
pub(super) async fn snapshot(
    w: &mut Tx,
    id: ScheduleId,
    touched: &[ShiftId],
    agents_of: impl FnOnce(&[Shift]) -> Vec<AgentId>,
) -> StoreResult<Snapshot> {
    let mut batch = Batch::new();
    push_schedule(&mut batch, id, true);
    // Shifts start within their week and last at most a day: only schedules of weeks
    // starting within 14 days of this one can hold shifts near it.
    batch
        .push(concatcp!(
            "SELECT n.id, n.version FROM schedules s JOIN schedules n ON n.business_unit_id = s.business_unit_id \
             AND n.week_start > ", WEEKS_BEFORE, " AND n.week_start < ", WEEKS_AFTER, " WHERE s.id = "
        ))
        .push_bind(id.as_uuid());
    batch.push("SELECT revision FROM agent_revision WHERE id = 1");
    batch
        .push(WANTED)
        .push("(SELECT business_unit_id FROM schedules WHERE id = ")
        .push_bind(id.as_uuid())
        .push(")");
    batch
        .push(
            "SELECT settings FROM business_unit_settings WHERE business_unit_id = \
             (SELECT business_unit_id FROM schedules WHERE id = ",
        )
        .push_bind(id.as_uuid())
        .push(")");
    push_holds(&mut batch, touched);
    let done = batch.run(&mut w.tx).await?;
    let (schedule, zone) = decode_schedule_zone(
        done[0]
            .rows
            .first()
            .ok_or(CommandError::ScheduleNotFound(id))?,
    )?;
    let revision: i64 = done[2]
        .rows
        .first()
        .ok_or_else(|| rows::corrupt("the agent revision row is missing"))?
        .try_get(0)
        .map_err(db_error)?;
    w.wanted = Some((schedule.business_unit_id, decode_wanted(&done[3])?));
    w.settings = Some(
        done[4]
            .rows
            .first()
            .map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(db_error)?,
    );
    let held = decode_holds(&done[5..])?;
    let neighbourhood = fresh_neighbourhood(w, &schedule, &done[1]).await?;
    let (mut found, missing) = w.cache.touched(schedule.id, touched);
    if !missing.is_empty() {
        found.extend(shifts_by_ids(&mut w.tx, &missing).await?);
    }
    let mut agents = agents_of(&found);
    agents.sort_unstable();
    agents.dedup();
    let agents = fresh_agents(w, revision, &agents).await?;
    let (week_from, week_to) = schedule.week_window(&zone);
    let margin = jiff::SignedDuration::from_mins(NEIGHBOURHOOD_MINUTES);
    let window = (
        week_from.checked_sub(margin).map_err(rows::corrupt)?,
        week_to.checked_add(margin).map_err(rows::corrupt)?,
    );
    let ids: Vec<AgentId> = agents.iter().map(|a| a.id).collect();
    let nearby = w.cache.nearby(&neighbourhood, &ids, window);
    let shifts = found.into_iter().chain(nearby).map(|s| (s.id, s)).collect();
    Ok(Snapshot {
        schedule,
        zone,
        shifts,
        agents: agents.into_iter().map(|a| (a.id, a)).collect(),
        held,
        guard: None,
        coverage: Default::default(),
    })
}

/// The trades holding any of `shifts`.
pub(super) async fn holds_of(
    conn: &mut Conn,
    shifts: &[ShiftId],
) -> StoreResult<HashMap<ShiftId, rota_core::ids::TradeId>> {
    let mut batch = Batch::new();
    push_holds(&mut batch, shifts);
    decode_holds(&batch.run(conn).await?)
}

/// The statements that read the trade holds on `shifts` (see [`decode_holds`]).
pub(super) fn push_holds(batch: &mut Batch, shifts: &[ShiftId]) {
    for chunk in shifts.chunks(CHUNK) {
        let q = batch.push("SELECT shift_id, trade_id FROM trade_holds WHERE shift_id");
        push_in_list(q, chunk.iter().map(ShiftId::as_uuid));
    }
}

pub(super) fn decode_holds(
    done: &[Done],
) -> StoreResult<HashMap<ShiftId, rota_core::ids::TradeId>> {
    let mut held = HashMap::new();
    for row in done.iter().flat_map(|d| &d.rows) {
        held.insert(
            ShiftId::from_uuid(row.try_get(0).map_err(db_error)?),
            rota_core::ids::TradeId::from_uuid(row.try_get(1).map_err(db_error)?),
        );
    }
    Ok(held)
}
