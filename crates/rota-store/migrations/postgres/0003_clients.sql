-- OAuth 2.0 clients (client-credentials grant). Secrets are high-entropy random strings, so a
-- SHA-256 hash is enough to keep them unusable if the table leaks.
CREATE TABLE api_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    business_unit_id UUID REFERENCES business_units (id),
    agent_id UUID REFERENCES agents (id)
);

-- Bearer tokens, by the hash of the token; looked up on every API request.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES api_clients (client_id),
    expires_at BIGINT NOT NULL
);
-- Purging expired tokens.
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
