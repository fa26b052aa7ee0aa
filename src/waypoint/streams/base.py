"""The broker interface: run stream events, thread event logs, cancellation signals and
worker wake-ups.

A run's stream is an append-only log of SSE events (`event` name, JSON `data`),
replayable from the start or from a `Last-Event-ID`, ended by `end()`.

A thread's event log (the thread streaming protocol, `service/protocol.py`) is an
append-only log of protocol events across all runs of the thread, numbered by a
per-thread `seq` and replayable after any `seq` for as long as
it is retained: `retention_seconds` after the thread's last event, and at most
`max_events` events per thread (the oldest are dropped first). A thread's seqs grow by one
per event; a thread's first seq (in a process, or after its counter was lost) is the clock
in microseconds, so seqs never go backwards across restarts and a client resuming with an
old `since` misses nothing logged after it.
"""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Literal, NamedTuple, Protocol

CancelAction = Literal["interrupt", "rollback"]


class StreamEvent(NamedTuple):
    """One event of a run's stream: `id` (for `Last-Event-ID`), SSE `event` name, JSON `data` bytes."""

    id: str
    event: str
    data: bytes


class ThreadEvent(NamedTuple):
    """One event of a thread's log: its per-thread `seq` and the event's JSON object
    (`{"type": "event", "method", "params"}`, without `seq`/`event_id`, which the log
    assigns) as bytes."""

    seq: int
    body: bytes


#: Default seconds a thread's events stay replayable after its last event.
THREAD_RETENTION_SECONDS = 3600.0
#: Default most events kept per thread.
THREAD_MAX_EVENTS = 10_000


def first_seq() -> int:
    """The seq a thread's log starts from: the clock in microseconds (below 2**53, so
    JavaScript clients read it exactly, until the year 2255)."""
    return time.time_ns() // 1000


class ThreadEventStore(Protocol):
    """Where the in-process broker keeps thread event logs durable (`Storage` is one; see
    its methods of the same names for the contract)."""

    async def put_thread_events(self, events: Sequence[tuple[str, int, bytes]], *, keep: int,
                                trim: Sequence[str] = ()) -> None: ...

    async def read_thread_events(self, thread_id: str, *, since: int = 0, before: int | None = None,
                                 limit: int) -> list[tuple[int, bytes]]: ...

    async def last_thread_event_seq(self, thread_id: str | None = None) -> int: ...

    async def delete_expired_thread_events(self, before: str, limit: int = 1000) -> int: ...


class Broker(abc.ABC):
    """Carries what must reach other tasks (or processes) fast. Only thread event logs
    outlive a restart: in Redis, or in the database for the in-process broker."""

    #: Whether each call is a round trip to a server (so callers batch their writes).
    remote: bool = False

    @property
    def last_failure(self) -> float:
        """`time.monotonic()` of the last time the broker's server failed to answer a read
        (0.0: never, or no server): the worker pool starts no new run itself until a ping
        after it succeeds."""
        return 0.0

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect (no-op for the in-process broker)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """A cheap round trip to the broker's server (none for the in-process broker); raises
        the client's error when it is unreachable."""

    @abc.abstractmethod
    async def publish(self, run_id: str, event: str, data: bytes) -> None:
        """Append an event to the run's stream."""

    @abc.abstractmethod
    async def end(self, run_id: str, result: bytes | None = None) -> None:
        """Mark the run's stream complete, keeping `result` (the run's JSON output, the body
        `runs.join` returns); subscribers finish after the last event."""

    @abc.abstractmethod
    async def result(self, run_id: str) -> bytes | None:
        """The `result` given to `end()`, while the ended stream is retained; else None."""

    @abc.abstractmethod
    def subscribe_batches(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        """Yield the run's events from the start (or after `last_event_id`) until it ends,
        in the (never empty) batches they arrive in, so a reader of a fast stream pays per
        batch (one SSE write, say) rather than per event.

        `is_finished` is polled while no event arrives; when it returns True and the
        stream is not (or no longer) known, the iterator stops - this covers runs whose
        stream ended before the subscription.
        """

    async def wait_ended(
        self, run_id: str, *, is_finished: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Return once the run's stream has ended (`end()`), or, for a stream not (or no
        longer) known, once `is_finished` says so (as `subscribe_batches`). Here: by
        reading the stream to its end; a broker may know it more cheaply."""
        batches = self.subscribe_batches(run_id, is_finished=is_finished)
        try:
            async for _ in batches:
                pass
        finally:
            await batches.aclose()

    async def subscribe(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """`subscribe_batches`, one event at a time."""
        batches = self.subscribe_batches(run_id, last_event_id=last_event_id, is_finished=is_finished)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    @abc.abstractmethod
    async def queue_thread_events(self, thread_id: str, bodies: list[bytes]) -> None:
        """Append events (JSON objects as bytes) to the thread's log in order, numbering
        them with the next `seq`s; a remote broker sends them with its next batch of run
        stream events, without waiting (`flush` waits for them). Raises the error of an
        earlier queued send that failed."""

    async def flush(self) -> None:  # noqa: B027 - nothing is queued in process
        """Return once every event queued so far (`publish`, `queue_thread_events`) is
        stored; raise the error of a queued send that failed."""

    @abc.abstractmethod
    async def thread_seq(self, thread_id: str) -> int:
        """The last `seq` given in the thread's log (0 if none)."""

    @abc.abstractmethod
    async def read_thread_events(self, thread_id: str, *, since: int = 0) -> list[ThreadEvent]:
        """The thread's retained events with `seq > since`, in order, without waiting."""

    @abc.abstractmethod
    def follow_thread(self, thread_id: str, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        """Yield the thread's retained events with `seq > since`, in order, then each new
        one as it is appended; never ends by itself (the caller stops iterating)."""

    @abc.abstractmethod
    async def cancel(self, run_id: str, action: CancelAction) -> None:
        """Ask whoever executes `run_id` to stop it with `action`."""

    @abc.abstractmethod
    async def wait_cancel(self, run_id: str) -> CancelAction:
        """Block until a cancel for `run_id` arrives; return its action."""

    @abc.abstractmethod
    def notify_runs_available(self) -> None:
        """Wake idle workers: a run was queued or a thread was freed."""

    @abc.abstractmethod
    async def wait_runs_available(self, timeout: float) -> bool:
        """Sleep until `notify_runs_available` is called (True) or `timeout` seconds pass (False)."""
