"""SQLite: one database file in WAL mode, served by one process.

Server rows have ONE connection (stdlib `sqlite3`), owned by one thread: each storage
operation is one hop to that thread, and SQLite serializes writers anyway; with
`synchronous=NORMAL` a write is made on the event loop's thread instead while that thread is
idle, and so are the checkpointer's calls (`SqliteCheckpointer`'s `inline`), unless the write
would wait for the write lock (`sqlite_lock.py`). Writes never fail
with `database is locked`, by design:
- each write transaction starts with `BEGIN IMMEDIATE`, taking the file's write lock before
  it reads; the checkpointer's and the store's connections wait for that lock too (a busy
  timeout), and the store's transactions also begin with `BEGIN IMMEDIATE`
  (`ImmediateSqliteStore`): a transaction that reads and then writes under a deferred
  `BEGIN` cannot wait for the lock (SQLite answers `SQLITE_BUSY` at once, whatever the timeout);
- `synchronous=NORMAL` in WAL mode: a commit survives the process's death (`kill -9`);
  `?synchronous=full` on the URI syncs each commit to disk (it survives a power loss too).
One process per file (`ProcessLock`). JSON containment and merge are Python functions on the
connection (storage/containment.py), answering as PostgreSQL's jsonb `@>` and `||` do.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from array import array
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy as sa
from langgraph.store.sqlite.aio import AsyncSqliteStore
from sqlalchemy.dialects import sqlite

from waypoint import serde
from waypoint.storage import containment
from waypoint.storage.checkpoints import SqliteCheckpointer
from waypoint.storage.dialects import Dialect, Mode
from waypoint.storage.filelock import ProcessLock
from waypoint.storage.schema import Json
from waypoint.storage.sqlite_lock import BUSY_TIMEOUT_MS, is_busy, without_waiting

T = TypeVar("T")



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


class SqliteDialect(Dialect):
    """The SQLite file at `path` (created with its folder if missing)."""

    name = "sqlite"
    single_process = True
    serializes_writers = True
    checkpoint_tables = ("checkpoints", "writes")
    checkpoint_writes_table = "writes"

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", store_index: dict | None = None,
                 store_ttl: dict | None = None):
        self.path = Path(path)
        #: SQLite's `synchronous` on every connection: NORMAL (in WAL mode a commit survives
        #: the process's death) or FULL (each commit synced to disk: it survives a power loss).
        self.synchronous = "FULL" if synchronous.upper() == "FULL" else "NORMAL"
        self.store_index = store_index
        self.store_ttl = store_ttl
        self._exclusive: dict[str, asyncio.Lock] = {}
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None  # used by one thread at a time (see `run`)
        self._executor: ThreadPoolExecutor | None = None
        self._raw: sqlite3.Connection | None = None  # the DBAPI connection under `_conn`
        #: The last operation handed to the database thread (see `run`).
        self._last: Future | None = None
        #: With `synchronous=FULL` each commit syncs to disk: those never block the event loop.
        self._inline = self.synchronous == "NORMAL"
        self._cp_conn: aiosqlite.Connection | None = None
        self._store_conn: aiosqlite.Connection | None = None
        self._checkpointer: SqliteCheckpointer | None = None
        self._store: ImmediateSqliteStore | None = None
        self._process_lock = ProcessLock(self.path)

    # -- lifecycle ---------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # Autocommit at the driver: Waypoint issues BEGIN IMMEDIATE itself for writes.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON",
                       f"synchronous={self.synchronous}"):
            conn.execute(f"PRAGMA {pragma}")
        containment.register_sqlite(conn)
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._process_lock.acquire()  # raises DatabaseInUse while another process serves the file
        try:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="waypoint-sqlite")
            self._engine = sa.create_engine(
                "sqlite://", creator=self._connect, poolclass=sa.pool.StaticPool,
                json_serializer=serde.dumps_str, json_deserializer=serde.loads,
            )
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.connect)
            self._raw = self._conn.connection.driver_connection
        except BaseException:
            await self.close()
            raise

    async def migrate(self, upgrade: Callable[[sa.Connection], None]) -> None:
        # One BEGIN IMMEDIATE transaction; the process lock keeps other processes away.
        await self.run(upgrade, "transaction")
        # The checkpointer commits its own implicit transactions; each starts with a write.
        # Used from the event loop's thread too (`inline`), never at once with its own thread.
        self._cp_conn = await aiosqlite.connect(self.path, check_same_thread=False)
        await self._cp_conn.execute("PRAGMA journal_mode=WAL")
        await self._cp_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._cp_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._checkpointer = SqliteCheckpointer(self._cp_conn, inline=self._inline)
        await self._checkpointer.setup()
        # The store issues its own BEGIN/COMMIT: it needs an autocommit connection.
        self._store_conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self._store_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._store_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        # store_vectors rows cascade with their item (deletes, TTL sweeps) only with foreign keys on.
        await self._store_conn.execute("PRAGMA foreign_keys=ON")
        self._store = ImmediateSqliteStore(self._store_conn, index=self.store_index, ttl=self.store_ttl)
        await self._store.setup()

    def _dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._engine is not None:
            self._engine.dispose()

    async def close(self) -> None:
        for conn in (self._store_conn, self._cp_conn):
            if conn is not None:
                await conn.close()
        self._store_conn = self._cp_conn = None
        if self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._dispose)
            self._executor.shutdown(wait=True)
        self._executor = self._conn = self._engine = self._raw = None
        self._process_lock.release()

    @property
    def checkpointer(self) -> SqliteCheckpointer:
        assert self._checkpointer is not None, "storage is not open"
        return self._checkpointer

    @property
    def store(self) -> ImmediateSqliteStore:
        assert self._store is not None, "storage is not open"
        return self._store

    # -- running operations --------------------------------------------------
    def _begin_immediate(self) -> None:
        """`BEGIN IMMEDIATE`, in a transaction SQLAlchemy knows of (its `commit()` and
        `rollback()` end it), issued on the DBAPI connection: `exec_driver_sql` would cost
        a statement's execution context. Raises `sa.exc.OperationalError` as it would."""
        self._conn.begin()
        try:
            self._raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc

    def _call(self, fn: Callable[[sa.Connection], T], write: bool) -> T:
        conn = self._conn
        try:
            if write:
                self._begin_immediate()
            result = fn(conn)
            conn.commit()  # may fail too (a full disk shows at commit in WAL mode)
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                conn.rollback()
            raise
        return result

    def _call_inline(self, fn: Callable[[sa.Connection], T]) -> T | _Busy:
        """The write `_call` on the event loop's thread, without waiting for the write lock:
        `_BUSY` when another connection (the checkpointer's, the store's) holds it, nothing
        done, for the caller to hop to the database thread, which waits for it."""
        conn = self._conn
        with without_waiting(self._raw):
            try:
                self._begin_immediate()
            except sa.exc.OperationalError as exc:
                with contextlib.suppress(Exception):
                    conn.rollback()
                if is_busy(exc):
                    return _BUSY
                raise
            try:
                result = fn(conn)
                conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
            return result

    async def run(self, fn: Callable[[sa.Connection], T], mode: Mode, *, bulk: bool = False) -> T:
        assert self._executor is not None, "storage is not open"
        try:
            # A server-row write takes microseconds; a hop to the database thread and back
            # costs more (a future per side, two thread wake-ups, GIL hand-offs). So while
            # that thread is idle, which keeps every operation in the order it was asked
            # for, a write runs here unless it would wait for the write lock. Reads (the
            # searches and lists, which may scan) and bulk writes stay on the thread: they
            # never block the loop.
            if mode != "read" and not bulk and self._inline and (self._last is None or self._last.done()):
                result = self._call_inline(fn)
                if result is not _BUSY:
                    return result
            # The executor runs in submission order: once its last operation is done, all
            # are (also those whose caller was cancelled meanwhile).
            self._last = self._executor.submit(self._call, fn, mode != "read")
            return await asyncio.wrap_future(self._last)
        except sa.exc.SQLAlchemyError as exc:
            raise self.unwrap(exc) from None

    # -- SQL that differs --------------------------------------------------
    def lock_rows(self, stmt: sa.Select, *, skip_locked: bool = False) -> sa.Select:
        # Write transactions are serialized (one writer, BEGIN IMMEDIATE): no row locks.
        return stmt

    def json_contains(self, column: sa.ColumnElement, document: Any) -> sa.ColumnElement[bool]:
        return getattr(sa.func, containment.SQLITE_FUNCTION)(column, document) == 1

    def json_merge(self, column: sa.ColumnElement, patch: Any) -> sa.ColumnElement:
        return getattr(sa.func, containment.SQLITE_MERGE_FUNCTION)(column, patch, type_=Json)

    def insert_ignore(self, table: sa.Table) -> sa.Insert:
        return sqlite.insert(table).on_conflict_do_nothing()

    def insertion_order(self, table: sa.FromClause) -> sa.ColumnElement:
        return sa.literal_column(f"{table.name}.rowid")

    def checkpoint_run_id(self, checkpoints: sa.FromClause) -> sa.ColumnElement:
        # langgraph-checkpoint-sqlite keeps metadata as UTF-8 JSON in a BLOB.
        return sa.func.json_extract(sa.cast(checkpoints.c.metadata, sa.Text), "$.run_id")

    def checkpoint_metadata_for(self, metadata: sa.ColumnElement, thread_id: sa.BindParameter) -> sa.ColumnElement:
        return sa.cast(sa.func.json_set(sa.cast(metadata, sa.Text), "$.thread_id", thread_id), sa.LargeBinary)

    def minutes_passed(self, start: sa.ColumnElement, minutes: sa.ColumnElement, now: Any) -> sa.ColumnElement[bool]:
        return sa.func.julianday(start) + minutes / 1440.0 <= sa.func.julianday(now)

    # -- retention and operations --------------------------------------------
    async def prune_checkpoints(self, thread_id: str) -> None:
        # langgraph-checkpoint-sqlite has no prune: the same rule here, on its own connection
        # under its lock (the checkpointer writes nothing meanwhile).
        conn = self._cp_conn
        async with self.checkpointer.lock:
            rows = await conn.execute_fetchall(
                "SELECT checkpoint_ns, checkpoint_id, json_extract(CAST(metadata AS TEXT), '$.parents')"
                " FROM checkpoints WHERE thread_id = ?",
                (thread_id,),
            )
            drop = _unkept_checkpoints([(r[0], r[1], serde.loads(r[2]) if r[2] else {}) for r in rows])
            for table in ("writes", "checkpoints"):
                await conn.executemany(
                    f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                    [(thread_id, ns, cid) for ns, cid in drop],
                )
            await conn.commit()

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        lock = self._exclusive.setdefault(name, asyncio.Lock())
        if lock.locked():  # one process serves the file: only this process's other tasks compete
            yield False
            return
        async with lock:
            yield True


class _Busy:
    """`SqliteDialect._call_inline`'s answer when it could not take the write lock at once."""


_BUSY = _Busy()


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
