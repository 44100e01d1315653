//! The outbox: which events a business unit's subscriptions want, written with their
//! deliveries in the transaction of the change they report.

use rota_core::ids::BusinessUnitId;
use rota_core::store::StoreResult;
use rota_core::webhook::{EventType, NewEvent, Wanted};
use sqlx::Row;

use super::batch::{Batch, Done};
use super::decode::push_in_list;
use super::{CHUNK, Tx};
use crate::rows::{db_error, micros};

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

/// Adds to `batch` the statements that write the events `build` makes for the types in
/// `wanted` (what business unit `bu`'s subscriptions want) to the outbox, with a
/// delivery for every subscription that wants each: an event exists if and only if
/// the transaction that wrote it commits. Events nobody subscribed to are neither built
/// nor kept (the version history already records every change), so a subscription
/// receives the changes that commit after it.
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
    for chunk in events.chunks(CHUNK) {
        batch
            .push("INSERT INTO outbox_events (event_id, event_type, business_unit_id, ordering_key, data, created_at) ")
            .push_values(chunk, |mut row, e| {
                row.push_bind(e.id.as_uuid())
                    .push_bind(e.event_type.as_str())
                    .push_bind(e.business_unit_id.as_uuid())
                    .push_bind(e.ordering_key.clone())
                    .push_bind(e.data.to_string())
                    .push_bind(micros(now));
            });
        let q = batch.push(
            "INSERT INTO webhook_deliveries (subscription_id, event_seq, ordering_key, state, attempts, next_attempt_at) \
             SELECT s.id, o.seq, o.ordering_key, 'pending', 0, o.created_at FROM outbox_events o \
             JOIN webhook_subscription_events e ON e.event_type = o.event_type \
             JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.business_unit_id = o.business_unit_id \
             WHERE o.event_id",
        );
        push_in_list(q, chunk.iter().map(|e| e.id.as_uuid()));
        q.push(" ORDER BY o.seq");
    }
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
