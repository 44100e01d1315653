-- Activities inside shifts, staffing requirements, coverage, and changes held for a supervisor.

-- A shift's activities as JSON, each relative to the shift's start (`offset`, `minutes`): written
-- once, when the shift is created (a move keeps the offsets, and the last activity takes up a
-- change of length), so a table of their own. In the shift's row they made it too large for a
-- page of its own (1 KiB pages on SQLite): every swap rewrote them with the owner. An existing
-- shift becomes one paid on-queue activity over its whole window, named by its activity code,
-- for its required skill.
CREATE TABLE shift_activities (
    shift_id UUID PRIMARY KEY NOT NULL REFERENCES shifts (id),
    activities TEXT NOT NULL
);
INSERT INTO shift_activities (shift_id, activities)
    SELECT id, json_build_array(json_build_object(
        'code', activity_code, 'kind', 'onQueue', 'paid', true, 'skill', required_skill,
        'offset', 0, 'minutes', (end_at - start_at) / 60000000))::text
    FROM shifts;

-- Per schedule, skill and 15-minute interval of the week: agents required, and on-queue
-- agent-minutes scheduled. Kept by every commit (by the intervals it touches); a cell with
-- neither is absent.
CREATE TABLE coverage (
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    skill TEXT NOT NULL,
    slot BIGINT NOT NULL,
    required BIGINT NOT NULL DEFAULT 0,
    scheduled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (schedule_id, skill, slot)
);

-- Whether a schedule's coverage rows have been computed: schedules imported before coverage
-- existed are computed once when the store opens.
ALTER TABLE schedules ADD COLUMN coverage_ready BIGINT NOT NULL DEFAULT 0;

-- The history of the requirement: each version of cause `requirements` and what it set.
CREATE TABLE requirement_changes (
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    version BIGINT NOT NULL,
    skill TEXT NOT NULL,
    slot BIGINT NOT NULL,
    required_before BIGINT NOT NULL,
    required_after BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, version, skill, slot)
);

-- Changes held for a supervisor. `doc` is the whole held change as JSON (rota-core's
-- `HeldChange`); the columns beside it are what queries filter on.
CREATE TABLE held_changes (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX held_changes_by_business_unit ON held_changes (business_unit_id, state, created_at);
