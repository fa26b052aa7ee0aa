"""SQLite's write lock, which Waypoint's connections to one file (server rows, checkpointer,
store) share: how long a connection waits for it, and trying it without waiting, for a write
made on the event loop's thread (which must never stall behind another connection's
transaction: such a write goes to its connection's thread instead)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

#: Milliseconds a connection waits for the write lock before giving up.
BUSY_TIMEOUT_MS = 30_000


@contextlib.contextmanager
def without_waiting(raw: sqlite3.Connection) -> Iterator[None]:
    """Within the block, `raw` answers `SQLITE_BUSY` at once when another connection holds
    the write lock, instead of waiting up to `BUSY_TIMEOUT_MS` (`PRAGMA busy_timeout`)."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def is_busy(exc: BaseException) -> bool:
    """Whether `exc`, sqlite3's error or SQLAlchemy's wrapping one, is `SQLITE_BUSY` or one
    of its extended codes (`sqlite_errorcode` is the extended one; its low byte the primary)."""
    code = getattr(getattr(exc, "orig", exc), "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
