-- The decision audit trail: who answered which interrupt, when, with what. A decision that
-- closes its interrupt (a resume, a deadline's resume or cancel) is unique per interrupt.
CREATE TABLE decisions (
    decision_id  TEXT PRIMARY KEY,
    thread_id    TEXT NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    interrupt_id TEXT NOT NULL,
    run_id       TEXT,
    reviewer     TEXT,
    action       TEXT NOT NULL,
    value        TEXT,
    closes       INTEGER NOT NULL,
    decided_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX decisions_closing ON decisions (thread_id, interrupt_id) WHERE closes = 1;
CREATE INDEX decisions_thread ON decisions (thread_id, decided_at);

-- Deadlines of pending interrupts; `fired_at` is set exactly once, by the sweep that acts.
CREATE TABLE interrupt_deadlines (
    thread_id     TEXT NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    interrupt_id  TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    assistant_id  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    on_expire     TEXT NOT NULL,
    default_value TEXT,
    fired_at      TEXT,
    PRIMARY KEY (thread_id, interrupt_id)
);
CREATE INDEX interrupt_deadlines_due ON interrupt_deadlines (fired_at, expires_at);
