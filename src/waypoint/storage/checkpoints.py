"""LangGraph's checkpointers, with the checkpoint metadata the official server records.

LangGraph leaves `thread_id` out of checkpoint metadata (it is in the config); the official
server's history shows it in `metadata.thread_id`, so clients filter and display by it.
"""

from __future__ import annotations

from typing import Any

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
    """`AsyncPostgresSaver` recording `metadata.thread_id`."""
