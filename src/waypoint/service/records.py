"""The public shapes of stored records (what the API returns)."""

from __future__ import annotations

from typing import Any

#: Fields of `langgraph_sdk.schema.Run`; the rest of a stored run is Waypoint's bookkeeping.
RUN_FIELDS = (
    "run_id", "thread_id", "assistant_id", "created_at", "updated_at", "status",
    "metadata", "kwargs", "multitask_strategy",
)


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A stored run as the API's `Run` object."""
    return {k: run.get(k) for k in RUN_FIELDS}

#: Fields of `langgraph_sdk.schema.Cron` (the official OpenAPI's `Cron`).
CRON_FIELDS = (
    "cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule", "timezone",
    "created_at", "updated_at", "payload", "user_id", "next_run_date", "metadata", "enabled",
)


def public_cron(cron: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
    """A stored cron as the API's `Cron` object (only the `select`ed fields when given)."""
    return {k: cron.get(k) for k in CRON_FIELDS if not select or k in select}
