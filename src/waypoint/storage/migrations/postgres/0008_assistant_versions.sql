-- Every version of every assistant (create and each update make one); the assistants row
-- holds the current one (`POST /assistants/{id}/latest` pins any recorded version).
CREATE TABLE assistant_versions (
    assistant_id TEXT NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    graph_id     TEXT NOT NULL,
    config       JSONB NOT NULL DEFAULT '{}',
    context      JSONB NOT NULL DEFAULT '{}',
    metadata     JSONB NOT NULL DEFAULT '{}',
    name         TEXT NOT NULL,
    description  TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (assistant_id, version)
);
INSERT INTO assistant_versions (assistant_id, version, graph_id, config, context, metadata, name, description, created_at)
    SELECT assistant_id, version, graph_id, config, context, metadata, name, description, updated_at FROM assistants;
