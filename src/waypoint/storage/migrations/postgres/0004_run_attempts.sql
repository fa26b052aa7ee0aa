-- How many times a worker picked the run up (1 on its first execution); crash recovery
-- re-queues a run until it reaches the server's --max-run-attempts.
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0
