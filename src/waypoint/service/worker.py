"""The worker pool: picks queued runs up and executes them, one running run per thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from waypoint.clock import seconds_until
from waypoint.service.executor import RunExecutor
from waypoint.service.threads import ThreadService
from waypoint.storage import Storage
from waypoint.streams import Broker

log = logging.getLogger(__name__)

#: Seconds between queue polls when nothing wakes the pool (a safety net for lost wake-ups).
POLL_SECONDS = 1.0


class WorkerPool:
    """Up to `size` runs executing concurrently as asyncio tasks of this process."""

    def __init__(
        self,
        storage: Storage,
        broker: Broker,
        executor: RunExecutor,
        threads: ThreadService,
        *,
        size: int = 10,
    ):
        self.storage = storage
        self.broker = broker
        self.executor = executor
        self.threads = threads
        self.size = size
        self.worker_id = str(uuid.uuid4())
        self._active: dict[str, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Fail runs orphaned by a previous process (their threads leave `busy`), then
        start picking runs up."""
        for run in await self.storage.fail_orphaned_runs(
            "The server stopped while this run was executing"
        ):
            with contextlib.suppress(Exception):
                await self.threads.refresh(run["thread_id"], error=run["error"])
        self._loop_task = asyncio.create_task(self._loop(), name="waypoint-worker-pool")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop picking runs; cancel active runs (`interrupted`) and wait up to `grace_seconds`."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for run_id in list(self._active):
            await self.broker.cancel(run_id, "interrupt")
        if self._active:
            await asyncio.wait(list(self._active.values()), timeout=grace_seconds)

    async def _loop(self) -> None:
        while True:
            try:
                while len(self._active) < self.size:
                    run = await self.storage.claim_next_run(self.worker_id)
                    if run is None:
                        break
                    task = asyncio.create_task(self.executor.execute(run), name=f"run-{run['run_id']}")
                    self._active[run["run_id"]] = task
                    task.add_done_callback(lambda _t, rid=run["run_id"]: self._done(rid))
                timeout = POLL_SECONDS
                if (next_at := await self.storage.next_run_available_at()) is not None:
                    timeout = min(timeout, max(0.01, seconds_until(next_at)))
                await self.broker.wait_runs_available(timeout)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker pool loop failed; retrying")
                await asyncio.sleep(POLL_SECONDS)

    def _done(self, run_id: str) -> None:
        self._active.pop(run_id, None)
        self.broker.notify_runs_available()
