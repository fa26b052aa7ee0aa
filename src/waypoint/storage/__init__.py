"""Durable state behind one interface (`Storage`); pick a database by URI."""

from __future__ import annotations

from waypoint.storage.base import (
    AlreadyExists,
    AssistantChanged,
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
    "AlreadyExists", "AssistantChanged", "ExtensionMissing", "InterruptAnswered", "NotFound", "Storage", "StorageError", "ThreadBusy",
    "TickTaken", "UnsupportedValue", "open_storage",
]


def open_storage(database_uri: str, *, store_index: dict | None = None, store_ttl: dict | None = None) -> Storage:
    """Return an (unopened) `Storage` for `database_uri`: one implementation
    (`storage/sql.py`, SQLAlchemy Core) over the database's dialect (`storage/dialects/`).

    `sqlite:///relative/path.db`, `sqlite:////abs/path.db` or a bare file path select SQLite
    (`?synchronous=full` syncs every commit to disk, see `dialects._sqlite_options`);
    `postgresql://…` (or `postgres://…`) selects PostgreSQL.
    `store_index` and `store_ttl` configure the long-term store (langgraph's `IndexConfig`
    and `TTLConfig`, from the `store` section of langgraph.json).
    Raises `ValueError` for a scheme Waypoint does not support.
    """
    from waypoint.storage.dialects import open_dialect
    from waypoint.storage.sql import SqlStorage

    return SqlStorage(open_dialect(database_uri, store_index=store_index, store_ttl=store_ttl))
