//! A trade's row: read, locked, written, moved from state to state; a match checked and applied
//! under the schedule's write lock.

use const_format::concatcp;
use rota_core::command::{CommandError, Violation, ViolationCode};
use rota_core::engine::{self, Commit, Snapshot};
use rota_core::ids::{BusinessUnitId, TradeId};
use rota_core::store::{StoreError, StoreResult};
use rota_core::trade::{BusinessUnitSettings, Trade, TradeError, TradeState};
use rota_core::version::{CommitContext, ScheduleVersion, VersionCause};
use rota_core::webhook::EventType;

use super::commands::write_commit;
use super::dialect::ROW_LOCK;
use super::outbox::emit;
use super::snapshot::snapshot;
use super::{Conn, Tx};
use crate::rows::{self, db_error, micros};

/// The actor of what the system decides on its own (automatic review, expiry).
pub(super) const SYSTEM: &str = "system";

pub(super) async fn settings_of(
    conn: &mut Conn,
    bu: BusinessUnitId,
) -> StoreResult<BusinessUnitSettings> {
    let doc: Option<String> = sqlx::query_scalar(
        "SELECT settings FROM business_unit_settings WHERE business_unit_id = $1",
    )
    .bind(bu.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    match doc {
        Some(doc) => serde_json::from_str(&doc).map_err(rows::corrupt),
        None => Ok(BusinessUnitSettings::default()),
    }
}

pub(super) fn decode_trade(doc: &str) -> StoreResult<Trade> {
    serde_json::from_str(doc).map_err(rows::corrupt)
}

pub(super) fn trade_doc(trade: &Trade) -> StoreResult<String> {
    serde_json::to_string(trade).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// The trade, locked for the transaction.
pub(super) async fn lock_trade(conn: &mut Conn, id: TradeId) -> StoreResult<Trade> {
    let doc: Option<String> =
        sqlx::query_scalar(concatcp!("SELECT doc FROM trades WHERE id = $1", ROW_LOCK))
            .bind(id.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    decode_trade(&doc.ok_or(TradeError::NotFound(id))?)
}

/// A locked trade that the caller saw at `expected` and that has not expired.
pub(super) async fn open_trade(
    conn: &mut Conn,
    id: TradeId,
    expected: u32,
    now: jiff::Timestamp,
) -> StoreResult<Trade> {
    let trade = lock_trade(conn, id).await?;
    if trade.version != expected {
        return Err(TradeError::VersionConflict {
            expected,
            current: Box::new(trade),
        }
        .into());
    }
    if trade.state.is_open() && trade.expires_at <= now {
        return Err(TradeError::Expired(id).into());
    }
    Ok(trade)
}

pub(super) async fn insert_trade(conn: &mut Conn, trade: &Trade) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO trades (id, business_unit_id, schedule_id, state, initiating_agent_id, target_agent_id, \
         receiving_agent_id, expires_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(trade.id.as_uuid())
    .bind(trade.business_unit_id.as_uuid())
    .bind(trade.schedule_id.as_uuid())
    .bind(trade.state.as_str())
    .bind(trade.initiating_agent_id.as_uuid())
    .bind(trade.target_agent_id.map(|a| a.as_uuid()))
    .bind(trade.receiving_agent_id.map(|a| a.as_uuid()))
    .bind(micros(trade.expires_at))
    .bind(i64::from(trade.version))
    .bind(trade_doc(trade)?)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Moves a locked trade to `to` (one version up), releasing its holds when it closes,
/// and writes its event.
pub(super) async fn transition(
    w: &mut Tx,
    trade: &mut Trade,
    to: TradeState,
    now: jiff::Timestamp,
) -> StoreResult<()> {
    let from = trade.state;
    if !from.may_become(to) {
        return Err(TradeError::InvalidTransition { from, to }.into());
    }
    trade.state = to;
    trade.version += 1;
    trade.updated_at = now;
    let conn = &mut *w.tx;
    let updated = sqlx::query(
        "UPDATE trades SET state = $1, receiving_agent_id = $2, version = $3, doc = $4 WHERE id = $5 AND version = $6",
    )
    .bind(to.as_str())
    .bind(trade.receiving_agent_id.map(|a| a.as_uuid()))
    .bind(i64::from(trade.version))
    .bind(trade_doc(trade)?)
    .bind(trade.id.as_uuid())
    .bind(i64::from(trade.version - 1))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Busy("the trade changed under its lock".into()));
    }
    if !to.is_open() {
        sqlx::query("DELETE FROM trade_holds WHERE trade_id = $1")
            .bind(trade.id.as_uuid())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    emit(w, trade.business_unit_id, now, |w| {
        w.one(EventType::TradeStateChanged, || {
            rota_api::events::trade_changed(trade, Some(from))
        })
    })
    .await
}

/// What the engine needs to decide a trade, read under the schedule's write lock: its
/// shifts, both agents with their shifts, and the holds of other trades (not its own).
pub(super) async fn trade_snapshot(w: &mut Tx, trade: &Trade) -> StoreResult<Snapshot> {
    let mut snap = snapshot(w, trade.schedule_id, &trade.shifts(), |touched| {
        let owners = touched.iter().filter_map(|s| s.owner);
        owners
            .chain(trade.receiving_agent_id)
            .chain([trade.initiating_agent_id])
            .collect()
    })
    .await?;
    snap.held.retain(|_, holder| *holder != trade.id);
    super::coverage::guard(
        w,
        &mut snap,
        rota_core::coverage::Guarded::Trade,
        &trade.shifts(),
        None,
        false,
    )
    .await?;
    Ok(snap)
}

/// Applies a matched trade as the engine decides, under the schedule's write lock:
/// `Ok` with the version it created, or the violations that stop it.
pub(super) async fn apply_trade(
    w: &mut Tx,
    trade: &Trade,
    base: ScheduleVersion,
    waived: &[ViolationCode],
    ctx: &CommitContext,
) -> StoreResult<Result<rota_core::version::ScheduleVersionId, Vec<Violation>>> {
    let snap = trade_snapshot(w, trade).await?;
    let (plan, item) = match engine::plan_trade(&snap, trade, base, ctx.now, waived) {
        Ok(planned) => planned,
        Err(violations) => return Ok(Err(violations)),
    };
    let Some(commit) = Commit::of_plan(&snap.schedule, VersionCause::SelfService, ctx, &plan)
    else {
        return Ok(Err(vec![Violation {
            code: ViolationCode::NoChange,
            agent_id: trade.receiving_agent_id,
            shift_id: Some(trade.initiating_shift_id),
            detail: "the trade changes nothing".into(),
            coverage: None,
        }]));
    };
    write_commit(w, &snap.schedule, &commit, |wanted| match item {
        Some(item) => wanted.one(EventType::ShiftSwapApplied, || {
            let counterpart = snap.shifts.get(&item.new_shift_id).and_then(|s| s.owner);
            rota_api::events::swap_applied(
                &snap.schedule,
                commit.record.version,
                &item,
                counterpart,
                Some(trade.id),
            )
        }),
        None => Vec::new(),
    })
    .await?;
    Ok(Ok(rota_core::version::ScheduleVersionId::new(
        snap.schedule.id,
        commit.record.version,
    )))
}

/// The rule check of a match, against the schedule as it stands (locked): the trade's
/// own rules and the engine's, nothing waived.
pub(super) async fn check_trade(
    w: &mut Tx,
    trade: &Trade,
    settings: &rota_core::trade::TradeSettings,
    now: jiff::Timestamp,
) -> StoreResult<(ScheduleVersion, Vec<Violation>)> {
    let snap = trade_snapshot(w, trade).await?;
    let initiating = snap
        .shifts
        .get(&trade.initiating_shift_id)
        .ok_or(CommandError::ShiftNotFound(trade.initiating_shift_id))?;
    let receiving = trade.receiving_shift_id.and_then(|id| snap.shifts.get(&id));
    let version = snap.schedule.version;
    let mut violations = settings.trade_violations(initiating, receiving, now);
    if let Err(found) = engine::plan_trade(&snap, trade, version, now, &[]) {
        violations.extend(found);
    }
    Ok((version, violations))
}
