"""Durable state behind one interface (`Storage`); pick an implementation by URI."""

from __future__ import annotations

from pathlib import Path

from waypoint.storage.base import (
    AlreadyExists,
    InterruptAnswered,
    NotFound,
    Storage,
    StorageError,
    ThreadBusy,
    UnsupportedValue,
)

__all__ = [
    "AlreadyExists", "InterruptAnswered", "NotFound", "Storage", "StorageError", "ThreadBusy",
    "UnsupportedValue", "open_storage",
]


def open_storage(database_uri: str) -> Storage:
    """Return an (unopened) `Storage` for `database_uri`.

    `sqlite:///relative/path.db`, `sqlite:////abs/path.db` or a bare file path select SQLite;
    `postgresql://…` (or `postgres://…`) selects PostgreSQL.
    Raises `ValueError` for a scheme Waypoint does not support.
    """
    if database_uri.startswith(("postgresql://", "postgres://")):
        from waypoint.storage.postgres import PostgresStorage

        return PostgresStorage(database_uri)
    if database_uri.startswith("sqlite:///"):
        path = database_uri[len("sqlite:///"):]
    elif "://" not in database_uri:
        path = database_uri
    else:
        scheme = database_uri.split("://", 1)[0]
        raise ValueError(f"Unsupported database URI scheme {scheme!r}; use sqlite:///path or postgresql://…")
    from waypoint.storage.sqlite import SqliteStorage

    return SqliteStorage(Path(path))
