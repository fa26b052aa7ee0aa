-- Thread retention: a thread's TTL (minutes after its last update, `updated_at`) and what
-- its expiry does (`delete` or `keep_latest`); `ttl_pruned_at` is when `keep_latest` last
-- pruned it, so an unchanged thread is not pruned again.
ALTER TABLE threads ADD COLUMN ttl_minutes REAL;
ALTER TABLE threads ADD COLUMN ttl_strategy TEXT;
ALTER TABLE threads ADD COLUMN ttl_pruned_at TEXT;
CREATE INDEX threads_ttl ON threads (updated_at) WHERE ttl_minutes IS NOT NULL
