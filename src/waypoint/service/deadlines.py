"""Interrupt deadlines: act on each expired one exactly once, across all processes.

`on_expire` (see `decisions.py` for where it is set):
- `resume-with-default`: resume the interrupt with its default value, as reviewer
  `waypoint:deadline`, through the same path as any resume (so a person who answered
  first wins, and the deadline does nothing);
- `cancel`: close the interrupt (a decision no later resume can override) and withdraw
  the paused task, leaving the thread `idle`;
- `escalate`: record the escalation, mark the thread's metadata `escalated: true` and
  POST `{"event": "interrupt.escalated", …}` to the run's webhook and notify the
  thread's reviewers (service/notifications.py); the interrupt stays open for a person.
Every action is recorded in the thread's decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from waypoint.service import metrics
from waypoint.service.background import BackgroundLoop, Wakeup
from waypoint.service.decisions import DEADLINE_REVIEWER, new_decision
from waypoint.service.errors import BadRequest, Conflict
from waypoint.service.notifications import Notifier
from waypoint.service.runs import RunService
from waypoint.service.threads import ThreadService
from waypoint.service.webhooks import WebhookSender
from waypoint.storage import InterruptAnswered, NotFound, Storage

log = logging.getLogger(__name__)

#: How late a deadline this process was not told of (set by another process, or before a
#: restart) may fire, in seconds: the sweep's interval when nothing is due.
IDLE_SWEEP_SECONDS = 2.0


class DeadlineSweeper(BackgroundLoop):
    """Fires due deadlines: at each deadline this process set (`expect`), and every
    `idle_seconds` for those set elsewhere (another process, one that died, before a restart)."""

    task_name = "waypoint-deadlines"

    def __init__(
        self,
        storage: Storage,
        runs: RunService,
        threads: ThreadService,
        webhooks: WebhookSender,
        *,
        idle_seconds: float = IDLE_SWEEP_SECONDS,
        notifier: Notifier | None = None,
    ):
        self.storage = storage
        self.runs = runs
        self.threads = threads
        self.webhooks = webhooks
        self.notifier = notifier
        self.wakeup = Wakeup(idle_seconds)

    def expect(self, expires_at: str) -> None:
        """A deadline expiring at the ISO time `expires_at` was set: sweep then."""
        self.wakeup.at(expires_at)

    async def _loop(self) -> None:
        while True:
            try:
                for deadline in await self.storage.claim_due_deadlines():
                    try:
                        await self.fire(deadline)
                    except Exception:
                        log.exception("deadline of interrupt %s failed", deadline["interrupt_id"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deadline sweep failed; retrying")
            await self.wakeup.wait()

    def _decision(self, deadline: dict, action: str, closes: bool) -> dict:
        decision = new_decision(deadline["interrupt_id"], f"deadline:{action}", reviewer=DEADLINE_REVIEWER, closes=closes)
        return {**decision, "thread_id": deadline["thread_id"], "run_id": None}

    async def fire(self, deadline: dict) -> None:
        """Act on one claimed deadline (a no-op if its interrupt is no longer pending)."""
        thread_id, interrupt_id = deadline["thread_id"], deadline["interrupt_id"]
        try:
            state = await self.threads.get_state(thread_id)
        except NotFound:
            return
        pending = {i["id"]: i for i in state["interrupts"]}
        if interrupt_id not in pending:
            return
        action = deadline["on_expire"]
        if action == "resume-with-default":
            try:
                await self.runs.create(
                    thread_id,
                    {
                        "assistant_id": deadline["assistant_id"],
                        "command": {"resume": {interrupt_id: deadline.get("default_value")}},
                        "metadata": {"reviewer": DEADLINE_REVIEWER},
                    },
                    decision_action="deadline:resume-with-default",
                )
            except (Conflict, BadRequest) as exc:
                log.info("deadline of interrupt %s not applied: %s", interrupt_id, exc)
        elif action == "cancel":
            if (await self.storage.get_thread(thread_id))["status"] == "busy":
                return  # a run holds the thread; whatever it does decides
            try:
                await self.storage.record_decision(decision := self._decision(deadline, action, closes=True))
            except InterruptAnswered:
                return
            metrics.decisions_recorded([decision])
            await self.threads.withdraw_pending(thread_id)
        else:
            await self.storage.record_decision(decision := self._decision(deadline, action, closes=False))
            metrics.decisions_recorded([decision])
            await self.storage.patch_thread_metadata(thread_id, {"escalated": True})
            if self.notifier is not None:
                self.notifier.escalated(deadline, pending[interrupt_id])
            with contextlib.suppress(NotFound):
                run = await self.storage.get_run(deadline["run_id"])
                if webhook := (run.get("kwargs") or {}).get("webhook"):
                    self.webhooks.send(webhook, {
                        "event": "interrupt.escalated",
                        "thread_id": thread_id,
                        "run_id": deadline["run_id"],
                        "interrupt": pending[interrupt_id],
                        "expired_at": deadline["expires_at"],
                    })
