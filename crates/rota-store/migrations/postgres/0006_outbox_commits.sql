-- One row per commit that emits events: the only outbox write a change makes in its own
-- transaction, however many subscriptions want its events (a row per event and per delivery
-- used to double a 50-swap request's cost). `events` is the JSON array of the commit's events.
-- The dispatcher fans each row out, in `seq` order, into `outbox_events` and a delivery per
-- subscription, and deletes it; one dispatcher at a time (an advisory lock).
--
-- `seq` is taken at insert, not at commit, so a row with a smaller `seq` may be invisible while a
-- larger one is visible. Order still holds per ordering key: a change writes this row while it
-- holds its key's row lock (the schedule, the trade, the agent), so the next change of that key
-- writes its row only after this one committed.
CREATE TABLE outbox_commits (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_unit_id UUID NOT NULL,
    created_at BIGINT NOT NULL,
    events TEXT NOT NULL
);
