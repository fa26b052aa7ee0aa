"""Recognizing a failing dependency (database, Redis, disk) in any exception.

`unavailable(exc)` is the one place that decides it, walking the exception chain
(`__cause__`, `__context__`, exception groups and SQLAlchemy's `.orig`): psycopg
`OperationalError` and pool timeouts, redis-py connection errors and timeouts, SQLite
"disk I/O error"/"unable to open"/"database is locked" (503) and "database or disk is full"
or `ENOSPC` (507 Insufficient Storage, RFC 4918 §11.5). The API answers with that status;
the executor puts a run hit by it back in the queue instead of failing it.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

import psycopg
import psycopg_pool
import redis.exceptions

#: Seconds a client is told to wait before retrying (`Retry-After`).
RETRY_AFTER_SECONDS = 5

_SQLITE_UNAVAILABLE = ("disk i/o error", "unable to open database", "database is locked")
_SQLITE_FULL = "database or disk is full"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__, getattr(e, "orig", None)]
        stack += list(getattr(e, "exceptions", None) or ())


def _classify(e: BaseException) -> tuple[int, str] | None:
    if isinstance(e, psycopg_pool.PoolTimeout):
        return 503, f"PostgreSQL is unavailable: no database connection could be made ({e})"
    if isinstance(e, psycopg.OperationalError):
        return 503, f"PostgreSQL is unavailable: {str(e).strip() or type(e).__name__}"
    if isinstance(e, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return 503, f"Redis is unavailable: {str(e).strip() or type(e).__name__}"
    if isinstance(e, sqlite3.Error):
        text = str(e).lower()
        if _SQLITE_FULL in text:
            return 507, f"The SQLite database cannot grow: {e} (free disk space on its volume)"
        if any(marker in text for marker in _SQLITE_UNAVAILABLE):
            return 503, f"The SQLite database is unavailable: {e}"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507, f"No space left for the database: {e}"
    return None


def unavailable(exc: BaseException) -> tuple[int, str] | None:
    """`(HTTP status, message)` if `exc` (or any exception in its chain) says a dependency
    is unavailable: 503, or 507 for a full disk; None for anything else."""
    for e in _chain(exc):
        if (verdict := _classify(e)) is not None:
            return verdict
    return None


#: Top-level exception types a dependency failure surfaces as; anything else reaches the
#: API's catch-all handler, which may call `api.unavailable.response_for` to walk its chain.
ROOT_TYPES: tuple[type[BaseException], ...] = (
    psycopg.Error, psycopg_pool.PoolTimeout, redis.exceptions.RedisError, sqlite3.Error, OSError,
)
