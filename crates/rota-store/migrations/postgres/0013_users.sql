-- People who sign in to the portal. The password is an argon2id hash in PHC form (NULL until
-- the person sets one: they sign in by a one-time link). Failures in a row and the lock they
-- earned live on the row, so every node sees the same count.
CREATE TABLE users (
    id UUID PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    business_unit_id UUID REFERENCES business_units (id),
    agent_id UUID REFERENCES agents (id),
    password_hash TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT
);

-- One-time sign-in links, by the hash of the link's token; deleted when used.
CREATE TABLE sign_in_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
-- Purging expired links.
CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at);

-- Browser sessions, by the hash of the cookie; read on every portal request by whichever
-- node serves it. The CSRF token is the session's own, compared with each form's.
CREATE TABLE sessions (
    session_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
-- Purging expired sessions.
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
-- Ending a user's sessions when their password changes.
CREATE INDEX sessions_by_user ON sessions (user_id);

-- The last version of each schedule a user marked as seen: where "what changed since I last
-- looked" starts.
CREATE TABLE seen_versions (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    schedule_id UUID NOT NULL REFERENCES schedules (id),
    version BIGINT NOT NULL,
    PRIMARY KEY (user_id, schedule_id)
);
