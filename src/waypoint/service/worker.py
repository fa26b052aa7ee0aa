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
        lease_seconds: float = 30.0,
    ):
        self.storage = storage
        self.broker = broker
        self.executor = executor
        self.threads = threads
        self.size = size
        #: Seconds a claimed run stays leased without a heartbeat; heartbeats (lease renewals
        #: and sweeps for orphaned runs) come every third of it.
        self.lease_seconds = lease_seconds
        self.worker_id = str(uuid.uuid4())
        self._active: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Recover runs orphaned by a previous process (their threads leave `busy`), then
        start picking runs up, heartbeating leases and sweeping for expired ones."""
        await self.recover_orphans(at_startup=True)
        self._tasks = [
            asyncio.create_task(self._loop(), name="waypoint-worker-pool"),
            asyncio.create_task(self._heartbeat(), name="waypoint-heartbeat"),
        ]

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop picking runs; cancel active runs (`interrupted`) and wait up to `grace_seconds`."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for run_id in list(self._active):
            await self.broker.cancel(run_id, "interrupt")
        if self._active:
            await asyncio.wait(list(self._active.values()), timeout=grace_seconds)

    async def recover_orphans(self, *, at_startup: bool = False) -> None:
        """Runs whose worker died: re-queued if they had not written a checkpoint yet (no
        step started), else ended `error`; either way their thread is not left `busy`."""
        for run in await self.storage.orphaned_runs(at_startup=at_startup):
            if run["run_id"] in self._active:
                continue  # ours and alive (its lease renewal was late)
            try:
                if not await self.storage.run_wrote_checkpoints(run["thread_id"], run["run_id"]):
                    if await self.storage.requeue_run(run["run_id"]):
                        log.warning("re-queued run %s: its worker died before it started a step", run["run_id"])
                        self.broker.notify_runs_available()
                    continue
                error = {"error": "WorkerLost", "message": "The worker executing this run stopped before it finished"}
                thread_state = await self.threads.derive_state(run["thread_id"], error=error)
                await self.storage.finish_run(
                    run["run_id"], status="error", output={"__error__": error}, error=error,
                    thread_state=thread_state,
                )
                await self.broker.end(run["run_id"])
                log.warning("run %s ended with error: its worker died mid-run", run["run_id"])
            except Exception:
                log.exception("could not recover orphaned run %s", run["run_id"])

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.storage.renew_leases(self.worker_id, list(self._active), self.lease_seconds)
                await self.recover_orphans()
            except Exception:
                log.exception("heartbeat failed; retrying")

    async def _loop(self) -> None:
        while True:
            try:
                while len(self._active) < self.size:
                    run = await self.storage.claim_next_run(self.worker_id, self.lease_seconds)
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
