-- Self-service and trade policies per business unit: a JSON document that rota-core parses;
-- a business unit without a row has the defaults.
CREATE TABLE business_unit_settings (
    business_unit_id UUID PRIMARY KEY NOT NULL REFERENCES business_units (id),
    settings TEXT NOT NULL
);

-- Shift trades. `doc` is the whole trade as JSON (rota-core's `Trade`); the columns beside it
-- are what queries filter on, kept equal to the document by every write.
CREATE TABLE trades (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    state TEXT NOT NULL,
    initiating_agent_id UUID NOT NULL REFERENCES agents (id),
    target_agent_id UUID,
    receiving_agent_id UUID,
    expires_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX trades_by_business_unit ON trades (business_unit_id, state, expires_at);
-- The expiry sweep: open trades by expiry.
CREATE INDEX trades_by_expiry ON trades (state, expires_at);

-- A matched trade holds its shifts; the primary key makes two holds on one shift impossible.
CREATE TABLE trade_holds (
    shift_id UUID PRIMARY KEY NOT NULL REFERENCES shifts (id),
    trade_id UUID NOT NULL REFERENCES trades (id)
);
CREATE INDEX trade_holds_by_trade ON trade_holds (trade_id);

CREATE TABLE webhook_subscriptions (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    consecutive_failures BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_by_business_unit ON webhook_subscriptions (business_unit_id);

CREATE TABLE webhook_subscription_events (
    subscription_id UUID NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event_type)
);

-- The transactional outbox: written by the change's own transaction, so an event exists if and
-- only if its change committed. `seq` orders events of one ordering key in commit order (the
-- changes of one key are serialised by their locks).
CREATE TABLE outbox_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    business_unit_id UUID NOT NULL,
    ordering_key TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per event and subscription, made with the event; the delivery log.
CREATE TABLE webhook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id UUID NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL REFERENCES outbox_events (seq),
    ordering_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    leased_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    delivered_at BIGINT
);
-- What is due, and the head of each (subscription, ordering key) queue.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, ordering_key, state, event_seq);
