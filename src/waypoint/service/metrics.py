"""Operations metrics of this process, for `GET /metrics` (Prometheus text or JSON).

Counters and histograms are incremented where things happen (runs finishing, decisions,
webhook attempts); gauges that describe the database (queue depth and age, pending
interrupts) are read at scrape time with a few cheap queries, never by polling. Every
process keeps its own figures: scrape each one (as Prometheus does with one target per
process). Names are prefixed `waypoint_`; the README lists them. The `format` query
parameter (`prometheus` | `json`) follows the official OpenAPI's `GET /metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from waypoint.service import Services

#: Run latency buckets, seconds: HITL runs take milliseconds, agent runs minutes.
_RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

RUNS_FINISHED = Counter("waypoint_runs_finished_total", "Runs this process finished, by final status", ["status"])
RUN_SECONDS = Histogram("waypoint_run_duration_seconds", "Wall time of a run from start to finish, by status",
                        ["status"], buckets=_RUN_BUCKETS)
STEP_SECONDS = Histogram("waypoint_step_duration_seconds",
                         "Time between consecutive graph steps (supersteps) of a run", buckets=_RUN_BUCKETS)
DECISIONS = Counter("waypoint_decisions_total", "Human (and deadline) decisions recorded, by action", ["action"])
WEBHOOKS = Counter("waypoint_webhook_deliveries_total", "Webhook delivery attempts, by outcome", ["outcome"])
NOTIFICATIONS = Counter("waypoint_notification_deliveries_total",
                        "Notification deliveries this process settled, by outcome", ["outcome"])
RUNS = Gauge("waypoint_runs", "Runs in the database, by status (read at scrape time)", ["status"])
QUEUE_AGE = Gauge("waypoint_queue_oldest_pending_seconds",
                  "Seconds since the earliest available_at of a pending run (0 if none); includes runs "
                  "queued behind another run of their thread")
INTERRUPTS = Gauge("waypoint_pending_interrupts_threads", "Threads paused at an interrupt (status interrupted)")
INTERRUPT_AGE = Gauge("waypoint_pending_interrupt_oldest_seconds",
                      "Seconds since the longest-waiting interrupted thread was last updated (0 if none)")
POOL = Gauge("waypoint_db_pool_connections", "Database connections of this process, by state", ["state"])


def run_finished(status: str, seconds: float | None) -> None:
    """Count a finished run (`status` as stored: success, error, timeout, interrupted)."""
    RUNS_FINISHED.labels(status).inc()
    if seconds is not None:
        RUN_SECONDS.labels(status).observe(seconds)


def decisions_recorded(decisions: Iterable[dict[str, Any]]) -> None:
    """Count decision records (`decisions.py` shapes) by their `action`."""
    for decision in decisions:
        DECISIONS.labels(str(decision.get("action") or "unknown")).inc()


def notification_settled(outcome: str) -> None:
    """Count one settled notification delivery (`notifications.py` outcomes)."""
    NOTIFICATIONS.labels(outcome).inc()


def webhook_attempted(outcome: str) -> None:
    """Count one webhook attempt: delivered, refused, retry or gave_up."""
    WEBHOOKS.labels(outcome).inc()


def _age(iso: str | None, now: datetime) -> float:
    if not iso:
        return 0.0
    at = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max(0.0, (now - at).total_seconds())


async def refresh(services: Services) -> None:
    """Set the scrape-time gauges from the database and this process's pools.

    Raises whatever storage raises (the API maps a failing database to 503)."""
    storage, now = services.storage, datetime.now(timezone.utc)
    counts = await storage.run_counts()
    for status in ("pending", "running", "success", "error", "timeout", "interrupted"):
        RUNS.labels(status).set(counts.get(status, 0))
    QUEUE_AGE.set(_age(await storage.next_run_available_at(), now))
    INTERRUPTS.set(await storage.count_threads(metadata=None, values=None, status="interrupted"))
    oldest = await storage.search_threads(ids=None, metadata=None, values=None, status="interrupted", limit=1, offset=0,
                                          sort_by="updated_at", sort_order="asc")
    INTERRUPT_AGE.set(_age(oldest[0]["updated_at"], now) if oldest else 0.0)
    for state, value in storage.pool_stats().items():
        POOL.labels(state).set(value)


def render_prometheus() -> tuple[bytes, str]:
    """The process's metrics in the Prometheus text format: `(body, content type)`."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def render_json() -> dict[str, Any]:
    """The same figures as JSON: `{metric name: [{"labels": {...}, "value": float}, ...]}`
    (samples of every `waypoint_` metric; histograms as their `_bucket`/`_sum`/`_count`)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for metric in REGISTRY.collect():
        if not metric.name.startswith("waypoint_"):
            continue
        for sample in metric.samples:
            out.setdefault(sample.name, []).append({"labels": dict(sample.labels), "value": sample.value})
    return out
