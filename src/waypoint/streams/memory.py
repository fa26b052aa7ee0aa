"""In-process broker: run streams kept in memory, for the single-process deployment.

Thread event logs live in memory too and, given a `ThreadEventStore` (`durable=`, the
server's storage), are also written to the database, so a client reconnecting with `since`
after a restart replays what was logged before it:

- appends stay in memory and reach followers at once; a writer task stores them in batches,
  one transaction per `FLUSH_SECONDS` (not one write per event), and on `close()` (a
  graceful shutdown) whatever is left. A process killed (`kill -9`) loses the events of at
  most its last `FLUSH_SECONDS` from the stored log; what was stored stays intact (each
  batch is one transaction).
- memory keeps only a thread's events not yet stored (a parked thread costs its seq
  counter, not its log): they are dropped once stored, unless a read of the stored copy is
  under way (it would miss them). A read whose `since` memory does not cover reads the
  stored events after it, then memory's; a follower caught up waits on memory alone.
- seqs never repeat: a thread's first seq in a process is above every stored seq and the
  clock in microseconds (so above any seq a killed process handed out but never stored);
  within a process they grow by one per event.
- retention: a stored log is deleted `thread_retention_seconds` after its newest event (a
  sweep at `open()` and every `sweep_seconds`, so an expired log may be read until then), and
  trimmed to the newest `thread_max_events` (in steps of a tenth of it; reads never return
  more).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from waypoint.clock import now_iso
from waypoint.streams.base import (
    THREAD_MAX_EVENTS,
    THREAD_RETENTION_SECONDS,
    Broker,
    CancelAction,
    StreamEvent,
    ThreadEvent,
    ThreadEventStore,
    first_seq,
)

log = logging.getLogger(__name__)

#: Seconds an ended stream stays replayable (for joins that arrive just after the end).
RETAIN_ENDED_SECONDS = 60.0
#: Seconds between `is_finished` polls while a subscriber waits.
IDLE_POLL_SECONDS = 0.5
#: Seconds appended thread events wait before being stored together (what `kill -9` may lose).
FLUSH_SECONDS = 0.05
#: Most seconds between sweeps of expired stored thread logs (less with a short retention).
SWEEP_SECONDS = 60.0
#: Stored thread logs deleted per sweep transaction.
SWEEP_BATCH = 1000
#: Seconds before storing again after a failed write (the events are kept and retried).
RETRY_SECONDS = 1.0
#: Most unstored events kept while writes fail (the oldest are then dropped, with a warning).
MAX_UNSTORED = 100_000


class _RunLog:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.ended_at: float | None = None
        self.result: bytes | None = None
        self.changed = asyncio.Condition()
        self.end_waiters: list[asyncio.Future] | None = None  # `wait_ended`'s, woken by the end only


class _ThreadLog:
    """A thread's events in memory: every retained one without a durable copy; with one,
    those not yet stored (and stored ones while a read of the stored copy is under way)."""

    __slots__ = ("events", "last_append", "appended", "stored", "readers", "followers")

    def __init__(self) -> None:
        self.events: collections.deque[ThreadEvent] = collections.deque()
        self.last_append = time.monotonic()
        self.appended = asyncio.Event()  # replaced at each append, after being set
        self.stored = 0  # durable copy: the highest seq stored (memory drops those up to it)
        self.readers = 0  # durable copy: reads of it under way (memory keeps stored events)
        self.followers = 0  # `follow_thread`s waiting on `appended`


class InProcessBroker(Broker):
    """Broker whose subscribers live in the same event loop as the publishers.

    Thread event logs live in this process's memory: they survive client disconnects, and
    with `durable` (see the module docstring) a restart of the process too.
    """

    def __init__(
        self,
        *,
        thread_retention_seconds: float = THREAD_RETENTION_SECONDS,
        thread_max_events: int = THREAD_MAX_EVENTS,
        durable: ThreadEventStore | None = None,
    ) -> None:
        self.thread_retention_seconds = thread_retention_seconds
        self.thread_max_events = thread_max_events
        self._threads: dict[str, _ThreadLog] = {}
        self._threads_swept = 0.0
        self._thread_seqs: dict[str, int] = {}  # kept after a log expires: seqs never repeat
        # -- the durable copy --
        self.durable = durable
        self.sweep_seconds = min(SWEEP_SECONDS, max(0.1, thread_retention_seconds / 4))
        self._stored_max = 0  # the highest stored seq when the process started
        self._unstored: list[tuple[str, int, bytes]] = []
        self._unstored_ready = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task] = []
        self._logs: dict[str, _RunLog] = {}
        self._ended: collections.deque[tuple[float, str]] = collections.deque()  # in end order
        self._cancels: dict[str, asyncio.Future[CancelAction]] = {}
        self._wake = asyncio.Event()

    async def open(self) -> None:
        if self.durable is None:
            return
        self._stored_max = await self.durable.last_thread_event_seq()
        await self._sweep()
        self._tasks = [asyncio.create_task(self._write_loop(), name="waypoint-thread-events-writer"),
                       asyncio.create_task(self._sweep_loop(), name="waypoint-thread-events-sweeper")]

    async def close(self) -> None:
        """Store the events not yet stored (one last write), stop the writer and sweeper."""
        if not self._tasks:
            return
        writer, sweeper = self._tasks
        self._tasks = []
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        self._closing = True
        self._unstored_ready.set()
        await writer

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
        for waiter in log.end_waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        log.end_waiters = None
        self._ended.append((log.ended_at, run_id))
        self._cancels.pop(run_id, None)

    async def result(self, run_id: str) -> bytes | None:
        log = self._logs.get(run_id)
        return log.result if log is not None else None

    async def subscribe_batches(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
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
                if batch:
                    yield batch
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

    async def wait_ended(
        self, run_id: str, *, is_finished: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Woken by `end` alone, not by each event as a subscriber is; `is_finished` is
        polled every `IDLE_POLL_SECONDS` while the stream has no event (as
        `subscribe_batches`)."""
        known = run_id in self._logs
        log = self._log(run_id)
        ended = asyncio.get_running_loop().create_future()
        if log.ended_at is None:  # (end() settles and drops the list once, at the end)
            log.end_waiters = [*(log.end_waiters or ()), ended]
        try:
            while log.ended_at is None:
                done, _ = await asyncio.wait({ended}, timeout=IDLE_POLL_SECONDS)
                if done:
                    return
                known = known or bool(log.events)
                if not known and is_finished is not None and await is_finished():
                    return
        finally:
            if log.end_waiters is not None and ended in log.end_waiters:
                log.end_waiters.remove(ended)
            if not known and not log.events and log.ended_at is None:
                # Drop the placeholder this wait created for a stream never published.
                self._logs.pop(run_id, None)

    # -- thread event logs ---------------------------------------------------
    def _thread_log(self, thread_id: str) -> _ThreadLog:
        if self.durable is not None:  # memory holds unstored events only; the sweep expires logs
            log = self._threads.get(thread_id)
            if log is None:
                log = self._threads[thread_id] = _ThreadLog()
            return log
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

    async def queue_thread_events(self, thread_id: str, bodies: list[bytes]) -> None:
        # In process: appended now (nothing to batch).
        if not bodies:
            return
        log = self._thread_log(thread_id)
        seq = self._thread_seqs.get(thread_id)
        if seq is None:
            seq = max(first_seq(), self._stored_max + 1) - 1
        for body in bodies:
            seq += 1
            log.events.append(ThreadEvent(seq, body))
            if self.durable is not None:
                self._unstored.append((thread_id, seq, body))
        if self.durable is not None:
            self._unstored_ready.set()
        while len(log.events) > self.thread_max_events:
            log.events.popleft()
        self._thread_seqs[thread_id] = seq
        log.last_append = time.monotonic()
        appended, log.appended = log.appended, asyncio.Event()
        appended.set()

    async def thread_seq(self, thread_id: str) -> int:
        seq = self._thread_seqs.get(thread_id)
        if seq is None and self.durable is not None:  # logged before this process only
            return await self.durable.last_thread_event_seq(thread_id)
        return seq or 0

    async def read_thread_events(self, thread_id: str, *, since: int = 0) -> list[ThreadEvent]:
        if self.durable is None:
            return self._after(self._thread_log(thread_id), since)
        log = self._threads.get(thread_id)
        if log is not None and log.events and log.events[0].seq <= since + 1:
            return self._after(log, since)  # memory holds every event after `since`
        last = self._thread_seqs.get(thread_id)
        if last is not None and since >= last:
            return []  # nothing after `since` was logged (one process serves the database)
        # Stored events after `since`, then memory's newer ones. While the read is under way
        # memory keeps what gets stored meanwhile: whatever it drops was stored before the read.
        log = self._thread_log(thread_id)
        log.readers += 1
        try:
            stored = await self.durable.read_thread_events(thread_id, since=since, limit=self.thread_max_events)
            older = [ThreadEvent(seq, body) for seq, body in stored]
            newer = self._after(log, older[-1].seq if older else since)
        finally:
            log.readers -= 1
            self._release(thread_id, log)
        return (older + newer)[-self.thread_max_events:]

    @staticmethod
    def _after(log: _ThreadLog, cursor: int) -> list[ThreadEvent]:
        # seqs in a log are consecutive, so the first unseen one is found by offset
        start = max(0, cursor - log.events[0].seq + 1) if log.events else 0
        return list(itertools.islice(log.events, start, None))

    def _release(self, thread_id: str, log: _ThreadLog) -> None:
        """Durable copy: drop the log's stored events unless a read of the stored copy is under
        way, and the log itself once empty and unused."""
        if log.readers:
            return
        events = log.events
        while events and events[0].seq <= log.stored:
            events.popleft()
        if not events and not log.followers and self._threads.get(thread_id) is log:
            del self._threads[thread_id]

    async def follow_thread(self, thread_id: str, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        # The follower keeps its thread's log (and so its `appended`) alive; each read takes
        # memory when it covers the cursor, else the stored copy (a follower fallen behind).
        log = self._thread_log(thread_id)
        log.followers += 1
        cursor = since
        replayed = False
        try:
            while True:
                appended = log.appended  # set by any append from now on
                logged = self._thread_seqs.get(thread_id, 0)
                if replayed and logged <= cursor:  # only this process adds to the log
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(IDLE_POLL_SECONDS):
                            await appended.wait()
                    continue
                batch, replayed = await self.read_thread_events(thread_id, since=cursor), True
                for ev in batch:
                    yield ev
                    cursor = ev.seq
                # The read returned whatever is retained of what was logged before it: past
                # that, only new appends (no re-reading the stored copy while nothing comes).
                cursor = max(cursor, logged)
        finally:
            log.followers -= 1
            self._release(thread_id, log)

    # -- the durable copy of thread event logs ---------------------------------
    async def _write_loop(self) -> None:
        while True:
            await self._unstored_ready.wait()
            if not self._closing:
                await asyncio.sleep(FLUSH_SECONDS)  # gather what the next moments append
            stored = await self._store()
            if self._closing and (not stored or not self._unstored):
                return
            if not stored:
                await asyncio.sleep(RETRY_SECONDS)

    async def _store(self) -> bool:
        """Write the unstored events in one transaction; False (events kept) on failure."""
        events, self._unstored = self._unstored, []
        self._unstored_ready.clear()
        if not events:
            return True
        try:
            await self.durable.put_thread_events(events, keep=self.thread_max_events, trim=self._to_trim(events))
        except BaseException as exc:
            self._unstored[:0] = events  # stored again later (a stored event is left as it is)
            if len(self._unstored) > MAX_UNSTORED:
                log.warning("thread event log: %d unstored events dropped", len(self._unstored) - MAX_UNSTORED)
                del self._unstored[:-MAX_UNSTORED]
            self._unstored_ready.set()
            if not isinstance(exc, Exception):
                raise
            log.warning("thread event log: storing %d events failed (kept for a retry): %s", len(events), exc)
            return False
        highest = {thread_id: seq for thread_id, seq, _ in events}  # seqs grow within a thread
        for thread_id, seq in highest.items():
            thread_log = self._threads.get(thread_id)
            if thread_log is not None:
                thread_log.stored = max(thread_log.stored, seq)
                self._release(thread_id, thread_log)
        return True

    def _to_trim(self, events: list[tuple[str, int, bytes]]) -> list[str]:
        """Threads whose seqs pass a multiple of a tenth of `thread_max_events` with `events`
        (seqs grow by one within a process, so once per tenth logged)."""
        step = max(1, self.thread_max_events // 10)
        span: dict[str, tuple[int, int]] = {}
        for thread_id, seq, _ in events:
            low, _high = span.get(thread_id, (seq, seq))
            span[thread_id] = (min(low, seq), seq)
        return [thread_id for thread_id, (low, high) in span.items() if high // step > (low - 1) // step]

    async def _sweep(self) -> None:
        try:
            before = now_iso(-self.thread_retention_seconds)
            while await self.durable.delete_expired_thread_events(before, SWEEP_BATCH) >= SWEEP_BATCH:
                pass
        except Exception as exc:  # noqa: BLE001 - retried at the next sweep
            log.warning("thread event log: retention sweep failed: %s", exc)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            await self._sweep()

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
