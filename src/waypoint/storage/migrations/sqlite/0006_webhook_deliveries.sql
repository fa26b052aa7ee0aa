-- Webhook deliveries not yet made: kept until delivered, refused or expired, so any process
-- retries them after a restart. `claimed_until` keeps one process on a delivery at a time.
CREATE TABLE webhook_deliveries (
    delivery_id     TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    run_id          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    expires_at      TEXT NOT NULL,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
