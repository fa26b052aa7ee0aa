"""What differs between the databases `SqlStorage` runs on, each part a small named method.

`SqlStorage` (storage/sql.py) writes every storage operation once, as one synchronous
function over a SQLAlchemy Core `Connection`; a `Dialect` runs it and supplies the few
pieces of SQL that differ:

- `run(fn, mode)`: one operation, one hop off the event loop, one transaction. Modes:
  `read` (sees every committed write), `statement` (one write, atomic by itself),
  `transaction` (several statements, atomic). SQLite: one writer thread on the stdlib
  driver, `BEGIN IMMEDIATE`; PostgreSQL: `AsyncConnection.run_sync` over psycopg's async
  driver, autocommit for reads and single statements;
- `migrate(fn)`: the schema upgrade, serialized across processes (advisory lock);
- `lock_rows`: row locks (`FOR UPDATE [SKIP LOCKED]`) for the run queue and thread locks;
- `json_contains` / `json_merge`: JSON containment (`@>`) and shallow merge (`||`);
- `insert_ignore`: upserts that keep the existing row (`ON CONFLICT DO NOTHING`);
- `insertion_order`: the column that orders rows by insertion (`seq` or `rowid`);
- `checkpoint_run_id` / `checkpoint_metadata_for`: where langgraph's checkpointer of that
  database keeps the run id and thread id of a checkpoint;
- the langgraph checkpointer and store of that database;
- `minutes_passed`: "a time plus some minutes is past" (thread TTLs);
- `prune_checkpoints`, `exclusive`, `pool_stats`: retention's checkpoint pruning, one
  sweeper at a time across processes, and the connection pool gauges of `/metrics`;
- `translate`: database errors that mean "bad input" rather than "server fault".
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import sqlalchemy as sa
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from waypoint.storage.base import StorageError

T = TypeVar("T")
Mode = Literal["read", "statement", "transaction"]


class Dialect(abc.ABC):
    """Connections and dialect-specific SQL of one database (see the module docstring)."""

    #: SQLAlchemy dialect name ("sqlite", "postgresql").
    name: str
    #: One process owns the database: at start-up no other worker can hold a `running` run.
    single_process: bool
    #: Write transactions run one at a time (what a transaction read stays true until it ends).
    serializes_writers: bool
    #: langgraph checkpointer tables holding rows keyed by `thread_id` (copied with a thread).
    checkpoint_tables: tuple[str, ...]
    #: The checkpointer's table of pending writes (deleted with a rolled-back run's checkpoints).
    checkpoint_writes_table: str
    #: Statements may hold data-modifying CTEs (`WITH x AS (UPDATE …) INSERT …`): several
    #: writes in one round trip.
    writable_ctes: bool = False

    # -- lifecycle ---------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create the langgraph checkpointer and store (not yet set up)."""

    @abc.abstractmethod
    async def migrate(self, upgrade: Callable[[sa.Connection], None]) -> None:
        """Run `upgrade` in one transaction, then set up langgraph's own tables, holding a
        lock that makes processes starting together take turns."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    @property
    @abc.abstractmethod
    def checkpointer(self) -> BaseCheckpointSaver: ...

    @property
    @abc.abstractmethod
    def store(self) -> BaseStore: ...

    # -- running operations --------------------------------------------------
    @abc.abstractmethod
    async def run(self, fn: Callable[[sa.Connection], T], mode: Mode, *, bulk: bool = False) -> T:
        """`fn(connection)` in `mode` (see the module docstring), committed when it returns,
        rolled back when it raises. `bulk`: it may touch many rows (deletes that cascade,
        copies): never run on the event loop's thread (SQLite runs small writes there).
        Database errors that mean bad input are raised as `StorageError`s (`translate`),
        other driver errors as the driver's own exception (psycopg, sqlite3), which the
        service layer classifies."""

    # -- SQL that differs --------------------------------------------------
    @abc.abstractmethod
    def lock_rows(self, stmt: sa.Select, *, skip_locked: bool = False) -> sa.Select:
        """`stmt` locking the rows it selects until the transaction ends."""

    @abc.abstractmethod
    def json_contains(self, column: sa.ColumnElement, document: Any) -> sa.ColumnElement[bool]:
        """`column` contains `document` (a bound value or parameter) as jsonb `@>` defines it."""

    @abc.abstractmethod
    def json_merge(self, column: sa.ColumnElement, patch: Any) -> sa.ColumnElement:
        """`column`'s object with `patch`'s top-level keys set (jsonb `||`, not a deep merge)."""

    @abc.abstractmethod
    def insert_ignore(self, table: sa.Table) -> sa.Insert:
        """`INSERT … ON CONFLICT DO NOTHING` into `table`."""

    @abc.abstractmethod
    def insertion_order(self, table: sa.FromClause) -> sa.ColumnElement:
        """A column that grows with each row inserted into `table` (or an alias of it)."""

    @abc.abstractmethod
    def checkpoint_run_id(self, checkpoints: sa.FromClause) -> sa.ColumnElement:
        """The `run_id` a checkpoint's metadata names (langgraph copies the run's
        `config["metadata"]`, which holds it, into every checkpoint it writes)."""

    @abc.abstractmethod
    def checkpoint_metadata_for(self, metadata: sa.ColumnElement, thread_id: sa.BindParameter) -> sa.ColumnElement:
        """A checkpoint's `metadata` naming `thread_id` as its thread (copies of a thread)."""

    @abc.abstractmethod
    def minutes_passed(self, start: sa.ColumnElement, minutes: sa.ColumnElement, now: Any) -> sa.ColumnElement[bool]:
        """`start` (ISO-8601 text) plus `minutes` (a number) is at or before `now` (ISO-8601)."""

    # -- retention and operations --------------------------------------------
    @abc.abstractmethod
    async def prune_checkpoints(self, thread_id: str) -> None:
        """`keep_latest`: delete the thread's checkpoints (and their writes) but the latest of
        each checkpoint namespace still in use (langgraph's own rule where its checkpointer
        has one)."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """See `Storage.exclusive`: True in at most one process at a time, never waits."""

    def pool_stats(self) -> dict[str, int]:
        """This process's database connections by state; `{}` where there is no pool."""
        return {}

    def translate(self, exc: sa.exc.DBAPIError) -> StorageError | None:
        """The storage error `exc` means, or None when it is a fault to raise as is."""
        return None

    def unwrap(self, exc: sa.exc.SQLAlchemyError) -> BaseException:
        """The exception to raise for `exc`: its `StorageError`, else the driver's own
        exception (what the service layer classifies as 503/507), else `exc`."""
        if isinstance(exc, sa.exc.DBAPIError):
            if (err := self.translate(exc)) is not None:
                return err
            if isinstance(exc.orig, Exception):
                return exc.orig
        return exc


def open_dialect(database_uri: str, *, store_index: dict | None = None, store_ttl: dict | None = None) -> Dialect:
    """The `Dialect` for `database_uri` (see `waypoint.storage.open_storage`); `store_index`
    and `store_ttl` configure langgraph's store on it. Raises `ValueError` for an unsupported
    scheme or SQLite option."""
    if database_uri.startswith(("postgresql://", "postgres://")):
        from waypoint.storage.dialects.postgres import PostgresDialect

        return PostgresDialect(database_uri, store_index=store_index, store_ttl=store_ttl)
    if database_uri.startswith("sqlite:///"):
        path = database_uri[len("sqlite:///"):]
    elif "://" not in database_uri:
        path = database_uri
    else:
        scheme = database_uri.split("://", 1)[0]
        raise ValueError(f"Unsupported database URI scheme {scheme!r}; use sqlite:///path or postgresql://…")
    from waypoint.storage.dialects.sqlite import SqliteDialect

    path, _, query = path.partition("?")
    return SqliteDialect(path, store_index=store_index, store_ttl=store_ttl, **_sqlite_options(query))


def _sqlite_options(query: str) -> dict[str, str]:
    """Options of a SQLite URI's query: `synchronous=normal` (the default: a commit survives
    the process's death) or `synchronous=full` (every commit is synced to disk, so it also
    survives a power loss). Raises `ValueError` for anything else."""
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ValueError(f"Unknown SQLite URI option(s) {', '.join(sorted(unknown))}; the one option is synchronous")
    synchronous = options.get("synchronous", "normal").lower()
    if synchronous not in ("normal", "full"):
        raise ValueError(f"synchronous must be normal or full, got {options['synchronous']!r}")
    return {"synchronous": synchronous.upper()}
