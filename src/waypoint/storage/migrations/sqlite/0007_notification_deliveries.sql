-- Notifications to reviewers (service/notifications.py): one row per event and target, kept
-- after sending as the delivery record. The id is derived from (event, thread, interrupt,
-- target), so recording one twice is a no-op; `claimed_until` keeps one process on a row.
-- status: pending (due at next_attempt_at) | sent | failed (gave up) | skipped (answered first).
CREATE TABLE notification_deliveries (
    delivery_id     TEXT PRIMARY KEY,
    thread_id       TEXT NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    interrupt_id    TEXT,
    event           TEXT NOT NULL,
    target          TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
CREATE INDEX notification_deliveries_thread ON notification_deliveries (thread_id, created_at)
