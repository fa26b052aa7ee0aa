"""Waiting for a run to end, shared by run joins and thread deletion."""

from __future__ import annotations

from waypoint.storage import NotFound, Storage
from waypoint.storage.base import ACTIVE_RUN_STATUSES
from waypoint.streams import Broker


async def run_has_ended(storage: Storage, run_id: str) -> bool:
    """True when the run is in a terminal status or no longer exists (rolled back, deleted)."""
    try:
        return (await storage.get_run(run_id))["status"] not in ACTIVE_RUN_STATUSES
    except NotFound:
        return True


async def wait_run_ended(storage: Storage, broker: Broker, run_id: str) -> None:
    """Return once the run has ended: its stream closes, or storage says it is over."""
    async for _ in broker.subscribe_batches(run_id, is_finished=lambda: run_has_ended(storage, run_id)):
        pass
