"""Telling reviewers that a thread waits for them, through Apprise (email, Slack, Teams,
Matrix, ntfy and ~100 more), with a deep link to the inbox item.

Three events (channels and secrets: notification_targets.py):
- `interrupt`: a run stopped at new pending interrupts (one delivery per interrupt and
  target, right away);
- `reminder`: an interrupt has a deadline (service/deadlines.py): a delivery is scheduled
  `remind_before_seconds` before it expires;
- `escalation`: a deadline with `on_expire: escalate` expired (the interrupt stays open).

Every delivery is a row of `notification_deliveries`, recorded before any attempt and kept
afterwards (`GET /threads/{thread_id}/notifications`). Its id is derived from (event,
thread, interrupt, target, reminder offset), so recording it again (a run re-executed after
a crash, a later run leaving the same interrupt pending) changes nothing; a process claims a due row before sending (one process at a
time, `FOR UPDATE SKIP LOCKED` on PostgreSQL), so each is sent once across processes.
An interrupt or reminder whose interrupt was answered meanwhile is `skipped`. A failed or
timed-out attempt is retried with exponential backoff (`retry_delay_seconds`, doubling) up
to `attempts`, then `failed`. Nothing here runs on a run's path: recording and sending
happen in background tasks, Apprise's blocking I/O in a small thread pool of its own, each
attempt bounded by `timeout_seconds`, so a dead or hanging target never delays a run, a
resume, or the graphs' own threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any


from waypoint.clock import now_iso
from waypoint.service import metrics
from waypoint.service.background import Wakeup
from waypoint.service.notification_targets import NotificationTargets
from waypoint.storage import NotFound, Storage

log = logging.getLogger(__name__)
# Apprise's own log lines may carry target details: its warnings are kept (redacted) in each
# delivery's `last_error` instead of the server log.
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").addHandler(logging.NullHandler())

#: Seconds between sweeps for due deliveries this process did not schedule (another
#: process's, those recorded before a restart); those it schedules are swept on time.
IDLE_SWEEP_SECONDS = 2.0
#: Threads sending at once; a hanging target holds one until Apprise's own timeout.
SEND_THREADS = 4
_NAMESPACE = uuid.UUID("2f0e3c5a-7d1b-4b8e-9a57-6e0c2d9b1f44")
_PREVIEW_CHARS = 600


def inbox_link(public_url: str, thread_id: str) -> str:
    """The inbox page showing only `thread_id`'s item: `{public_url}/inbox?thread_id=…`."""
    return f"{public_url.rstrip('/')}/inbox?thread_id={thread_id}"


def describe(interrupt: dict) -> str:
    """A short plain-text account of what an interrupt asks (the formats the inbox renders:
    HumanInTheLoopMiddleware, agent-inbox HumanInterrupt, else the value as JSON)."""
    value = interrupt.get("value")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("action_requests"), list):
        lines = [f"- {a.get('name')}: {a.get('description') or json.dumps(a.get('args'), default=str)}"
                 for a in value["action_requests"] if isinstance(a, dict)]
        return "Tool calls to review:\n" + "\n".join(lines)
    if isinstance(value, dict) and isinstance(value.get("action_request"), dict):
        request = value["action_request"]
        return f"Action to review: {request.get('action')}\n{value.get('description') or ''}".strip()
    text = json.dumps(value, default=str, ensure_ascii=False, indent=1)
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "…"


class Notifier:
    """Records deliveries and sends them from background tasks (see the module docstring).

    `outcomes` counts this process's attempts by outcome (`sent`, `retried`, `failed`,
    `skipped`): the per-outcome counter for metrics."""

    def __init__(self, storage: Storage, targets: NotificationTargets, *, public_url: str):
        self.storage = storage
        self.targets = targets
        self.public_url = public_url.rstrip("/")
        self.outcomes: Counter[str] = Counter()
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
        self._wakeup = Wakeup(IDLE_SWEEP_SECONDS)

    # -- events (called on the run's path: they only spawn) -------------------------------
    def interrupted(self, assistant: dict, run: dict, pending: list[dict]) -> None:
        """A run of `assistant` stopped at `pending` interrupts."""
        self._spawn(self._record("interrupt", assistant, run["thread_id"], pending))

    def deadlines_set(self, assistant: dict, run: dict, pending: list[dict], expires_at: str) -> None:
        """`pending` interrupts of `run` got a deadline at `expires_at`: schedule reminders."""
        self._spawn(self._record("reminder", assistant, run["thread_id"], pending, expires_at))

    def escalated(self, deadline: dict, interrupt: dict) -> None:
        """The deadline of `interrupt` expired with `on_expire: escalate`."""
        async def record():
            try:
                assistant = await self.storage.get_assistant(deadline["assistant_id"])
            except NotFound:
                assistant = {"assistant_id": deadline["assistant_id"]}
            await self._record("escalation", assistant, deadline["thread_id"], [interrupt], deadline["expires_at"])
        self._spawn(record())

    # -- recording ----------------------------------------------------------------------------
    async def _record(self, event: str, assistant: dict, thread_id: str, interrupts: list[dict],
                      expires_at: str | None = None) -> None:
        channel = self.targets.channel(assistant, assistant.get("graph_id"))
        if channel is None or event not in channel.events:
            return
        offsets = channel.remind_before_seconds if event == "reminder" else (0.0,)
        rows = []
        for interrupt in interrupts:
            for before in offsets:
                due = now_iso()
                if event == "reminder":
                    due = _shift(expires_at, -before)
                    if due <= now_iso():
                        continue  # the deadline is closer than this reminder
                title, body = self._message(event, assistant, thread_id, interrupt, expires_at)
                for target in channel.targets:
                    key = f"{event}|{thread_id}|{interrupt['id']}|{target.key}|{before}"
                    rows.append({
                        "delivery_id": str(uuid.uuid5(_NAMESPACE, key)), "thread_id": thread_id,
                        "interrupt_id": interrupt["id"], "event": event, "target": target.key,
                        "target_url": target.masked, "title": title, "body": body, "next_attempt_at": due,
                    })
        if rows:
            try:
                await self.storage.put_notifications(rows)
            except Exception:
                log.exception("notifications (%s) for thread %s could not be recorded", event, thread_id)
                return
            self._wakeup.at(min(row["next_attempt_at"] for row in rows))

    def _message(self, event: str, assistant: dict, thread_id: str, interrupt: dict,
                 expires_at: str | None) -> tuple[str, str]:
        graph = assistant.get("graph_id") or assistant.get("assistant_id")
        link = inbox_link(self.public_url, thread_id)
        title = {
            "interrupt": f"[Waypoint] {graph} is waiting for a person",
            "reminder": f"[Waypoint] Reminder: {graph} is still waiting (deadline {_short(expires_at)} UTC)",
            "escalation": f"[Waypoint] Escalated: {graph} waited past its deadline",
        }[event]
        lead = {
            "interrupt": "A run paused and waits for a person.",
            "reminder": f"This interrupt is still unanswered; its deadline expires at {_short(expires_at)} UTC.",
            "escalation": f"Nobody answered before the deadline ({_short(expires_at)} UTC); it was escalated "
                          "and still waits for a person.",
        }[event]
        body = (f"{lead}\n\nThread: {thread_id}\nGraph: {graph}\nInterrupt: {interrupt['id']}\n\n"
                f"{describe(interrupt)}\n\nReview it in the inbox: {link}\n")
        return title, body

    # -- sending ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start sweeping for due deliveries (nothing at all when no channel is configured)."""
        if self.targets.enabled:
            self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="waypoint-notify")
            self._sweeper = asyncio.create_task(self._sweep(), name="waypoint-notifications")

    def _spawn(self, coro) -> None:
        if not self.targets.enabled:
            coro.close()
            return
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        while True:
            await self._wakeup.wait()
            try:
                for delivery in await self.storage.claim_notifications(self.targets.timeout_seconds * 2 + 10):
                    self._spawn(self._attempt(delivery))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification sweep failed (%s); retrying", exc)

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        """One attempt at a claimed delivery, then its outcome is recorded."""
        delivery_id, target = delivery["delivery_id"], self.targets.target(delivery["target"])
        try:
            if target is None:
                return await self._settle(delivery, "failed", False, f"{delivery['target']} is no longer configured")
            if delivery["event"] != "escalation" and not await self._still_pending(delivery):
                return await self._settle(delivery, "skipped", False, "the interrupt was answered first")
            loop = asyncio.get_running_loop()
            timeout = self.targets.timeout_seconds
            try:
                ok, detail = await asyncio.wait_for(
                    loop.run_in_executor(self._pool, _send, target.url, delivery["title"], delivery["body"], timeout),
                    timeout + 5,
                )
            except TimeoutError:
                ok, detail = False, f"no answer within {timeout} s"
            detail = self.targets.redact(detail)
            if ok:
                log.info("notification %s (%s) sent to %s", delivery_id, delivery["event"], target.masked)
                return await self._settle(delivery, "sent", True, None)
            attempt = delivery["attempts"] + 1
            if attempt >= self.targets.attempts:
                log.warning("notification %s to %s failed %d times, giving up: %s", delivery_id, target.masked,
                            attempt, detail)
                return await self._settle(delivery, "failed", True, detail)
            delay = self.targets.retry_delay_seconds * 2 ** (attempt - 1)
            log.info("notification %s to %s failed (%s); retrying in %.1fs", delivery_id, target.masked, detail, delay)
            await self._settle(delivery, "pending", True, detail, now_iso(delay), outcome="retried")
        except Exception as exc:  # the claim lapses and a later sweep tries again
            log.warning("notification %s: %s", delivery_id, exc)

    async def _still_pending(self, delivery: dict) -> bool:
        try:
            thread = await self.storage.get_thread(delivery["thread_id"])
        except NotFound:
            return False
        return any(i.get("id") == delivery["interrupt_id"]
                   for group in (thread.get("interrupts") or {}).values() for i in group)

    async def _settle(self, delivery: dict, status: str, attempted: bool, error: str | None,
                      next_attempt_at: str | None = None, *, outcome: str | None = None) -> None:
        self.outcomes[outcome or status] += 1
        metrics.notification_settled(outcome or status)
        await self.storage.settle_notification(delivery["delivery_id"], status=status, attempted=attempted,
                                               error=error, next_attempt_at=next_attempt_at)
        if next_attempt_at is not None:
            self._wakeup.at(next_attempt_at)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Stop sweeping; let attempts under way finish (up to `grace_seconds`). Deliveries
        not made stay recorded (their claim lapses) for the next process."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_seconds)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _send(url: str, title: str, body: str, timeout: float) -> tuple[bool, str]:
    """Send through Apprise (blocking; runs in the notifier's thread pool): (delivered, what
    Apprise reported when it was not)."""
    import apprise  # imported only when notifications are configured (it is slow to load)

    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "Apprise refused the URL"
    try:
        with sender.notify(title=title, body=body, timeout=timeout) as result:
            if result:
                return True, ""
            problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
            return False, "; ".join(problems) or f"Apprise reported {result.status.name}"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _shift(iso: str, seconds: float) -> str:
    moment = datetime.fromisoformat(iso) + timedelta(seconds=seconds)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _short(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")
