-- rota's schema on PostgreSQL. Ids are native UUIDs; instants are microseconds since the
-- Unix epoch (exact, and ordered as integers); local dates are ISO text.

-- One site or region with its own time zone; every agent and schedule belongs to one.
CREATE TABLE business_units (
    id UUID PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    first_day_of_week TEXT NOT NULL
);

-- Teams inside a business unit.
CREATE TABLE management_units (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    name TEXT NOT NULL
);

-- Agents with the limits the rules check; skills and availability are JSON documents that
-- rota-core parses (and normalises) on every read.
CREATE TABLE agents (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    management_unit_id UUID REFERENCES management_units (id),
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    max_paid_minutes_per_week BIGINT NOT NULL,
    min_rest_minutes BIGINT NOT NULL,
    availability TEXT NOT NULL
);
-- Paged listing of a business unit's agents.
CREATE INDEX agents_by_business_unit ON agents (business_unit_id, name, id);

-- One week of one business unit; `version` is the newest committed version.
CREATE TABLE schedules (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    week_start TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    UNIQUE (business_unit_id, week_start)
);

-- Shifts as of their schedule's current version; `version` is the schedule version that last
-- changed the shift, which makes a per-shift conflict check one comparison.
CREATE TABLE shifts (
    id UUID PRIMARY KEY NOT NULL,
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    owner_agent_id UUID REFERENCES agents (id),
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    required_skill TEXT,
    activity_code TEXT NOT NULL,
    version BIGINT NOT NULL
);
-- Listing a schedule's shifts in time order.
CREATE INDEX shifts_by_schedule ON shifts (schedule_id, start_at, id);
-- The rule checks: an agent's shifts around a week, read inside every swap transaction.
CREATE INDEX shifts_by_owner ON shifts (owner_agent_id, start_at);

-- The version history: one row per committed version.
CREATE TABLE schedule_versions (
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    version BIGINT NOT NULL,
    cause TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    change_count BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, version)
);

-- Every shift change of every version, before and after; `start_before` is NULL when the
-- version created the shift. Replaying these rebuilds any version.
CREATE TABLE shift_changes (
    schedule_id UUID NOT NULL,
    version BIGINT NOT NULL,
    shift_id UUID NOT NULL,
    owner_before UUID,
    start_before BIGINT,
    end_before BIGINT,
    owner_after UUID,
    start_after BIGINT NOT NULL,
    end_after BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, version, shift_id),
    FOREIGN KEY (schedule_id, version) REFERENCES schedule_versions (schedule_id, version)
);
