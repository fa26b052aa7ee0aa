"""In-process broker: run streams kept in memory, for the single-process deployment."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from waypoint.streams.base import Broker, CancelAction, StreamEvent

#: Seconds an ended stream stays replayable (for joins that arrive just after the end).
RETAIN_ENDED_SECONDS = 60.0
#: Seconds between `is_finished` polls while a subscriber waits.
IDLE_POLL_SECONDS = 0.5


class _RunLog:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.ended_at: float | None = None
        self.result: bytes | None = None
        self.changed = asyncio.Condition()


class InProcessBroker(Broker):
    """Broker whose subscribers live in the same event loop as the publishers."""

    def __init__(self) -> None:
        self._logs: dict[str, _RunLog] = {}
        self._ended: collections.deque[tuple[float, str]] = collections.deque()  # in end order
        self._cancels: dict[str, asyncio.Future[CancelAction]] = {}
        self._wake = asyncio.Event()

    def _log(self, run_id: str) -> _RunLog:
        self._evict()
        log = self._logs.get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLog()
        return log

    def _evict(self) -> None:
        cutoff = time.monotonic() - RETAIN_ENDED_SECONDS
        while self._ended and self._ended[0][0] < cutoff:
            _, run_id = self._ended.popleft()
            log = self._logs.get(run_id)
            if log is not None and log.ended_at is not None and log.ended_at < cutoff:
                del self._logs[run_id]

    async def publish(self, run_id: str, event: str, data: bytes) -> None:
        log = self._log(run_id)
        async with log.changed:
            log.events.append(StreamEvent(str(len(log.events)), event, data))
            log.changed.notify_all()

    async def end(self, run_id: str, result: bytes | None = None) -> None:
        log = self._log(run_id)
        async with log.changed:
            log.ended_at = time.monotonic()
            log.result = result
            log.changed.notify_all()
        self._ended.append((log.ended_at, run_id))
        self._cancels.pop(run_id, None)

    async def result(self, run_id: str) -> bytes | None:
        log = self._logs.get(run_id)
        return log.result if log is not None else None

    async def subscribe(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        known = run_id in self._logs
        log = self._log(run_id)
        index = int(last_event_id) + 1 if last_event_id not in (None, "") else 0
        try:
            while True:
                async with log.changed:
                    if index >= len(log.events) and log.ended_at is None:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(log.changed.wait(), IDLE_POLL_SECONDS)
                    batch = log.events[index:]
                    ended = log.ended_at is not None
                for ev in batch:
                    yield ev
                index += len(batch)
                if ended and index >= len(log.events):
                    return
                if not batch and not known and is_finished is not None and await is_finished():
                    return
                known = known or bool(batch)
        finally:
            if not known and not log.events and log.ended_at is None:
                # Drop the placeholder this subscription created for a stream never published.
                self._logs.pop(run_id, None)

    def _cancel_future(self, run_id: str) -> asyncio.Future[CancelAction]:
        fut = self._cancels.get(run_id)
        if fut is None:
            fut = self._cancels[run_id] = asyncio.get_running_loop().create_future()
        return fut

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        fut = self._cancel_future(run_id)
        if not fut.done():
            fut.set_result(action)

    async def wait_cancel(self, run_id: str) -> CancelAction:
        return await asyncio.shield(self._cancel_future(run_id))

    def notify_runs_available(self) -> None:
        self._wake.set()

    async def wait_runs_available(self, timeout: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
