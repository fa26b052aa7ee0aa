"""LangGraph's checkpointers, with the checkpoint metadata the official server records.

LangGraph leaves `thread_id` out of checkpoint metadata (it is in the config); the official
server's history shows it in `metadata.thread_id`, so clients filter and display by it.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class ThreadIdInMetadata:
    """Mixin for a `BaseCheckpointSaver`: every checkpoint it writes carries its thread's id
    in `metadata.thread_id`."""

    async def aput(self, config: dict, checkpoint: Any, metadata: dict, new_versions: Any) -> dict:
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if thread_id is not None and "thread_id" not in metadata:
            metadata = {**metadata, "thread_id": str(thread_id)}
        return await super().aput(config, checkpoint, metadata, new_versions)  # type: ignore[misc]


class SqliteCheckpointer(ThreadIdInMetadata, AsyncSqliteSaver):
    """`AsyncSqliteSaver` recording `metadata.thread_id`."""


class PostgresCheckpointer(ThreadIdInMetadata, AsyncPostgresSaver):
    """`AsyncPostgresSaver` recording `metadata.thread_id`."""


#: Seconds a pooled PostgreSQL connection may sit unused before it is checked (a round trip)
#: on checkout; one used more recently is handed out as it is.
IDLE_CHECK_SECONDS = 1.0
_returned_at: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()


async def check_if_idle(conn: AsyncConnection) -> None:
    """`check` for langgraph's psycopg pool: connections broken while PostgreSQL was down are
    replaced instead of failing a request, as with `AsyncConnectionPool.check_connection`,
    but only a connection idle over `IDLE_CHECK_SECONDS` pays the check's round trip (and
    transaction): a busy server would spend one per checkpoint read or write on it."""
    returned = _returned_at.get(conn)
    if returned is None or time.monotonic() - returned > IDLE_CHECK_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


async def mark_returned(conn: AsyncConnection) -> None:
    """`reset` for the same pool: notes when a connection came back (see `check_if_idle`)."""
    _returned_at[conn] = time.monotonic()
