-- The agent revision: every update of an agent takes the next revision and stamps the row with
-- it, so a writer's cache of decoded agents re-reads only the agents written since it last
-- looked (rota-store's cache module). New agents keep revision 0: a cache has never seen them.
CREATE TABLE agent_revision (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO agent_revision (id, revision) VALUES (1, 0);
ALTER TABLE agents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE INDEX agents_by_revision ON agents (revision);
