"""Waiting for a run to end, shared by run joins, run streams and thread deletion."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from waypoint.storage import NotFound, Storage
from waypoint.storage.base import ACTIVE_RUN_STATUSES
from waypoint.streams import Broker

#: The longest interval, in seconds, between two reads of a run's row by `run_end_check`.
MAX_CHECK_SECONDS = 4.0


async def run_has_ended(storage: Storage, run_id: str) -> bool:
    """True when the run is in a terminal status or no longer exists (rolled back, deleted)."""
    try:
        return (await storage.get_run(run_id))["status"] not in ACTIVE_RUN_STATUSES
    except NotFound:
        return True


def run_end_check(storage: Storage, run_id: str) -> Callable[[], Awaitable[bool]]:
    """`run_has_ended` for a broker's `is_finished` (polled every 0.5 s without events),
    reading the run's row at doubling intervals up to `MAX_CHECK_SECONDS` (0.5, 1, 2, 4,
    4, … s; False in between). Every run that executes ends its stream, so the row is the
    fallback for runs ended without it (deleted while queued, a stream expired before the
    subscription); a queued run's waiters (its stream starts with it) would otherwise read
    it twice a second each."""
    interval = next_at = 0.0

    async def check() -> bool:
        nonlocal interval, next_at
        now = time.monotonic()
        if now < next_at:
            return False
        interval = min(MAX_CHECK_SECONDS, max(0.5, interval * 2))
        next_at = now + interval - 0.05  # the broker's polls are not exactly 0.5 s apart
        return await run_has_ended(storage, run_id)
    return check


async def wait_run_ended(storage: Storage, broker: Broker, run_id: str) -> None:
    """Return once the run has ended: its stream closes, or storage says it is over."""
    await broker.wait_ended(run_id, is_finished=run_end_check(storage, run_id))
