//! The outbox: which events a business unit's subscriptions want, written as one row in the
//! transaction of the change they report, and fanned out later into events and a delivery per
//! subscription.

use rota_core::ids::BusinessUnitId;
use rota_core::store::StoreResult;
use rota_core::webhook::{EventType, NewEvent, Wanted};
use sqlx::Row;
use uuid::Uuid;

use super::batch::{Batch, Done};
use super::decode::push_in_list;
use super::dialect::FAN_OUT_LOCK;
use super::{CHUNK, Tx};
use crate::rows::{self, db_error, micros};

/// Which event types the subscriptions of the business unit that follows want.
pub(super) const WANTED: &str = "SELECT DISTINCT e.event_type FROM webhook_subscriptions s \
                      JOIN webhook_subscription_events e ON e.subscription_id = s.id WHERE s.business_unit_id = ";

/// The statement that reads which event types business unit `bu`'s subscriptions want.
pub(super) fn push_wanted(batch: &mut Batch, bu: BusinessUnitId) {
    batch.push(WANTED).push_bind(bu.as_uuid());
}

pub(super) fn decode_wanted(done: &Done) -> StoreResult<Wanted> {
    let mut types = Vec::with_capacity(done.rows.len());
    for row in &done.rows {
        if let Some(t) = EventType::parse(row.try_get::<&str, _>(0).map_err(db_error)?) {
            types.push(t);
        }
    }
    Ok(Wanted::new(types))
}

/// What business unit `bu`'s subscriptions want: read with the transaction's snapshot
/// when that was for `bu`, else now.
pub(super) async fn wanted_of(w: &mut Tx, bu: BusinessUnitId) -> StoreResult<Wanted> {
    if let Some((read_for, wanted)) = w.wanted.take()
        && read_for == bu
    {
        return Ok(wanted);
    }
    let mut batch = Batch::new();
    push_wanted(&mut batch, bu);
    decode_wanted(&batch.run(&mut w.tx).await?[0])
}

/// Adds to `batch` the statement that writes the events `build` makes for the types in
/// `wanted` (what business unit `bu`'s subscriptions want) to the outbox: one row for the
/// commit, whatever the number of events and subscriptions, so an event exists if and only if
/// the transaction that wrote it commits. Events nobody subscribed to are neither built nor
/// kept (the version history already records every change). [`fan_out`] makes the
/// deliveries.
pub(super) fn push_events(
    batch: &mut Batch,
    wanted: &Wanted,
    bu: BusinessUnitId,
    now: jiff::Timestamp,
    build: impl FnOnce(&Wanted) -> Vec<NewEvent>,
) {
    if wanted.is_empty() {
        return;
    }
    let events = build(wanted);
    let events: Vec<&NewEvent> = events
        .iter()
        .filter(|e| e.business_unit_id == bu && wanted.wants(e.event_type))
        .collect();
    if events.is_empty() {
        return;
    }
    batch
        .push("INSERT INTO outbox_commits (business_unit_id, created_at, events) VALUES (")
        .push_bind(bu.as_uuid())
        .push(", ")
        .push_bind(micros(now))
        .push(", ")
        .push_bind(events_doc(&events))
        .push(")");
}

/// A commit's events as its outbox row holds them, until they are fanned out.
#[derive(serde::Deserialize)]
struct StoredEvent {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    key: String,
    data: serde_json::Value,
}

/// The JSON array of [`StoredEvent`]s for `events`, written by hand: every part is a string
/// or JSON text already, so nothing can fail to serialise.
fn events_doc(events: &[&NewEvent]) -> String {
    let mut doc = String::with_capacity(events.len() * 512);
    doc.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str("{\"id\":\"");
        doc.push_str(&e.id.to_string());
        doc.push_str("\",\"type\":\"");
        doc.push_str(e.event_type.as_str());
        doc.push_str("\",\"key\":");
        doc.push_str(&serde_json::Value::from(e.ordering_key.as_str()).to_string());
        doc.push_str(",\"data\":");
        doc.push_str(&e.data);
        doc.push('}');
    }
    doc.push(']');
    doc
}

/// Commits fanned out per pass at most.
const FAN_OUT_COMMITS: i64 = 256;

/// Fans out the commits' outbox rows, oldest first: their events into `outbox_events` (whose
/// `seq` is the order deliveries go out in) and a delivery for every subscription of the
/// business unit that wants each, then deletes the rows. One fan-out at a time
/// ([`FAN_OUT_LOCK`]): two interleaved would number one key's events out of order. Rows of
/// changes still running are not visible yet; per ordering key the earlier change's row is
/// always visible first (see the migration). Answers how many commits it fanned out.
pub(super) async fn fan_out(w: &mut Tx) -> StoreResult<usize> {
    let ours: i32 = sqlx::query_scalar(FAN_OUT_LOCK)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_error)?;
    if ours == 0 {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT seq, business_unit_id, created_at, events FROM outbox_commits ORDER BY seq LIMIT $1",
    )
    .bind(FAN_OUT_COMMITS)
    .fetch_all(&mut *w.tx)
    .await
    .map_err(db_error)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut seqs = Vec::with_capacity(rows.len());
    let mut events = Vec::new();
    for row in &rows {
        seqs.push(row.try_get::<i64, _>(0).map_err(db_error)?);
        let bu: Uuid = row.try_get(1).map_err(db_error)?;
        let created_at: i64 = row.try_get(2).map_err(db_error)?;
        let stored: Vec<StoredEvent> =
            serde_json::from_str(row.try_get::<&str, _>(3).map_err(db_error)?)
                .map_err(rows::corrupt)?;
        events.extend(stored.into_iter().map(|e| (e, bu, created_at)));
    }
    let mut batch = Batch::new();
    for chunk in events.chunks(CHUNK) {
        batch
            .push("INSERT INTO outbox_events (event_id, event_type, business_unit_id, ordering_key, data, created_at) ")
            .push_values(chunk, |mut row, (e, bu, created_at)| {
                row.push_bind(e.id)
                    .push_bind(e.event_type.clone())
                    .push_bind(*bu)
                    .push_bind(e.key.clone())
                    .push_bind(e.data.to_string())
                    .push_bind(*created_at);
            });
        let q = batch.push(
            "INSERT INTO webhook_deliveries (subscription_id, event_seq, ordering_key, state, attempts, next_attempt_at) \
             SELECT s.id, o.seq, o.ordering_key, 'pending', 0, o.created_at FROM outbox_events o \
             JOIN webhook_subscription_events e ON e.event_type = o.event_type \
             JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.business_unit_id = o.business_unit_id \
             WHERE o.event_id",
        );
        push_in_list(q, chunk.iter().map(|(e, ..)| e.id));
        q.push(" ORDER BY o.seq");
    }
    let q = batch.push("DELETE FROM outbox_commits WHERE seq IN (");
    let mut list = q.separated(", ");
    for seq in &seqs {
        list.push_bind(*seq);
    }
    q.push(")");
    batch.run(&mut w.tx).await?;
    Ok(seqs.len())
}

/// Writes the events `build` makes to the outbox now (see [`push_events`]).
pub(super) async fn emit(
    w: &mut Tx,
    bu: BusinessUnitId,
    now: jiff::Timestamp,
    build: impl FnOnce(&Wanted) -> Vec<NewEvent>,
) -> StoreResult<()> {
    let wanted = wanted_of(w, bu).await?;
    let mut batch = Batch::new();
    push_events(&mut batch, &wanted, bu, now, build);
    batch.run(&mut w.tx).await?;
    Ok(())
}
