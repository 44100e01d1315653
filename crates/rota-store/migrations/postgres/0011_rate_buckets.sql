-- Rate limits shared by the API nodes of one database: per key (an OAuth client), the GCRA's
-- theoretical arrival time in microseconds. A request takes its place with one conditional
-- upsert, so the quota holds across nodes.
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL
);
