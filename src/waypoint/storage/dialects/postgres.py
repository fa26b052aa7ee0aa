"""PostgreSQL: all durable state, shared by many processes.

Concurrency rules:
- migrations run under a session advisory lock, so processes may start together;
- a run is claimed with `FOR UPDATE SKIP LOCKED` on its row (exactly one worker gets it)
  while holding its thread's row lock (one running run per thread across the cluster);
- run creation and decisions lock the thread row, so `reject` and "already answered" see
  every concurrent writer.
Each storage operation runs in one greenlet over psycopg's async driver (SQLAlchemy's
`run_sync` machinery, no thread): reads and single statements on autocommit connections (no BEGIN/COMMIT round
trips), several statements in one transaction. langgraph's checkpointer and store keep their
own psycopg pool, as they require.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
import sqlalchemy as sa
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn
from langgraph.store.postgres.aio import AsyncPostgresStore

from waypoint import serde
from waypoint.storage.base import ExtensionMissing, StorageError, UnsupportedValue
from waypoint.storage.checkpoints import PostgresCheckpointer
from waypoint.storage.dialects import Dialect, Mode
from waypoint.storage.schema import Json

T = TypeVar("T")

#: Advisory lock key serializing schema set-up across processes ("waypoint" in ASCII).
MIGRATION_LOCK_KEY = 0x776179706F696E74
#: Seconds a call waits for a database connection before failing with `PoolTimeout` (a 503).
POOL_TIMEOUT_SECONDS = 10.0


#: Seconds a pooled server-row connection may sit unused before checkout pings it first (one
#: round trip): a connection broken while PostgreSQL restarted is then replaced instead of
#: failing a request, while a busy server (connections back within milliseconds) pays nothing.
IDLE_PING_SECONDS = 1.0


def _is_lost_connection(exc: BaseException) -> bool:
    """A server shutdown (SQLSTATE 57P…), a connection exception (08…) or a dropped socket
    (no SQLSTATE): the connection is gone, not the statement at fault."""
    return isinstance(exc, psycopg.OperationalError) and (
        exc.sqlstate is None or exc.sqlstate.startswith(("57P", "08")))


class _ConnectionWatch:
    """Disconnect handling for the server-row engines, cheaper than a ping per checkout
    (`pool_pre_ping`): a connection is pinged on checkout only when it sat idle over
    `IDLE_PING_SECONDS` or was returned before any engine last lost a connection (PostgreSQL
    went away meanwhile); a failed ping makes the pool take another (SQLAlchemy's `checkout`
    event raising `DisconnectionError`)."""

    def __init__(self) -> None:
        self.lost_at = 0.0  # time.monotonic() of the last lost connection, any engine

    def watch(self, engine: AsyncEngine) -> None:
        sync, dialect = engine.sync_engine, engine.sync_engine.dialect

        @sa.event.listens_for(sync, "checkin")
        def returned(dbapi_connection, record) -> None:
            record.info["returned_at"] = time.monotonic()

        @sa.event.listens_for(sync, "handle_error")
        def lost(context) -> None:
            # psycopg's async driver may report a lost connection that SQLAlchemy does not
            # take for a disconnect: say so, and have every engine check its idle connections.
            if context.is_disconnect or _is_lost_connection(context.original_exception):
                context.is_disconnect = True
                self.lost_at = time.monotonic()

        @sa.event.listens_for(sync, "checkout")
        def ping_if_stale(dbapi_connection, record, proxy) -> None:
            returned_at = record.info.get("returned_at")
            if returned_at is None:
                return  # a new connection
            if time.monotonic() - returned_at <= IDLE_PING_SECONDS and returned_at > self.lost_at:
                return
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise sa.exc.DisconnectionError(f"pooled connection lost: {exc}") from exc


class _CheckpointPool(AsyncConnectionPool):
    """psycopg's pool for langgraph's checkpointer and store, pinging a connection on
    checkout only when it sat idle over `IDLE_PING_SECONDS` or was returned before a
    server-row engine last lost a connection (`_ConnectionWatch`), instead of on every
    checkout (`check=check_connection`: one more round trip and one more PostgreSQL
    transaction per checkpointer call). A connection that fails the ping is replaced."""

    def __init__(self, uri: str, watch: _ConnectionWatch, **options: Any):
        self._returned_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._watch = watch
        super().__init__(uri, check=self._check_if_stale, **options)

    async def putconn(self, conn: Any) -> None:
        now = time.monotonic()
        if conn.broken or conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.UNKNOWN:
            self._watch.lost_at = now  # PostgreSQL went away: every idle connection is suspect
        self._returned_at[conn] = now
        await super().putconn(conn)

    async def _check_if_stale(self, conn: Any) -> None:
        returned_at = self._returned_at.get(conn)
        if (returned_at is not None and time.monotonic() - returned_at <= IDLE_PING_SECONDS
                and returned_at > self._watch.lost_at):
            return
        await AsyncConnectionPool.check_connection(conn)


def _call(engine: sa.Engine, fn: Callable[[sa.Connection], T], retry: bool) -> T:
    # Checkout, statements, commit and checkin in one greenlet: one switch per round trip.
    # With `retry`, an operation whose connection turned out dead before its commit (nothing
    # of it took effect) runs once more on a fresh connection.
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            result = fn(conn)
        except sa.exc.DBAPIError as exc:
            if not (retry and exc.connection_invalidated):
                raise
        else:
            transaction.commit()  # a failed commit is never retried: its outcome is unknown
            return result
    with engine.begin() as conn:
        return fn(conn)


class PostgresDialect(Dialect):
    """The PostgreSQL database at `uri` (`postgresql://…` or `postgres://…`).

    Connections per process: up to `pool_size` autocommit ones and `pool_size // 2`
    transaction ones for server rows, and up to `langgraph_pool_size` for checkpoints and store.
    """

    name = "postgresql"
    single_process = False
    serializes_writers = False
    writable_ctes = True
    checkpoint_tables = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
    checkpoint_writes_table = "checkpoint_writes"

    def __init__(self, uri: str, *, pool_size: int = 10, langgraph_pool_size: int = 20,
                 store_index: dict | None = None, store_ttl: dict | None = None):
        self.uri = uri
        self.store_index = store_index
        self.store_ttl = store_ttl
        self.pool_size = pool_size
        self.langgraph_pool_size = langgraph_pool_size
        self._watch = _ConnectionWatch()
        self._auto: AsyncEngine | None = None
        self._tx: AsyncEngine | None = None
        self._pool: AsyncConnectionPool | None = None
        self._checkpointer: PostgresCheckpointer | None = None
        self._store: AsyncPostgresStore | None = None

    # -- lifecycle ---------------------------------------------------------
    def _engine(self, size: int, **options: Any) -> AsyncEngine:
        url = sa.make_url(self.uri).set(drivername="postgresql+psycopg")
        # A fixed pool: overflow connections would be closed on return and reopened under
        # load, each a new PostgreSQL backend. Last in, first out: a lightly loaded process
        # reuses its recently used connections, which need no ping (`_ConnectionWatch`).
        engine = create_async_engine(
            url, pool_size=size, max_overflow=0, pool_timeout=POOL_TIMEOUT_SECONDS, pool_use_lifo=True,
            json_serializer=serde.dumps_str, json_deserializer=serde.loads, **options,
        )
        self._watch.watch(engine)
        return engine

    async def open(self) -> None:
        # Autocommit connections never hold a transaction: nothing to reset on checkin.
        self._auto = self._engine(self.pool_size, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        self._tx = self._engine(max(2, self.pool_size // 2))
        self._pool = _CheckpointPool(
            self.uri, self._watch, min_size=2, max_size=self.langgraph_pool_size, open=False,
            # Checked on checkout when idle: connections broken while PostgreSQL was down are
            # replaced instead of failing the request (the pool recovers by itself).
            timeout=POOL_TIMEOUT_SECONDS,
            # What langgraph-checkpoint-postgres requires of its connections.
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        try:
            await self._pool.open(wait=True)
        except BaseException:
            await self.close()
            raise
        self._checkpointer = PostgresCheckpointer(self._pool)
        self._store = AsyncPostgresStore(self._pool, index=self.store_index, ttl=self.store_ttl)

    async def migrate(self, upgrade: Callable[[sa.Connection], None]) -> None:
        lock = sa.text("SELECT pg_try_advisory_lock(:key)").bindparams(key=MIGRATION_LOCK_KEY)
        unlock = sa.text("SELECT pg_advisory_unlock(:key)").bindparams(key=MIGRATION_LOCK_KEY)
        async with self._auto.connect() as conn:
            # Poll rather than block: a statement waiting on the lock would hold a snapshot
            # that the checkpointer's CREATE INDEX CONCURRENTLY waits for (a deadlock).
            while not (await conn.execute(lock)).scalar():
                await asyncio.sleep(0.1)
            try:
                if self.store_index:
                    await _require_pgvector(conn)
                await self.run(upgrade, "transaction")
                await self.checkpointer.setup()
                await self.store.setup()
            finally:
                await conn.execute(unlock)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        for engine in (self._auto, self._tx):
            if engine is not None:
                await engine.dispose()
        self._auto = self._tx = None

    @property
    def checkpointer(self) -> PostgresCheckpointer:
        assert self._checkpointer is not None, "storage is not open"
        return self._checkpointer

    @property
    def store(self) -> AsyncPostgresStore:
        assert self._store is not None, "storage is not open"
        return self._store

    # -- running operations --------------------------------------------------
    async def run(self, fn: Callable[[sa.Connection], T], mode: Mode, *, bulk: bool = False) -> T:
        engine = self._tx if mode == "transaction" else self._auto
        assert engine is not None, "storage is not open"
        try:
            # A read has no effect, and a transaction's statements none before its commit:
            # both may be retried; an autocommitted write may not (it may have taken effect).
            return await greenlet_spawn(_call, engine.sync_engine, fn, mode != "statement")
        except sa.exc.SQLAlchemyError as exc:
            raise self.unwrap(exc) from None

    def pool_stats(self) -> dict[str, int]:
        # Server rows (two SQLAlchemy pools) and langgraph's checkpointer and store (psycopg's).
        size = idle = waiting = 0
        for engine in (self._auto, self._tx):
            if engine is not None:
                pool = engine.sync_engine.pool
                size += pool.checkedin() + pool.checkedout()
                idle += pool.checkedin()
        if self._pool is not None:
            stats = self._pool.get_stats()
            size += stats.get("pool_size", 0)
            idle += stats.get("pool_available", 0)
            waiting += stats.get("requests_waiting", 0)
        return {"size": size, "idle": idle, "in_use": size - idle, "waiting": waiting}

    def unwrap(self, exc: sa.exc.SQLAlchemyError) -> BaseException:
        if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection in time: a 503
            return psycopg_pool.PoolTimeout(str(exc))
        return super().unwrap(exc)

    def translate(self, exc: sa.exc.DBAPIError) -> StorageError | None:
        # jsonb refuses \u0000 (22P05) and text columns refuse NUL bytes (psycopg, client side).
        orig = exc.orig
        if isinstance(orig, psycopg.errors.UntranslatableCharacter) or (
            isinstance(orig, psycopg.DataError) and "NUL" in str(orig)
        ):
            return UnsupportedValue(
                "PostgreSQL cannot store the NUL character (\\u0000) in text or JSON: "
                + str(orig).splitlines()[0]
            )
        return None

    # -- SQL that differs --------------------------------------------------
    def lock_rows(self, stmt: sa.Select, *, skip_locked: bool = False) -> sa.Select:
        return stmt.with_for_update(skip_locked=skip_locked)

    def json_contains(self, column: sa.ColumnElement, document: Any) -> sa.ColumnElement[bool]:
        return column.op("@>", return_type=sa.Boolean)(document)

    def json_merge(self, column: sa.ColumnElement, patch: Any) -> sa.ColumnElement:
        return column.op("||", return_type=Json)(patch)

    def insert_ignore(self, table: sa.Table) -> sa.Insert:
        return postgresql.insert(table).on_conflict_do_nothing()

    def insertion_order(self, table: sa.FromClause) -> sa.ColumnElement:
        return sa.literal_column(f"{table.name}.seq")

    def checkpoint_run_id(self, checkpoints: sa.FromClause) -> sa.ColumnElement:
        return checkpoints.c.metadata.op("->>", return_type=sa.Text)(sa.literal_column("'run_id'"))

    def checkpoint_metadata_for(self, metadata: sa.ColumnElement, thread_id: sa.BindParameter) -> sa.ColumnElement:
        return metadata.op("||")(sa.func.jsonb_build_object(sa.literal_column("'thread_id'"), sa.cast(thread_id, sa.Text)))

    def minutes_passed(self, start: sa.ColumnElement, minutes: sa.ColumnElement, now: Any) -> sa.ColumnElement[bool]:
        stamp = postgresql.TIMESTAMP(timezone=True)
        return sa.cast(start, stamp) + minutes * sa.literal_column("interval '1 minute'") <= sa.cast(now, stamp)

    # -- retention and operations --------------------------------------------
    async def prune_checkpoints(self, thread_id: str) -> None:
        # langgraph's own keep_latest: one snapshot, so what a run saves meanwhile is kept.
        await self.checkpointer.aprune([thread_id], strategy="keep_latest")

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        key = MIGRATION_LOCK_KEY ^ zlib.crc32(name.encode())
        async with self._auto.connect() as conn:  # the lock lives as long as this session holds it
            mine = bool((await conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
            try:
                yield mine
            finally:
                if mine:
                    await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


async def _require_pgvector(conn) -> None:
    """Raise `ExtensionMissing` unless this PostgreSQL can create pgvector's `vector`
    (`conn`: a SQLAlchemy `AsyncConnection`)."""
    available = (await conn.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"))).first()
    if available is None:
        major = int((await conn.execute(sa.text("SHOW server_version_num"))).scalar()) // 10000
        raise ExtensionMissing(
            "store.index in langgraph.json needs PostgreSQL's pgvector extension ('vector'), which this "
            f"PostgreSQL {major} server does not have. Install it on the database server (Debian/Ubuntu: "
            f"apt-get install postgresql-{major}-pgvector; or build it from pgvector's sources), then "
            "restart Waypoint; or remove store.index to serve the store without semantic search."
        )
