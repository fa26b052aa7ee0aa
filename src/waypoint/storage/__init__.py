"""Durable state behind one interface (`Storage`); pick an implementation by URI."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from waypoint.storage.base import (
    AlreadyExists,
    ExtensionMissing,
    InterruptAnswered,
    NotFound,
    Storage,
    StorageError,
    ThreadBusy,
    TickTaken,
    UnsupportedValue,
)

__all__ = [
    "AlreadyExists", "ExtensionMissing", "InterruptAnswered", "NotFound", "Storage", "StorageError", "ThreadBusy",
    "TickTaken", "UnsupportedValue", "open_storage",
]


def open_storage(database_uri: str, *, store_index: dict | None = None, store_ttl: dict | None = None) -> Storage:
    """Return an (unopened) `Storage` for `database_uri`.

    `sqlite:///relative/path.db`, `sqlite:////abs/path.db` or a bare file path select SQLite
    (`?synchronous=full` syncs every commit to disk, see `_sqlite_options`);
    `postgresql://…` (or `postgres://…`) selects PostgreSQL.
    `store_index` and `store_ttl` configure the long-term store (langgraph's `IndexConfig`
    and `TTLConfig`, from the `store` section of langgraph.json).
    Raises `ValueError` for a scheme Waypoint does not support.
    """
    if database_uri.startswith(("postgresql://", "postgres://")):
        from waypoint.storage.postgres import PostgresStorage

        return PostgresStorage(database_uri, store_index=store_index, store_ttl=store_ttl)
    if database_uri.startswith("sqlite:///"):
        path = database_uri[len("sqlite:///"):]
    elif "://" not in database_uri:
        path = database_uri
    else:
        scheme = database_uri.split("://", 1)[0]
        raise ValueError(f"Unsupported database URI scheme {scheme!r}; use sqlite:///path or postgresql://…")
    from waypoint.storage.sqlite import SqliteStorage

    path, _, query = path.partition("?")
    return SqliteStorage(Path(path), store_index=store_index, store_ttl=store_ttl, **_sqlite_options(query))


def _sqlite_options(query: str) -> dict[str, str]:
    """Options of a SQLite URI's query: `synchronous=normal` (the default: a commit survives
    the process's death) or `synchronous=full` (every commit is synced to disk, so it also
    survives a power loss). Raises `ValueError` for anything else."""
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ValueError(f"Unknown SQLite URI option(s) {', '.join(sorted(unknown))}; the one option is synchronous")
    synchronous = options.get("synchronous", "normal").lower()
    if synchronous not in ("normal", "full"):
        raise ValueError(f"synchronous must be normal or full, got {options['synchronous']!r}")
    return {"synchronous": synchronous.upper()}
