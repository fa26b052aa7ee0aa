"""Coalescing sends: items handed over while a send is in flight go together in the next one.

Used for a process's sends to Redis (`streams/redis.py`: run stream `XADD`s and thread event
log appends): a run publishing one event per chunk then costs one round trip per batch,
not per event, and never waits for one unless it asks to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Items held for the next send before `add` waits for the sends to catch up (backpressure).
MAX_PENDING = 2000


class Batcher(Generic[T]):
    """Sends items in order through `send(batch)`, one send at a time: the first item goes
    `linger` seconds after it was added (at once when 0), those added meanwhile, or while a
    send is in flight, in the same or the next batch. A failed send's exception is raised
    by the next `add` or `flush` (its batch and those queued behind it are dropped), so a
    producer learns of it as if it had waited for each send."""

    def __init__(
        self, send: Callable[[list[T]], Awaitable[object]], *, max_pending: int = MAX_PENDING, linger: float = 0.0
    ):
        self._send_batch = send
        self._max_pending = max_pending
        self._linger = linger
        self._pending: list[T] = []
        self._sending: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None  # the lingering first item's send
        self._error: BaseException | None = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _in_flight(self) -> bool:
        return self._sending is not None and not self._sending.done()

    def _start(self) -> None:
        self._timer = None
        if not self._in_flight() and self._pending:
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def add(self, items: list[T]) -> None:
        """Queue `items` for sending; waits only when `max_pending` items are queued."""
        self._raise()
        if not items:
            return
        self._pending.extend(items)
        if len(self._pending) >= self._max_pending:
            await self.flush()
        elif self._in_flight() or self._timer is not None:
            pass  # they go with the items before them
        elif self._linger > 0:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._start)
        else:
            self._start()
            await asyncio.sleep(0)  # let it go out now, not after the producer's next items

    async def flush(self) -> None:
        """Return once every item added so far was sent; raise a failed send's exception."""
        if self._timer is not None:  # a lingering send goes now
            self._timer.cancel()
            self._start()
        while self._in_flight():
            await asyncio.shield(self._sending)
        self._raise()

    async def _send(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._send_batch(batch)
            except Exception as exc:  # noqa: BLE001 - raised to the producer by add/flush
                self._error = exc
                self._pending = []
                return
