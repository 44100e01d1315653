//! Webhook subscriptions and their deliveries: leases, attempts, purges.

use const_format::concatcp;
use rota_core::ids::{BusinessUnitId, SubscriptionId};
use rota_core::store::{
    Page, PageRequest, StoreError, StoreResult, SubscriptionUpdate, WebhookStore,
};
use rota_core::webhook::{
    AttemptResult, Delivery, DeliveryState, DueDelivery, Event, EventType, NewSubscription,
    Subscription,
};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::decode::{page_args, total};
use super::dialect::{Backend, Db, SKIP_LOCKED};
use super::outbox::fan_out;
use super::{CHUNK, Conn, DbRow};
use crate::rows::{self, db_error, micros};

pub(super) async fn decode_subscription(conn: &mut Conn, row: &DbRow) -> StoreResult<Subscription> {
    let id: Uuid = row.try_get(0).map_err(db_error)?;
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM webhook_subscription_events WHERE subscription_id = $1 ORDER BY event_type",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(Subscription {
        id: SubscriptionId::from_uuid(id),
        business_unit_id: BusinessUnitId::from_uuid(row.try_get(1).map_err(db_error)?),
        url: row.try_get(2).map_err(db_error)?,
        enabled: row.try_get(3).map_err(db_error)?,
        disabled_reason: row.try_get(4).map_err(db_error)?,
        consecutive_failures: u32::try_from(row.try_get::<i64, _>(5).map_err(db_error)?)
            .unwrap_or(u32::MAX),
        created_at: rows::instant(row.try_get(6).map_err(db_error)?)?,
        events: events
            .iter()
            .map(|e| EventType::parse(e).ok_or_else(|| rows::corrupt(format!("event type `{e}`"))))
            .collect::<StoreResult<_>>()?,
    })
}

pub(super) async fn load_subscription(
    conn: &mut Conn,
    id: SubscriptionId,
) -> StoreResult<Subscription> {
    let row = sqlx::query("SELECT id, business_unit_id, url, enabled, disabled_reason, consecutive_failures, created_at FROM webhook_subscriptions WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::not_found("webhook subscription", id))?;
    decode_subscription(conn, &row).await
}

pub(super) async fn set_events(
    conn: &mut Conn,
    id: SubscriptionId,
    events: &[EventType],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM webhook_subscription_events WHERE subscription_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for event in events {
        sqlx::query(
            "INSERT INTO webhook_subscription_events (subscription_id, event_type) VALUES ($1, $2)",
        )
        .bind(id.as_uuid())
        .bind(event.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

pub(super) fn decode_delivery(r: &DbRow) -> StoreResult<Delivery> {
    let state: String = r.try_get(5).map_err(db_error)?;
    let event_type: String = r.try_get(3).map_err(db_error)?;
    Ok(Delivery {
        id: r.try_get(0).map_err(db_error)?,
        subscription_id: SubscriptionId::from_uuid(r.try_get(1).map_err(db_error)?),
        event_id: rota_core::ids::EventId::from_uuid(r.try_get(2).map_err(db_error)?),
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| rows::corrupt(format!("event type `{event_type}`")))?,
        sequence: u64::try_from(r.try_get::<i64, _>(4).map_err(db_error)?).unwrap_or(0),
        state: DeliveryState::parse(&state)
            .ok_or_else(|| rows::corrupt(format!("delivery state `{state}`")))?,
        attempts: u32::try_from(r.try_get::<i64, _>(6).map_err(db_error)?).unwrap_or(u32::MAX),
        last_status: r
            .try_get::<Option<i64>, _>(7)
            .map_err(db_error)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.try_get(8).map_err(db_error)?,
        next_attempt_at: rows::instant(r.try_get(9).map_err(db_error)?)?,
        delivered_at: r
            .try_get::<Option<i64>, _>(10)
            .map_err(db_error)?
            .map(rows::instant)
            .transpose()?,
    })
}

/// The columns [`decode_due`] reads, of deliveries `d`, subscriptions `s` and events `o`.
const DUE_COLS: &str = "d.id, d.attempts, d.subscription_id, s.url, s.secret, o.event_id, \
    o.event_type, o.business_unit_id, o.seq, o.created_at, o.data, d.ordering_key";

fn decode_due(r: &DbRow) -> StoreResult<DueDelivery> {
    let event_type: String = r.try_get(6).map_err(db_error)?;
    let data: String = r.try_get(10).map_err(db_error)?;
    Ok(DueDelivery {
        delivery_id: r.try_get(0).map_err(db_error)?,
        attempt: u32::try_from(r.try_get::<i64, _>(1).map_err(db_error)?)
            .unwrap_or(u32::MAX)
            .saturating_add(1),
        subscription_id: SubscriptionId::from_uuid(r.try_get(2).map_err(db_error)?),
        queue: r.try_get(11).map_err(db_error)?,
        url: r.try_get(3).map_err(db_error)?,
        secret: r.try_get(4).map_err(db_error)?,
        event: Event {
            id: rota_core::ids::EventId::from_uuid(r.try_get(5).map_err(db_error)?),
            event_type: EventType::parse(&event_type)
                .ok_or_else(|| rows::corrupt(format!("event type `{event_type}`")))?,
            business_unit_id: BusinessUnitId::from_uuid(r.try_get(7).map_err(db_error)?),
            sequence: u64::try_from(r.try_get::<i64, _>(8).map_err(db_error)?).unwrap_or(0),
            created_at: rows::instant(r.try_get(9).map_err(db_error)?)?,
            data: serde_json::from_str(&data).map_err(rows::corrupt)?,
        },
    })
}

/// Records one attempt in the caller's transaction; answers the delivery's subscription.
async fn record_one(
    conn: &mut Conn,
    delivery_id: i64,
    result: &AttemptResult,
    now: jiff::Timestamp,
    max_failures: u32,
) -> StoreResult<Uuid> {
    let subscription: Uuid =
        sqlx::query_scalar("SELECT subscription_id FROM webhook_deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::not_found("webhook delivery", delivery_id))?;
    match result {
        AttemptResult::NotSent => {
            sqlx::query("UPDATE webhook_deliveries SET leased_until = NULL WHERE id = $1")
                .bind(delivery_id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
        }
        AttemptResult::Delivered { status } => {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_status = $2, \
                 last_error = NULL, leased_until = NULL WHERE id = $3",
            )
            .bind(micros(now))
            .bind(i64::from(*status))
            .bind(delivery_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            sqlx::query("UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = $1")
                .bind(subscription)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
        }
        AttemptResult::Failed {
            status,
            error,
            retry_at,
        } => {
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2, last_error = $3, \
                 leased_until = NULL WHERE id = $4",
            )
            .bind(micros(*retry_at))
            .bind(status.map(i64::from))
            .bind(error)
            .bind(delivery_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            let failures: i64 = sqlx::query_scalar(
                "UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1 \
                 WHERE id = $1 RETURNING consecutive_failures",
            )
            .bind(subscription)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
            if failures >= i64::from(max_failures) {
                sqlx::query(
                    "UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = $2 WHERE id = $3 AND enabled = $4",
                )
                .bind(false)
                .bind(format!("disabled after {failures} failed deliveries in a row; the last: {error}"))
                .bind(subscription)
                .bind(true)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            }
        }
    }
    Ok(subscription)
}

impl WebhookStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_subscription(&self, new: &NewSubscription) -> StoreResult<()> {
        let s = &new.subscription;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, business_unit_id, url, secret, enabled, disabled_reason, \
             consecutive_failures, created_at) VALUES ($1, $2, $3, $4, $5, NULL, 0, $6)",
        )
        .bind(s.id.as_uuid())
        .bind(s.business_unit_id.as_uuid())
        .bind(&s.url)
        .bind(&new.secret)
        .bind(s.enabled)
        .bind(micros(s.created_at))
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        set_events(&mut w.tx, s.id, &s.events).await?;
        w.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn subscription(&self, id: SubscriptionId) -> StoreResult<Subscription> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        load_subscription(&mut conn, id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn subscriptions(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let (limit, offset) = page_args(page);
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT id, business_unit_id, url, enabled, disabled_reason, consecutive_failures, created_at FROM webhook_subscriptions \
             WHERE business_unit_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(bu.as_uuid())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(decode_subscription(&mut conn, row).await?);
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_subscriptions WHERE business_unit_id = $1",
        )
        .bind(bu.as_uuid())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(Page {
            items,
            total: total(count),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_subscription(
        &self,
        id: SubscriptionId,
        update: &SubscriptionUpdate,
    ) -> StoreResult<Subscription> {
        let mut w = self.begin_write().await?;
        load_subscription(&mut w.tx, id).await?;
        if let Some(url) = &update.url {
            sqlx::query("UPDATE webhook_subscriptions SET url = $1 WHERE id = $2")
                .bind(url)
                .bind(id.as_uuid())
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
        }
        if let Some(events) = &update.events {
            set_events(&mut w.tx, id, events).await?;
        }
        match update.enabled {
            Some(true) => {
                sqlx::query(
                    "UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = NULL, consecutive_failures = 0 WHERE id = $2",
                )
                .bind(true)
                .bind(id.as_uuid())
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
            }
            Some(false) => {
                sqlx::query("UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = $2 WHERE id = $3")
                    .bind(false)
                    .bind("turned off")
                    .bind(id.as_uuid())
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
            }
            None => {}
        }
        let updated = load_subscription(&mut w.tx, id).await?;
        w.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_subscription(&self, id: SubscriptionId) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        for statement in [
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
            "DELETE FROM webhook_subscription_events WHERE subscription_id = $1",
        ] {
            sqlx::query(statement)
                .bind(id.as_uuid())
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
        }
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("webhook subscription", id));
        }
        w.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn deliveries(
        &self,
        id: SubscriptionId,
        page: PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        // The log shows every event committed so far, fanned out or not.
        let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox_commits)")
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        if pending {
            let mut w = self.begin_write().await?;
            fan_out(&mut w).await?;
            w.commit().await?;
        }
        let (limit, offset) = page_args(page);
        let rows = sqlx::query(
            "SELECT d.id, d.subscription_id, o.event_id, o.event_type, o.seq, d.state, d.attempts, d.last_status, \
             d.last_error, d.next_attempt_at, d.delivered_at FROM webhook_deliveries d \
             JOIN outbox_events o ON o.seq = d.event_seq WHERE d.subscription_id = $1 ORDER BY d.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(id.as_uuid())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        Ok(Page {
            items: rows
                .iter()
                .map(decode_delivery)
                .collect::<StoreResult<_>>()?,
            total: total(count),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn lease_due(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        queues: u32,
        per_queue: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        // The dispatcher asks after every change; most of the time nothing is due and no
        // commit waits to be fanned out. Only then does it queue for the write lock, beside
        // the requests that need it.
        let any_due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox_commits) OR EXISTS (SELECT 1 \
             FROM webhook_subscriptions s CROSS JOIN webhook_deliveries d \
             WHERE d.subscription_id = s.id AND s.enabled AND d.state = 'pending' \
             AND d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until <= $1))",
        )
        .bind(micros(now))
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        if !any_due {
            return Ok(Vec::new());
        }
        let mut w = self.begin_write().await?;
        fan_out(&mut w).await?;
        // The head of each (subscription, ordering key) queue: a later event waits until
        // every earlier one of its queue is delivered, leased ones included. Enabled
        // subscriptions first (SQLite takes CROSS JOIN's order as given), then their pending
        // deliveries by `webhook_deliveries_pending`: a disabled one's backlog is never read.
        let heads = sqlx::query(concatcp!(
            "SELECT ",
            DUE_COLS,
            " FROM webhook_subscriptions s CROSS JOIN webhook_deliveries d \
             JOIN outbox_events o ON o.seq = d.event_seq \
             WHERE d.subscription_id = s.id AND s.enabled AND d.state = 'pending' \
             AND d.next_attempt_at <= $1 \
             AND (d.leased_until IS NULL OR d.leased_until <= $1) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.subscription_id = d.subscription_id \
             AND e.ordering_key = d.ordering_key AND e.state = 'pending' AND e.event_seq < d.event_seq) \
             ORDER BY d.event_seq LIMIT $2",
            SKIP_LOCKED
        ))
        .bind(micros(now))
        .bind(i64::from(queues))
        .fetch_all(&mut *w.tx)
        .await
        .map_err(db_error)?;
        let mut due = Vec::with_capacity(heads.len());
        for head in &heads {
            let head = decode_due(head)?;
            // Behind the head: the next pending deliveries of its queue, never attempted (a
            // delivery that failed is the head of its queue until it succeeds).
            let followers = if per_queue > 1 {
                sqlx::query(concatcp!(
                    "SELECT ",
                    DUE_COLS,
                    " FROM webhook_deliveries d \
                     JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                     JOIN outbox_events o ON o.seq = d.event_seq \
                     WHERE d.subscription_id = $1 AND d.ordering_key = $2 AND d.state = 'pending' \
                     AND d.event_seq > $3 ORDER BY d.event_seq LIMIT $4",
                    SKIP_LOCKED
                ))
                .bind(head.subscription_id.as_uuid())
                .bind(&head.queue)
                .bind(i64::try_from(head.event.sequence).unwrap_or(i64::MAX))
                .bind(i64::from(per_queue - 1))
                .fetch_all(&mut *w.tx)
                .await
                .map_err(db_error)?
            } else {
                Vec::new()
            };
            due.push(head);
            for f in &followers {
                due.push(decode_due(f)?);
            }
        }
        if !due.is_empty() {
            let mut q = QueryBuilder::<Db>::new("UPDATE webhook_deliveries SET leased_until = ");
            q.push_bind(micros(lease_until));
            q.push(" WHERE id IN (");
            let mut list = q.separated(", ");
            for d in &due {
                list.push_bind(d.delivery_id);
            }
            q.push(")");
            q.build().execute(&mut *w.tx).await.map_err(db_error)?;
        }
        w.commit().await?;
        Ok(due)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_deliveries(&self, before: jiff::Timestamp) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < $1",
        )
        .bind(micros(before))
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM outbox_events WHERE NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = outbox_events.seq)",
        )
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        w.commit().await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_attempts(
        &self,
        attempts: &[(i64, AttemptResult)],
        now: jiff::Timestamp,
        max_failures: u32,
    ) -> StoreResult<Vec<Subscription>> {
        let mut w = self.begin_write().await?;
        // Deliveries go in one statement per status (the common round: all delivered, all
        // 2xx of one kind) and reset their subscriptions' runs of failures; then failures and
        // unsent ones one by one, in order, each failure counting against its subscription.
        let mut delivered: Vec<(u16, Vec<i64>)> = Vec::new();
        let mut others = Vec::new();
        for (delivery_id, result) in attempts {
            match result {
                AttemptResult::Delivered { status } => {
                    match delivered.iter_mut().find(|(s, _)| s == status) {
                        Some((_, ids)) => ids.push(*delivery_id),
                        None => delivered.push((*status, vec![*delivery_id])),
                    }
                }
                _ => others.push((*delivery_id, result)),
            }
        }
        let mut touched: Vec<Uuid> = Vec::new();
        for (status, ids) in &delivered {
            for chunk in ids.chunks(CHUNK) {
                let mut q = QueryBuilder::<Db>::new(
                    "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, \
                     last_error = NULL, leased_until = NULL, delivered_at = ",
                );
                q.push_bind(micros(now));
                q.push(", last_status = ");
                q.push_bind(i64::from(*status));
                q.push(" WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(") RETURNING subscription_id");
                let subscriptions: Vec<Uuid> = q
                    .build_query_scalar()
                    .fetch_all(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
                for s in subscriptions {
                    if !touched.contains(&s) {
                        touched.push(s);
                    }
                }
            }
        }
        for s in &touched {
            sqlx::query("UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = $1")
                .bind(*s)
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
        }
        for (delivery_id, result) in others {
            let subscription =
                record_one(&mut w.tx, delivery_id, result, now, max_failures).await?;
            if !touched.contains(&subscription) {
                touched.push(subscription);
            }
        }
        let mut updated = Vec::with_capacity(touched.len());
        for id in touched {
            updated.push(load_subscription(&mut w.tx, SubscriptionId::from_uuid(id)).await?);
        }
        w.commit().await?;
        Ok(updated)
    }
}
