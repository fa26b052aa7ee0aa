"""SQLite implementation of `Storage`: one database file, WAL mode, one process.

Server rows use one aiosqlite connection guarded by a lock (a transaction at a time);
the checkpointer (langgraph-checkpoint-sqlite) and the store have connections of their
own on the same file. Writes never fail with `database is locked`, by design: one writer
connection for server rows, `BEGIN IMMEDIATE` wherever a transaction reads then writes (the
server connection and the store, `ImmediateSqliteStore`), a busy timeout on every
connection (the checkpointer's transactions begin with a write, so they wait), WAL.
Search filters are jsonb containment through a Python function (storage/containment.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from array import array
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

import aiosqlite
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.store.sqlite.aio import AsyncSqliteStore

from waypoint import serde
from waypoint.clock import now_iso
from waypoint.storage import containment, migrations
from waypoint.storage.checkpoints import SqliteCheckpointer
from waypoint.storage.filelock import ProcessLock
from waypoint.storage.query import (
    ASSISTANT_SORT,
    CRON_SORT,
    THREAD_SORT,
    Dialect,
    assistant_where,
    cron_where,
    list_versions,
    next_version,
    page,
    pin_version,
    record_version,
    thread_where,
)
from waypoint.storage.base import (
    ACTIVE_RUN_STATUSES,
    AlreadyExists,
    InterruptAnswered,
    NotFound,
    Record,
    SortOrder,
    THREAD_TTL_COLUMNS,
    Storage,
    ThreadBusy,
    TickTaken,
    thread_ttl_columns,
    thread_ttl_info,
)

_ASSISTANT_JSON = ("config", "context", "metadata")
_THREAD_JSON = ("metadata", "config", "values", "interrupts", "error")
_RUN_JSON = ("metadata", "kwargs", "output", "error")
_CRON_JSON = ("payload", "metadata")



def _decode(row: aiosqlite.Row, json_cols: Sequence[str]) -> Record:
    rec = {k: v for k, v in dict(row).items() if k not in THREAD_TTL_COLUMNS}
    for col in json_cols:
        if col in rec:
            rec[col] = serde.loads(rec[col])
    return rec


def _json_filters(column: str, filters: dict | None) -> tuple[list[str], list[Any]]:
    """`column` contains `filters` as jsonb `@>` defines it (storage/containment.py): the whole
    filter is one bound JSON parameter, so any key works and thousands of keys are one call."""
    if not filters:
        return [], []
    return [f"{containment.SQLITE_FUNCTION}({column}, ?) = 1"], [serde.dumps_str(filters)]


def _in_list(column: str, values: Sequence[str]) -> tuple[list[str], list[Any]]:
    return [f"{column} IN ({', '.join('?' * len(values))})"], list(values)


DIALECT = Dialect(ph="?", ilike="LIKE", json_filter=_json_filters, in_list=_in_list)


def _vectors(a: bytes, b: bytes) -> tuple[array, array]:
    x, y = array("f"), array("f")
    x.frombytes(a)
    y.frombytes(b)
    if len(x) != len(y):
        raise ValueError(f"vector dimensions differ: {len(x)} and {len(y)}")
    return x, y


def _cosine_distance(a: bytes, b: bytes) -> float:
    x, y = _vectors(a, b)
    norms = math.sqrt(sum(v * v for v in x)) * math.sqrt(sum(v * v for v in y))
    return 1.0 - (sum(p * q for p, q in zip(x, y)) / norms if norms else 0.0)


def _l2_distance(a: bytes, b: bytes) -> float:
    return math.sqrt(sum((p - q) ** 2 for p, q in zip(*_vectors(a, b))))


def _l1_distance(a: bytes, b: bytes) -> float:
    return sum(abs(p - q) for p, q in zip(*_vectors(a, b)))


#: sqlite-vec's scalar distance functions that langgraph's SQLite store calls, over float32 blobs.
_VEC_DISTANCES = {
    "vec_distance_cosine": _cosine_distance, "vec_distance_L2": _l2_distance, "vec_distance_L1": _l1_distance,
}


class ImmediateSqliteStore(AsyncSqliteStore):
    """langgraph's `AsyncSqliteStore` whose transactions begin with `BEGIN IMMEDIATE` (and roll
    back on error). The store batches concurrent operations, so one transaction may read (a
    get) and then write (a put); under a deferred `BEGIN` that upgrade cannot wait for the
    write lock (SQLite answers `database is locked` at once, whatever the busy timeout) when
    the checkpointer or the server connection wrote meanwhile. Taking the lock first, it waits
    its turn like every other writer."""

    async def setup(self) -> None:
        """langgraph's set-up. With `store.index` on a Python whose `sqlite3` cannot load
        extensions (built without `--enable-loadable-sqlite-extensions`), sqlite-vec's three
        distance functions are registered in Python instead of loading its library: the same
        brute-force ranking over the same float32 vectors."""
        if self.index_config and not hasattr(sqlite3.Connection, "enable_load_extension"):
            conn = self.conn

            async def allow(_enabled: bool) -> None:
                return None

            async def load(_path: str) -> None:
                for name, distance in _VEC_DISTANCES.items():
                    await conn.create_function(name, 2, distance, deterministic=True)

            conn.enable_load_extension, conn.load_extension = allow, load  # type: ignore[method-assign]
        await super().setup()

    @contextlib.asynccontextmanager
    async def _cursor(self, *, transaction: bool = True) -> AsyncIterator[aiosqlite.Cursor]:
        if not self.is_setup:
            await self.setup()
        async with self.lock:
            if transaction:
                await self.conn.execute("BEGIN IMMEDIATE")
            async with self.conn.cursor() as cur:
                try:
                    yield cur
                except BaseException:
                    if transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
                if transaction:
                    await self.conn.execute("COMMIT")


class SqliteStorage(Storage):
    """Storage in one SQLite file at `path` (created with its folder if missing)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", store_index: dict | None = None,
                 store_ttl: dict | None = None):
        self.path = Path(path)
        #: SQLite's `synchronous` on every connection: NORMAL (in WAL mode a commit survives
        #: the process's death) or FULL (each commit synced to disk: it survives a power loss).
        self.synchronous = "FULL" if synchronous.upper() == "FULL" else "NORMAL"
        self.store_index = store_index
        self.store_ttl = store_ttl
        self._exclusive: dict[str, asyncio.Lock] = {}
        self._conn: aiosqlite.Connection | None = None
        self._cp_conn: aiosqlite.Connection | None = None
        self._store_conn: aiosqlite.Connection | None = None
        self._checkpointer: AsyncSqliteSaver | None = None
        self._store: ImmediateSqliteStore | None = None
        self._lock = asyncio.Lock()
        self._process_lock = ProcessLock(self.path)

    # -- lifecycle ---------------------------------------------------------
    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute(f"PRAGMA synchronous={self.synchronous}")
        await containment.register_sqlite(conn)
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._process_lock.acquire()  # raises DatabaseInUse while another process serves the file
        self._conn = await self._connect()
        await self._migrate()
        # The checkpointer and store manage their own transactions.
        self._cp_conn = await aiosqlite.connect(self.path)
        await self._cp_conn.execute("PRAGMA journal_mode=WAL")
        await self._cp_conn.execute("PRAGMA busy_timeout=30000")
        await self._cp_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._checkpointer = SqliteCheckpointer(self._cp_conn)
        await self._checkpointer.setup()
        # The store issues its own BEGIN/COMMIT: it needs an autocommit connection.
        self._store_conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self._store_conn.execute("PRAGMA busy_timeout=30000")
        await self._store_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        # store_vectors rows cascade with their item (deletes, TTL sweeps) only with foreign keys on.
        await self._store_conn.execute("PRAGMA foreign_keys=ON")
        self._store = ImmediateSqliteStore(self._store_conn, index=self.store_index, ttl=self.store_ttl)
        await self._store.setup()

    async def _migrate(self) -> None:
        async with self._tx() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS waypoint_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in await db.execute_fetchall("SELECT version FROM waypoint_migrations")}
            for version, name, sql in migrations.load("sqlite"):
                if version in done:
                    continue
                for statement in migrations.statements(sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO waypoint_migrations VALUES (?, ?, ?)", (version, name, now_iso())
                )

    async def close(self) -> None:
        for conn in (self._store_conn, self._cp_conn, self._conn):
            if conn is not None:
                await conn.close()
        self._conn = self._cp_conn = self._store_conn = None
        self._process_lock.release()

    async def ping(self) -> None:
        await self._fetchone("SELECT 1")

    @property
    def checkpointer(self) -> AsyncSqliteSaver:
        assert self._checkpointer is not None, "storage is not open"
        return self._checkpointer

    @property
    def store(self) -> ImmediateSqliteStore:
        assert self._store is not None, "storage is not open"
        return self._store

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on the server connection."""
        assert self._conn is not None, "storage is not open"
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            async with self._conn.execute(sql, params) as cur:
                return await cur.fetchone()

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, params))

    # -- assistants --------------------------------------------------------
    async def put_assistant(
        self,
        assistant_id: str,
        *,
        graph_id: str,
        config: dict,
        context: dict,
        metadata: dict,
        name: str,
        description: str | None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> Record:
        now = now_iso()
        async with self._tx() as db:
            existing = await (await db.execute(
                "SELECT 1 FROM assistants WHERE assistant_id = ?", (assistant_id,)
            )).fetchone()
            if existing is None:
                await db.execute(
                    "INSERT INTO assistants (assistant_id, graph_id, config, context, metadata,"
                    " name, description, version, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (assistant_id, graph_id, serde.dumps_str(config), serde.dumps_str(context),
                     serde.dumps_str(metadata), name, description, now, now),
                )
                await db.execute(record_version(DIALECT), (assistant_id,))
            elif if_exists == "raise":
                raise AlreadyExists(f"Assistant {assistant_id} already exists")
        return await self.get_assistant(assistant_id)

    async def get_assistant(self, assistant_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM assistants WHERE assistant_id = ?", (assistant_id,))
        if row is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        return _decode(row, _ASSISTANT_JSON)

    async def update_assistant(self, assistant_id: str, fields: dict[str, Any]) -> Record:
        current = await self.get_assistant(assistant_id)
        sets = ["version = ?", "updated_at = ?"]
        params: list[Any] = [None, now_iso()]
        for col in ("graph_id", "name", "description"):
            if col in fields:
                sets.append(f"{col} = ?")
                params.append(fields[col])
        for col in ("config", "context"):
            if col in fields:
                sets.append(f"{col} = ?")
                params.append(serde.dumps_str(fields[col]))
        if "metadata" in fields:
            sets.append("metadata = ?")
            params.append(serde.dumps_str({**current["metadata"], **fields["metadata"]}))
        async with self._tx() as db:
            params[0] = (await (await db.execute(next_version(DIALECT), (assistant_id,))).fetchone())[0]
            cur = await db.execute(
                f"UPDATE assistants SET {', '.join(sets)} WHERE assistant_id = ?",
                (*params, assistant_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Assistant {assistant_id} not found")
            await db.execute(record_version(DIALECT), (assistant_id,))
        return await self.get_assistant(assistant_id)

    async def list_assistant_versions(self, assistant_id, *, metadata, limit, offset) -> list[Record]:
        sql, params = list_versions(DIALECT, metadata)
        rows = await self._fetchall(sql, (assistant_id, *params, limit, offset))
        return [_decode(r, _ASSISTANT_JSON) for r in rows]

    async def set_assistant_version(self, assistant_id: str, version: int) -> Record:
        async with self._tx() as db:
            cur = await db.execute(pin_version(DIALECT), (version, now_iso(), assistant_id, version))
        if cur.rowcount == 0:
            await self.get_assistant(assistant_id)  # NotFound naming the assistant
            raise NotFound(f"Version {version} of assistant {assistant_id} not found")
        return await self.get_assistant(assistant_id)

    async def delete_assistant(self, assistant_id: str) -> None:
        async with self._tx() as db:
            cur = await db.execute("DELETE FROM assistants WHERE assistant_id = ?", (assistant_id,))
            if cur.rowcount == 0:
                raise NotFound(f"Assistant {assistant_id} not found")

    async def search_assistants(
        self, *, graph_id, name, metadata, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        where, params = assistant_where(DIALECT, graph_id, name, metadata)
        rows = await self._fetchall(
            f"SELECT * FROM assistants{where}" + page(DIALECT, sort_by, sort_order, ASSISTANT_SORT, "assistant_id"),
            (*params, limit, offset),
        )
        return [_decode(r, _ASSISTANT_JSON) for r in rows]

    async def count_assistants(self, *, graph_id, name, metadata) -> int:
        where, params = assistant_where(DIALECT, graph_id, name, metadata)
        return (await self._fetchone(f"SELECT count(*) AS n FROM assistants{where}", params))[0]

    async def create_thread(
        self, thread_id: str, *, metadata: dict, if_exists: Literal["raise", "do_nothing"] = "raise"
    ) -> Record:
        now = now_iso()
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO threads (thread_id, created_at, updated_at, state_updated_at,"
                " metadata, ttl_minutes, ttl_strategy) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (thread_id, now, now, now, serde.dumps_str(metadata), *thread_ttl_columns(self.default_thread_ttl)),
            )
            if cur.rowcount == 0 and if_exists == "raise":
                raise AlreadyExists(f"Thread {thread_id} already exists")
        return await self.get_thread(thread_id)

    async def get_thread(self, thread_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM threads WHERE thread_id = ?", (thread_id,))
        if row is None:
            raise NotFound(f"Thread {thread_id} not found")
        return _decode(row, _THREAD_JSON)

    async def patch_thread_metadata(self, thread_id: str, metadata: dict) -> Record:
        async with self._tx() as db:
            row = await (await db.execute(
                "SELECT metadata FROM threads WHERE thread_id = ?", (thread_id,)
            )).fetchone()
            if row is None:
                raise NotFound(f"Thread {thread_id} not found")
            merged = {**serde.loads(row[0]), **metadata}
            await db.execute(
                "UPDATE threads SET metadata = ?, updated_at = ? WHERE thread_id = ?",
                (serde.dumps_str(merged), now_iso(), thread_id),
            )
        return await self.get_thread(thread_id)

    async def delete_thread(self, thread_id: str) -> None:
        async with self._tx() as db:
            cur = await db.execute("DELETE FROM threads WHERE thread_id = ?", (thread_id,))
            if cur.rowcount == 0:
                raise NotFound(f"Thread {thread_id} not found")
            await db.execute("DELETE FROM runs WHERE thread_id = ?", (thread_id,))
        await self.checkpointer.adelete_thread(thread_id)

    async def search_threads(
        self, *, ids, metadata, values, status, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        where, params = thread_where(DIALECT, ids, metadata, values, status)
        rows = await self._fetchall(
            f"SELECT * FROM threads{where}" + page(DIALECT, sort_by, sort_order, THREAD_SORT, "thread_id"),
            (*params, limit, offset),
        )
        return [_decode(r, _THREAD_JSON) for r in rows]

    async def count_threads(self, *, metadata, values, status) -> int:
        where, params = thread_where(DIALECT, None, metadata, values, status)
        return (await self._fetchone(f"SELECT count(*) AS n FROM threads{where}", params))[0]

    async def set_thread_state(
        self, thread_id: str, *, values: Any, interrupts: dict[str, list], error: Any | None, status: str
    ) -> None:
        async with self._tx() as db:
            await self._set_thread_state(
                db, thread_id, values=values, interrupts=interrupts, error=error, status=status
            )

    @staticmethod
    async def _set_thread_state(
        db: aiosqlite.Connection, thread_id: str, *, values: Any, interrupts: dict, error: Any, status: str
    ) -> None:
        now = now_iso()
        placeholders = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
        await db.execute(
            'UPDATE threads SET "values" = ?, interrupts = ?, error = ?, updated_at = ?,'
            " state_updated_at = ?,"
            " status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id"
            f" AND runs.status IN ({placeholders})) THEN 'busy' ELSE ? END"
            " WHERE thread_id = ?",
            (serde.dumps_str(values), serde.dumps_str(interrupts),
             None if error is None else serde.dumps_str(error), now, now,
             *ACTIVE_RUN_STATUSES, status, thread_id),
        )

    async def copy_thread(self, source_id: str, target_id: str) -> Record:
        now = now_iso()
        async with self._tx() as db:
            cur = await db.execute(
                'INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,'
                ' config, status, "values", interrupts, error)'
                ' SELECT ?, ?, ?, ?, metadata, config, CASE WHEN status = \'busy\' THEN \'idle\''
                ' ELSE status END, "values", interrupts, error FROM threads WHERE thread_id = ?',
                (target_id, now, now, now, source_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Thread {source_id} not found")
        # Checkpoint rows are keyed by thread_id; copy them verbatim under the new id. Column
        # lists are read from the tables, which langgraph-checkpoint-sqlite owns and migrates.
        async with self.checkpointer.lock:
            for table in ("checkpoints", "writes"):
                columns = [
                    row[1] for row in await self._cp_conn.execute_fetchall(f"PRAGMA table_info({table})")
                    if row[1] != "thread_id"
                ]
                cols = ", ".join(columns)
                # The copies' metadata (UTF-8 JSON in a BLOB) names their own thread
                # (see storage/checkpoints.py).
                select = ", ".join(
                    "CAST(json_set(CAST(metadata AS TEXT), '$.thread_id', :target) AS BLOB)"
                    if table == "checkpoints" and c == "metadata" else c
                    for c in columns
                )
                await self._cp_conn.execute(
                    f"INSERT INTO {table} (thread_id, {cols}) SELECT :target, {select} FROM {table}"
                    " WHERE thread_id = :source",
                    {"target": target_id, "source": source_id},
                )
            await self._cp_conn.commit()
        return await self.get_thread(target_id)

    # -- runs --------------------------------------------------------------
    async def create_run(
        self, run: Record, *, reject_if_busy: bool, decisions: Sequence[Record] = (),
        thread_metadata: dict | None = None, cron_tick: Record | None = None,
    ) -> tuple[Record, list[str]]:
        placeholders = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
        async with self._tx() as db:
            thread = await (await db.execute(
                "SELECT thread_id FROM threads WHERE thread_id = ?", (run["thread_id"],)
            )).fetchone()
            if thread is None:
                raise NotFound(f"Thread {run['thread_id']} not found")
            now = now_iso()  # under the thread lock: created_at follows queue order
            active = [r[0] for r in await db.execute_fetchall(
                f"SELECT run_id FROM runs WHERE thread_id = ? AND status IN ({placeholders})"
                " ORDER BY created_at",
                (run["thread_id"], *ACTIVE_RUN_STATUSES),
            )]
            if active and reject_if_busy:
                raise ThreadBusy(run["thread_id"], active)
            for decision in decisions:
                await self._check_open(db, run["thread_id"], decision)
            if cron_tick is not None:
                await self._take_tick(db, **cron_tick)
            inserted = await db.execute_fetchall(
                "INSERT INTO runs (run_id, thread_id, assistant_id, created_at, updated_at,"
                " available_at, status, metadata, kwargs, multitask_strategy)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING *",
                (run["run_id"], run["thread_id"], run["assistant_id"], now, now,
                 run.get("available_at") or now, serde.dumps_str(run.get("metadata") or {}),
                 serde.dumps_str(run.get("kwargs") or {}), run.get("multitask_strategy", "enqueue")),
            )
            for decision in decisions:
                await self._insert_decision(db, {**decision, "thread_id": run["thread_id"], "run_id": run["run_id"]})
            if thread_metadata:
                await db.execute(
                    "UPDATE threads SET metadata = json_patch(metadata, ?) WHERE thread_id = ?",
                    (serde.dumps_str(thread_metadata), run["thread_id"]),
                )
            await db.execute(
                "UPDATE threads SET status = 'busy', updated_at = ? WHERE thread_id = ?",
                (now, run["thread_id"]),
            )
        return _decode(inserted[0], _RUN_JSON), active

    # -- decisions and deadlines -------------------------------------------
    @staticmethod
    async def _check_open(db: aiosqlite.Connection, thread_id: str, decision: Record) -> None:
        """Raise `InterruptAnswered` if `decision` closes an interrupt that is closed already.
        Write transactions are serialized (BEGIN IMMEDIATE), so the check cannot race."""
        if not decision.get("closes"):
            return
        row = await (await db.execute(
            "SELECT run_id, action FROM decisions WHERE thread_id = ? AND interrupt_id = ? AND closes = 1",
            (thread_id, decision["interrupt_id"]),
        )).fetchone()
        if row is not None:
            raise InterruptAnswered(thread_id, decision["interrupt_id"], row[0], row[1])

    @staticmethod
    async def _insert_decision(db: aiosqlite.Connection, d: Record) -> None:
        await db.execute(
            "INSERT INTO decisions (decision_id, thread_id, interrupt_id, run_id, reviewer, action,"
            " value, closes, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d["decision_id"], d["thread_id"], d["interrupt_id"], d.get("run_id"), d.get("reviewer"),
             d["action"], serde.dumps_str(d.get("value")), 1 if d.get("closes") else 0,
             d.get("decided_at") or now_iso()),
        )

    async def record_decision(self, decision: Record) -> Record:
        async with self._tx() as db:
            await self._check_open(db, decision["thread_id"], decision)
            await self._insert_decision(db, decision)
        row = await self._fetchone("SELECT * FROM decisions WHERE decision_id = ?", (decision["decision_id"],))
        return self._decision(row)

    @staticmethod
    def _decision(row: aiosqlite.Row) -> Record:
        rec = _decode(row, ("value",))
        rec["closes"] = bool(rec["closes"])
        return rec

    async def list_decisions(self, thread_id: str) -> list[Record]:
        rows = await self._fetchall(
            "SELECT * FROM decisions WHERE thread_id = ? ORDER BY decided_at, rowid", (thread_id,)
        )
        return [self._decision(r) for r in rows]

    async def put_deadlines(self, deadlines: Sequence[Record]) -> None:
        if not deadlines:
            return
        async with self._tx() as db:
            for d in deadlines:
                await db.execute(
                    "INSERT OR IGNORE INTO interrupt_deadlines (thread_id, interrupt_id, run_id,"
                    " assistant_id, expires_at, on_expire, default_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d["thread_id"], d["interrupt_id"], d["run_id"], d["assistant_id"], d["expires_at"],
                     d["on_expire"], serde.dumps_str(d.get("default_value"))),
                )

    async def claim_due_deadlines(self, limit: int = 100) -> list[Record]:
        now = now_iso()
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE interrupt_deadlines SET fired_at = ? WHERE rowid IN (SELECT rowid FROM"
                " interrupt_deadlines WHERE fired_at IS NULL AND expires_at <= ? ORDER BY expires_at"
                " LIMIT ?) RETURNING *",
                (now, now, limit),
            )
        return [_decode(r, ("default_value",)) for r in rows]

    async def rollback_run(self, thread_id: str, run_id: str, *, released: Sequence[Record] = ()) -> None:
        async with self._tx() as db:
            if released:
                for decision in released:
                    await self._insert_decision(db, {**decision, "thread_id": thread_id, "run_id": run_id})
            else:
                await db.execute("DELETE FROM decisions WHERE run_id = ?", (run_id,))
            await db.execute("DELETE FROM interrupt_deadlines WHERE run_id = ?", (run_id,))
            await db.execute("DELETE FROM runs WHERE run_id = ? AND thread_id = ?", (run_id, thread_id))
        await self._delete_run_checkpoints(thread_id, run_id)

    async def get_run(self, run_id: str, thread_id: str | None = None) -> Record:
        if thread_id is None:
            row = await self._fetchone("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        else:
            row = await self._fetchone(
                "SELECT * FROM runs WHERE run_id = ? AND thread_id = ?", (run_id, thread_id)
            )
        if row is None:
            raise NotFound(f"Run {run_id} not found")
        return _decode(row, _RUN_JSON)

    async def list_runs(self, thread_id: str, *, limit: int, offset: int, status: str | None) -> list[Record]:
        sql = "SELECT * FROM runs WHERE thread_id = ?"
        params: list[Any] = [thread_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        rows = await self._fetchall(sql, (*params, limit, offset))
        return [_decode(r, _RUN_JSON) for r in rows]

    async def delete_run(self, run_id: str, thread_id: str) -> None:
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM runs WHERE run_id = ? AND thread_id = ?", (run_id, thread_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"Run {run_id} not found")

    async def claim_next_run(self, worker_id: str, lease_seconds: float) -> Record | None:
        now = now_iso()
        async with self._tx() as db:
            row = await (await db.execute(
                "SELECT run_id FROM runs AS r WHERE r.status = 'pending' AND r.available_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM runs AS o WHERE o.thread_id = r.thread_id"
                " AND o.status = 'running')"
                " AND NOT EXISTS (SELECT 1 FROM runs AS e WHERE e.thread_id = r.thread_id"
                " AND e.status = 'pending' AND e.created_at < r.created_at)"
                " ORDER BY r.created_at, r.rowid LIMIT 1",
                (now,),
            )).fetchone()
            if row is None:
                return None
            claimed = await db.execute_fetchall(
                "UPDATE runs SET status = 'running', worker_id = ?, updated_at = ?, started_at = ?,"
                " lease_expires_at = ?, attempt = attempt + 1 WHERE run_id = ? RETURNING *",
                (worker_id, now, now, now_iso(lease_seconds), row[0]),
            )
        return _decode(claimed[0], _RUN_JSON)

    async def renew_leases(self, worker_id: str, run_ids: Sequence[str], lease_seconds: float) -> None:
        if not run_ids:
            return
        async with self._tx() as db:
            await db.execute(
                f"UPDATE runs SET lease_expires_at = ? WHERE worker_id = ? AND status = 'running'"
                f" AND run_id IN ({', '.join('?' * len(run_ids))})",
                (now_iso(lease_seconds), worker_id, *run_ids),
            )

    async def orphaned_runs(self, *, at_startup: bool) -> list[Record]:
        if at_startup:  # one process owns this file: nothing can still be running
            rows = await self._fetchall("SELECT * FROM runs WHERE status = 'running'")
        else:
            rows = await self._fetchall(
                "SELECT * FROM runs WHERE status = 'running' AND lease_expires_at < ?", (now_iso(),)
            )
        return [_decode(r, _RUN_JSON) for r in rows]

    async def requeue_run(self, run_id: str, *, count_attempt: bool = True) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE runs SET status = 'pending', worker_id = NULL, lease_expires_at = NULL,"
                " started_at = NULL, updated_at = ?, attempt = attempt - ? WHERE run_id = ? AND status = 'running'",
                (now_iso(), 0 if count_attempt else 1, run_id),
            )
            return cur.rowcount > 0

    async def run_wrote_checkpoints(self, thread_id: str, run_id: str) -> bool:
        async with self.checkpointer.lock:
            async with self._cp_conn.execute(
                "SELECT 1 FROM checkpoints WHERE thread_id = ?"
                " AND json_extract(CAST(metadata AS TEXT), '$.run_id') = ? LIMIT 1",
                (thread_id, run_id),
            ) as cur:
                return await cur.fetchone() is not None

    async def finish_run(
        self, run_id: str, *, status: str, output: Any, error: Any | None,
        thread_state: dict[str, Any] | None = None,
    ) -> Record:
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE runs SET status = ?, output = ?, error = ?, updated_at = ?,"
                " lease_expires_at = NULL WHERE run_id = ? RETURNING *",
                (status, serde.dumps_str(output),
                 None if error is None else serde.dumps_str(error), now_iso(), run_id),
            )
            if not rows:
                raise NotFound(f"Run {run_id} not found")
            if thread_state is not None:
                await self._set_thread_state(db, rows[0]["thread_id"], **thread_state)
        return _decode(rows[0], _RUN_JSON)

    async def cancel_pending_run(self, run_id: str, action: Literal["interrupt", "rollback"]) -> bool:
        async with self._tx() as db:
            if action == "rollback":
                cur = await db.execute(
                    "DELETE FROM runs WHERE run_id = ? AND status = 'pending'", (run_id,)
                )
                if cur.rowcount:
                    await db.execute("DELETE FROM decisions WHERE run_id = ?", (run_id,))
            else:
                cur = await db.execute(
                    "UPDATE runs SET status = 'interrupted', updated_at = ?"
                    " WHERE run_id = ? AND status = 'pending'",
                    (now_iso(), run_id),
                )
            return cur.rowcount > 0

    async def _delete_run_checkpoints(self, thread_id: str, run_id: str) -> None:
        # langgraph copies config["metadata"] (which holds run_id) into checkpoint metadata.
        async with self.checkpointer.lock:
            await self._cp_conn.execute(
                "DELETE FROM writes WHERE thread_id = ? AND checkpoint_id IN (SELECT checkpoint_id"
                " FROM checkpoints WHERE thread_id = ?"
                " AND json_extract(CAST(metadata AS TEXT), '$.run_id') = ?)",
                (thread_id, thread_id, run_id),
            )
            await self._cp_conn.execute(
                "DELETE FROM checkpoints WHERE thread_id = ?"
                " AND json_extract(CAST(metadata AS TEXT), '$.run_id') = ?",
                (thread_id, run_id),
            )
            await self._cp_conn.commit()

    async def put_webhook(self, delivery: Record, claim_seconds: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO webhook_deliveries (delivery_id, url, body, run_id, next_attempt_at,"
                " claimed_until, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (delivery["delivery_id"], delivery["url"], delivery["body"], delivery.get("run_id"),
                 delivery["next_attempt_at"], now_iso(claim_seconds), delivery["expires_at"]),
            )

    async def claim_webhooks(self, claim_seconds: float, limit: int = 50) -> list[Record]:
        now = now_iso()
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE webhook_deliveries SET claimed_until = ? WHERE delivery_id IN (SELECT delivery_id"
                " FROM webhook_deliveries WHERE next_attempt_at <= ? AND (claimed_until IS NULL"
                " OR claimed_until < ?) ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                (now_iso(claim_seconds), now, now, limit),
            )
        return [dict(r) for r in rows]

    async def retry_webhook(self, delivery_id: str, *, next_attempt_at: str, error: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
                " claimed_until = NULL, last_error = ? WHERE delivery_id = ?",
                (next_attempt_at, error, delivery_id),
            )

    async def delete_webhook(self, delivery_id: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM webhook_deliveries WHERE delivery_id = ?", (delivery_id,))

    # -- notification deliveries -------------------------------------------
    async def put_notifications(self, deliveries: Sequence[Record]) -> int:
        async with self._tx() as db:
            before = db.total_changes
            await db.executemany(
                "INSERT OR IGNORE INTO notification_deliveries (delivery_id, thread_id, interrupt_id, event,"
                " target, target_url, title, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(d["delivery_id"], d["thread_id"], d.get("interrupt_id"), d["event"], d["target"], d["target_url"],
                  d["title"], d["body"], d["next_attempt_at"], now_iso()) for d in deliveries],
            )
            return db.total_changes - before

    async def claim_notifications(self, claim_seconds: float, limit: int = 20) -> list[Record]:
        now = now_iso()
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                "UPDATE notification_deliveries SET claimed_until = ? WHERE delivery_id IN (SELECT delivery_id"
                " FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND"
                " (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                (now_iso(claim_seconds), now, now, limit),
            )
        return [dict(r) for r in rows]

    async def settle_notification(self, delivery_id: str, *, status: str, attempted: bool,
                                  error: str | None = None, next_attempt_at: str | None = None) -> None:
        now = now_iso()
        async with self._tx() as db:
            await db.execute(
                "UPDATE notification_deliveries SET status = ?, attempts = attempts + ?, last_error = ?,"
                " next_attempt_at = coalesce(?, next_attempt_at), claimed_until = NULL,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE delivery_id = ?",
                (status, int(attempted), error, next_attempt_at, status, now, delivery_id),
            )

    async def list_notifications(self, thread_id: str) -> list[Record]:
        rows = await self._fetchall(
            "SELECT * FROM notification_deliveries WHERE thread_id = ? ORDER BY created_at, rowid", (thread_id,)
        )
        return [dict(r) for r in rows]

    async def run_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in await self._fetchall("SELECT status, count(*) FROM runs GROUP BY status")}

    async def next_run_available_at(self) -> str | None:
        row = await self._fetchone("SELECT min(available_at) FROM runs WHERE status = 'pending'")
        return row[0] if row else None

    # -- crons ---------------------------------------------------------------
    @staticmethod
    def _cron(row: aiosqlite.Row) -> Record:
        rec = _decode(row, _CRON_JSON)
        rec["enabled"] = bool(rec["enabled"])
        return rec

    @staticmethod
    def _cron_params(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: serde.dumps_str(v) if k in _CRON_JSON else v for k, v in fields.items()}

    @staticmethod
    async def _take_tick(db: aiosqlite.Connection, cron_id: str, run_date: str, next_run_date: str | None) -> None:
        cur = await db.execute(
            "UPDATE crons SET next_run_date = ? WHERE cron_id = ? AND next_run_date = ? AND enabled",
            (next_run_date, cron_id, run_date),
        )
        if cur.rowcount == 0:
            raise TickTaken(f"Tick {run_date} of cron {cron_id} was already fired")

    async def put_cron(self, cron: Record) -> Record:
        now = now_iso()
        fields = self._cron_params({**cron, "created_at": now, "updated_at": now})
        try:
            async with self._tx() as db:
                await db.execute(
                    f"INSERT INTO crons ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
                    tuple(fields.values()),
                )
        except sqlite3.IntegrityError:  # deleted meanwhile
            raise NotFound(f"Assistant {cron['assistant_id']} or thread {cron['thread_id']} not found") from None
        return await self.get_cron(cron["cron_id"])

    async def get_cron(self, cron_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM crons WHERE cron_id = ?", (cron_id,))
        if row is None:
            raise NotFound(f"Cron {cron_id} not found")
        return self._cron(row)

    async def update_cron(self, cron_id: str, fields: dict[str, Any]) -> Record:
        fields = self._cron_params({**fields, "updated_at": now_iso()})
        async with self._tx() as db:
            cur = await db.execute(
                f"UPDATE crons SET {', '.join(f'{k} = ?' for k in fields)} WHERE cron_id = ?",
                (*fields.values(), cron_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Cron {cron_id} not found")
        return await self.get_cron(cron_id)

    async def delete_cron(self, cron_id: str) -> None:
        async with self._tx() as db:
            if (await db.execute("DELETE FROM crons WHERE cron_id = ?", (cron_id,))).rowcount == 0:
                raise NotFound(f"Cron {cron_id} not found")

    async def search_crons(
        self, *, assistant_id, thread_id, enabled, metadata, limit, offset, sort_by, sort_order
    ) -> list[Record]:
        where, params = cron_where(DIALECT, assistant_id, thread_id, enabled, metadata)
        rows = await self._fetchall(
            f"SELECT * FROM crons{where}" + page(DIALECT, sort_by, sort_order, CRON_SORT, "cron_id"),
            (*params, limit, offset),
        )
        return [self._cron(r) for r in rows]

    async def count_crons(self, *, assistant_id, thread_id, metadata) -> int:
        where, params = cron_where(DIALECT, assistant_id, thread_id, None, metadata)
        return (await self._fetchone(f"SELECT count(*) FROM crons{where}", params))[0]

    async def due_crons(self, now: str, limit: int = 100) -> list[Record]:
        rows = await self._fetchall(
            "SELECT * FROM crons WHERE enabled AND next_run_date <= ? ORDER BY next_run_date LIMIT ?",
            (now, limit),
        )
        return [self._cron(r) for r in rows]

    async def next_cron_run_date(self) -> str | None:
        return (await self._fetchone("SELECT min(next_run_date) FROM crons WHERE enabled"))[0]

    async def advance_cron(self, cron_id: str, run_date: str, next_run_date: str | None) -> bool:
        try:
            async with self._tx() as db:
                await self._take_tick(db, cron_id, run_date, next_run_date)
        except TickTaken:
            return False
        return True
    # -- retention: thread TTL, keep_latest pruning, one sweeper at a time ----------------
    async def set_thread_ttl(self, thread_id: str, ttl: dict | None) -> None:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE threads SET ttl_minutes = ?, ttl_strategy = ?, updated_at = ? WHERE thread_id = ?",
                (*thread_ttl_columns(ttl), now_iso(), thread_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Thread {thread_id} not found")

    async def get_thread_ttl(self, thread_id: str) -> Record | None:
        row = await self._fetchone(
            "SELECT ttl_minutes, ttl_strategy, updated_at FROM threads WHERE thread_id = ?", (thread_id,)
        )
        if row is None:
            raise NotFound(f"Thread {thread_id} not found")
        return thread_ttl_info(dict(row))

    async def expired_threads(self, limit: int) -> list[Record]:
        rows = await self._fetchall(
            f"SELECT thread_id, ttl_strategy AS strategy FROM threads WHERE {_EXPIRED}"
            " AND (CASE WHEN ttl_strategy = 'keep_latest'"
            " THEN ttl_pruned_at IS NULL OR ttl_pruned_at < updated_at"
            " ELSE NOT EXISTS (SELECT 1 FROM interrupt_deadlines AS d"
            " WHERE d.thread_id = threads.thread_id AND d.fired_at IS NULL) END)"
            " ORDER BY updated_at LIMIT ?",
            (now_iso(), limit),
        )
        return [dict(r) for r in rows]

    async def delete_expired_thread(self, thread_id: str) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                f"DELETE FROM threads WHERE thread_id = ? AND {_EXPIRED}", (thread_id, now_iso())
            )
            if cur.rowcount == 0:
                return False
            await db.execute("DELETE FROM runs WHERE thread_id = ?", (thread_id,))
        await self.checkpointer.adelete_thread(thread_id)
        return True

    async def prune_thread_checkpoints(self, thread_id: str) -> bool:
        row = await self._fetchone("SELECT status FROM threads WHERE thread_id = ?", (thread_id,))
        if row is None or row[0] == "busy":
            return False
        async with self.checkpointer.lock:  # the checkpointer writes nothing meanwhile
            rows = await self._cp_conn.execute_fetchall(
                "SELECT checkpoint_ns, checkpoint_id,"
                " json_extract(CAST(metadata AS TEXT), '$.parents') FROM checkpoints WHERE thread_id = ?",
                (thread_id,),
            )
            drop = _unkept_checkpoints([(r[0], r[1], serde.loads(r[2]) if r[2] else {}) for r in rows])
            for table in ("writes", "checkpoints"):
                await self._cp_conn.executemany(
                    f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                    [(thread_id, ns, cid) for ns, cid in drop],
                )
            await self._cp_conn.commit()
        async with self._tx() as db:
            await db.execute("UPDATE threads SET ttl_pruned_at = ? WHERE thread_id = ?", (now_iso(), thread_id))
        return True

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        lock = self._exclusive.setdefault(name, asyncio.Lock())
        if lock.locked():  # one process serves the file: only this process's other tasks compete
            yield False
            return
        async with lock:
            yield True


#: SQL condition: the thread has a TTL that has passed (bound parameter: now) and no active run.
_EXPIRED = (
    "ttl_minutes IS NOT NULL AND status <> 'busy'"
    " AND julianday(updated_at) + ttl_minutes / 1440.0 <= julianday(?)"
)


def _unkept_checkpoints(rows: list[tuple[str, str, dict]]) -> list[tuple[str, str]]:
    """`(checkpoint_ns, checkpoint_id)` of the checkpoints `keep_latest` deletes, from every
    checkpoint `(ns, id, metadata.parents)` of a thread: all but the latest (highest id, as
    LangGraph orders them) of each namespace, and whole namespaces of subgraph calls (`:` in
    the namespace) made from an older root checkpoint than the latest."""
    heads: dict[str, tuple[str, dict]] = {}
    for ns, cid, parents in rows:
        if ns not in heads or cid > heads[ns][0]:
            heads[ns] = (cid, parents)
    root = heads.get("", (None, {}))[0]
    kept = {
        (ns, cid) for ns, (cid, parents) in heads.items()
        if ":" not in ns or (parents or {}).get("") == root
    }
    return [(ns, cid) for ns, cid, _ in rows if (ns, cid) not in kept]
