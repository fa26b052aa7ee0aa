-- Server rows. Checkpoints and store items live in the tables of
-- langgraph-checkpoint-sqlite, created by its own setup().
CREATE TABLE assistants (
    assistant_id TEXT PRIMARY KEY,
    graph_id     TEXT NOT NULL,
    config       TEXT NOT NULL DEFAULT '{}',
    context      TEXT NOT NULL DEFAULT '{}',
    metadata     TEXT NOT NULL DEFAULT '{}',
    name         TEXT NOT NULL,
    description  TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX assistants_graph_id ON assistants (graph_id);

CREATE TABLE threads (
    thread_id        TEXT PRIMARY KEY,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    state_updated_at TEXT NOT NULL,
    metadata         TEXT NOT NULL DEFAULT '{}',
    config           TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'idle',
    "values"         TEXT,
    interrupts       TEXT NOT NULL DEFAULT '{}',
    error            TEXT
);
CREATE INDEX threads_status ON threads (status);
CREATE INDEX threads_created_at ON threads (created_at);

CREATE TABLE runs (
    run_id             TEXT PRIMARY KEY,
    thread_id          TEXT NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    assistant_id       TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    available_at       TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending',
    metadata           TEXT NOT NULL DEFAULT '{}',
    kwargs             TEXT NOT NULL DEFAULT '{}',
    multitask_strategy TEXT NOT NULL DEFAULT 'enqueue',
    worker_id          TEXT,
    output             TEXT,
    error              TEXT
);
CREATE INDEX runs_thread ON runs (thread_id, created_at);
CREATE INDEX runs_pending ON runs (status, available_at, created_at);
