-- Shifts are stored in the order they are read in: by schedule, then start time (the key of
-- every listing and of the writer's cache load). A lookup by id goes through a small unique
-- index, which a swap does not change (it changes owners, not keys).
-- - A listing of a schedule walks its rows in place instead of following an index entry to a
--   row elsewhere for each shift.
-- - Shifts of the same window sit side by side: a swap between two of them (two agents trading
--   the same hours) dirties one page instead of two.
-- - A move (a new start time) re-files the row under its new key: moves are rare supervisor
--   edits, swaps are the bulk of the writes.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE shifts_new (
    id BLOB NOT NULL UNIQUE,
    schedule_id BLOB NOT NULL REFERENCES schedules (id),
    owner_agent_id BLOB REFERENCES agents (id),
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    required_skill TEXT,
    activity_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, start_at, id)
) WITHOUT ROWID;
INSERT INTO shifts_new SELECT id, schedule_id, owner_agent_id, start_at, end_at, required_skill, activity_code, version FROM shifts;
DROP TABLE shifts;
ALTER TABLE shifts_new RENAME TO shifts;
