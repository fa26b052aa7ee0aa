"""The worker pool: picks queued runs up and executes them, one running run per thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
        max_attempts: int = 3,
        shutdown_grace_seconds: float = 10.0,
    ):
        self.storage = storage
        self.broker = broker
        self.executor = executor
        self.threads = threads
        self.size = size
        #: Seconds a claimed run stays leased without a heartbeat; heartbeats (lease renewals
        #: and sweeps for orphaned runs) come every third of it.
        self.lease_seconds = lease_seconds
        #: Executions a run gets when its worker dies mid-run (crash recovery), the first included.
        self.max_attempts = max_attempts
        #: Seconds running runs get to finish after shutdown begins before they are handed back.
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.worker_id = str(uuid.uuid4())
        self._draining_since: float | None = None
        self._broker_down = False
        self._broker_checked_at = 0.0  # time.monotonic() of the last check the broker passed
        self._active: dict[str, asyncio.Task] = {}
        #: Whether runs may be queued that the last claim left (it filled every free slot,
        #: or the pool was full): a slot freed then needs a claim pass.
        self._maybe_queued = True
        #: Slots promised to runs being created here (`reserve`), not yet started or released.
        self._reserved = 0
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Recover runs orphaned by a previous process (their threads leave `busy`), then
        start picking runs up, heartbeating leases and sweeping for expired ones."""
        await self.recover_orphans(at_startup=True)
        self._tasks = [
            asyncio.create_task(self._loop(), name="waypoint-worker-pool"),
            asyncio.create_task(self._heartbeat(), name="waypoint-heartbeat"),
        ]

    def drain(self) -> None:
        """Stop claiming runs (shutdown began); the grace period starts now. Safe to call
        from a signal handler: it only sets a flag the claim loop reads."""
        if self._draining_since is None:
            self._draining_since = time.monotonic()

    async def stop(self) -> None:
        """Graceful shutdown: stop claiming, give running runs what is left of the grace
        period, then hand the rest back to the queue (`pending`, lease released) so another
        or the next process continues them from their last checkpoint."""
        self.drain()
        loop, heartbeat = self._tasks or (None, None)
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        remaining = self._draining_since + self.shutdown_grace_seconds - time.monotonic()
        if self._active and remaining > 0:  # heartbeats keep their leases meanwhile
            await asyncio.wait(list(self._active.values()), timeout=remaining)
        if self._active:
            log.warning("shutdown: handing %d running run(s) back to the queue", len(self._active))
            self.executor.hand_back()
            await asyncio.wait(list(self._active.values()), timeout=10)
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def recover_orphans(self, *, at_startup: bool = False) -> None:
        """Runs whose worker died are re-queued; the next execution continues from the run's
        last checkpoint (steps it completed are not executed again). A run whose worker died
        `max_attempts` times ends `error` instead, so a run that kills its process cannot
        loop forever. Either way its thread is not left `busy`. (The official server retries
        runs of a lost worker the same way, with a bounded number of attempts.)"""
        for run in await self.storage.orphaned_runs(at_startup=at_startup):
            if run["run_id"] in self._active:
                continue  # ours and alive (its lease renewal was late)
            try:
                attempt = run.get("attempt") or 1
                if attempt < self.max_attempts:
                    if await self.storage.requeue_run(run["run_id"]):
                        log.warning("re-queued run %s: its worker died during attempt %d", run["run_id"], attempt)
                        self.broker.notify_runs_available()
                    continue
                error = {
                    "error": "WorkerLost",
                    "message": f"The worker executing this run stopped before it finished, {attempt} times"
                               f" (the limit is {self.max_attempts} attempts, --max-run-attempts)",
                }
                thread_state = await self.threads.derive_state(run["thread_id"], error=error)
                await self.storage.finish_run(
                    run["run_id"], status="error", output={"__error__": error}, error=error,
                    thread_state=thread_state,
                )
                await self.broker.end(run["run_id"])
                log.warning("run %s ended with error: its worker died %d times", run["run_id"], attempt)
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

    async def _broker_answers(self) -> bool:
        """Whether the broker answers a ping. While it does not (Redis down), runs are not
        claimed: they would fail to publish their stream, so they wait in the queue. The
        in-process broker is always there: no ping."""
        if not self.broker.remote:
            self._broker_checked_at = time.monotonic()
            return True
        try:
            await asyncio.wait_for(self.broker.ping(), POLL_SECONDS)
        except Exception as exc:
            if not self._broker_down:
                log.warning("broker unreachable (%s): runs stay queued until it answers", exc or type(exc).__name__)
            self._broker_down = True
            return False
        if self._broker_down:
            log.warning("broker reachable again: claiming runs")
        self._broker_down = False
        self._broker_checked_at = time.monotonic()
        return True

    async def _loop(self) -> None:
        # A wake-up (a run queued or a thread freed) needs a claim, not the queue's next
        # delayed run: that is looked up after a quiet poll interval, so a busy pool spends
        # no query on it (a delayed run is claimed by the first wake-up after it is due, at
        # most a poll interval late).
        quiet = True
        while True:
            try:
                if not await self._broker_answers():
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                free = self.size - len(self._active) - self._reserved
                # One claim per wake-up, for every free slot: fewer runs came back than asked
                # means none other is available now (a later wake-up claims the next ones).
                runs = (await self.storage.claim_runs(self.worker_id, self.lease_seconds, free)
                        if free > 0 and self._draining_since is None else [])
                self._maybe_queued = free <= 0 or len(runs) >= free
                for run in runs:
                    self._start(run)
                timeout = POLL_SECONDS
                if quiet and (next_at := await self.storage.next_run_available_at()) is not None:
                    timeout = min(timeout, max(0.01, seconds_until(next_at)))
                quiet = not await self.broker.wait_runs_available(timeout)
                # Let the wake-ups of this loop iteration (runs created and finished together)
                # gather, so that one claim pass answers them all.
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker pool loop failed; retrying")
                await asyncio.sleep(POLL_SECONDS)

    def reserve(self) -> tuple[str, float] | None:
        """Promise a slot to a run about to be created in this process, so that it can be
        inserted already claimed (`Storage.create_run(claim=)`) instead of queued and then
        claimed in a transaction of its own. Returns the claim (`(worker_id, lease_seconds)`),
        or None when no slot is free, the pool drains or the broker does not answer. The
        caller then calls `start_claimed` (the run was inserted claimed) or `release`."""
        # A dependency failed (a run put back, a broker read) since the broker last answered:
        # the queue holds new runs too until the next check (which a failing broker fails).
        if (self._draining_since is not None or self._broker_down or not self._tasks
                or max(self.executor.last_put_back, self.broker.last_failure) > self._broker_checked_at
                or len(self._active) + self._reserved >= self.size):
            return None
        self._reserved += 1
        return self.worker_id, self.lease_seconds

    def release(self) -> None:
        """Give back a slot `reserve` promised (the run was queued, or not created)."""
        self._reserved -= 1

    def start_claimed(self, run: dict) -> None:
        """Execute `run`, inserted claimed by this pool on a slot `reserve` promised. The
        heartbeat renews its lease from now on; if this process dies, the lease expires
        and the run is recovered like any claimed run (`recover_orphans`)."""
        self._reserved -= 1
        self._start(run)

    def _start(self, run: dict) -> None:
        task = asyncio.create_task(self.executor.execute(run), name=f"run-{run['run_id']}")
        self._active[run["run_id"]] = task
        task.add_done_callback(lambda t, rid=run["run_id"]: self._done(rid, t))

    def _done(self, run_id: str, task: asyncio.Task) -> None:
        """A run's task ended: its slot is free. The pool (and the cluster's) is woken only
        when a queued run may start now: one of its thread's (`execute` says so), or one
        the last claim could not take for want of a slot. Otherwise no claim would find
        anything: a run created later wakes the pool itself."""
        self._active.pop(run_id, None)
        frees_queued = task.cancelled() or task.exception() is not None or task.result() is not False
        if frees_queued or self._maybe_queued:
            self.broker.notify_runs_available()
