"""Background loops a process runs beside its workers (deadline sweeps, cron ticks)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq

from waypoint.clock import seconds_until


class BackgroundLoop:
    """Runs the coroutine `_loop()` (defined by the subclass, looping until cancelled) as one
    asyncio task named `task_name`, from `start()` until `stop()`."""

    task_name = "waypoint-background"
    _task: asyncio.Task | None = None

    async def _loop(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Wakeup:
    """When a background loop that polls storage looks again: at the earliest due time it
    was told of (`at`, e.g. a deadline this process just set), at once (`now`), and at the
    latest `idle_seconds` after its last look — the bound on how late it sees what other
    processes scheduled or what was stored before a restart. An idle process so spends one
    query per `idle_seconds` on the loop instead of one per fixed short interval."""

    def __init__(self, idle_seconds: float):
        self.idle_seconds = idle_seconds
        self._due: list[float] = []  # heap of event-loop times (`loop.time()`) told by `at`
        self._now = False
        self._changed = asyncio.Event()

    def at(self, iso: str) -> None:
        """Look again at the ISO time `iso` (at once if it has passed)."""
        # A little after: uvloop's timers have millisecond resolution, and a look a moment
        # early finds nothing due and then waits `idle_seconds`.
        due = asyncio.get_running_loop().time() + max(0.0, seconds_until(iso)) + 0.002
        if not self._due or due < self._due[0]:
            self._changed.set()
        heapq.heappush(self._due, due)

    def now(self) -> None:
        """Look again at once (or right after the look under way)."""
        self._now = True
        self._changed.set()

    async def wait(self, at_most: float | None = None) -> None:
        """Return at the earliest of: a due time told by `at`, a `now()` (also one made
        since the last return), `idle_seconds`, or `at_most` seconds from now."""
        loop = asyncio.get_running_loop()
        end = loop.time() + (self.idle_seconds if at_most is None else min(self.idle_seconds, at_most))
        while not self._now:
            due = min(end, self._due[0]) if self._due else end
            if due <= loop.time():
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), due - loop.time())
        self._now = False
        now = loop.time()
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
