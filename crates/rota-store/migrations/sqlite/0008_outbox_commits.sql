-- One row per commit that emits events: the only outbox write a change makes in its own
-- transaction, however many subscriptions want its events (a row per event and per delivery
-- used to double a 50-swap request's cost). `events` is the JSON array of the commit's events.
-- The dispatcher fans each row out, in `seq` order, into `outbox_events` and a delivery per
-- subscription, and deletes it. SQLite's one writer commits in `seq` order.
CREATE TABLE outbox_commits (
    seq INTEGER PRIMARY KEY,
    business_unit_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    events TEXT NOT NULL
);
