-- Time off: requests, balances, dated allowances, and each agent's approved windows.

-- An agent's approved time off (JSON: request id, start, end), kept on the agent so that every
-- write transaction's rule check sees it through the agent revision it already validates.
ALTER TABLE agents ADD COLUMN time_off TEXT NOT NULL DEFAULT '[]';

-- `doc` is the whole request as JSON (rota-core's `TimeOffRequest`); the columns beside it are
-- what queries filter on: an agent's live requests that overlap a window (conflicts), a group's
-- approved and waitlisted requests on a day (allowances, the waitlist in request order).
CREATE TABLE time_off_requests (
    id BLOB PRIMARY KEY NOT NULL,
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    agent_id BLOB NOT NULL REFERENCES agents (id),
    grp TEXT NOT NULL,
    state TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX time_off_by_agent ON time_off_requests (agent_id, start_at);
CREATE INDEX time_off_by_group ON time_off_requests (business_unit_id, grp, state, start_at);
CREATE INDEX time_off_by_business_unit ON time_off_requests (business_unit_id, created_at);

-- Minutes per agent and code; a put replaces the value.
CREATE TABLE time_off_balances (
    agent_id BLOB NOT NULL REFERENCES agents (id),
    code TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    PRIMARY KEY (agent_id, code)
);

-- Agents who may be off per business unit, code group and local day (the settings' daily
-- allowance applies to days without a row).
CREATE TABLE time_off_allowances (
    business_unit_id BLOB NOT NULL REFERENCES business_units (id),
    grp TEXT NOT NULL,
    day TEXT NOT NULL,
    agents INTEGER NOT NULL,
    PRIMARY KEY (business_unit_id, grp, day)
);
