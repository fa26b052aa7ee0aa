"""Hot-path statements compiled once and run on the DBAPI cursor (SQLite, PostgreSQL).

`conn.execute(stmt, params)` costs ~100 µs of Python in SQLAlchemy Core around a few µs
of SQLite (and around each PostgreSQL round trip): the statement's cache key, the
compiled-cache lookup, an execution context, a cursor result with its metadata.
`Prepared(stmt)` is executed the same way (`conn.execute(prepared, params)`, SQLAlchemy
hands it the connection) and answers the same `Result` (`first()`, `scalars()`,
`scalar()`, `all()`, rows with `_mapping`, and `rowcount`), but it compiles the statement
once per set of parameter names and runs the SQL on the DBAPI cursor: the same SQL text,
the same parameters (a tuple for SQLite's `?`, a dict for psycopg's `%(name)s`), the same
bind processors (JSON encoding) and result processors (JSON decoding, booleans) that
SQLAlchemy would apply, in the caller's transaction (several rows of an insert without
RETURNING: one `executemany`). DBAPI errors go through SQLAlchemy's own handling (wrapped
as `sa.exc.OperationalError`, `sa.exc.IntegrityError`, …; `handle_error` events; a lost
connection invalidated). Other databases, parameter sets with differing names, a missing
parameter and execution options take SQLAlchemy's path.

The compiled statement's parts it reads (`positiontup`, `_bind_processors`,
`_result_columns`, …) are SQLAlchemy 2.1's internals: with another release, or if reading
them fails, every statement takes SQLAlchemy's path (recheck on upgrading).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

log = logging.getLogger(__name__)

#: Whether the installed SQLAlchemy is the release whose internals `_Plan` reads.
_SUPPORTED = importlib.metadata.version("SQLAlchemy").startswith("2.1.")
#: The dialects whose DBAPI cursor runs prepared statements (SQLite's sqlite3 under
#: aiosqlite's adaptor, psycopg 3 under SQLAlchemy's async adaptor, in its greenlet).
_DIALECTS = ("sqlite", "postgresql")


class _Result(IteratorResult):
    """An `IteratorResult` that also tells the rows the statement changed."""

    rowcount: int = -1


class _Plan:
    """The statement compiled for one set of parameter names."""

    __slots__ = ("sql", "binds", "named", "metadata", "results", "returns_rows")

    def __init__(self, stmt: sa.Executable, dialect: sa.Dialect, names: Sequence[str]):
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        if (compiled.literal_execute_params or compiled.post_compile_params
                or compiled.insert_prefetch or compiled.update_prefetch):
            raise _Unsupported  # (prefetch: a Python-side column default, computed per execution)
        # Where each DBAPI value comes from, as `SQLCompiler.construct_params` finds it: the
        # parameter named by the bind's key or name, else the value bound in the statement
        # (None for a required one: `_Plan.args` then lets SQLAlchemy raise).
        sources: dict[str, tuple[str, str, bool, Any]] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None:
                raise _Unsupported
            sources[compiled.escaped_bind_names.get(name, name)] = (bind.key, name, bind.required, bind.value)
        processors = compiled._bind_processors
        # SQLite's `?` takes a tuple in `positiontup` order, psycopg's `%(name)s` a dict.
        self.named = not compiled.positional
        if self.named:
            if dialect.paramstyle not in ("pyformat", "named"):
                raise _Unsupported
            order = list(sources)
        elif compiled.positiontup is None:
            raise _Unsupported
        else:
            order = compiled.positiontup
        self.sql: str = compiled.string
        self.binds = [(name, *sources[name], processors.get(name)) for name in order]
        columns = compiled._result_columns
        self.returns_rows = bool(columns)
        self.metadata = SimpleResultMetaData([c[0] for c in columns])  # immutable: shared by results
        self.results = [c[3]._cached_result_processor(dialect, None) for c in columns]

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any] | None:
        """The DBAPI parameters for `params`, processed (a dict for a named paramstyle);
        None if a required one is missing."""
        args = []
        for _, key, name, required, default, process in self.binds:
            if key in params:
                value = params[key]
            elif name in params:
                value = params[name]
            elif required:
                return None
            else:
                value = default
            args.append(value if process is None else process(value))
        if self.named:
            return {bind[0]: value for bind, value in zip(self.binds, args)}
        return tuple(args)


class _Unsupported(Exception):
    """The statement needs SQLAlchemy's own execution (see `_Plan`)."""


class Prepared:
    """`stmt` run on the DBAPI cursor where it can be (see the module doc); executed as
    `conn.execute(Prepared(stmt), params)`. Build it once, at import or in `__init__`."""

    def __init__(self, stmt: sa.Executable):
        self.stmt = stmt
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    def __getattr__(self, name: str) -> Any:
        # Building on it (`.where`, `.values`, `.returning`) builds on the statement.
        return getattr(self.stmt, name)

    def _plan(self, dialect: sa.Dialect, names: tuple[str, ...]) -> _Plan | None:
        try:
            plan = self._plans[names]
        except KeyError:
            try:
                plan = _Plan(self.stmt, dialect, names) if _SUPPORTED else None
            except _Unsupported:
                plan = None
            except Exception:  # noqa: BLE001 - internals changed: SQLAlchemy's own path
                log.warning("statement not prepared (SQLAlchemy's path instead)", exc_info=True)
                plan = None
            self._plans[names] = plan
        return plan

    def _execute_on_connection(self, connection: sa.Connection, distilled_params: Sequence[Mapping[str, Any]],
                               execution_options: Any) -> Any:
        dialect = connection.dialect
        plan = None
        if dialect.name in _DIALECTS and not execution_options:
            params = distilled_params[0] if distilled_params else {}
            plan = self._plan(dialect, tuple(params))
        if plan is not None and len(distilled_params) > 1 and (plan.returns_rows or any(
                tuple(p) != tuple(params) for p in distilled_params)):
            plan = None  # several rows: only an insert without RETURNING, one set of names
        args = [plan.args(p) for p in distilled_params or ({},)] if plan is not None else None
        if args is None or None in args:  # (SQLAlchemy also raises a missing parameter's error)
            return self.stmt._execute_on_connection(connection, distilled_params, execution_options)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            try:
                if len(args) == 1:
                    cursor.execute(plan.sql, args[0])
                    rows = cursor.fetchall() if plan.returns_rows else []
                else:
                    cursor.executemany(plan.sql, args)
                    rows = []
            except dialect.loaded_dbapi.Error as exc:
                # SQLAlchemy's own handling: the error wrapped (`sa.exc.OperationalError`, …),
                # `handle_error` events, a lost connection invalidated.
                connection._handle_dbapi_exception(exc, plan.sql, args[0] if len(args) == 1 else args, cursor, None)
            rowcount = cursor.rowcount
        finally:
            cursor.close()
        if rows and any(plan.results):
            procs = plan.results
            rows = [tuple(v if p is None else p(v) for v, p in zip(row, procs)) for row in rows]
        result = _Result(plan.metadata, iter(rows))
        result.rowcount = rowcount
        return result
