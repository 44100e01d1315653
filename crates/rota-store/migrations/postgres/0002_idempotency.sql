-- Idempotency keys (IETF httpapi Idempotency-Key): one row per client and key. `result` is
-- written in the same transaction as the change the request made, so a change is never
-- committed without its key; a row without a result is a request in progress, whose claim
-- lapses at `lease_until` (a process that died mid-request must not block the key forever).
CREATE TABLE idempotency_keys (
    client_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    result TEXT,
    lease_until BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, idempotency_key)
);
-- Purging expired keys.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
