"""Timestamps as the API shows them: ISO-8601, UTC, microseconds, fixed width (so they sort as text)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def now_iso(delay_seconds: float = 0.0) -> str:
    """The current time (plus `delay_seconds`) as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`."""
    moment = datetime.now(timezone.utc)
    if delay_seconds:
        moment += timedelta(seconds=delay_seconds)
    return moment.isoformat(timespec="microseconds")  # the same text as strftime, twice as fast


def to_iso(moment: datetime | str) -> str:
    """`moment` in the API's timestamp form; a naive time (SQLite's `CURRENT_TIMESTAMP`) is
    UTC. Raises `ValueError` for text that is not an ISO-8601 time."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def seconds_until(iso: str) -> float:
    """Seconds from now until the ISO time `iso` (negative when it has passed)."""
    return (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds()
