"""Crons: a run payload queued on a schedule, each tick exactly once across all processes.

Shapes follow the LangGraph Server API (`langgraph_sdk` `CronClient`; the official OpenAPI's
`Cron`, `CronCreate`, `ThreadCronCreate`, `CronPatch`, `CronSearch`, `CronCountRequest`):
- a thread cron (`POST /threads/{id}/runs/crons`) queues each run on its thread, with the
  payload's `multitask_strategy`; a stateless cron (`POST /runs/crons`) queues each run on a
  new thread, deleted when the run ends (`on_run_completed="delete"`, the default) or kept;
- `schedule` is what `croniter` reads (five fields; a sixth field is seconds), in the IANA
  `timezone` (UTC when null); `next_run_date` is the next tick, null once past `end_time`;
- the cron's `metadata` goes on each run (with `cron_id` and `cron_run_date`, the tick the run
  is for), a stateless run's thread gets `cron_id`.

Firing (`CronScheduler`, one per process, started with the workers): a due tick is fired by
queueing its run with a compare-and-set of `next_run_date` in the same transaction
(`Storage.create_run(cron_tick=…)`), so exactly one process queues it, and only once, also
across restarts. The next tick is the first one after *now*: ticks missed while every process
was down fire once on start, not once each. The run then goes through the normal queue
(HITL, double-texting, webhooks). A tick whose run cannot be queued (its assistant or thread
is refused, `multitask_strategy="reject"` on a busy thread) is consumed and logged. A cron
goes with its thread and with its assistant (the database cascades the delete); once past
`end_time` it fires no more.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from waypoint.clock import now_iso, seconds_until, to_iso
from waypoint.service.assistants import AssistantService
from waypoint.service.background import BackgroundLoop, Wakeup
from waypoint.service.auth import current_user
from waypoint.service.errors import BadRequest, Conflict, Invalid, NotFound
from waypoint.service.records import public_cron
from waypoint.service.runs import RunService
from waypoint.storage import Storage, TickTaken, UnsupportedValue

log = logging.getLogger(__name__)

#: Body fields that make up a cron's run `payload` (the rest describe the cron itself).
PAYLOAD_FIELDS = (
    "assistant_id", "input", "config", "context", "webhook", "interrupt_before", "interrupt_after",
    "multitask_strategy", "stream_mode", "stream_subgraphs", "stream_resumable", "durability",
    "checkpoint_during",
)
#: Fields whose change moves `next_run_date` to the first tick after now.
_RESCHEDULE = ("schedule", "timezone", "end_time", "enabled")


def next_run_date(schedule: str, tz: str | None, after: datetime, end_time: str | None) -> str | None:
    """The first tick of `schedule` (croniter syntax, in IANA zone `tz`, UTC when None)
    strictly after `after`, as an API timestamp; None when it is past `end_time`. Raises
    `Invalid` when there is no such tick (`0 0 30 2 *`, a year field already past)."""
    zone = ZoneInfo(tz) if tz else timezone.utc
    try:
        moment = to_iso(croniter(schedule, after.astimezone(zone)).get_next(datetime))
    except (ValueError, OverflowError) as exc:  # croniter's errors are ValueErrors
        raise Invalid("schedule", f"{schedule!r} has no tick after {to_iso(after)} ({exc})") from None
    return None if end_time is not None and moment > end_time else moment


def _check_schedule(schedule: str | None, tz: str | None) -> None:
    """Raise `Invalid` for a schedule croniter cannot read or an unknown time zone."""
    if schedule is not None and not croniter.is_valid(schedule):
        raise Invalid("schedule", f"{schedule!r} is not a cron expression (e.g. '0 9 * * *')")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise Invalid("timezone", f"{tz!r} is not an IANA time zone (e.g. 'America/New_York')") from None


def _end_time(value: Any) -> str | None:
    """An `end_time` as an API timestamp (None stays None). Raises `Invalid` out of range."""
    try:
        return to_iso(value) if value is not None else None
    except (ValueError, OverflowError):
        raise Invalid("end_time", f"{value!r} is out of range") from None


class CronService:
    """Creates, reads, changes and deletes crons; `scheduler` fires them."""

    def __init__(self, storage: Storage, runs: RunService, assistants: AssistantService):
        self.storage = storage
        self.runs = runs
        self.assistants = assistants
        self.scheduler = CronScheduler(storage, runs)

    async def create(self, thread_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """Create from a `CronCreate` (stateless, `thread_id=None`) or `ThreadCronCreate` body;
        returns the `Cron`. Raises `NotFound` (assistant, thread), `Invalid` (schedule,
        timezone, a payload field)."""
        _check_schedule(body["schedule"], body.get("timezone"))
        payload = {k: body[k] for k in PAYLOAD_FIELDS if body.get(k) is not None}
        self.runs.check_fields(payload)
        assistant = await self.assistants.resolve(body["assistant_id"])
        payload["assistant_id"] = assistant["assistant_id"]
        if thread_id is not None:
            await self.storage.get_thread(thread_id)
        end_time = _end_time(body.get("end_time"))
        user = current_user.get()
        cron = await self.storage.put_cron({
            "cron_id": str(uuid.uuid4()),
            "assistant_id": assistant["assistant_id"],
            "thread_id": thread_id,
            "user_id": user.identity if user is not None else None,
            "schedule": body["schedule"],
            "timezone": body.get("timezone"),
            "end_time": end_time,
            "enabled": body.get("enabled", True) is not False,
            "on_run_completed": (body.get("on_run_completed") or "delete") if thread_id is None else None,
            "payload": payload,
            "metadata": body.get("metadata") or {},
            "next_run_date": next_run_date(
                body["schedule"], body.get("timezone"), datetime.now(timezone.utc), end_time),
        })
        self.scheduler.wake()
        return public_cron(cron)

    async def get(self, cron_id: str) -> dict[str, Any]:
        """The `Cron`. Raises `NotFound`."""
        return public_cron(await self.storage.get_cron(cron_id))

    async def update(self, cron_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply a `CronPatch`: payload fields are replaced, `metadata` is merged, `end_time`
        null clears it; a change of schedule, timezone, end_time or enabled moves
        `next_run_date` to the first tick after now. Raises `NotFound`, `Invalid`."""
        cron = await self.storage.get_cron(cron_id)
        _check_schedule(body.get("schedule"), body.get("timezone"))
        fields: dict[str, Any] = {}
        payload = {**cron["payload"], **{k: v for k, v in body.items() if k in PAYLOAD_FIELDS and k != "assistant_id"}}
        if payload != cron["payload"]:
            self.runs.check_fields(payload)
            fields["payload"] = payload
        for key in ("schedule", "timezone", "enabled", "on_run_completed"):
            if body.get(key) is not None:
                fields[key] = body[key]
        if "end_time" in body:
            fields["end_time"] = _end_time(body["end_time"])
        if body.get("metadata") is not None:
            fields["metadata"] = {**cron["metadata"], **body["metadata"]}
        if any(key in fields for key in _RESCHEDULE):
            merged = {**cron, **fields}
            fields["next_run_date"] = next_run_date(
                merged["schedule"], merged["timezone"], datetime.now(timezone.utc), merged["end_time"])
        if not fields:
            return public_cron(cron)
        updated = await self.storage.update_cron(cron_id, fields)
        self.scheduler.wake()
        return public_cron(updated)

    async def delete(self, cron_id: str) -> None:
        """Delete the cron (runs it queued stay). Raises `NotFound`."""
        await self.storage.delete_cron(cron_id)

    async def _assistant_filter(self, assistant_id: str | None) -> str | None:
        """An assistant id or graph id as the stored assistant id (an unknown one matches nothing)."""
        if assistant_id is None:
            return None
        try:
            return (await self.assistants.resolve(assistant_id))["assistant_id"]
        except NotFound:
            return assistant_id

    async def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Crons matching a `CronSearch` body (metadata by containment), sorted and paged,
        each limited to `select` fields when given."""
        crons = await self.storage.search_crons(
            assistant_id=await self._assistant_filter(body.get("assistant_id")),
            thread_id=body.get("thread_id"), enabled=body.get("enabled"), metadata=body.get("metadata"),
            limit=body.get("limit", 10), offset=body.get("offset", 0),
            sort_by=body.get("sort_by"), sort_order=body.get("sort_order"),
        )
        return [public_cron(c, body.get("select")) for c in crons]

    async def count(self, body: dict[str, Any]) -> int:
        """How many crons match a `CronCountRequest` body."""
        return await self.storage.count_crons(
            assistant_id=await self._assistant_filter(body.get("assistant_id")),
            thread_id=body.get("thread_id"), metadata=body.get("metadata"),
        )


class CronScheduler(BackgroundLoop):
    """Fires due ticks: wakes at the earliest `next_run_date`, when this process creates or
    changes a cron, and every `poll_seconds` (to see crons other processes created or changed)."""

    task_name = "waypoint-crons"

    def __init__(self, storage: Storage, runs: RunService, *, poll_seconds: float = 5.0):
        self.storage = storage
        self.runs = runs
        self.wakeup = Wakeup(poll_seconds)

    def wake(self) -> None:
        """Look at the crons again now (one was created or changed)."""
        self.wakeup.now()

    async def _loop(self) -> None:
        while True:
            wait = None
            try:
                for cron in await self.storage.due_crons(now_iso()):
                    await self.fire(cron)
                if (at := await self.storage.next_cron_run_date()) is not None:
                    wait = max(0.01, seconds_until(at))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cron sweep failed; retrying")
            await self.wakeup.wait(at_most=wait)

    async def fire(self, cron: dict[str, Any]) -> dict[str, Any] | None:
        """Queue the run of `cron`'s due tick (`next_run_date`) unless another process did;
        returns the run, or None (fired elsewhere, ended, or refused: the tick is consumed)."""
        now = datetime.now(timezone.utc)
        tick, cron_id = cron["next_run_date"], cron["cron_id"]
        if cron["end_time"] is not None and to_iso(now) > cron["end_time"]:
            await self.storage.advance_cron(cron_id, tick, None)  # ended while nobody was up
            return None
        try:
            upcoming = next_run_date(cron["schedule"], cron["timezone"], now, cron["end_time"])
        except Invalid:  # its last tick (a year field): this run is its last
            upcoming = None
        body = {**cron["payload"], "metadata": {**cron["metadata"], "cron_id": cron_id, "cron_run_date": tick}}
        if cron["thread_id"] is None:
            body["on_completion"] = cron["on_run_completed"] or "delete"
        try:
            return await self.runs.create(
                cron["thread_id"], body,
                cron_tick={"cron_id": cron_id, "run_date": tick, "next_run_date": upcoming},
            )
        except TickTaken:
            log.debug("tick %s of cron %s was fired by another process", tick, cron_id)
        except (NotFound, Conflict, Invalid, BadRequest, UnsupportedValue) as exc:
            if await self.storage.advance_cron(cron_id, tick, upcoming):
                log.warning("cron %s: the run of tick %s was not queued: %s", cron_id, tick, exc)
        return None
