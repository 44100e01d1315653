-- Self-service and trade policies per business unit: a JSON document that rota-core parses;
-- a business unit without a row has the defaults.
CREATE TABLE business_unit_settings (
    business_unit_id BLOB PRIMARY KEY NOT NULL REFERENCES business_units (id),
    settings TEXT NOT NULL
);

-- Shift trades. `doc` is the whole trade as JSON (rota-core's `Trade`); the columns beside it
-- are what queries filter on, kept equal to the document by every write.
CREATE TABLE trades (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    schedule_id BLOB NOT NULL REFERENCES schedules (id),
    state TEXT NOT NULL,
    initiating_agent_id BLOB NOT NULL REFERENCES agents (id),
    target_agent_id BLOB,
    receiving_agent_id BLOB,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX trades_by_business_unit ON trades (business_unit_id, state, expires_at);
-- The expiry sweep: open trades by expiry.
CREATE INDEX trades_by_expiry ON trades (state, expires_at);

-- A matched trade holds its shifts; the primary key makes two holds on one shift impossible.
CREATE TABLE trade_holds (
    shift_id BLOB PRIMARY KEY NOT NULL REFERENCES shifts (id),
    trade_id BLOB NOT NULL REFERENCES trades (id)
);
CREATE INDEX trade_holds_by_trade ON trade_holds (trade_id);

CREATE TABLE webhook_subscriptions (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    consecutive_failures INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_by_business_unit ON webhook_subscriptions (business_unit_id);

CREATE TABLE webhook_subscription_events (
    subscription_id BLOB NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event_type)
);

-- The transactional outbox: written by the change's own transaction, so an event exists if and
-- only if its change committed. `seq` orders events of one ordering key in commit order (the
-- changes of one key are serialised by their locks).
CREATE TABLE outbox_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BLOB NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    business_unit_id BLOB NOT NULL,
    ordering_key TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- One row per event and subscription, made with the event; the delivery log.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id BLOB NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_seq INTEGER NOT NULL REFERENCES outbox_events (seq),
    ordering_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    last_status INTEGER,
    last_error TEXT,
    delivered_at INTEGER
);
-- What is due, and the head of each (subscription, ordering key) queue.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, ordering_key, state, event_seq);
