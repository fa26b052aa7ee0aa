-- Server rows. Checkpoints and store items live in the tables of
-- langgraph-checkpoint-postgres, created by its own setup().
CREATE TABLE assistants (
    assistant_id TEXT PRIMARY KEY,
    graph_id     TEXT NOT NULL,
    config       JSONB NOT NULL DEFAULT '{}',
    context      JSONB NOT NULL DEFAULT '{}',
    metadata     JSONB NOT NULL DEFAULT '{}',
    name         TEXT NOT NULL,
    description  TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX assistants_graph_id ON assistants (graph_id);
CREATE INDEX assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);

CREATE TABLE threads (
    thread_id        TEXT PRIMARY KEY,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    state_updated_at TEXT NOT NULL,
    metadata         JSONB NOT NULL DEFAULT '{}',
    config           JSONB NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'idle',
    "values"         JSONB,
    interrupts       JSONB NOT NULL DEFAULT '{}',
    error            JSONB
);
CREATE INDEX threads_status ON threads (status);
CREATE INDEX threads_created_at ON threads (created_at);
CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);

CREATE TABLE runs (
    seq                BIGSERIAL UNIQUE,
    run_id             TEXT PRIMARY KEY,
    thread_id          TEXT NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    assistant_id       TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    available_at       TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending',
    metadata           JSONB NOT NULL DEFAULT '{}',
    kwargs             JSONB NOT NULL DEFAULT '{}',
    multitask_strategy TEXT NOT NULL DEFAULT 'enqueue',
    worker_id          TEXT,
    output             JSONB,
    error              JSONB,
    started_at         TEXT,
    lease_expires_at   TEXT
);
CREATE INDEX runs_thread ON runs (thread_id, seq);
CREATE INDEX runs_pending ON runs (status, available_at, seq);
CREATE INDEX runs_running_lease ON runs (status, lease_expires_at);
