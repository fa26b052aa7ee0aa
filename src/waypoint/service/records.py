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
