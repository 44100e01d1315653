-- The write path reads shifts from the writer's cache, so a swap's cost is the pages its
-- commit dirties. This migration takes away what dirtied pages without serving it:
-- - `shifts_by_owner` was read by the rule checks, which no longer query; every owner change
--   moved two of its entries (an extra page or two per swapped shift on a large schedule).
--   Listing one agent's shifts of a schedule walks `shifts_by_schedule` instead.
-- - `shifts` and `shift_changes` become WITHOUT ROWID tables clustered on their keys: one
--   b-tree per table instead of a row table plus a key index.
-- Foreign keys are checked at commit (`defer_foreign_keys`), when the new tables hold the rows.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE shifts_new (
    id BLOB PRIMARY KEY NOT NULL,
    schedule_id BLOB NOT NULL REFERENCES schedules (id),
    owner_agent_id BLOB REFERENCES agents (id),
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    required_skill TEXT,
    activity_code TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO shifts_new SELECT id, schedule_id, owner_agent_id, start_at, end_at, required_skill, activity_code, version FROM shifts;
DROP TABLE shifts;
ALTER TABLE shifts_new RENAME TO shifts;
CREATE INDEX shifts_by_schedule ON shifts (schedule_id, start_at, id);

CREATE TABLE shift_changes_new (
    schedule_id BLOB NOT NULL,
    version INTEGER NOT NULL,
    shift_id BLOB NOT NULL,
    owner_before BLOB,
    start_before INTEGER,
    end_before INTEGER,
    owner_after BLOB,
    start_after INTEGER NOT NULL,
    end_after INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, version, shift_id),
    FOREIGN KEY (schedule_id, version) REFERENCES schedule_versions (schedule_id, version)
) WITHOUT ROWID;
INSERT INTO shift_changes_new SELECT schedule_id, version, shift_id, owner_before, start_before, end_before, owner_after, start_after, end_after FROM shift_changes;
DROP TABLE shift_changes;
ALTER TABLE shift_changes_new RENAME TO shift_changes;
