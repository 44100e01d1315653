-- Bulk swap batches started from the portal: progress and the per-swap report (JSON Lines,
-- appended chunk by chunk) live here, so that the page following a batch works on any node.
CREATE TABLE batch_runs (
    id UUID PRIMARY KEY NOT NULL,
    business_unit_id UUID NOT NULL REFERENCES business_units (id),
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    started_by TEXT NOT NULL,
    source TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}',
    finished BOOLEAN NOT NULL DEFAULT FALSE,
    detail TEXT,
    report TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A unit's runs, newest first.
CREATE INDEX batch_runs_by_unit ON batch_runs (business_unit_id, created_at);
