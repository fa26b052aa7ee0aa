"""Timestamps as the API shows them: ISO-8601, UTC, microseconds, fixed width (so they sort as text)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def now_iso(delay_seconds: float = 0.0) -> str:
    """The current time (plus `delay_seconds`) as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=delay_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def seconds_until(iso: str) -> float:
    """Seconds from now until the ISO time `iso` (negative when it has passed)."""
    return (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds()
