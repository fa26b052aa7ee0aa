"""LangGraph's checkpointers, with the checkpoint metadata the official server records.

LangGraph leaves `thread_id` out of checkpoint metadata (it is in the config); the official
server's history shows it in `metadata.thread_id`, so clients filter and display by it.
"""

from __future__ import annotations

import asyncio
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


class _RecordingCursor:
    """Stands for a cursor in langgraph's write methods, which only send statements:
    records them for `_WriteBatcher`."""

    def __init__(self) -> None:
        self.statements: list[tuple[bool, Any, Any]] = []  # (many, query, params)

    async def execute(self, query: Any, params: Any = None) -> None:
        self.statements.append((False, query, params))

    async def executemany(self, query: Any, params_seq: Any) -> None:
        self.statements.append((True, query, list(params_seq)))


class _WriteBatcher:
    """Commits checkpoint writes (each the statements of one `aput`/`aput_writes` call) in
    as few transactions as they allow: while one transaction is in flight, the writes
    submitted meanwhile (other runs', or the next of a run with `durability="async"`) wait
    and then go together, pipelined, in the next one. In submission order, so a run's
    writes land in the order it made them. When a shared transaction fails, its writes are
    committed again one by one, so only a failing write fails its caller."""

    def __init__(self, pool: Any):
        self._pool = pool
        self._queue: list[tuple[list, asyncio.Future]] = []
        self._flushing = False
        self._task: asyncio.Task | None = None  # the flush in progress (referenced: not collected)

    async def submit(self, statements: list) -> None:
        """Commit `statements` (`_RecordingCursor.statements`); raises what committing them raised."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((statements, future))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(future)  # a cancelled caller leaves its write to the batch

    async def _flush(self) -> None:
        batch: list[tuple[list, asyncio.Future]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    await self._commit([st for statements, _ in batch for st in statements])
                except Exception:
                    for statements, future in batch:  # one by one: the failing write fails alone
                        try:
                            await self._commit(statements)
                        except Exception as exc:
                            _settle(future, exc)
                        else:
                            _settle(future, None)
                else:
                    for _, future in batch:
                        _settle(future, None)
        finally:
            self._flushing = False
            for _, future in [*batch, *self._queue]:  # left unsettled only when cancelled (shutdown)
                future.cancel()
            self._queue = []

    async def _commit(self, statements: list) -> None:
        async with (self._pool.connection() as conn, conn.pipeline(), conn.transaction(),
                    conn.cursor(binary=True) as cur):
            for many, query, params in statements:
                await (cur.executemany(query, params) if many else cur.execute(query, params))


def _settle(future: asyncio.Future, exc: BaseException | None) -> None:
    if not future.done():
        future.set_result(None) if exc is None else future.set_exception(exc)
        if exc is not None:
            future.exception()  # retrieved: a caller gone meanwhile logs nothing


class PostgresCheckpointer(ThreadIdInMetadata, AsyncPostgresSaver):
    """`AsyncPostgresSaver` recording `metadata.thread_id`, on a psycopg pool (`conn`).

    Each call takes its own pooled connection: no process-wide lock around the saver (the
    base class serialises every call of every run on its `lock`, which only a single shared
    connection needs). The statements of one write (`aput`: the channel blobs and the
    checkpoint; `aput_writes`: every write of a task; `adelete_thread`) go pipelined in ONE
    transaction, and a checkpoint never lands without its blobs; writes in flight at the
    same time share one transaction (`_WriteBatcher`)."""

    def __init__(self, conn: Any, *args: Any, **kwargs: Any):
        super().__init__(conn, *args, **kwargs)
        self._batcher = _WriteBatcher(conn)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if pipeline:  # langgraph's writes (aput, aput_writes, adelete_thread): send only
            recorder = _RecordingCursor()
            yield recorder  # type: ignore[misc]
            await self._batcher.submit(recorder.statements)
            return
        async with self.conn.connection() as conn, conn.cursor(binary=True, row_factory=dict_row) as cur:
            yield cur
