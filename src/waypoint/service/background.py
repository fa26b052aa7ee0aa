"""Background loops a process runs beside its workers (deadline sweeps, cron ticks)."""

from __future__ import annotations

import asyncio
import contextlib


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
