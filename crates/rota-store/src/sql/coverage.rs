//! Coverage kept by every commit (each adds its delta to the cells it touches), the guard's
//! reads under the write lock, the requirement and its history, and coverage as of a version.

use std::collections::{BTreeSet, HashMap};

use const_format::concatcp;

use rota_core::coverage::{
    self, Cell, Cells, CellsBySkill, Delta, Guarded, RequirementRun, Slot, WeekGrid,
};
use rota_core::directory::{Agent, Skill};
use rota_core::engine::{Commit, Snapshot};
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
use rota_core::schedule::{Schedule, Shift};
use rota_core::store::{CoverageReport, StoreError, StoreResult};
use rota_core::trade::BusinessUnitSettings;
use rota_core::version::{CommitContext, ScheduleVersion, VersionCause};
use rota_core::webhook::EventType;
use sqlx::Row;
use uuid::Uuid;

use super::batch::{Batch, Done};
use super::commands::push_commit;
use super::decode::{SHIFT_COLS, agents_by_ids, decode_shift};
use super::dialect::{Backend, CELLS_JSON, READ_SNAPSHOT};
use super::idempotency::push_key;
use super::outbox::wanted_of;
use super::snapshot::load_schedule;
use super::trade_rows::settings_of;
use super::{CHUNK, Conn, Tx};
use crate::rows::{self, db_error, version_i64};

/// Adds `delta` to the schedule's cells (creating those it has not got).
pub(super) fn push_delta(batch: &mut Batch, schedule: ScheduleId, delta: &Delta) {
    let cells: Vec<(&Skill, Slot, i64)> = delta.iter().collect();
    for chunk in cells.chunks(CHUNK) {
        batch
            .push("INSERT INTO coverage (schedule_id, skill, slot, scheduled) ")
            .push_values(chunk, |mut row, (skill, slot, minutes)| {
                row.push_bind(schedule.as_uuid())
                    .push_bind(skill.as_str().to_owned())
                    .push_bind(i64::from(*slot))
                    .push_bind(*minutes);
            })
            .push(
                " ON CONFLICT (schedule_id, skill, slot) \
                 DO UPDATE SET scheduled = coverage.scheduled + excluded.scheduled",
            );
    }
}

/// The first version's coverage, counted from its shifts and their owners' skills.
pub(super) fn push_first(
    batch: &mut Batch,
    schedule: &Schedule,
    grid: &WeekGrid,
    shifts: &[Shift],
    owners: &[Agent],
) {
    let owners: HashMap<AgentId, Agent> = owners.iter().map(|a| (a.id, a.clone())).collect();
    push_delta(
        batch,
        schedule.id,
        &coverage::scheduled(grid, shifts, &owners),
    );
    batch
        .push("UPDATE schedules SET coverage_ready = 1 WHERE id = ")
        .push_bind(schedule.id.as_uuid());
}

/// The statement that reads the schedule's cells (only those with anything in them) as one
/// JSON array.
fn push_cells(batch: &mut Batch, schedule: ScheduleId) {
    batch
        .push(concatcp!(
            "SELECT ",
            CELLS_JSON,
            " FROM coverage WHERE schedule_id = "
        ))
        .push_bind(schedule.as_uuid())
        .push(" AND (required <> 0 OR scheduled <> 0)");
}

fn decode_cells(done: &Done) -> StoreResult<Cells> {
    let doc: Option<String> = match done.rows.first() {
        Some(row) => row.try_get(0).map_err(db_error)?,
        None => None,
    };
    let rows: Vec<(Skill, Slot, u32, i64)> =
        serde_json::from_str(doc.as_deref().unwrap_or("[]")).map_err(rows::corrupt)?;
    Ok(rows
        .into_iter()
        .map(|(skill, slot, required, scheduled_minutes)| {
            (
                (skill, slot),
                Cell {
                    required,
                    scheduled_minutes,
                },
            )
        })
        .collect())
}

/// Sets up the guard of a command of `cause` on `snap`: the business unit's setting for it,
/// and, when it checks, the cells of the intervals `touched` shifts span (and `also`, a move's
/// new window) of the skills the command can lower (`reassigns`: an edit that only gives the
/// shift another owner), read under the write lock the snapshot was taken under.
pub(super) async fn guard(
    w: &mut Tx,
    snap: &mut Snapshot,
    cause: Guarded,
    touched: &[ShiftId],
    also: Option<(jiff::Timestamp, jiff::Timestamp)>,
    reassigns: bool,
) -> StoreResult<()> {
    let settings = match w.settings.take() {
        Some(Some(doc)) => {
            serde_json::from_str::<BusinessUnitSettings>(&doc).map_err(rows::corrupt)?
        }
        Some(None) => BusinessUnitSettings::default(),
        None => settings_of(&mut w.tx, snap.schedule.business_unit_id).await?,
    };
    snap.guard = settings.coverage.check(cause);
    if snap.guard.is_none() {
        return Ok(());
    }
    let grid = WeekGrid::new(snap.schedule.week_window(&snap.zone));
    let mut ranges: Vec<(Slot, Slot)> = touched
        .iter()
        .filter_map(|id| snap.shifts.get(id))
        .map(|s| (s.window.start(), s.window.end()))
        .chain(also)
        .filter_map(|(start, end)| {
            let mut slots = grid.overlaps(start, end).map(|(slot, _)| slot);
            let first = slots.next()?;
            Some((first, slots.last().unwrap_or(first)))
        })
        .collect();
    if ranges.is_empty() {
        return Ok(());
    }
    ranges.sort_unstable();
    let mut merged: Vec<(Slot, Slot)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    // Which skills the command can lower. When it only hands owned shifts from one involved
    // agent to another (a swap, a trade, a reassignment), a skill every involved agent has
    // gains in each interval what it loses there; otherwise any skill of theirs may drop.
    let mut skills: BTreeSet<&Skill> = snap.agents.values().flat_map(|a| &a.skills).collect();
    let exchange = matches!(cause, Guarded::BulkSwap | Guarded::Trade)
        || (cause == Guarded::SupervisorEdit && reassigns);
    if exchange
        && also.is_none()
        && touched
            .iter()
            .filter_map(|id| snap.shifts.get(id))
            .all(|s| s.owner.is_some())
    {
        skills.retain(|skill| !snap.agents.values().all(|a| a.skills.contains(*skill)));
    }
    if skills.is_empty() {
        return Ok(());
    }
    let (id, version) = (snap.schedule.id, snap.schedule.version);
    snap.coverage = match w
        .cache
        .coverage(id, version, &merged, skills.iter().copied())
    {
        Some(cells) => cells,
        None => {
            // The whole week, once: later commits of this writer keep it current in the
            // cache, so the next guarded command reads nothing.
            let mut batch = Batch::new();
            push_cells(&mut batch, id);
            let week = CellsBySkill::new(&decode_cells(&batch.run(&mut w.tx).await?[0])?);
            let cells = week.subset(&merged, skills.iter().copied());
            w.cache.put_coverage(id, version, week);
            cells
        }
    };
    Ok(())
}

/// The skills of the business unit's agents: what a requirement may name.
async fn skills_of(conn: &mut Conn, bu: BusinessUnitId) -> StoreResult<BTreeSet<Skill>> {
    let docs: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT skills FROM agents WHERE business_unit_id = $1")
            .bind(bu.as_uuid())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
    let mut skills = BTreeSet::new();
    for doc in docs {
        let some: BTreeSet<Skill> = serde_json::from_str(&doc).map_err(rows::corrupt)?;
        skills.extend(some);
    }
    Ok(skills)
}

/// Computes the coverage of the schedules imported before coverage existed, once.
pub(crate) async fn backfill(store: &Backend) -> StoreResult<()> {
    let pending: Vec<Uuid> = {
        let mut conn = store.pool.acquire().await.map_err(db_error)?;
        sqlx::query_scalar("SELECT id FROM schedules WHERE coverage_ready = 0")
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?
    };
    for id in pending {
        let mut w = store.begin_write().await?;
        let id = ScheduleId::from_uuid(id);
        let Some((schedule, zone)) = load_schedule(&mut w.tx, id, true).await? else {
            continue;
        };
        let sql = format!("SELECT {SHIFT_COLS} FROM shifts WHERE schedule_id = $1");
        let shifts = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_uuid())
            .fetch_all(&mut *w.tx)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_shift)
            .collect::<StoreResult<Vec<Shift>>>()?;
        let mut owners: Vec<AgentId> = shifts.iter().filter_map(|s| s.owner).collect();
        owners.sort_unstable();
        owners.dedup();
        let owners = agents_by_ids(&mut w.tx, &owners).await?;
        let mut batch = Batch::new();
        batch
            .push("UPDATE coverage SET scheduled = 0 WHERE schedule_id = ")
            .push_bind(id.as_uuid());
        push_first(
            &mut batch,
            &schedule,
            &WeekGrid::new(schedule.week_window(&zone)),
            &shifts,
            &owners,
        );
        batch.run(&mut w.tx).await?;
        w.commit().await?;
    }
    Ok(())
}

pub(super) async fn set_requirements(
    store: &Backend,
    id: ScheduleId,
    runs: &[RequirementRun],
    ctx: &CommitContext,
) -> StoreResult<Schedule> {
    let mut w = store.begin_write().await?;
    let (schedule, zone) = load_schedule(&mut w.tx, id, true)
        .await?
        .ok_or_else(|| StoreError::not_found("schedule", id))?;
    let grid = WeekGrid::new(schedule.week_window(&zone));
    let skills = skills_of(&mut w.tx, schedule.business_unit_id).await?;
    let cells = coverage::requirement_cells(&grid, runs, &skills)?;
    let mut batch = Batch::new();
    push_cells(&mut batch, id);
    let current = decode_cells(&batch.run(&mut w.tx).await?[0])?;
    let changed: Vec<(Skill, Slot, u32, u32)> = cells
        .into_iter()
        .filter_map(|(skill, slot, after)| {
            let before = current
                .get(&(skill.clone(), slot))
                .map_or(0, |c| c.required);
            (before != after).then_some((skill, slot, before, after))
        })
        .collect();
    if changed.is_empty() {
        let mut batch = Batch::new();
        push_key(&mut batch, ctx, &schedule)?;
        batch.run(&mut w.tx).await?;
        w.commit().await?;
        return Ok(schedule);
    }
    let commit = Commit::new(
        id,
        schedule.version.next(),
        VersionCause::Requirements,
        ctx,
        Vec::new(),
    );
    let wanted = wanted_of(&mut w, schedule.business_unit_id).await?;
    let mut batch = Batch::new();
    let version = commit.record.version;
    push_commit(&mut batch, &wanted, &schedule, &commit, |wanted| {
        wanted.one(EventType::RequirementsChanged, || {
            rota_api::events::requirements_changed(&schedule, version, &grid, &changed)
        })
    });
    for chunk in changed.chunks(CHUNK) {
        batch
            .push("INSERT INTO coverage (schedule_id, skill, slot, required) ")
            .push_values(chunk, |mut row, (skill, slot, _, after)| {
                row.push_bind(id.as_uuid())
                    .push_bind(skill.as_str().to_owned())
                    .push_bind(i64::from(*slot))
                    .push_bind(i64::from(*after));
            })
            .push(
                " ON CONFLICT (schedule_id, skill, slot) DO UPDATE SET required = excluded.required",
            );
        batch
            .push(
                "INSERT INTO requirement_changes \
                 (schedule_id, version, skill, slot, required_before, required_after) ",
            )
            .push_values(chunk, |mut row, (skill, slot, before, after)| {
                row.push_bind(id.as_uuid())
                    .push_bind(version_i64(version))
                    .push_bind(skill.as_str().to_owned())
                    .push_bind(i64::from(*slot))
                    .push_bind(i64::from(*before))
                    .push_bind(i64::from(*after));
            });
    }
    let after = Schedule {
        version,
        ..schedule.clone()
    };
    push_key(&mut batch, ctx, &after)?;
    batch.run(&mut w.tx).await?;
    w.wrote(schedule.version, commit);
    w.commit().await?;
    Ok(after)
}

/// The coverage now, or as of `version`: the current cells with the shift changes and the
/// requirement changes after it taken back, all read in one snapshot of the database.
pub(super) async fn coverage_at(
    store: &Backend,
    id: ScheduleId,
    version: Option<ScheduleVersion>,
) -> StoreResult<CoverageReport> {
    let mut tx = store
        .pool
        .begin_with(READ_SNAPSHOT)
        .await
        .map_err(db_error)?;
    let (mut schedule, zone) = load_schedule(&mut tx, id, false)
        .await?
        .ok_or_else(|| StoreError::not_found("schedule", id))?;
    if let Some(v) = version
        && v > schedule.version
    {
        return Err(rota_core::command::CommandError::UnknownVersion {
            schedule: id,
            requested: v,
            current: schedule.version,
        }
        .into());
    }
    let grid = WeekGrid::new(schedule.week_window(&zone));
    let mut batch = Batch::new();
    push_cells(&mut batch, id);
    let mut cells = decode_cells(&batch.run(&mut tx).await?[0])?;
    if let Some(v) = version.filter(|v| *v < schedule.version) {
        let since = version_i64(v);
        let undone: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT skill, slot, required_before FROM requirement_changes \
             WHERE schedule_id = $1 AND version > $2 ORDER BY version DESC",
        )
        .bind(id.as_uuid())
        .bind(since)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        for (skill, slot, before) in undone {
            let key = (
                Skill::parse(&skill).map_err(rows::corrupt)?,
                Slot::try_from(slot).map_err(rows::corrupt)?,
            );
            cells.entry(key).or_default().required =
                u32::try_from(before).map_err(rows::corrupt)?;
        }
        let later =
            super::schedules::history(&mut tx, id, since, version_i64(schedule.version)).await?;
        let mut ids: Vec<ShiftId> = later
            .iter()
            .flat_map(|e| e.changes.iter().map(|c| c.shift_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let shifts = super::decode::shifts_by_ids(&mut tx, &ids).await?;
        let shifts: HashMap<ShiftId, Shift> = shifts.into_iter().map(|s| (s.id, s)).collect();
        let mut owners: Vec<AgentId> = later
            .iter()
            .flat_map(|e| &e.changes)
            .flat_map(|c| [c.before.and_then(|b| b.owner), c.after.owner])
            .flatten()
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let owners: HashMap<AgentId, Agent> = agents_by_ids(&mut tx, &owners)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        let mut delta = Delta::new();
        for change in later.iter().flat_map(|e| &e.changes) {
            let (Some(shift), Some(before)) = (shifts.get(&change.shift_id), change.before) else {
                return Err(rows::corrupt(
                    "a change after the first version has no before",
                ));
            };
            coverage::add_change(
                &mut delta,
                &grid,
                shift,
                Some(&change.after),
                &before,
                &owners,
            );
        }
        coverage::apply(&mut cells, &delta);
        cells.retain(|_, c| *c != Cell::default());
        schedule.version = v;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(CoverageReport {
        schedule,
        grid,
        cells,
    })
}
