-- threads.search(status=...) and the inbox sort by time within a status: serve them from
-- the index instead of sorting every thread of that status.
CREATE INDEX threads_status_created ON threads (status, created_at);
CREATE INDEX threads_status_updated ON threads (status, updated_at)
