"""PostgreSQL implementation of `Storage`: all durable state, safe for many processes.

Server rows, checkpoints (langgraph-checkpoint-postgres) and store items share one
database and one connection pool. Concurrency rules:
- migrations run under a session advisory lock, so processes may start together;
- a run is claimed with `FOR UPDATE SKIP LOCKED` on its row (exactly one worker gets it)
  while holding its thread's row lock (one running run per thread across the cluster);
- run creation locks the thread row, so `reject` sees every concurrent run.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from waypoint import serde
from waypoint.clock import now_iso
from waypoint.storage import migrations
from waypoint.storage.checkpoints import PostgresCheckpointer
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
    ExtensionMissing,
    Storage,
    ThreadBusy,
    TickTaken,
    UnsupportedValue,
    thread_ttl_columns,
    thread_ttl_info,
)

#: Advisory lock key serializing schema set-up across processes ("waypoint" in ASCII).
MIGRATION_LOCK_KEY = 0x776179706F696E74

_INTERNAL = ("seq", *THREAD_TTL_COLUMNS)


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=serde.dumps_str)


def _record(row: dict[str, Any]) -> Record:
    return {k: v for k, v in row.items() if k not in _INTERNAL}


def _containment(column: str, filters: dict | None) -> tuple[list[str], list[Any]]:
    """`column @> filters`: every top-level key of `filters` present with that value."""
    if not filters:
        return [], []
    return [f"{column} @> %s"], [_json(filters)]


def _any(column: str, values: Sequence[str]) -> tuple[list[str], list[Any]]:
    return [f"{column} = ANY(%s)"], [list(values)]


DIALECT = Dialect(ph="%s", ilike="ILIKE", json_filter=_containment, in_list=_any)


#: Seconds a call waits for a database connection before failing with `PoolTimeout` (a 503).
POOL_TIMEOUT_SECONDS = 10.0


class PostgresStorage(Storage):
    """Storage in the PostgreSQL database at `uri` (`postgresql://…`)."""

    def __init__(self, uri: str, *, pool_size: int = 20, store_index: dict | None = None,
                 store_ttl: dict | None = None):
        self.uri = uri
        self.store_index = store_index
        self.store_ttl = store_ttl
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._checkpointer: AsyncPostgresSaver | None = None
        self._store: AsyncPostgresStore | None = None

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        self._pool = AsyncConnectionPool(
            self.uri,
            min_size=2,
            max_size=self.pool_size,
            open=False,
            # Checked on checkout: connections broken while PostgreSQL was down are replaced
            # instead of failing the request (the pool recovers by itself).
            check=AsyncConnectionPool.check_connection,
            timeout=POOL_TIMEOUT_SECONDS,
            # What langgraph-checkpoint-postgres requires of its connections.
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        await self._pool.open(wait=True)
        self._checkpointer = PostgresCheckpointer(self._pool)
        self._store = AsyncPostgresStore(self._pool, index=self.store_index, ttl=self.store_ttl)
        async with self._pool.connection() as conn:
            # Poll rather than block: a statement waiting on the lock would hold a snapshot
            # that the checkpointer's CREATE INDEX CONCURRENTLY waits for (a deadlock).
            while not (await (await conn.execute(
                "SELECT pg_try_advisory_lock(%s) AS locked", (MIGRATION_LOCK_KEY,)
            )).fetchone())["locked"]:
                await asyncio.sleep(0.1)
            try:
                if self.store_index:
                    await _require_pgvector(conn)
                await self._migrate(conn)
                await self._checkpointer.setup()
                await self._store.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    async def _migrate(self, conn: AsyncConnection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS waypoint_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in await (await conn.execute("SELECT version FROM waypoint_migrations")).fetchall()}
        for version, name, sql in migrations.load("postgres"):
            if version in done:
                continue
            async with conn.transaction():
                for statement in migrations.statements(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO waypoint_migrations VALUES (%s, %s, %s)", (version, name, now_iso())
                )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        async with self._pool.connection(timeout=1.0) as conn:  # PoolTimeout when down
            await conn.execute("SELECT 1")

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; a value PostgreSQL cannot store (the NUL character, in text or
        jsonb) raises `UnsupportedValue` (a 422) instead of a database error (a 500)."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.DataError as exc:  # 22P05 untranslatable_character, or psycopg's own check
            if not (isinstance(exc, psycopg.errors.UntranslatableCharacter) or "NUL" in str(exc)):
                raise
            raise UnsupportedValue(
                "PostgreSQL cannot store the NUL character (\\u0000) in text or JSON: "
                + str(exc).splitlines()[0]
            ) from exc

    @property
    def checkpointer(self) -> AsyncPostgresSaver:
        assert self._checkpointer is not None, "storage is not open"
        return self._checkpointer

    @property
    def store(self) -> AsyncPostgresStore:
        assert self._store is not None, "storage is not open"
        return self._store

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> dict | None:
        async with self._connection() as conn:
            return await (await conn.execute(sql, params)).fetchone()

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict]:
        async with self._connection() as conn:
            return await (await conn.execute(sql, params)).fetchall()

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn:
            return (await conn.execute(sql, params)).rowcount

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
        async with self._connection() as conn, conn.transaction():
            inserted = (await conn.execute(
                "INSERT INTO assistants (assistant_id, graph_id, config, context, metadata, name,"
                " description, version, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s) ON CONFLICT (assistant_id) DO NOTHING",
                (assistant_id, graph_id, _json(config), _json(context), _json(metadata), name,
                 description, now, now),
            )).rowcount
            if inserted:
                await conn.execute(record_version(DIALECT), (assistant_id,))
        if not inserted and if_exists == "raise":
            raise AlreadyExists(f"Assistant {assistant_id} already exists")
        return await self.get_assistant(assistant_id)

    async def get_assistant(self, assistant_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM assistants WHERE assistant_id = %s", (assistant_id,))
        if row is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        return _record(row)

    async def update_assistant(self, assistant_id: str, fields: dict[str, Any]) -> Record:
        sets = ["version = %s", "updated_at = %s"]
        params: list[Any] = [None, now_iso()]
        for col in ("graph_id", "name", "description"):
            if col in fields:
                sets.append(f"{col} = %s")
                params.append(fields[col])
        for col in ("config", "context"):
            if col in fields:
                sets.append(f"{col} = %s")
                params.append(_json(fields[col]))
        if "metadata" in fields:
            sets.append("metadata = metadata || %s")
            params.append(_json(fields["metadata"]))
        async with self._connection() as conn, conn.transaction():
            # The row lock first: the next number is then read after any concurrent update committed.
            locked = await (await conn.execute(
                "SELECT 1 FROM assistants WHERE assistant_id = %s FOR UPDATE", (assistant_id,))).fetchone()
            if locked is None:
                raise NotFound(f"Assistant {assistant_id} not found")
            params[0] = (await (await conn.execute(next_version(DIALECT), (assistant_id,))).fetchone())["n"]
            await conn.execute(
                f"UPDATE assistants SET {', '.join(sets)} WHERE assistant_id = %s", (*params, assistant_id)
            )
            await conn.execute(record_version(DIALECT), (assistant_id,))
        return await self.get_assistant(assistant_id)

    async def list_assistant_versions(self, assistant_id, *, metadata, limit, offset) -> list[Record]:
        sql, params = list_versions(DIALECT, metadata)
        return [_record(r) for r in await self._fetchall(sql, (assistant_id, *params, limit, offset))]

    async def set_assistant_version(self, assistant_id: str, version: int) -> Record:
        if not await self._execute(pin_version(DIALECT), (version, now_iso(), assistant_id, version)):
            await self.get_assistant(assistant_id)  # NotFound naming the assistant
            raise NotFound(f"Version {version} of assistant {assistant_id} not found")
        return await self.get_assistant(assistant_id)

    async def delete_assistant(self, assistant_id: str) -> None:
        if not await self._execute("DELETE FROM assistants WHERE assistant_id = %s", (assistant_id,)):
            raise NotFound(f"Assistant {assistant_id} not found")

    async def search_assistants(
        self, *, graph_id, name, metadata, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        where, params = assistant_where(DIALECT, graph_id, name, metadata)
        rows = await self._fetchall(
            f"SELECT * FROM assistants{where}" + page(DIALECT, sort_by, sort_order, ASSISTANT_SORT, "assistant_id"),
            (*params, limit, offset),
        )
        return [_record(r) for r in rows]

    async def count_assistants(self, *, graph_id, name, metadata) -> int:
        where, params = assistant_where(DIALECT, graph_id, name, metadata)
        return (await self._fetchone(f"SELECT count(*) AS n FROM assistants{where}", params))["n"]

    async def create_thread(
        self, thread_id: str, *, metadata: dict, if_exists: Literal["raise", "do_nothing"] = "raise"
    ) -> Record:
        now = now_iso()
        inserted = await self._execute(
            "INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,"
            " ttl_minutes, ttl_strategy) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, now, now, now, _json(metadata), *thread_ttl_columns(self.default_thread_ttl)),
        )
        if not inserted and if_exists == "raise":
            raise AlreadyExists(f"Thread {thread_id} already exists")
        return await self.get_thread(thread_id)

    async def get_thread(self, thread_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM threads WHERE thread_id = %s", (thread_id,))
        if row is None:
            raise NotFound(f"Thread {thread_id} not found")
        return _record(row)

    async def patch_thread_metadata(self, thread_id: str, metadata: dict) -> Record:
        updated = await self._execute(
            "UPDATE threads SET metadata = metadata || %s, updated_at = %s WHERE thread_id = %s",
            (_json(metadata), now_iso(), thread_id),
        )
        if not updated:
            raise NotFound(f"Thread {thread_id} not found")
        return await self.get_thread(thread_id)

    async def delete_thread(self, thread_id: str) -> None:
        if not await self._execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,)):
            raise NotFound(f"Thread {thread_id} not found")
        await self.checkpointer.adelete_thread(thread_id)

    async def search_threads(
        self, *, ids, metadata, values, status, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        where, params = thread_where(DIALECT, ids, metadata, values, status)
        rows = await self._fetchall(
            f"SELECT * FROM threads{where}" + page(DIALECT, sort_by, sort_order, THREAD_SORT, "thread_id"),
            (*params, limit, offset),
        )
        return [_record(r) for r in rows]

    async def count_threads(self, *, metadata, values, status) -> int:
        where, params = thread_where(DIALECT, None, metadata, values, status)
        return (await self._fetchone(f"SELECT count(*) AS n FROM threads{where}", params))["n"]

    async def set_thread_state(
        self, thread_id: str, *, values: Any, interrupts: dict[str, list], error: Any | None, status: str
    ) -> None:
        async with self._connection() as conn:
            await self._set_thread_state(
                conn, thread_id, values=values, interrupts=interrupts, error=error, status=status
            )

    @staticmethod
    async def _set_thread_state(
        conn: AsyncConnection, thread_id: str, *, values: Any, interrupts: dict, error: Any, status: str
    ) -> None:
        now = now_iso()
        await conn.execute(
            'UPDATE threads SET "values" = %s, interrupts = %s, error = %s, updated_at = %s,'
            " state_updated_at = %s,"
            " status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id"
            " AND runs.status = ANY(%s)) THEN 'busy' ELSE %s END"
            " WHERE thread_id = %s",
            (_json(values), _json(interrupts), _json(error), now, now,
             list(ACTIVE_RUN_STATUSES), status, thread_id),
        )

    async def copy_thread(self, source_id: str, target_id: str) -> Record:
        now = now_iso()
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                'INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,'
                ' config, status, "values", interrupts, error)'
                " SELECT %s, %s, %s, %s, metadata, config, CASE WHEN status = 'busy' THEN 'idle'"
                ' ELSE status END, "values", interrupts, error FROM threads WHERE thread_id = %s',
                (target_id, now, now, now, source_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Thread {source_id} not found")
            # Checkpoint tables belong to langgraph-checkpoint-postgres; read their columns.
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                columns = [
                    r["column_name"] for r in await (await conn.execute(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = %s AND table_schema = current_schema()"
                        " AND column_name <> 'thread_id' ORDER BY ordinal_position",
                        (table,),
                    )).fetchall()
                ]
                cols = ", ".join(f'"{c}"' for c in columns)
                # The copies' metadata names their own thread (see storage/checkpoints.py).
                select = ", ".join(
                    "metadata || jsonb_build_object('thread_id', %(target)s::text)"
                    if table == "checkpoints" and c == "metadata" else f'"{c}"'
                    for c in columns
                )
                await conn.execute(
                    f"INSERT INTO {table} (thread_id, {cols}) SELECT %(target)s, {select} FROM {table}"
                    " WHERE thread_id = %(source)s",
                    {"target": target_id, "source": source_id},
                )
        return await self.get_thread(target_id)

    # -- runs --------------------------------------------------------------
    async def create_run(
        self, run: Record, *, reject_if_busy: bool, decisions: Sequence[Record] = (),
        thread_metadata: dict | None = None, cron_tick: Record | None = None,
    ) -> tuple[Record, list[str]]:
        async with self._connection() as conn, conn.transaction():
            locked = await (await conn.execute(
                "SELECT thread_id FROM threads WHERE thread_id = %s FOR UPDATE", (run["thread_id"],)
            )).fetchone()
            if locked is None:
                raise NotFound(f"Thread {run['thread_id']} not found")
            now = now_iso()  # under the thread lock: created_at follows queue order
            active = [r["run_id"] for r in await (await conn.execute(
                "SELECT run_id FROM runs WHERE thread_id = %s AND status = ANY(%s) ORDER BY seq",
                (run["thread_id"], list(ACTIVE_RUN_STATUSES)),
            )).fetchall()]
            if active and reject_if_busy:
                raise ThreadBusy(run["thread_id"], active)
            for decision in decisions:
                await self._check_open(conn, run["thread_id"], decision)
            if cron_tick is not None:
                await self._take_tick(conn, **cron_tick)
            inserted = await conn.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, created_at, updated_at,"
                " available_at, status, metadata, kwargs, multitask_strategy)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s) RETURNING *",
                (run["run_id"], run["thread_id"], run["assistant_id"], now, now,
                 run.get("available_at") or now, _json(run.get("metadata") or {}),
                 _json(run.get("kwargs") or {}), run.get("multitask_strategy", "enqueue")),
            )
            created = await inserted.fetchone()
            for decision in decisions:
                await self._insert_decision(conn, {**decision, "thread_id": run["thread_id"], "run_id": run["run_id"]})
            await conn.execute(
                "UPDATE threads SET status = 'busy', updated_at = %s, metadata = metadata || %s"
                " WHERE thread_id = %s",
                (now, _json(thread_metadata or {}), run["thread_id"]),
            )
        return _record(created), active

    # -- decisions and deadlines -------------------------------------------
    @staticmethod
    async def _check_open(conn: AsyncConnection, thread_id: str, decision: Record) -> None:
        """Raise `InterruptAnswered` if `decision` closes an interrupt that is closed already.
        Callers hold the thread's row lock, so the check cannot race."""
        if not decision.get("closes"):
            return
        row = await (await conn.execute(
            "SELECT run_id, action FROM decisions WHERE thread_id = %s AND interrupt_id = %s AND closes",
            (thread_id, decision["interrupt_id"]),
        )).fetchone()
        if row is not None:
            raise InterruptAnswered(thread_id, decision["interrupt_id"], row["run_id"], row["action"])

    @staticmethod
    async def _insert_decision(conn: AsyncConnection, d: Record) -> None:
        await conn.execute(
            "INSERT INTO decisions (decision_id, thread_id, interrupt_id, run_id, reviewer, action,"
            " value, closes, decided_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (d["decision_id"], d["thread_id"], d["interrupt_id"], d.get("run_id"), d.get("reviewer"),
             d["action"], Jsonb(d.get("value"), dumps=serde.dumps_str), bool(d.get("closes")),
             d.get("decided_at") or now_iso()),
        )

    async def record_decision(self, decision: Record) -> Record:
        async with self._connection() as conn, conn.transaction():
            if await (await conn.execute(
                "SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE", (decision["thread_id"],)
            )).fetchone() is None:
                raise NotFound(f"Thread {decision['thread_id']} not found")
            await self._check_open(conn, decision["thread_id"], decision)
            await self._insert_decision(conn, decision)
        return _record(await self._fetchone("SELECT * FROM decisions WHERE decision_id = %s", (decision["decision_id"],)))

    async def list_decisions(self, thread_id: str) -> list[Record]:
        rows = await self._fetchall("SELECT * FROM decisions WHERE thread_id = %s ORDER BY seq", (thread_id,))
        return [_record(r) for r in rows]

    async def put_deadlines(self, deadlines: Sequence[Record]) -> None:
        async with self._connection() as conn, conn.transaction():
            for d in deadlines:
                await conn.execute(
                    "INSERT INTO interrupt_deadlines (thread_id, interrupt_id, run_id, assistant_id,"
                    " expires_at, on_expire, default_value) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (d["thread_id"], d["interrupt_id"], d["run_id"], d["assistant_id"], d["expires_at"],
                     d["on_expire"], Jsonb(d.get("default_value"), dumps=serde.dumps_str)),
                )

    async def claim_due_deadlines(self, limit: int = 100) -> list[Record]:
        now = now_iso()
        rows = await self._fetchall(
            "UPDATE interrupt_deadlines SET fired_at = %s WHERE (thread_id, interrupt_id) IN"
            " (SELECT thread_id, interrupt_id FROM interrupt_deadlines WHERE fired_at IS NULL"
            " AND expires_at <= %s ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *",
            (now, now, limit),
        )
        return [_record(r) for r in rows]

    async def rollback_run(self, thread_id: str, run_id: str, *, released: Sequence[Record] = ()) -> None:
        async with self._connection() as conn, conn.transaction():
            if released:
                for decision in released:
                    await self._insert_decision(conn, {**decision, "thread_id": thread_id, "run_id": run_id})
            else:
                await conn.execute("DELETE FROM decisions WHERE run_id = %s", (run_id,))
            await conn.execute("DELETE FROM interrupt_deadlines WHERE run_id = %s", (run_id,))
            await conn.execute("DELETE FROM runs WHERE run_id = %s AND thread_id = %s", (run_id, thread_id))
            # langgraph copies config["metadata"] (which holds run_id) into checkpoint metadata.
            await conn.execute(
                "DELETE FROM checkpoint_writes WHERE thread_id = %s AND checkpoint_id IN"
                " (SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s)",
                (thread_id, thread_id, run_id),
            )
            await conn.execute(
                "DELETE FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s",
                (thread_id, run_id),
            )

    async def get_run(self, run_id: str, thread_id: str | None = None) -> Record:
        if thread_id is None:
            row = await self._fetchone("SELECT * FROM runs WHERE run_id = %s", (run_id,))
        else:
            row = await self._fetchone(
                "SELECT * FROM runs WHERE run_id = %s AND thread_id = %s", (run_id, thread_id)
            )
        if row is None:
            raise NotFound(f"Run {run_id} not found")
        return _record(row)

    async def list_runs(self, thread_id: str, *, limit: int, offset: int, status: str | None) -> list[Record]:
        sql = "SELECT * FROM runs WHERE thread_id = %s"
        params: list[Any] = [thread_id]
        if status is not None:
            sql += " AND status = %s"
            params.append(status)
        sql += " ORDER BY seq DESC LIMIT %s OFFSET %s"
        return [_record(r) for r in await self._fetchall(sql, (*params, limit, offset))]

    async def delete_run(self, run_id: str, thread_id: str) -> None:
        if not await self._execute("DELETE FROM runs WHERE run_id = %s AND thread_id = %s", (run_id, thread_id)):
            raise NotFound(f"Run {run_id} not found")

    async def claim_next_run(self, worker_id: str, lease_seconds: float) -> Record | None:
        now = now_iso()
        async with self._connection() as conn, conn.transaction():
            candidates = await (await conn.execute(
                "SELECT run_id, thread_id FROM runs AS r WHERE r.status = 'pending'"
                " AND r.available_at <= %s"
                " AND NOT EXISTS (SELECT 1 FROM runs AS e WHERE e.thread_id = r.thread_id"
                " AND e.status = 'pending' AND e.seq < r.seq)"
                " ORDER BY r.seq LIMIT 16 FOR UPDATE SKIP LOCKED",
                (now,),
            )).fetchall()
            for cand in candidates:
                # The thread row lock makes "no running run on this thread" hold cluster-wide.
                if await (await conn.execute(
                    "SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE SKIP LOCKED",
                    (cand["thread_id"],),
                )).fetchone() is None:
                    continue
                if await (await conn.execute(
                    "SELECT 1 FROM runs WHERE thread_id = %s AND status = 'running'", (cand["thread_id"],)
                )).fetchone() is not None:
                    continue
                claimed = await (await conn.execute(
                    "UPDATE runs SET status = 'running', worker_id = %s, updated_at = %s,"
                    " started_at = %s, lease_expires_at = %s, attempt = attempt + 1 WHERE run_id = %s RETURNING *",
                    (worker_id, now, now, now_iso(lease_seconds), cand["run_id"]),
                )).fetchone()
                return _record(claimed)
        return None

    async def renew_leases(self, worker_id: str, run_ids: Sequence[str], lease_seconds: float) -> None:
        if run_ids:
            await self._execute(
                "UPDATE runs SET lease_expires_at = %s WHERE worker_id = %s AND status = 'running'"
                " AND run_id = ANY(%s)",
                (now_iso(lease_seconds), worker_id, list(run_ids)),
            )

    async def orphaned_runs(self, *, at_startup: bool) -> list[Record]:
        # Other processes may be alive: only an expired lease proves a worker is gone.
        rows = await self._fetchall(
            "SELECT * FROM runs WHERE status = 'running' AND lease_expires_at < %s", (now_iso(),)
        )
        return [_record(r) for r in rows]

    async def requeue_run(self, run_id: str, *, count_attempt: bool = True) -> bool:
        return bool(await self._execute(
            "UPDATE runs SET status = 'pending', worker_id = NULL, lease_expires_at = NULL,"
            " started_at = NULL, updated_at = %s, attempt = attempt - %s WHERE run_id = %s AND status = 'running'",
            (now_iso(), 0 if count_attempt else 1, run_id),
        ))

    async def run_wrote_checkpoints(self, thread_id: str, run_id: str) -> bool:
        return await self._fetchone(
            "SELECT 1 FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s LIMIT 1",
            (thread_id, run_id),
        ) is not None

    async def finish_run(
        self, run_id: str, *, status: str, output: Any, error: Any | None,
        thread_state: dict[str, Any] | None = None,
    ) -> Record:
        async with self._connection() as conn, conn.transaction():
            row = await (await conn.execute(
                "UPDATE runs SET status = %s, output = %s, error = %s, updated_at = %s,"
                " lease_expires_at = NULL WHERE run_id = %s RETURNING *",
                (status, _json(output), _json(error), now_iso(), run_id),
            )).fetchone()
            if row is None:
                raise NotFound(f"Run {run_id} not found")
            if thread_state is not None:
                await self._set_thread_state(conn, row["thread_id"], **thread_state)
        return _record(row)

    async def cancel_pending_run(self, run_id: str, action: Literal["interrupt", "rollback"]) -> bool:
        if action == "rollback":
            async with self._connection() as conn, conn.transaction():
                deleted = (await conn.execute(
                    "DELETE FROM runs WHERE run_id = %s AND status = 'pending'", (run_id,)
                )).rowcount
                if deleted:
                    await conn.execute("DELETE FROM decisions WHERE run_id = %s", (run_id,))
            return bool(deleted)
        return bool(await self._execute(
            "UPDATE runs SET status = 'interrupted', updated_at = %s WHERE run_id = %s AND status = 'pending'",
            (now_iso(), run_id),
        ))

    async def put_webhook(self, delivery: Record, claim_seconds: float) -> None:
        await self._execute(
            "INSERT INTO webhook_deliveries (delivery_id, url, body, run_id, next_attempt_at,"
            " claimed_until, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (delivery["delivery_id"], delivery["url"], delivery["body"], delivery.get("run_id"),
             delivery["next_attempt_at"], now_iso(claim_seconds), delivery["expires_at"]),
        )

    async def claim_webhooks(self, claim_seconds: float, limit: int = 50) -> list[Record]:
        now = now_iso()
        return await self._fetchall(
            "UPDATE webhook_deliveries SET claimed_until = %s WHERE delivery_id IN (SELECT delivery_id"
            " FROM webhook_deliveries WHERE next_attempt_at <= %s AND (claimed_until IS NULL"
            " OR claimed_until < %s) ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *",
            (now_iso(claim_seconds), now, now, limit),
        )

    async def retry_webhook(self, delivery_id: str, *, next_attempt_at: str, error: str) -> None:
        await self._execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = %s,"
            " claimed_until = NULL, last_error = %s WHERE delivery_id = %s",
            (next_attempt_at, error, delivery_id),
        )

    async def delete_webhook(self, delivery_id: str) -> None:
        await self._execute("DELETE FROM webhook_deliveries WHERE delivery_id = %s", (delivery_id,))

    # -- notification deliveries -------------------------------------------
    async def put_notifications(self, deliveries: Sequence[Record]) -> int:
        async with self._connection() as conn, conn.transaction():
            new = 0
            for d in deliveries:
                new += (await conn.execute(
                    "INSERT INTO notification_deliveries (delivery_id, thread_id, interrupt_id, event, target,"
                    " target_url, title, body, next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s) ON CONFLICT (delivery_id) DO NOTHING",
                    (d["delivery_id"], d["thread_id"], d.get("interrupt_id"), d["event"], d["target"],
                     d["target_url"], d["title"], d["body"], d["next_attempt_at"], now_iso()),
                )).rowcount
            return new

    async def claim_notifications(self, claim_seconds: float, limit: int = 20) -> list[Record]:
        now = now_iso()
        return await self._fetchall(
            "UPDATE notification_deliveries SET claimed_until = %s WHERE delivery_id IN (SELECT delivery_id"
            " FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= %s AND"
            " (claimed_until IS NULL OR claimed_until < %s) ORDER BY next_attempt_at LIMIT %s"
            " FOR UPDATE SKIP LOCKED) RETURNING *",
            (now_iso(claim_seconds), now, now, limit),
        )

    async def settle_notification(self, delivery_id: str, *, status: str, attempted: bool,
                                  error: str | None = None, next_attempt_at: str | None = None) -> None:
        await self._execute(
            "UPDATE notification_deliveries SET status = %s, attempts = attempts + %s, last_error = %s,"
            " next_attempt_at = coalesce(%s, next_attempt_at), claimed_until = NULL,"
            " sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END WHERE delivery_id = %s",
            (status, int(attempted), error, next_attempt_at, status, now_iso(), delivery_id),
        )

    async def list_notifications(self, thread_id: str) -> list[Record]:
        return await self._fetchall(
            "SELECT * FROM notification_deliveries WHERE thread_id = %s ORDER BY created_at, delivery_id",
            (thread_id,),
        )

    async def run_counts(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    def pool_stats(self) -> dict[str, int]:
        if self._pool is None:
            return {}
        stats = self._pool.get_stats()
        size = stats.get("pool_size", 0)
        return {"size": size, "idle": stats.get("pool_available", 0),
                "in_use": size - stats.get("pool_available", 0), "waiting": stats.get("requests_waiting", 0)}

    async def next_run_available_at(self) -> str | None:
        row = await self._fetchone("SELECT min(available_at) AS at FROM runs WHERE status = 'pending'")
        return row["at"] if row else None

    # -- crons ---------------------------------------------------------------
    @staticmethod
    def _cron_params(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: _json(v) if k in ("payload", "metadata") else v for k, v in fields.items()}

    @staticmethod
    async def _take_tick(conn: AsyncConnection, cron_id: str, run_date: str, next_run_date: str | None) -> None:
        # Under READ COMMITTED a concurrent taker waits for the row, then sees the new date.
        cur = await conn.execute(
            "UPDATE crons SET next_run_date = %s WHERE cron_id = %s AND next_run_date = %s AND enabled",
            (next_run_date, cron_id, run_date),
        )
        if cur.rowcount == 0:
            raise TickTaken(f"Tick {run_date} of cron {cron_id} was already fired")

    async def put_cron(self, cron: Record) -> Record:
        now = now_iso()
        fields = self._cron_params({**cron, "created_at": now, "updated_at": now})
        try:
            row = await self._fetchone(
                f"INSERT INTO crons ({', '.join(fields)}) VALUES ({', '.join(['%s'] * len(fields))}) RETURNING *",
                tuple(fields.values()),
            )
        except psycopg.errors.ForeignKeyViolation:  # deleted meanwhile
            raise NotFound(f"Assistant {cron['assistant_id']} or thread {cron['thread_id']} not found") from None
        return _record(row)

    async def get_cron(self, cron_id: str) -> Record:
        row = await self._fetchone("SELECT * FROM crons WHERE cron_id = %s", (cron_id,))
        if row is None:
            raise NotFound(f"Cron {cron_id} not found")
        return _record(row)

    async def update_cron(self, cron_id: str, fields: dict[str, Any]) -> Record:
        fields = self._cron_params({**fields, "updated_at": now_iso()})
        row = await self._fetchone(
            f"UPDATE crons SET {', '.join(f'{k} = %s' for k in fields)} WHERE cron_id = %s RETURNING *",
            (*fields.values(), cron_id),
        )
        if row is None:
            raise NotFound(f"Cron {cron_id} not found")
        return _record(row)

    async def delete_cron(self, cron_id: str) -> None:
        if not await self._execute("DELETE FROM crons WHERE cron_id = %s", (cron_id,)):
            raise NotFound(f"Cron {cron_id} not found")

    async def search_crons(
        self, *, assistant_id, thread_id, enabled, metadata, limit, offset, sort_by, sort_order
    ) -> list[Record]:
        where, params = cron_where(DIALECT, assistant_id, thread_id, enabled, metadata)
        rows = await self._fetchall(
            f"SELECT * FROM crons{where}" + page(DIALECT, sort_by, sort_order, CRON_SORT, "cron_id"),
            (*params, limit, offset),
        )
        return [_record(r) for r in rows]

    async def count_crons(self, *, assistant_id, thread_id, metadata) -> int:
        where, params = cron_where(DIALECT, assistant_id, thread_id, None, metadata)
        return (await self._fetchone(f"SELECT count(*) AS n FROM crons{where}", params))["n"]

    async def due_crons(self, now: str, limit: int = 100) -> list[Record]:
        rows = await self._fetchall(
            "SELECT * FROM crons WHERE enabled AND next_run_date <= %s ORDER BY next_run_date LIMIT %s",
            (now, limit),
        )
        return [_record(r) for r in rows]

    async def next_cron_run_date(self) -> str | None:
        return (await self._fetchone("SELECT min(next_run_date) AS at FROM crons WHERE enabled"))["at"]

    async def advance_cron(self, cron_id: str, run_date: str, next_run_date: str | None) -> bool:
        try:
            async with self._connection() as conn:
                await self._take_tick(conn, cron_id, run_date, next_run_date)
        except TickTaken:
            return False
        return True
    # -- retention: thread TTL, keep_latest pruning, one sweeper at a time ----------------
    async def set_thread_ttl(self, thread_id: str, ttl: dict | None) -> None:
        if not await self._execute(
            "UPDATE threads SET ttl_minutes = %s, ttl_strategy = %s, updated_at = %s WHERE thread_id = %s",
            (*thread_ttl_columns(ttl), now_iso(), thread_id),
        ):
            raise NotFound(f"Thread {thread_id} not found")

    async def get_thread_ttl(self, thread_id: str) -> Record | None:
        row = await self._fetchone(
            "SELECT ttl_minutes, ttl_strategy, updated_at FROM threads WHERE thread_id = %s", (thread_id,)
        )
        if row is None:
            raise NotFound(f"Thread {thread_id} not found")
        return thread_ttl_info(row)

    async def expired_threads(self, limit: int) -> list[Record]:
        return await self._fetchall(
            f"SELECT thread_id, ttl_strategy AS strategy FROM threads WHERE {_EXPIRED}"
            " AND (CASE WHEN ttl_strategy = 'keep_latest'"
            " THEN ttl_pruned_at IS NULL OR ttl_pruned_at < updated_at"
            " ELSE NOT EXISTS (SELECT 1 FROM interrupt_deadlines AS d"
            " WHERE d.thread_id = threads.thread_id AND d.fired_at IS NULL) END)"
            " ORDER BY updated_at LIMIT %s",
            (now_iso(), limit),
        )

    async def delete_expired_thread(self, thread_id: str) -> bool:
        # Run creation locks the thread row first: this delete then sees it `busy` and skips it.
        if not await self._execute(f"DELETE FROM threads WHERE thread_id = %s AND {_EXPIRED}",
                                   (thread_id, now_iso())):
            return False
        await self.checkpointer.adelete_thread(thread_id)
        return True

    async def prune_thread_checkpoints(self, thread_id: str) -> bool:
        row = await self._fetchone("SELECT status FROM threads WHERE thread_id = %s", (thread_id,))
        if row is None or row["status"] == "busy":
            return False
        # langgraph's own keep_latest: one snapshot, so what a run saves meanwhile is kept.
        await self.checkpointer.aprune([thread_id], strategy="keep_latest")
        await self._execute("UPDATE threads SET ttl_pruned_at = %s WHERE thread_id = %s", (now_iso(), thread_id))
        return True

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        key = MIGRATION_LOCK_KEY ^ zlib.crc32(name.encode())
        async with self._connection() as conn:  # the lock lives as long as this session holds it
            mine = (await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS mine", (key,))).fetchone())["mine"]
            try:
                yield mine
            finally:
                if mine:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


#: SQL condition: the thread has a TTL that has passed (bound parameter: now) and no active run.
_EXPIRED = (
    "ttl_minutes IS NOT NULL AND status <> 'busy'"
    " AND updated_at::timestamptz + ttl_minutes * interval '1 minute' <= %s::timestamptz"
)


async def _require_pgvector(conn: AsyncConnection) -> None:
    """Raise `ExtensionMissing` unless this PostgreSQL can create pgvector's `vector`."""
    row = await (await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).fetchone()
    if row is None:
        version = (await (await conn.execute("SHOW server_version_num")).fetchone())["server_version_num"]
        major = int(version) // 10000
        raise ExtensionMissing(
            "store.index in langgraph.json needs PostgreSQL's pgvector extension ('vector'), which this "
            f"PostgreSQL {major} server does not have. Install it on the database server (Debian/Ubuntu: "
            f"apt-get install postgresql-{major}-pgvector; or build it from pgvector's sources), then "
            "restart Waypoint; or remove store.index to serve the store without semantic search."
        )
