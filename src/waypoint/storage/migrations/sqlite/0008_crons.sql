-- Crons: a run payload fired on a schedule (croniter syntax, in `timezone`). `next_run_date`
-- is the next tick (NULL once past `end_time`); firing a tick compare-and-sets it in the
-- transaction that queues the tick's run, so each tick fires once across all processes.
-- A thread cron (thread_id set) goes with its thread, any cron with its assistant.
CREATE TABLE crons (
    cron_id          TEXT PRIMARY KEY,
    assistant_id     TEXT NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    thread_id        TEXT REFERENCES threads (thread_id) ON DELETE CASCADE,
    user_id          TEXT,
    schedule         TEXT NOT NULL,
    timezone         TEXT,
    end_time         TEXT,
    enabled          INTEGER NOT NULL DEFAULT 1,
    on_run_completed TEXT,
    payload          TEXT NOT NULL DEFAULT '{}',
    metadata         TEXT NOT NULL DEFAULT '{}',
    next_run_date    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX crons_due ON crons (next_run_date) WHERE enabled;
CREATE INDEX crons_thread ON crons (thread_id);
CREATE INDEX crons_assistant ON crons (assistant_id)
