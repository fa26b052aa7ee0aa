"""A thread's stream across its runs: `GET /threads/{thread_id}/stream` (SDK
`client.threads.join_stream`, `ThreadStreamMode`).

The stream follows the thread's runs one after another, in creation order (a thread runs
one run at a time, so this is also execution order), and stays open until the client goes
away or the thread is deleted. Modes (any combination):

- `run_modes` (default): every event of every run, as `runs.stream` sends them, and a
  `run_done` event (`{"run_id", "status"}`) when each run ends;
- `lifecycle`: only each run's start (`metadata`, `{"run_id", "attempt"}`) and `run_done`;
- `state_update`: a `state_update` event after each run with the thread's state then
  (`{"run_id", "values", "next", "checkpoint", "interrupts", ...}`, the `ThreadState` shape),
  and (live, `run_id: null`) when the state changes outside a run, e.g. `update_state`.

Event ids are `<run created_at, microseconds since epoch>-<index in that run's stream>`:
ordered, unique per thread, and enough to resume with `Last-Event-ID` (`-` replays every
run whose stream is still retained: see the broker's retention). Without `Last-Event-ID`
the stream starts with the thread's pending and running runs, each from its beginning.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

from waypoint import serde
from waypoint.service.errors import Invalid
from waypoint.service.threads import ThreadService
from waypoint.service.waiting import run_end_check
from waypoint.storage import NotFound, Storage
from waypoint.storage.base import ACTIVE_RUN_STATUSES
from waypoint.streams import Broker, StreamEvent

ThreadStreamMode = Literal["run_modes", "lifecycle", "state_update"]
THREAD_STREAM_MODES: tuple[str, ...] = ("run_modes", "lifecycle", "state_update")
#: Seconds between looks for new runs while none is followed (a new run is then replayed
#: from its first event, so the delay loses nothing).
IDLE_POLL_SECONDS = 0.5
#: Runs of a thread looked at per poll (newest first; older ones are done already).
RUNS_PER_POLL = 100


def thread_stream_modes(modes: list[str] | None) -> set[str]:
    """The requested modes (default `run_modes`). Raises `Invalid` for an unknown one."""
    wanted = {m for m in modes or [] if m} or {"run_modes"}
    unknown = wanted - set(THREAD_STREAM_MODES)
    if unknown:
        raise Invalid(
            "stream_mode", f"unknown thread stream mode(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(THREAD_STREAM_MODES)}"
        )
    return wanted


def _time_key(iso: str) -> int:
    """An ISO time in microseconds since the epoch."""
    moment = datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _run_key(run: dict) -> int:
    """A run's position on the thread: its creation time in microseconds since the epoch."""
    return _time_key(run["created_at"])


def _parse_event_id(last_event_id: str | None) -> tuple[int, int] | None:
    """`(run key, index)` of a `Last-Event-ID`; `(-1, -1)` for `-` (from the beginning);
    None when absent. Raises `Invalid` for anything else."""
    if last_event_id in (None, ""):
        return None
    if last_event_id == "-":
        return (-1, -1)
    run_key, sep, index = last_event_id.partition("-")
    if not sep or not run_key.isdigit() or not index.isdigit():
        raise Invalid("Last-Event-ID", f"{last_event_id!r} is not an event id of this thread's stream")
    return (int(run_key), int(index))


class ThreadStreamer:
    """Serves thread streams from the runs' own streams (broker) and records (storage)."""

    def __init__(self, storage: Storage, broker: Broker, threads: ThreadService):
        self.storage = storage
        self.broker = broker
        self.threads = threads

    async def open(
        self, thread_id: str, modes: list[str] | None, last_event_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        """Validate and return the stream (see the module docstring). Raises `NotFound`
        (thread), `Invalid` (mode, `Last-Event-ID`)."""
        wanted = thread_stream_modes(modes)
        cursor = _parse_event_id(last_event_id)
        thread = await self.storage.get_thread(thread_id)
        return self._follow(thread_id, wanted, cursor, thread["state_updated_at"])

    async def _runs_after(self, thread_id: str, key: int, *, active_only: bool) -> list[dict]:
        runs = await self.storage.list_runs(thread_id, limit=RUNS_PER_POLL, offset=0, status=None)
        runs = [r for r in runs if _run_key(r) > key]
        if active_only:
            runs = [r for r in runs if r["status"] in ACTIVE_RUN_STATUSES]
        return sorted(runs, key=_run_key)

    async def _follow(
        self, thread_id: str, wanted: set[str], cursor: tuple[int, int] | None, state_seen: str
    ) -> AsyncIterator[StreamEvent]:
        if cursor is None:  # live: the runs not yet over, then every later one
            runs = await self._runs_after(thread_id, -1, active_only=False)
            pending = [r for r in runs if r["status"] in ACTIVE_RUN_STATUSES]
            # Runs already over are not replayed: follow only what comes after the newest.
            key, skip_through = (_run_key(runs[-1]) if runs else -1), -1
        else:
            key, skip_through = cursor
            pending = await self._runs_after(thread_id, key - 1, active_only=False)
        while True:
            for run in pending:
                run_key = _run_key(run)
                skip = skip_through if run_key == key else -1
                async for event in self._run_events(run, run_key, wanted, skip):
                    yield event
                key, skip_through = run_key, -1
            try:
                thread = await self.storage.get_thread(thread_id)
            except NotFound:
                return  # the thread was deleted: nothing more will come
            followed = bool(pending)
            pending = await self._runs_after(thread_id, key, active_only=False)
            changed, state_seen = thread["state_updated_at"] != state_seen, thread["state_updated_at"]
            if (changed and not followed and not pending and thread["status"] != "busy"
                    and "state_update" in wanted):
                # The state changed outside a run (`update_state`, a deadline's withdrawal):
                # live only, id `<time of the change>-0`.
                state = await self.threads.get_state(thread_id)
                yield StreamEvent(f"{_time_key(state_seen)}-0", "state_update", serde.dumps({"run_id": None, **state}))
            if not pending:
                await asyncio.sleep(IDLE_POLL_SECONDS)

    async def _run_events(
        self, run: dict, run_key: int, wanted: set[str], skip_through: int
    ) -> AsyncIterator[StreamEvent]:
        """One run's part of the thread stream: its events (filtered by mode), then
        `run_done` and `state_update`; indexes at or below `skip_through` were delivered."""
        run_id = run["run_id"]
        index = -1
        async for event in self.broker.subscribe(
            run_id, is_finished=run_end_check(self.storage, run_id)
        ):
            index += 1
            if index > skip_through and (
                "run_modes" in wanted or ("lifecycle" in wanted and event.event == "metadata")
            ):
                yield StreamEvent(f"{run_key}-{index}", event.event, event.data)
        try:
            status = (await self.storage.get_run(run_id))["status"]
        except NotFound:  # rolled back or deleted
            status = "interrupted"
        index += 1
        if index > skip_through and wanted & {"run_modes", "lifecycle"}:
            yield StreamEvent(
                f"{run_key}-{index}", "run_done", serde.dumps({"run_id": run_id, "status": status})
            )
        index += 1
        if index > skip_through and "state_update" in wanted:
            try:
                state = await self.threads.get_state(run["thread_id"])
            except NotFound:
                return
            yield StreamEvent(f"{run_key}-{index}", "state_update", serde.dumps({"run_id": run_id, **state}))
