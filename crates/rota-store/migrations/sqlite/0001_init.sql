-- rota's schema on SQLite. Ids are UUIDs (16-byte blobs); instants are microseconds since the
-- Unix epoch (exact, and ordered as integers); local dates are ISO text.

-- One site or region with its own time zone; every agent and schedule belongs to one.
CREATE TABLE business_units (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    first_day_of_week TEXT NOT NULL
);

-- Teams inside a business unit.
CREATE TABLE management_units (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    name TEXT NOT NULL
);

-- Agents with the limits the rules check; skills and availability are JSON documents that
-- rota-core parses (and normalises) on every read.
CREATE TABLE agents (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    management_unit_id BLOB REFERENCES management_units (id),
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    max_paid_minutes_per_week INTEGER NOT NULL,
    min_rest_minutes INTEGER NOT NULL,
    availability TEXT NOT NULL
);
-- Paged listing of a business unit's agents.
CREATE INDEX agents_by_business_unit ON agents (business_unit_id, name, id);

-- One week of one business unit; `version` is the newest committed version.
CREATE TABLE schedules (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    week_start TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    UNIQUE (business_unit_id, week_start)
);

-- Shifts as of their schedule's current version; `version` is the schedule version that last
-- changed the shift, which makes a per-shift conflict check one comparison.
CREATE TABLE shifts (
    id BLOB PRIMARY KEY NOT NULL,
    schedule_id BLOB NOT NULL REFERENCES schedules (id),
    owner_agent_id BLOB REFERENCES agents (id),
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    required_skill TEXT,
    activity_code TEXT NOT NULL,
    version INTEGER NOT NULL
);
-- Listing a schedule's shifts in time order.
CREATE INDEX shifts_by_schedule ON shifts (schedule_id, start_at, id);
-- The rule checks: an agent's shifts around a week, read inside every swap transaction.
CREATE INDEX shifts_by_owner ON shifts (owner_agent_id, start_at);

-- The version history: one row per committed version.
CREATE TABLE schedule_versions (
    schedule_id BLOB NOT NULL REFERENCES schedules (id),
    version INTEGER NOT NULL,
    cause TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    change_count INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, version)
);

-- Every shift change of every version, before and after; `start_before` is NULL when the
-- version created the shift. Replaying these rebuilds any version.
CREATE TABLE shift_changes (
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
);
