"""LangGraph's checkpointers, with the checkpoint metadata the official server records.

LangGraph leaves `thread_id` out of checkpoint metadata (it is in the config); the official
server's history shows it in `metadata.thread_id`, so clients filter and display by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import aiosqlite
from psycopg import AsyncCursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.checkpoint.sqlite.utils import load_pending_writes, pending_writes_sql

from waypoint.storage.sqlite_lock import is_busy, without_waiting


class ThreadIdInMetadata:
    """Mixin for a `BaseCheckpointSaver`: every checkpoint it writes carries its thread's id
    in `metadata.thread_id`."""

    async def aput(self, config: dict, checkpoint: Any, metadata: dict, new_versions: Any) -> dict:
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if thread_id is not None and "thread_id" not in metadata:
            metadata = {**metadata, "thread_id": str(thread_id)}
        return await super().aput(config, checkpoint, metadata, new_versions)  # type: ignore[misc]


#: The one-hop calls below mirror langgraph-checkpoint-sqlite 3.1's SQL and use aiosqlite's
#: `Connection._execute`: with another release (pyproject allows any 3.x), the base class's
#: own calls are used instead.
_ONE_HOP = (importlib.metadata.version("langgraph-checkpoint-sqlite").startswith("3.1.")
            and callable(getattr(aiosqlite.Connection, "_execute", None)))

_SELECT_CHECKPOINT = (
    "SELECT thread_id, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints"
    " WHERE thread_id = ? AND checkpoint_ns = ?"
)
_INSERT_CHECKPOINT = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,"
    " checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_WRITES = (
    "INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _OneHopSqliteSaver(AsyncSqliteSaver):
    """`AsyncSqliteSaver` whose hot calls (`aget_tuple`, `aput`, `aput_writes`) each make ONE
    hop to the connection's thread: the base class makes three to six (cursor, execute,
    fetch, commit, close), each a thread wake-up and a future on both sides, which cost more
    CPU than the statements. The same statements, values and transactions as the base class
    (a write commits before the call returns), under its lock.

    With `inline` (the dialect's choice when commits are not synced to disk, so a write takes
    microseconds) they make none: they run on the event loop's thread, as the server rows'
    writes do (`SqliteDialect.run`). Measured on a 2-core VM, 10 clients doing HITL cycles:
    server CPU per cycle 9.2-9.7 → 6.5-6.9 ms, cycles/s +41 % (the hops' cost was the two
    threads trading the GIL, not the statements); the loop serializes the values on its
    thread anyway. The connection must allow other threads
    (`check_same_thread=False`); its own thread is idle meanwhile, as every use of the
    connection holds `lock`."""

    def __init__(self, conn: aiosqlite.Connection, *, inline: bool = False, **kwargs: Any):
        super().__init__(conn, **kwargs)
        self.inline = inline

    async def _run(self, fn: Any, *args: Any, write: bool = False) -> Any:
        """`fn(sqlite3_connection, *args)`, under `lock`: with `inline` on the event loop's
        thread, except a `write` that would wait for the file's write lock (another
        connection's transaction holds it: it fails at once, done nothing, and goes to the
        thread, which waits); else on the connection's thread (aiosqlite's queue, in order
        with the connection's other calls)."""
        raw = self.conn._conn
        if self.inline:
            if not write:
                return fn(raw, *args)
            try:
                with without_waiting(raw):
                    return fn(raw, *args)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
        return await self.conn._execute(fn, raw, *args)

    async def aget_tuple(self, config: dict) -> CheckpointTuple | None:
        if not _ONE_HOP:
            return await super().aget_tuple(config)
        if not self.is_setup:  # setup() takes the lock even when done
            await self.setup()
        checkpoint_ns = config["configurable"].get("checkpoint_ns", "")
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_id = get_checkpoint_id(config)
        async with self.lock:
            found = await self._run(_read_checkpoint, thread_id, checkpoint_ns, checkpoint_id,
                                    pending_writes_sql(self._has_task_path))
        if found is None:
            return None
        (thread_id, checkpoint_id, parent_checkpoint_id, type_, checkpoint, metadata), writes = found
        if not get_checkpoint_id(config):
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns,
                                       "checkpoint_id": checkpoint_id}}
        return CheckpointTuple(
            config,
            self.serde.loads_typed((type_, checkpoint)),
            cast(Any, json.loads(metadata) if metadata is not None else {}),
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns,
                              "checkpoint_id": parent_checkpoint_id}} if parent_checkpoint_id else None,
            load_pending_writes(writes, self.serde),
        )

    async def aput(self, config: dict, checkpoint: Any, metadata: dict, new_versions: Any) -> dict:
        if not _ONE_HOP:
            return await super().aput(config, checkpoint, metadata, new_versions)
        if not self.is_setup:  # setup() takes the lock even when done
            await self.setup()
        checkpoint_ns = config["configurable"]["checkpoint_ns"]
        type_, serialized = self.serde.dumps_typed(checkpoint)
        serialized_metadata = json.dumps(
            get_checkpoint_metadata(config, metadata), ensure_ascii=False).encode("utf-8", "ignore")
        row = (str(config["configurable"]["thread_id"]), checkpoint_ns, checkpoint["id"],
               config["configurable"].get("checkpoint_id"), type_, serialized, serialized_metadata)
        async with self.lock:
            await self._run(_write, _INSERT_CHECKPOINT, [row], write=True)
        return {"configurable": {"thread_id": config["configurable"]["thread_id"], "checkpoint_ns": checkpoint_ns,
                                 "checkpoint_id": checkpoint["id"]}}

    async def aput_writes(self, config: dict, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        if not _ONE_HOP:
            return await super().aput_writes(config, writes, task_id, task_path)
        verb = "INSERT OR REPLACE " if all(w[0] in WRITES_IDX_MAP for w in writes) else "INSERT OR IGNORE "
        if not self.is_setup:  # setup() takes the lock even when done
            await self.setup()
        configurable = config["configurable"]
        rows = [
            (str(configurable["thread_id"]), str(configurable["checkpoint_ns"]), str(configurable["checkpoint_id"]),
             task_id, task_path, WRITES_IDX_MAP.get(channel, idx), channel, *self.serde.dumps_typed(value))
            for idx, (channel, value) in enumerate(writes)
        ]
        async with self.lock:
            await self._run(_write, verb + _INSERT_WRITES, rows, write=True)


def _read_checkpoint(conn: sqlite3.Connection, thread_id: str, checkpoint_ns: str, checkpoint_id: str | None,
                     writes_sql: str) -> tuple[tuple, list] | None:
    """The checkpoint row (the latest of the namespace without `checkpoint_id`) and its
    pending writes' rows, as `AsyncSqliteSaver.aget_tuple` reads them."""
    if checkpoint_id:
        row = conn.execute(_SELECT_CHECKPOINT + " AND checkpoint_id = ?",
                           (thread_id, checkpoint_ns, checkpoint_id)).fetchone()
    else:
        row = conn.execute(_SELECT_CHECKPOINT + " ORDER BY checkpoint_id DESC LIMIT 1",
                           (thread_id, checkpoint_ns)).fetchone()
    if row is None:
        return None
    return row, conn.execute(writes_sql, (row[0], checkpoint_ns, str(row[1]))).fetchall()


def _write(conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    """`rows` inserted by `sql` in one transaction, committed (rolled back on failure)."""
    try:
        conn.executemany(sql, rows)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


class SqliteCheckpointer(ThreadIdInMetadata, _OneHopSqliteSaver):
    """`AsyncSqliteSaver` recording `metadata.thread_id`, in one hop per hot call."""


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
        # BEGIN and COMMIT as statements of the pipeline: the transaction is ONE round trip
        # (psycopg's `transaction()` inside a pipeline syncs on entering and leaving it: four,
        # counted with strace as reads of the socket).
        async with self._pool.connection() as conn:
            try:
                async with conn.pipeline(), conn.cursor(binary=True) as cur:
                    await cur.execute("BEGIN")
                    for many, query, params in statements:
                        await (cur.executemany(query, params) if many else cur.execute(query, params))
                    await cur.execute("COMMIT")
            except BaseException:
                # A failed statement leaves the transaction open (aborted): end it here,
                # before the connection goes back to the pool.
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(Exception):
                        await conn.rollback()
                raise


def _settle(future: asyncio.Future, exc: BaseException | None) -> None:
    if not future.done():
        future.set_result(None) if exc is None else future.set_exception(exc)
        if exc is not None:
            future.exception()  # retrieved: a caller gone meanwhile logs nothing


#: The inline calls below mirror langgraph-checkpoint-postgres 3.2's `aput`, `aput_writes` and
#: `_load_checkpoint_tuple`: with another release, the base class's own calls are used.
_INLINE_SERDE = importlib.metadata.version("langgraph-checkpoint-postgres").startswith("3.2.")
if _INLINE_SERDE:
    from langgraph.checkpoint.serde.types import _DeltaSnapshot


class _InlineSerdePostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` that (de)serializes channel values and writes on the event loop,
    as `AsyncSqliteSaver` does, instead of in `asyncio.to_thread`: the base class hops to a
    worker thread and back in every `aget_tuple` (pending writes), `aput_writes` and `aput`
    with blobs. For a graph's small values the hop costs far more than the work (measured
    0.15 ms on an idle loop, ~1 ms while other runs keep it busy: the thread waits for the
    GIL, then the loop for its wake-up), and it is on every run's critical path (three to
    six per run). The thread did not spare the loop large values either: serialization
    holds the GIL. Same statements and values as the base class."""

    async def _load_checkpoint_tuple(self, value: DictRow) -> CheckpointTuple:
        if not _INLINE_SERDE:
            return await super()._load_checkpoint_tuple(value)
        return CheckpointTuple(
            {"configurable": {"thread_id": value["thread_id"], "checkpoint_ns": value["checkpoint_ns"],
                              "checkpoint_id": value["checkpoint_id"]}},
            {**value["checkpoint"], "channel_values": {
                **(value["checkpoint"].get("channel_values") or {}), **self._load_blobs(value["channel_values"])}},
            value["metadata"],
            {"configurable": {"thread_id": value["thread_id"], "checkpoint_ns": value["checkpoint_ns"],
                              "checkpoint_id": value["parent_checkpoint_id"]}}
            if value["parent_checkpoint_id"] else None,
            self._load_writes(value["pending_writes"]),
        )

    async def aput_writes(self, config: dict, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        if not _INLINE_SERDE:
            return await super().aput_writes(config, writes, task_id, task_path)
        query = (self.UPSERT_CHECKPOINT_WRITES_SQL if all(w[0] in WRITES_IDX_MAP for w in writes)
                 else self.INSERT_CHECKPOINT_WRITES_SQL)
        configurable = config["configurable"]
        params = self._dump_writes(configurable["thread_id"], configurable["checkpoint_ns"],
                                   configurable["checkpoint_id"], task_id, task_path, writes)
        async with self._cursor(pipeline=True) as cur:
            await cur.executemany(query, params)

    async def aput(self, config: dict, checkpoint: Any, metadata: dict, new_versions: Any) -> dict:
        if not _INLINE_SERDE:
            return await super().aput(config, checkpoint, metadata, new_versions)
        configurable = config["configurable"].copy()
        thread_id = configurable.pop("thread_id")
        checkpoint_ns = configurable.pop("checkpoint_ns")
        checkpoint_id = configurable.pop("checkpoint_id", None)
        copy = checkpoint.copy()
        copy["channel_values"] = copy["channel_values"].copy()
        next_config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns,
                                        "checkpoint_id": checkpoint["id"]}}
        # Primitive values inline in the checkpoint row, the others in the blobs table.
        blob_values = {}
        for k, v in checkpoint["channel_values"].items():
            if isinstance(v, _DeltaSnapshot):
                blob_values[k] = copy["channel_values"].pop(k)
                copy["channel_values"][k] = True
            elif v is None or isinstance(v, (str, int, float, bool)):
                pass
            else:
                blob_values[k] = copy["channel_values"].pop(k)
        async with self._cursor(pipeline=True) as cur:
            if blob_versions := {k: v for k, v in new_versions.items() if k in blob_values}:
                await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL,
                                      self._dump_blobs(thread_id, checkpoint_ns, blob_values, blob_versions))
            await cur.execute(self.UPSERT_CHECKPOINTS_SQL, (
                thread_id, checkpoint_ns, checkpoint["id"], checkpoint_id, Jsonb(copy),
                Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
            ))
        return next_config


class PostgresCheckpointer(ThreadIdInMetadata, _InlineSerdePostgresSaver):
    """`AsyncPostgresSaver` recording `metadata.thread_id`, on a psycopg pool (`conn`).

    Each call takes its own pooled connection: no process-wide lock around the saver (the
    base class serialises every call of every run on its `lock`, which only a single shared
    connection needs). The statements of one write (`aput`: the channel blobs and the
    checkpoint; `aput_writes`: every write of a task; `adelete_thread`) go pipelined in ONE
    transaction, and a checkpoint never lands without its blobs; writes in flight at the
    same time share one transaction (`_WriteBatcher`). Values are (de)serialized on the
    event loop (`_InlineSerdePostgresSaver`)."""

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
