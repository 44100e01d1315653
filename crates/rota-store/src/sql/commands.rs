//! Writing a version (its row, the changed shifts, the change log, its events) and
//! committing what the engine planned.

use rota_core::command::SwapResult;
use rota_core::engine::{Commit, Plan};
use rota_core::schedule::Schedule;
use rota_core::store::{StoreError, StoreResult};
use rota_core::version::{CommitContext, ShiftChange, VersionCause, VersionRecord};
use rota_core::webhook::{EventType, NewEvent, Wanted};

use super::batch::Batch;
use super::idempotency::push_key;
use super::outbox::{push_events, wanted_of};
use super::{CHUNK, Tx, UPDATE_CHUNK};
use crate::rows::{micros, version_i64};

pub(super) fn push_version(batch: &mut Batch, record: &VersionRecord) {
    batch
        .push(
            "INSERT INTO schedule_versions \
             (schedule_id, version, cause, actor, request_id, created_at, change_count) VALUES (",
        )
        .separated(", ")
        .push_bind(record.schedule_id.as_uuid())
        .push_bind(version_i64(record.version))
        .push_bind(record.cause.as_str())
        .push_bind(record.actor.clone())
        .push_bind(record.request_id.clone())
        .push_bind(micros(record.created_at))
        .push_bind(i64::from(record.change_count))
        .push_unseparated(")");
}

pub(super) fn push_changes(batch: &mut Batch, record: &VersionRecord, changes: &[ShiftChange]) {
    for chunk in changes.chunks(CHUNK) {
        batch
            .push(
                "INSERT INTO shift_changes (schedule_id, version, shift_id, owner_before, start_before, \
                 end_before, owner_after, start_after, end_after) ",
            )
            .push_values(chunk, |mut row, c| {
                row.push_bind(record.schedule_id.as_uuid())
                    .push_bind(version_i64(record.version))
                    .push_bind(c.shift_id.as_uuid())
                    .push_bind(c.before.and_then(|b| b.owner).map(|a| a.as_uuid()))
                    .push_bind(c.before.map(|b| micros(b.start)))
                    .push_bind(c.before.map(|b| micros(b.end)))
                    .push_bind(c.after.owner.map(|a| a.as_uuid()))
                    .push_bind(micros(c.after.start))
                    .push_bind(micros(c.after.end));
            });
    }
}

/// Adds to `batch` what writes a version on top of `schedule` (read under the write
/// lock): the version row, the changed shifts, the change log, and its events
/// (`schedule.version.created` and what `also` adds) for the types in `wanted`.
pub(super) fn push_commit(
    batch: &mut Batch,
    wanted: &Wanted,
    schedule: &Schedule,
    commit: &Commit,
    also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
) {
    // Only possible if the write lock was not held: refuse rather than fork history.
    let moved_under_lock =
        || StoreError::Busy("schedule version moved under the write lock".into());
    batch
        .push_checked(
            "UPDATE schedules SET version = ",
            Some((1, moved_under_lock)),
        )
        .push_bind(version_i64(commit.record.version))
        .push(" WHERE id = ")
        .push_bind(schedule.id.as_uuid())
        .push(" AND version = ")
        .push_bind(version_i64(schedule.version));
    push_version(batch, &commit.record);
    // Swaps change owners only. Assigning the times too would make the database rewrite
    // the time index entries of every swapped shift, unchanged as they are.
    let (moved, reassigned): (Vec<&ShiftChange>, Vec<&ShiftChange>) =
        commit.changes.iter().partition(|c| {
            c.before
                .is_none_or(|b| (b.start, b.end) != (c.after.start, c.after.end))
        });
    // Each shift is found by its whole key as the plan saw it (schedule, start before the
    // change, id): on SQLite that is the table's own order, one b-tree descent per shift
    // instead of one through the id index and another into the table, whose depth grows
    // with the schedule. The schedule id is a column of `v`, not a constant: given
    // `shifts.schedule_id = constant`, SQLite's planner scanned the schedule's shifts and
    // probed `v` for each. Each statement must change exactly its chunk's rows: a miss
    // would mean the plan was made against a state that is not the stored one.
    let missed = || StoreError::Corrupt("a changed shift was not found under its key".into());
    let start_before = |c: &ShiftChange| micros(c.before.map_or(c.after.start, |b| b.start));
    for (changes, moves) in [(&reassigned, false), (&moved, true)] {
        for chunk in changes.chunks(UPDATE_CHUNK) {
            let (columns, set) = if moves {
                (
                    "WITH v (id, schedule_id, start_before, owner, start_at, end_at) AS (",
                    ") UPDATE shifts SET owner_agent_id = v.owner, start_at = v.start_at, end_at = v.end_at, version = ",
                )
            } else {
                (
                    "WITH v (id, schedule_id, start_before, owner) AS (",
                    ") UPDATE shifts SET owner_agent_id = v.owner, version = ",
                )
            };
            let q = batch.push_checked(columns, Some((chunk.len() as u64, missed)));
            q.push_values(chunk.iter(), |mut row, c| {
                row.push_bind(c.shift_id.as_uuid())
                    .push_bind(schedule.id.as_uuid())
                    .push_bind(start_before(c))
                    .push_bind(c.after.owner.map(|a| a.as_uuid()));
                if moves {
                    row.push_bind(micros(c.after.start))
                        .push_bind(micros(c.after.end));
                }
            });
            q.push(set);
            q.push_bind(version_i64(commit.record.version));
            q.push(" FROM v WHERE shifts.schedule_id = v.schedule_id AND shifts.start_at = v.start_before AND shifts.id = v.id");
        }
    }
    for r in &commit.relaid {
        batch
            .push("UPDATE shift_activities SET activities = ")
            .push_bind(crate::rows::activities_json(&r.activities, r.start))
            .push(" WHERE shift_id = ")
            .push_bind(r.shift_id.as_uuid());
    }
    push_changes(batch, &commit.record, &commit.changes);
    super::coverage::push_delta(batch, schedule.id, &commit.coverage);
    push_events(
        batch,
        wanted,
        schedule.business_unit_id,
        commit.record.created_at,
        |w| {
            let mut events = w.one(EventType::ScheduleVersionCreated, || {
                rota_api::events::version_created(schedule, commit)
            });
            events.extend(also(w));
            events
        },
    );
}

/// Writes a version on top of `schedule` (see [`push_commit`]) in the caller's
/// transaction.
pub(super) async fn write_commit(
    w: &mut Tx,
    schedule: &Schedule,
    commit: &Commit,
    also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
) -> StoreResult<()> {
    let wanted = wanted_of(w, schedule.business_unit_id).await?;
    let mut batch = Batch::new();
    push_commit(&mut batch, &wanted, schedule, commit, also);
    batch.run(&mut w.tx).await?;
    w.wrote(schedule.version, commit.clone());
    Ok(())
}

/// For commits that emit nothing besides their version.
pub(super) fn no_events(_: &Wanted) -> Vec<NewEvent> {
    Vec::new()
}

/// Commits what a plan decided, if anything, and the transaction, and answers with the
/// outcomes: the version, its events and the request's idempotency key go to the database
/// together. The end of every command that plans through the engine.
pub(super) async fn commit_plan(
    mut w: Tx,
    schedule: &Schedule,
    plan: Plan,
    cause: VersionCause,
    ctx: &CommitContext,
    also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
) -> StoreResult<SwapResult> {
    let commit = Commit::of_plan(schedule, cause, ctx, &plan);
    let mut batch = Batch::new();
    super::held::push_held(&mut batch, schedule, cause, ctx, &plan.held)?;
    if let Some(c) = &commit {
        let wanted = wanted_of(&mut w, schedule.business_unit_id).await?;
        push_commit(&mut batch, &wanted, schedule, c, also);
    }
    let current = commit
        .as_ref()
        .map_or(schedule.version, |c| c.record.version);
    let result = SwapResult {
        outcomes: plan.outcomes,
        committed: commit.as_ref().map(|c| c.record.clone()),
        current_version_id: rota_core::version::ScheduleVersionId::new(schedule.id, current),
    };
    push_key(&mut batch, ctx, &result)?;
    batch.run(&mut w.tx).await?;
    if let Some(c) = commit {
        w.wrote(schedule.version, c);
    }
    w.commit().await?;
    Ok(result)
}
