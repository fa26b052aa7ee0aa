"""In-process broker: run streams kept in memory, for the single-process deployment."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from waypoint.streams.base import (
    THREAD_MAX_EVENTS,
    THREAD_RETENTION_SECONDS,
    Broker,
    CancelAction,
    StreamEvent,
    ThreadEvent,
    first_seq,
)

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


class _ThreadLog:
    def __init__(self) -> None:
        self.events: collections.deque[ThreadEvent] = collections.deque()
        self.last_append = time.monotonic()
        self.appended = asyncio.Event()  # replaced at each append, after being set


class InProcessBroker(Broker):
    """Broker whose subscribers live in the same event loop as the publishers.

    Thread event logs live in this process's memory: they survive client disconnects but
    not a restart of the process (a thread's seqs then continue from a higher clock value).
    """

    def __init__(
        self,
        *,
        thread_retention_seconds: float = THREAD_RETENTION_SECONDS,
        thread_max_events: int = THREAD_MAX_EVENTS,
    ) -> None:
        self.thread_retention_seconds = thread_retention_seconds
        self.thread_max_events = thread_max_events
        self._threads: dict[str, _ThreadLog] = {}
        self._threads_swept = 0.0
        self._thread_seqs: dict[str, int] = {}  # kept after a log expires: seqs never repeat
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
                        # `asyncio.timeout`, not `wait_for`: no task per wait (one per event)
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(IDLE_POLL_SECONDS):
                                await log.changed.wait()
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

    # -- thread event logs ---------------------------------------------------
    def _thread_log(self, thread_id: str) -> _ThreadLog:
        now = time.monotonic()
        cutoff = now - self.thread_retention_seconds
        if now - self._threads_swept > 1.0:  # sweep expired logs at most once a second
            self._threads_swept = now
            for tid in [t for t, lg in self._threads.items() if lg.last_append < cutoff]:
                del self._threads[tid]
        log = self._threads.get(thread_id)
        if log is None or log.last_append < cutoff:
            log = self._threads[thread_id] = _ThreadLog()
        return log

    async def append_thread_events(self, thread_id: str, bodies: list[bytes]) -> int:
        log = self._thread_log(thread_id)
        if not bodies:
            return self._thread_seqs.get(thread_id, 0)
        seq = self._thread_seqs.get(thread_id) or first_seq() - 1
        for body in bodies:
            seq += 1
            log.events.append(ThreadEvent(seq, body))
        while len(log.events) > self.thread_max_events:
            log.events.popleft()
        self._thread_seqs[thread_id] = seq
        log.last_append = time.monotonic()
        appended, log.appended = log.appended, asyncio.Event()
        appended.set()
        return seq

    async def thread_seq(self, thread_id: str) -> int:
        return self._thread_seqs.get(thread_id, 0)

    async def read_thread_events(self, thread_id: str, *, since: int = 0) -> list[ThreadEvent]:
        log = self._thread_log(thread_id)
        return self._after(log, since)

    @staticmethod
    def _after(log: _ThreadLog, cursor: int) -> list[ThreadEvent]:
        # seqs in a log are consecutive, so the first unseen one is found by offset
        start = max(0, cursor - log.events[0].seq + 1) if log.events else 0
        return list(itertools.islice(log.events, start, None))

    async def follow_thread(self, thread_id: str, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        cursor = since
        while True:
            log = self._thread_log(thread_id)
            batch = self._after(log, cursor)
            if not batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL_SECONDS):
                        await log.appended.wait()
                continue
            for ev in batch:
                yield ev
                cursor = ev.seq

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

    async def wait_runs_available(self, timeout: float) -> bool:
        woken = True
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken
