"""The broker interface: run stream events, cancellation signals and worker wake-ups.

A run's stream is an append-only log of SSE events (`event` name, JSON `data`),
replayable from the start or from a `Last-Event-ID`, ended by `end()`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal, NamedTuple

CancelAction = Literal["interrupt", "rollback"]


class StreamEvent(NamedTuple):
    """One event of a run's stream: `id` (for `Last-Event-ID`), SSE `event` name, JSON `data` bytes."""

    id: str
    event: str
    data: bytes


class Broker(abc.ABC):
    """Carries what must reach other tasks (or processes) fast; nothing here is durable."""

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
    def subscribe(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the run's events from the start (or after `last_event_id`) until it ends.

        `is_finished` is polled while no event arrives; when it returns True and the
        stream is not (or no longer) known, the iterator stops - this covers runs whose
        stream ended before the subscription.
        """

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
    async def wait_runs_available(self, timeout: float) -> None:
        """Sleep until `notify_runs_available` is called or `timeout` seconds pass."""
