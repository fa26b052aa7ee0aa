"""Retention sweeps: expired threads (thread TTL) and expired store items (store TTL).

The rules (the README's "Retention" section says the same):
- A thread's TTL counts from its last update (`updated_at`: creation, a TTL set by
  `PATCH`, a run, a state update, a metadata patch), the official "time-to-live in minutes
  from now" renewed by activity. `checkpointer.ttl.default_ttl` is stamped on threads
  created from then on (as the official docs say: existing threads are not changed).
- One process sweeps at a time (`Storage.exclusive`: a PostgreSQL advisory lock; SQLite
  serves one process), at most `sweep_limit` threads per pass, every
  `sweep_interval_minutes` (a full batch is followed by the next one a second later).
- A `busy` thread (a pending or running run) is never touched; it expires later, counted
  from the update its run makes.
- `delete` removes the thread with its runs, checkpoints and decisions. A thread paused at an
  interrupt is deleted only by its own TTL (the TTL says so), and not while one of its
  interrupts has an unfired deadline: the deadline acts first.
- `keep_latest` keeps the thread and the latest checkpoint of each checkpoint namespace in
  use, with its pending writes, so the state, and a pending interrupt, stay as they were and a
  resume still works; older checkpoints go. A pruned thread is pruned again only after its
  next update has expired.
- Store items expire by langgraph's store TTL; the sweeper deletes them every
  `store.ttl.sweep_interval_minutes` (langgraph's `sweep_ttl`), in one process at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from waypoint.persistence import StoreConfig, ThreadTTLConfig
from waypoint.storage import Storage

log = logging.getLogger(__name__)

#: Seconds before the next pass when a pass handled a full batch (more are waiting).
BACKLOG_PAUSE_SECONDS = 1.0


class RetentionSweeper:
    """Background passes over expired threads and, with `store.ttl` swept, store items."""

    def __init__(self, storage: Storage, thread_ttl: ThreadTTLConfig | None = None,
                 store: StoreConfig | None = None):
        self.storage = storage
        self.thread_ttl = thread_ttl or ThreadTTLConfig()
        self.store = store or StoreConfig()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # Threads may get a TTL through the API without checkpointer.ttl: always sweep them.
        self._tasks.append(asyncio.create_task(
            self._loop(self.sweep_threads, self.thread_ttl.sweep_interval_minutes), name="waypoint-thread-ttl"))
        if self.store.ttl and self.store.sweep_interval_minutes:
            self._tasks.append(asyncio.create_task(
                self._loop(self.sweep_store, self.store.sweep_interval_minutes), name="waypoint-store-ttl"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _loop(self, sweep, interval_minutes: float) -> None:
        while True:
            full = False
            try:
                full = await sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed; retrying at the next interval")
            await asyncio.sleep(BACKLOG_PAUSE_SECONDS if full else interval_minutes * 60)

    async def sweep_threads(self) -> bool:
        """One pass over expired threads; True when it handled a full batch."""
        async with self.storage.exclusive("thread-ttl") as mine:
            if not mine:
                return False
            expired = await self.storage.expired_threads(self.thread_ttl.sweep_limit)
            for thread in expired:
                try:
                    if thread["strategy"] == "keep_latest":
                        await self.storage.prune_thread_checkpoints(thread["thread_id"])
                    else:
                        await self.storage.delete_expired_thread(thread["thread_id"])
                except Exception:
                    log.exception("retention of thread %s failed", thread["thread_id"])
            if expired:
                log.info("retention: %d expired thread(s) swept", len(expired))
            return len(expired) >= self.thread_ttl.sweep_limit

    async def sweep_store(self) -> bool:
        """Delete expired store items (langgraph's `sweep_ttl`) in one process at a time."""
        async with self.storage.exclusive("store-ttl") as mine:
            if mine and (deleted := await self.storage.store.sweep_ttl()):
                log.info("retention: %d expired store item(s) swept", deleted)
        return False

