"""Webhook delivery: POST a run's outcome to the URL given at run creation.

Payload as the official server sends it (langgraph_api.webhook): the run's fields plus
`status`, `run_started_at`, `run_ended_at`, `webhook_sent_at`, `values` and, for a failed
run, `error`. Each delivery is recorded in the database before the first attempt and
retried with exponential backoff on connection errors, 429 and 5xx, by any process (also
after a restart), until delivered, refused, `attempts` failed or `max_age_seconds` passed;
it never blocks or fails the run. Where a webhook may go,
and its signature, are the `WebhookPolicy`'s (`webhook_policy.py`): a refused URL is
logged and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import httpx

from waypoint import serde
from waypoint.clock import now_iso
from waypoint.service import metrics
from waypoint.service.background import Wakeup
from waypoint.service.webhook_policy import WebhookPolicy, WebhookRefused
from waypoint.storage import Storage

log = logging.getLogger(__name__)


#: Seconds between sweeps for deliveries due a retry that this process did not schedule
#: (another process's, one recorded before a restart); retries it schedules are swept on time.
IDLE_SWEEP_SECONDS = 2.0
#: Seconds a process holds a delivery it attempts (longer than one HTTP attempt).
CLAIM_SECONDS = 60.0


class WebhookSender:
    """Delivers webhooks from background tasks; deliveries live in `storage` until done."""

    def __init__(self, storage: Storage, *, attempts: int = 8, first_delay: float = 0.5, timeout: float = 10.0,
                 max_age_seconds: float = 3600.0, policy: WebhookPolicy | None = None):
        self.storage = storage
        self.policy = policy or WebhookPolicy()
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout
        self.max_age_seconds = max_age_seconds
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
        self._wakeup = Wakeup(IDLE_SWEEP_SECONDS)

    def start(self) -> None:
        """Start retrying due deliveries (those recorded before a restart included)."""
        self._sweeper = asyncio.create_task(self._sweep(), name="waypoint-webhooks")

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Record and start delivery of `payload` to `url` (returns at once; nothing when
        webhooks are disabled by `http.disable_webhooks`)."""
        if not self.policy.enabled:
            return
        delivery = {
            "delivery_id": str(uuid.uuid4()), "url": url, "body": serde.dumps_str(payload),
            "run_id": payload.get("run_id"), "attempts": 0,
            "next_attempt_at": now_iso(), "expires_at": now_iso(self.max_age_seconds),
        }
        self._spawn(self._record_and_attempt(delivery))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_and_attempt(self, delivery: dict[str, Any]) -> None:
        try:
            await self.storage.put_webhook(delivery, CLAIM_SECONDS)
        except Exception:
            log.exception("webhook %s for run %s could not be recorded; trying once", delivery["url"], delivery["run_id"])
        await self._attempt(delivery)

    async def _sweep(self) -> None:
        while True:
            await self._wakeup.wait()
            try:
                for delivery in await self.storage.claim_webhooks(CLAIM_SECONDS):
                    self._spawn(self._attempt(delivery))
            except Exception as exc:
                log.warning("webhook sweep failed (%s); retrying", exc)

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        """One attempt; then the delivery is forgotten (done, refused, given up) or its next
        attempt is scheduled with exponential backoff."""
        url, run_id, delivery_id = delivery["url"], delivery.get("run_id"), delivery["delivery_id"]
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            response = await self.policy.post(self._client, url, delivery["body"].encode())
            if response.status_code < 500 and response.status_code != 429:
                if response.status_code >= 400:
                    log.warning("webhook %s refused run %s: HTTP %s", url, run_id, response.status_code)
                metrics.webhook_attempted("delivered" if response.status_code < 400 else "refused")
                return await self._forget(delivery_id)
            reason = f"HTTP {response.status_code}"
        except WebhookRefused as exc:
            log.warning("webhook %s refused for run %s: %s", url, run_id, exc)
            metrics.webhook_attempted("refused")
            return await self._forget(delivery_id)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        attempt = (delivery.get("attempts") or 0) + 1
        delay = self.first_delay * 2 ** (attempt - 1)
        if attempt >= self.attempts or now_iso(delay) > delivery["expires_at"]:
            log.warning("webhook %s for run %s gave up after %d attempts (%s)", url, run_id, attempt, reason)
            metrics.webhook_attempted("gave_up")
            return await self._forget(delivery_id)
        log.info("webhook %s attempt %d failed (%s); retrying in %.1fs", url, attempt, reason, delay)
        metrics.webhook_attempted("retry")
        next_attempt_at = now_iso(delay)
        with contextlib.suppress(Exception):  # else the claim lapses and a sweep retries it
            await self.storage.retry_webhook(delivery_id, next_attempt_at=next_attempt_at, error=reason)
            self._wakeup.at(next_attempt_at)

    async def _forget(self, delivery_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.storage.delete_webhook(delivery_id)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Stop sweeping, let in-flight attempts finish (up to `grace_seconds`), then close
        the client; deliveries not made stay recorded for the next process."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=grace_seconds)
        for task in list(self._pending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
