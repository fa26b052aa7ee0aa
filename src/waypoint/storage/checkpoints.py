"""LangGraph's checkpointers, with the checkpoint metadata the official server records.

LangGraph leaves `thread_id` out of checkpoint metadata (it is in the config); the official
server's history shows it in `metadata.thread_id`, so clients filter and display by it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


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
    """`AsyncPostgresSaver` recording `metadata.thread_id`, on a psycopg pool (`conn`).

    Each call takes its own pooled connection: no process-wide lock around the saver (the
    base class serialises every call of every run on its `lock`, which only a single shared
    connection needs). The statements of one write (`aput`: the channel blobs and the
    checkpoint; `aput_writes`: every write of a task; `adelete_thread`) go pipelined in ONE
    transaction: one commit instead of one per statement on the pool's autocommit
    connections, and a checkpoint never lands without its blobs."""

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        async with self.conn.connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
