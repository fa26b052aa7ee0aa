"""Webhook delivery: POST a run's outcome to the URL given at run creation.

Payload as the official server sends it (langgraph_api.webhook): the run's fields plus
`status`, `run_started_at`, `run_ended_at`, `webhook_sent_at`, `values` and, for a failed
run, `error`. Delivery is retried with exponential backoff on connection errors, 429 and
5xx, a bounded number of times; it never blocks or fails the run. Where a webhook may go,
and its signature, are the `WebhookPolicy`'s (`webhook_policy.py`): a refused URL is
logged and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from waypoint import serde
from waypoint.service.webhook_policy import WebhookPolicy, WebhookRefused

log = logging.getLogger(__name__)


class WebhookSender:
    """Sends webhooks in background tasks of this process."""

    def __init__(self, *, attempts: int = 4, first_delay: float = 0.5, timeout: float = 10.0,
                 policy: WebhookPolicy | None = None):
        self.policy = policy or WebhookPolicy()
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task] = set()

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Schedule delivery of `payload` to `url` (returns at once; nothing when webhooks
        are disabled by `http.disable_webhooks`)."""
        if not self.policy.enabled:
            return
        task = asyncio.create_task(self._deliver(url, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        body = serde.dumps(payload)
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.policy.post(self._client, url, body)
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code >= 400:
                        log.warning("webhook %s refused run %s: HTTP %s", url, payload.get("run_id"), response.status_code)
                    return
                reason = f"HTTP {response.status_code}"
            except WebhookRefused as exc:
                log.warning("webhook %s refused for run %s: %s", url, payload.get("run_id"), exc)
                return
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                log.info("webhook %s attempt %d failed (%s); retrying in %.1fs", url, attempt, reason, delay)
                await asyncio.sleep(delay)
                delay *= 2
            else:
                log.warning("webhook %s gave up after %d attempts (%s)", url, attempt, reason)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Let in-flight deliveries finish (up to `grace_seconds`), then close the client."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=grace_seconds)
        for task in list(self._pending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
