-- When a worker started the run, and until when its lease holds (renewed by heartbeats).
ALTER TABLE runs ADD COLUMN started_at TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at TEXT;
CREATE INDEX runs_running_lease ON runs (status, lease_expires_at);
