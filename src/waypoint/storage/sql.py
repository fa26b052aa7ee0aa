"""The one implementation of `Storage`: SQLAlchemy Core over a `Dialect`.

Every storage operation is written once here, as a synchronous function over a SQLAlchemy
`Connection` that the dialect runs as ONE hop off the event loop and ONE transaction
(`Dialect.run`; SQLite: its writer thread, PostgreSQL: `run_sync` over psycopg). What
differs between SQLite and PostgreSQL (row locks, `SKIP LOCKED`, JSON containment and merge,
upserts, insertion order, where langgraph keeps checkpoints) is asked of the dialect
(storage/dialects/). Statements are built once, with bound parameters, so SQLAlchemy's
compiled-statement cache serves every call; only searches (whose filters vary) are built
per call. The schema comes from the Alembic migrations (storage/migrations/).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from waypoint.clock import now_iso
from waypoint.storage import migrations
from waypoint.storage.base import (
    ACTIVE_RUN_STATUSES,
    AlreadyExists,
    AssistantChanged,
    InterruptAnswered,
    NotFound,
    Record,
    SortOrder,
    Storage,
    ThreadBusy,
    TickTaken,
    UnsupportedValue,
    thread_ttl_columns,
    thread_ttl_info,
)
from waypoint.storage.containment import has_nul
from waypoint.storage.dialects import Dialect, Mode
from waypoint.storage.prepared import Prepared
from waypoint.storage.schema import (
    Json,
    assistant_versions,
    assistants,
    checkpoints,
    crons,
    decisions,
    interrupt_deadlines,
    notification_deliveries,
    runs,
    thread_columns,
    thread_events,
    threads,
    webhook_deliveries,
)

ASSISTANT_SORT = {"assistant_id", "graph_id", "name", "created_at", "updated_at"}
THREAD_SORT = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}
CRON_SORT = {"cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"}


def _p(name: str, type_: Any = None, **kw: Any) -> sa.BindParameter:
    """A named bound parameter (`p_` keeps it apart from the column names SQLAlchemy reserves)."""
    return sa.bindparam(f"p_{name}", type_=type_, **kw)


def _bigint(value: int) -> sa.BindParameter:
    """A LIMIT or OFFSET value as a 64-bit parameter (SQLAlchemy's default INTEGER cast would
    refuse an offset past 2**31 on PostgreSQL: a 500 instead of an empty page)."""
    return sa.bindparam(None, value, type_=sa.BigInteger)


def _one(result: sa.CursorResult) -> Record | None:
    row = result.first()
    return None if row is None else dict(row._mapping)


def _all(result: sa.CursorResult) -> list[Record]:
    return [dict(row._mapping) for row in result]


def _found(row: Record | None, what: str) -> Record:
    """`row`, or `NotFound` naming `what` ("Thread t1") when it is None."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def _insert_once(conn: sa.Connection, insert: sa.Insert, row: Record, if_exists: str, what: str,
                 existing: Callable[[], Record]) -> Record:
    """Insert `row` with `insert` (`ON CONFLICT DO NOTHING … RETURNING`); when the id is taken,
    raise `AlreadyExists` or, with `if_exists="do_nothing"`, return `existing()`."""
    created = _one(conn.execute(insert, row))
    if created is not None:
        return created
    if if_exists == "raise":
        raise AlreadyExists(f"{what} already exists")
    return existing()


def operation(mode: Mode, *, bulk: bool = False) -> Callable:
    """Make `fn(self, conn, *args, **kwargs)` an async method that runs as one operation in
    `mode` (`Dialect.run`; `bulk`: it may touch many rows)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        async def run(self: SqlStorage, *args: Any, **kwargs: Any) -> Any:
            return await self.dialect.run(lambda conn: fn(self, conn, *args, **kwargs), mode, bulk=bulk)
        return run
    return wrap


# -- statements that are the same on every database ----------------------------------
_GET_ASSISTANT = sa.select(assistants).where(assistants.c.assistant_id == _p("assistant_id"))
_ASSISTANT_STAMP = sa.select(assistants.c.version, assistants.c.updated_at).where(
    assistants.c.assistant_id == _p("assistant_id"))
_DELETE_ASSISTANT = sa.delete(assistants).where(assistants.c.assistant_id == _p("assistant_id"))
#: Record the assistant row as it now is as its version (the official `AssistantVersion`).
_VERSION_COLUMNS = ("assistant_id", "version", "graph_id", "config", "context", "metadata", "name", "description")
_RECORD_VERSION = sa.insert(assistant_versions).from_select(
    [*_VERSION_COLUMNS, "created_at"],
    sa.select(*(assistants.c[c] for c in _VERSION_COLUMNS), assistants.c.updated_at)
    .where(assistants.c.assistant_id == _p("assistant_id")),
)
#: The number a new version gets: one above the assistant's highest (not its current one).
_NEXT_VERSION = sa.select(sa.func.coalesce(sa.func.max(assistant_versions.c.version), 0) + 1).where(
    assistant_versions.c.assistant_id == _p("assistant_id"))
_GET_VERSION = sa.select(assistant_versions).where(
    assistant_versions.c.assistant_id == _p("assistant_id"), assistant_versions.c.version == _p("version"))
#: The active statuses written into the SQL: a list of values would be an "expanding"
#: parameter, which SQLAlchemy re-renders into the statement's text at every execution.
_ACTIVE_STATUSES = [sa.literal_column(f"'{status}'") for status in ACTIVE_RUN_STATUSES]
_GET_THREAD = sa.select(*thread_columns).where(threads.c.thread_id == _p("thread_id"))
_DELETE_THREAD = sa.delete(threads).where(threads.c.thread_id == _p("thread_id"))
_SET_THREAD_STATE = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values({
    "values": _p("values", Json), "interrupts": _p("interrupts", Json), "error": _p("error", Json),
    "updated_at": _p("now"), "state_updated_at": _p("now"),
    # A thread with an active run stays busy whatever its last run left.
    "status": sa.case((sa.exists().where(runs.c.thread_id == threads.c.thread_id,
                                         runs.c.status.in_(_ACTIVE_STATUSES)), "busy"),
                      else_=_p("status", sa.Text)),
}).returning(threads.c.status)
_COPY_THREAD = sa.insert(threads).from_select(
    ["thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config", "status",
     "values", "interrupts", "error"],
    sa.select(
        _p("target", sa.Text), _p("now", sa.Text), _p("now", sa.Text), _p("now", sa.Text),
        threads.c.metadata, threads.c.config,
        sa.case((threads.c.status == "busy", "idle"), else_=threads.c.status),
        threads.c["values"], threads.c.interrupts, threads.c.error,
    ).where(threads.c.thread_id == _p("source")),
).returning(*thread_columns)
_MARK_BUSY = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values(status="busy", updated_at=_p("now"))
_INSERT_RUN = sa.insert(runs).returning(*runs.c)
#: A run's insert with every value a `p_` parameter, for `_INSERT_RUN_MARK_BUSY*`.
_RUN_INSERT_COLUMNS = ("run_id", "thread_id", "assistant_id", "created_at", "updated_at", "available_at", "status",
                       "metadata", "kwargs", "multitask_strategy", "worker_id", "started_at", "lease_expires_at",
                       "attempt")
_INSERT_RUN_PARAMS = sa.insert(runs).values({c: _p(c, runs.c[c].type) for c in _RUN_INSERT_COLUMNS}).returning(*runs.c)
_INSERT_DECISION = sa.insert(decisions)
_CLOSING_DECISION = sa.select(decisions.c.run_id, decisions.c.action).where(
    decisions.c.thread_id == _p("thread_id"), decisions.c.interrupt_id == _p("interrupt_id"),
    decisions.c.closes == sa.true(),
)
_GET_DECISION = sa.select(decisions).where(decisions.c.decision_id == _p("decision_id"))
_DELETE_RUN_DECISIONS = sa.delete(decisions).where(decisions.c.run_id == _p("run_id"))
_DELETE_RUN_DEADLINES = sa.delete(interrupt_deadlines).where(interrupt_deadlines.c.run_id == _p("run_id"))
_DELETE_RUN = sa.delete(runs).where(runs.c.run_id == _p("run_id"), runs.c.thread_id == _p("thread_id"))
_GET_RUN = sa.select(runs).where(runs.c.run_id == _p("run_id"))
_GET_THREAD_RUN = _GET_RUN.where(runs.c.thread_id == _p("thread_id"))
_CLAIM_RUN = sa.update(runs).where(runs.c.run_id == _p("run_id")).values(
    status="running", worker_id=_p("worker_id"), updated_at=_p("now"), started_at=_p("now"),
    lease_expires_at=_p("lease"), attempt=runs.c.attempt + 1,
).returning(*runs.c)
_RUNNING_ON_THREAD = sa.select(runs.c.run_id).where(
    runs.c.thread_id == _p("thread_id"), runs.c.status == "running").limit(1)
_RENEW_LEASES = sa.update(runs).where(
    runs.c.worker_id == _p("worker_id"), runs.c.status == "running",
    runs.c.run_id.in_(_p("run_ids", expanding=True)),
).values(lease_expires_at=_p("lease"))
_RUNNING = sa.select(runs).where(runs.c.status == "running")
_LEASE_EXPIRED = _RUNNING.where(runs.c.lease_expires_at < _p("now"))
_REQUEUE_RUN = sa.update(runs).where(runs.c.run_id == _p("run_id"), runs.c.status == "running").values(
    status="pending", worker_id=None, lease_expires_at=None, started_at=None, updated_at=_p("now"),
    attempt=runs.c.attempt - _p("undo", sa.Integer),
)
_FINISH_RUN = sa.update(runs).where(runs.c.run_id == _p("run_id")).values(
    status=_p("status"), output=_p("output", Json), error=_p("error", Json), updated_at=_p("now"),
    lease_expires_at=None,
).returning(*runs.c)
_PENDING_RUN = sa.and_(runs.c.run_id == _p("run_id"), runs.c.status == "pending")
_DELETE_PENDING_RUN = sa.delete(runs).where(_PENDING_RUN)
_INTERRUPT_PENDING_RUN = sa.update(runs).where(_PENDING_RUN).values(status="interrupted", updated_at=_p("now"))
_NEXT_AVAILABLE = sa.select(sa.func.min(runs.c.available_at)).where(runs.c.status == "pending")
_INSERT_WEBHOOK = sa.insert(webhook_deliveries)
_RETRY_WEBHOOK = sa.update(webhook_deliveries).where(webhook_deliveries.c.delivery_id == _p("delivery_id")).values(
    attempts=webhook_deliveries.c.attempts + 1, next_attempt_at=_p("next_attempt_at"), claimed_until=None,
    last_error=_p("error"),
)
_DELETE_WEBHOOK = sa.delete(webhook_deliveries).where(webhook_deliveries.c.delivery_id == _p("delivery_id"))

_SETTLE_NOTIFICATION = sa.update(notification_deliveries).where(
    notification_deliveries.c.delivery_id == _p("delivery_id")).values(
    status=_p("status"), attempts=notification_deliveries.c.attempts + _p("attempted", sa.Integer),
    last_error=_p("error"), claimed_until=None,
    next_attempt_at=sa.func.coalesce(_p("next_attempt_at", sa.Text), notification_deliveries.c.next_attempt_at),
    sent_at=sa.case((_p("status") == "sent", _p("now", sa.Text)), else_=notification_deliveries.c.sent_at),
)
_LIST_NOTIFICATIONS = sa.select(notification_deliveries).where(
    notification_deliveries.c.thread_id == _p("thread_id")).order_by(
    notification_deliveries.c.created_at, notification_deliveries.c.delivery_id)
_RUN_COUNTS = sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
_TAKE_TICK = sa.update(crons).where(
    crons.c.cron_id == _p("cron_id"), crons.c.next_run_date == _p("run_date"), crons.c.enabled == sa.true(),
).values(next_run_date=_p("next_run_date", sa.Text))
_INSERT_CRON = sa.insert(crons).returning(*crons.c)
_GET_CRON = sa.select(crons).where(crons.c.cron_id == _p("cron_id"))
_DELETE_CRON = sa.delete(crons).where(crons.c.cron_id == _p("cron_id"))
_DUE_CRONS = sa.select(crons).where(crons.c.enabled == sa.true(), crons.c.next_run_date <= _p("now")).order_by(
    crons.c.next_run_date).limit(_p("limit", sa.BigInteger))
_NEXT_CRON_RUN_DATE = sa.select(sa.func.min(crons.c.next_run_date)).where(crons.c.enabled == sa.true())
_SET_THREAD_TTL = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values(
    ttl_minutes=_p("minutes", sa.Float), ttl_strategy=_p("strategy", sa.Text), updated_at=_p("now"))
_GET_THREAD_TTL = sa.select(threads.c.ttl_minutes, threads.c.ttl_strategy, threads.c.updated_at).where(
    threads.c.thread_id == _p("thread_id"))
_THREAD_STATUS = sa.select(threads.c.status).where(threads.c.thread_id == _p("thread_id"))
_MARK_PRUNED = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values(ttl_pruned_at=_p("now"))
_te = thread_events
_THREAD_EVENTS_AFTER = sa.select(_te.c.seq, _te.c.body).where(
    _te.c.thread_id == _p("thread_id"), _te.c.seq > _p("since", sa.BigInteger), _te.c.seq < _p("before", sa.BigInteger),
).order_by(_te.c.seq.desc()).limit(_p("limit", sa.BigInteger))
_LAST_THREAD_EVENT_SEQ = sa.select(sa.func.max(_te.c.seq)).where(_te.c.thread_id == _p("thread_id"))
_LAST_EVENT_SEQ = sa.select(sa.func.max(_te.c.seq))
#: All but the newest `keep` events of a thread (the `keep`-th newest seq bounds them).
_TRIM_THREAD_EVENTS = sa.delete(_te).where(_te.c.thread_id == _p("thread_id"), _te.c.seq < (
    sa.select(_te.c.seq).where(_te.c.thread_id == _p("thread_id")).order_by(_te.c.seq.desc())
    .limit(1).offset(_p("skip", sa.BigInteger)).scalar_subquery()))
#: Threads with an event logged before `before` whose newest event also was (their log expired).
_old = _te.alias("old")
_EXPIRED_EVENT_LOGS = sa.select(_old.c.thread_id).where(_old.c.created_at < _p("before")).group_by(
    _old.c.thread_id).having(sa.select(_te.c.created_at).where(_te.c.thread_id == _old.c.thread_id).order_by(
        _te.c.seq.desc()).limit(1).scalar_subquery() < _p("before")).limit(_p("limit", sa.BigInteger))
_DELETE_THREAD_EVENTS = sa.delete(_te).where(_te.c.thread_id.in_(_p("thread_ids", expanding=True)))

# The statements of a human-in-the-loop cycle (thread creation, run creation, claim and
# finish, a resume's decision, thread state): run on the DBAPI cursor (storage/prepared.py).
# Wrapped after the statements built on them above, which SQLAlchemy runs as before.
(_ASSISTANT_STAMP, _GET_THREAD, _SET_THREAD_STATE, _MARK_BUSY, _INSERT_RUN, _INSERT_DECISION, _CLOSING_DECISION,
 _GET_RUN, _CLAIM_RUN, _RUNNING_ON_THREAD, _FINISH_RUN, _THREAD_STATUS, _TRIM_THREAD_EVENTS) = map(Prepared, (
    _ASSISTANT_STAMP, _GET_THREAD, _SET_THREAD_STATE, _MARK_BUSY, _INSERT_RUN, _INSERT_DECISION, _CLOSING_DECISION,
    _GET_RUN, _CLAIM_RUN, _RUNNING_ON_THREAD, _FINISH_RUN, _THREAD_STATUS, _TRIM_THREAD_EVENTS))


def _check_stamp(assistant_id: str, stored: tuple | None, stamp: tuple) -> None:
    """Raise `AssistantChanged` unless the assistant's stored `(version, updated_at)` is `stamp`."""
    if stored is None or tuple(stored) != tuple(stamp):
        raise AssistantChanged(f"Assistant {assistant_id} changed since it was read")


def _decision_row(d: Record) -> Record:
    return {
        "decision_id": d["decision_id"], "thread_id": d["thread_id"], "interrupt_id": d["interrupt_id"],
        "run_id": d.get("run_id"), "reviewer": d.get("reviewer"), "action": d["action"],
        "value": d.get("value"), "closes": bool(d.get("closes")), "decided_at": d.get("decided_at") or now_iso(),
    }


class SqlStorage(Storage):
    """`Storage` on the database `dialect` connects to (see `waypoint.storage.open_storage`)."""

    def __init__(self, dialect: Dialect):
        self.dialect = d = dialect
        self._checkpoint_columns: dict[str, list[str]] = {}
        # -- statements that differ by database, built once --
        self._insert_assistant = d.insert_ignore(assistants).returning(*assistants.c)
        self._lock_assistant = d.lock_rows(
            sa.select(assistants.c.assistant_id).where(assistants.c.assistant_id == _p("assistant_id")))
        self._insert_thread = d.insert_ignore(threads).returning(*thread_columns)
        self._patch_thread_metadata = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values(
            metadata=d.json_merge(threads.c.metadata, _p("patch", Json)), updated_at=_p("now"),
        ).returning(*thread_columns)
        self._lock_thread = d.lock_rows(sa.select(threads.c.thread_id).where(threads.c.thread_id == _p("thread_id")))
        # Run creation's lock: also the metadata its run merges into (often there already).
        self._lock_thread_meta = d.lock_rows(sa.select(threads.c.thread_id, threads.c.metadata)
                                             .where(threads.c.thread_id == _p("thread_id")))
        self._lock_thread_state = d.lock_rows(sa.select(threads.c.thread_id, threads.c.status, threads.c.interrupts,
                                                        threads.c.metadata)
                                              .where(threads.c.thread_id == _p("thread_id")))
        # The same, with the run's assistant's stamp (`create_run`'s check of a cached
        # assistant) read in the lock's statement: one round trip less.
        stamp = [_ASSISTANT_STAMP.with_only_columns(c).scalar_subquery().label(f"assistant_{c.name}")
                 for c in (assistants.c.version, assistants.c.updated_at)]
        self._lock_thread_meta_stamp = self._lock_thread_meta.add_columns(*stamp)
        self._lock_thread_state_stamp = self._lock_thread_state.add_columns(*stamp)
        self._lock_run_thread = d.lock_rows(sa.select(threads.c.thread_id).where(
            threads.c.thread_id == sa.select(runs.c.thread_id).where(runs.c.run_id == _p("run_id")).scalar_subquery()))
        # A run's finish that first locks its thread's row, in the same statement (one round
        # trip less than the lock on its own): the thread's update after it sees every
        # active run committed meanwhile (see `_finish_run`).
        self._finish_run_locked = _FINISH_RUN.where(runs.c.thread_id.in_(self._lock_run_thread))
        self._lock_thread_or_skip = d.lock_rows(
            sa.select(threads.c.thread_id).where(threads.c.thread_id == _p("thread_id")), skip_locked=True
        )
        self._active_runs = sa.select(runs.c.run_id).where(
            runs.c.thread_id == _p("thread_id"), runs.c.status.in_(_ACTIVE_STATUSES)
        ).order_by(d.insertion_order(runs))
        self._mark_busy_merge = _MARK_BUSY.values(metadata=d.json_merge(threads.c.metadata, _p("patch", Json)))
        # Where the database runs a data-modifying CTE (PostgreSQL): a run's insert and its
        # thread's `busy` (and metadata merge) in one statement, one round trip less.
        self._insert_run_busy = self._insert_run_busy_merge = None
        if d.writable_ctes:
            busy = sa.update(threads).where(threads.c.thread_id == _p("thread_id")).values(
                status=sa.literal_column("'busy'"), updated_at=_p("now"))
            merge = busy.values(metadata=d.json_merge(threads.c.metadata, _p("patch", Json)))
            self._insert_run_busy = _INSERT_RUN_PARAMS.add_cte(busy.cte("busy"))
            self._insert_run_busy_merge = _INSERT_RUN_PARAMS.add_cte(merge.cte("busy"))
        self._insert_decision = _INSERT_DECISION.returning(*decisions.c)
        self._list_decisions = sa.select(decisions).where(decisions.c.thread_id == _p("thread_id")).order_by(
            d.insertion_order(decisions))
        self._insert_deadlines = d.insert_ignore(interrupt_deadlines)
        due = interrupt_deadlines
        self._claim_deadlines = sa.update(due).where(sa.tuple_(due.c.thread_id, due.c.interrupt_id).in_(
            d.lock_rows(sa.select(due.c.thread_id, due.c.interrupt_id).where(
                due.c.fired_at.is_(None), due.c.expires_at <= _p("now"),
            ).order_by(due.c.expires_at).limit(_p("limit", sa.BigInteger)), skip_locked=True)
        )).values(fired_at=_p("now")).returning(*due.c)
        of_run = sa.and_(checkpoints.c.thread_id == _p("thread_id"), d.checkpoint_run_id(checkpoints) == _p("run_id"))
        writes = sa.table(d.checkpoint_writes_table, sa.column("thread_id"), sa.column("checkpoint_id"))
        self._delete_run_writes = sa.delete(writes).where(
            writes.c.thread_id == _p("thread_id"),
            writes.c.checkpoint_id.in_(sa.select(checkpoints.c.checkpoint_id).where(of_run)),
        )
        self._delete_run_checkpoints = sa.delete(checkpoints).where(of_run)
        self._run_wrote_checkpoints = sa.select(sa.literal(1)).select_from(checkpoints).where(of_run).limit(1)
        self._list_runs = sa.select(runs).where(runs.c.thread_id == _p("thread_id")).order_by(
            d.insertion_order(runs).desc()).limit(_p("limit", sa.BigInteger)).offset(_p("offset", sa.BigInteger))
        self._list_runs_status = self._list_runs.where(runs.c.status == _p("status"))
        # The oldest available pending runs whose thread has no running run and no older
        # pending run (queue order within a thread), locked with SKIP LOCKED.
        r, earlier, running = runs.alias("r"), runs.alias("e"), runs.alias("o")
        self._claim_candidates = d.lock_rows(
            sa.select(r.c.run_id, r.c.thread_id).where(
                r.c.status == "pending", r.c.available_at <= _p("now"),
                # (created_at follows insertion order within a thread: implied, but it lets
                # SQLite's planner search the (thread_id, created_at) index.)
                ~sa.exists().where(earlier.c.thread_id == r.c.thread_id, earlier.c.status == "pending",
                                   earlier.c.created_at <= r.c.created_at,
                                   d.insertion_order(earlier) < d.insertion_order(r)),
                ~sa.exists().where(running.c.thread_id == r.c.thread_id, running.c.status == "running"),
            ).order_by(d.insertion_order(r)).limit(_p("candidates", sa.BigInteger)),
            skip_locked=True,
        )
        wh = webhook_deliveries
        self._claim_webhooks = sa.update(wh).where(wh.c.delivery_id.in_(d.lock_rows(
            sa.select(wh.c.delivery_id).where(
                wh.c.next_attempt_at <= _p("now"),
                sa.or_(wh.c.claimed_until.is_(None), wh.c.claimed_until < _p("now")),
            ).order_by(wh.c.next_attempt_at).limit(_p("limit", sa.BigInteger)), skip_locked=True,
        ))).values(claimed_until=_p("until")).returning(*wh.c)
        nd = notification_deliveries
        self._insert_notification = d.insert_ignore(nd)
        self._insert_thread_events = d.insert_ignore(thread_events)
        self._claim_notifications = sa.update(nd).where(nd.c.delivery_id.in_(d.lock_rows(
            sa.select(nd.c.delivery_id).where(
                nd.c.status == "pending", nd.c.next_attempt_at <= _p("now"),
                sa.or_(nd.c.claimed_until.is_(None), nd.c.claimed_until < _p("now")),
            ).order_by(nd.c.next_attempt_at).limit(_p("limit", sa.BigInteger)), skip_locked=True,
        ))).values(claimed_until=_p("until")).returning(*nd.c)
        # A thread whose TTL passed, with no active run (the bound parameter p_now).
        expired = sa.and_(threads.c.ttl_minutes.is_not(None), threads.c.status != "busy",
                          d.minutes_passed(threads.c.updated_at, threads.c.ttl_minutes, _p("now", sa.Text)))
        dl = interrupt_deadlines
        self._expired_threads = sa.select(threads.c.thread_id, threads.c.ttl_strategy.label("strategy")).where(
            expired,
            sa.or_(
                # keep_latest: not pruned since its last update; delete: no deadline still unfired.
                sa.and_(threads.c.ttl_strategy == "keep_latest",
                        sa.or_(threads.c.ttl_pruned_at.is_(None), threads.c.ttl_pruned_at < threads.c.updated_at)),
                sa.and_(sa.func.coalesce(threads.c.ttl_strategy, "delete") != "keep_latest",
                        ~sa.exists().where(dl.c.thread_id == threads.c.thread_id, dl.c.fired_at.is_(None))),
            ),
        ).order_by(threads.c.updated_at).limit(_p("limit", sa.BigInteger))
        self._delete_expired_thread = sa.delete(threads).where(threads.c.thread_id == _p("thread_id"), expired)
        for name in ("_insert_thread", "_lock_thread", "_lock_thread_meta", "_lock_thread_state",
                     "_lock_thread_meta_stamp", "_lock_thread_state_stamp", "_lock_run_thread",
                     "_active_runs", "_mark_busy_merge", "_insert_decision", "_claim_candidates", "_insert_thread_events",
                     "_finish_run_locked", "_insert_run_busy", "_insert_run_busy_merge"):
            if getattr(self, name) is not None:  # (the run inserts marking busy: PostgreSQL only)
                setattr(self, name, Prepared(getattr(self, name)))  # the HITL cycle's: see above

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        await self.dialect.open()
        try:
            await self.dialect.migrate(migrations.upgrade)
        except BaseException:
            await self.dialect.close()
            raise

    async def close(self) -> None:
        await self.dialect.close()

    @operation("read")
    def ping(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("SELECT 1")

    @property
    def checkpointer(self) -> BaseCheckpointSaver:
        return self.dialect.checkpointer

    @property
    def store(self) -> BaseStore:
        return self.dialect.store

    # -- assistants --------------------------------------------------------
    @operation("transaction")
    def put_assistant(
        self, conn: sa.Connection, assistant_id: str, *, graph_id: str, config: dict, context: dict,
        metadata: dict, name: str, description: str | None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> Record:
        now = now_iso()
        created = _one(conn.execute(self._insert_assistant, {
            "assistant_id": assistant_id, "graph_id": graph_id, "config": config, "context": context,
            "metadata": metadata, "name": name, "description": description, "version": 1,
            "created_at": now, "updated_at": now,
        }))
        if created is None:
            if if_exists == "raise":
                raise AlreadyExists(f"Assistant {assistant_id} already exists")
            return self._get_assistant(conn, assistant_id)
        conn.execute(_RECORD_VERSION, {"p_assistant_id": assistant_id})
        return created

    @staticmethod
    def _get_assistant(conn: sa.Connection, assistant_id: str) -> Record:
        return _found(_one(conn.execute(_GET_ASSISTANT, {"p_assistant_id": assistant_id})),
                      f"Assistant {assistant_id}")

    @operation("read")
    def get_assistant(self, conn: sa.Connection, assistant_id: str) -> Record:
        return self._get_assistant(conn, assistant_id)

    @operation("transaction")
    def update_assistant(self, conn: sa.Connection, assistant_id: str, fields: dict[str, Any]) -> Record:
        # The row lock first: the next number is then read after any concurrent update committed.
        if conn.execute(self._lock_assistant, {"p_assistant_id": assistant_id}).first() is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        version = conn.execute(_NEXT_VERSION, {"p_assistant_id": assistant_id}).scalar_one()
        values: dict[str, Any] = {"version": version, "updated_at": now_iso()}
        for col in ("graph_id", "name", "description", "config", "context"):
            if col in fields:
                values[col] = fields[col]
        if "metadata" in fields:
            values["metadata"] = self.dialect.json_merge(
                assistants.c.metadata, sa.bindparam(None, fields["metadata"] or {}, type_=Json))
        row = _one(conn.execute(
            sa.update(assistants).where(assistants.c.assistant_id == assistant_id).values(values)
            .returning(*assistants.c)
        ))
        conn.execute(_RECORD_VERSION, {"p_assistant_id": assistant_id})
        return row

    @operation("statement", bulk=True)
    def delete_assistant(self, conn: sa.Connection, assistant_id: str) -> None:
        # Its versions and crons go with it (ON DELETE CASCADE).
        if conn.execute(_DELETE_ASSISTANT, {"p_assistant_id": assistant_id}).rowcount == 0:
            raise NotFound(f"Assistant {assistant_id} not found")

    async def list_assistant_versions(self, assistant_id, *, metadata, limit, offset) -> list[Record]:
        v = assistant_versions
        stmt = (sa.select(v).where(v.c.assistant_id == assistant_id, *self._contains("metadata", v.c.metadata, metadata))
                .order_by(v.c.version.desc()).limit(_bigint(limit)).offset(_bigint(offset)))
        return await self.dialect.run(lambda conn: _all(conn.execute(stmt)), "read")

    @operation("transaction")
    def set_assistant_version(self, conn: sa.Connection, assistant_id: str, version: int) -> Record:
        recorded = _one(conn.execute(_GET_VERSION, {"p_assistant_id": assistant_id, "p_version": version}))
        if recorded is None:
            self._get_assistant(conn, assistant_id)  # NotFound naming the assistant
            raise NotFound(f"Version {version} of assistant {assistant_id} not found")
        fields = {k: recorded[k] for k in ("graph_id", "config", "context", "metadata", "name", "description", "version")}
        return _one(conn.execute(
            sa.update(assistants).where(assistants.c.assistant_id == assistant_id)
            .values(**fields, updated_at=now_iso()).returning(*assistants.c)
        ))

    # -- searches (filters vary: built per call) -----------------------------
    def _contains(self, field: str, column: sa.ColumnElement, document: dict | None) -> list[sa.ColumnElement]:
        """`column` contains `document` (jsonb `@>`; no clause for an empty or missing filter);
        the whole filter is one bound JSON parameter, so any key works."""
        if not document:
            return []
        if has_nul(document):
            raise UnsupportedValue(
                f"{field}: a search filter cannot hold the NUL character (\\u0000), which "
                "PostgreSQL cannot store"
            )
        return [self.dialect.json_contains(column, sa.bindparam(None, document, type_=Json))]

    def _assistant_where(self, graph_id, name, metadata) -> list[sa.ColumnElement]:
        clauses = self._contains("metadata", assistants.c.metadata, metadata)
        if graph_id is not None:
            clauses.append(assistants.c.graph_id == graph_id)
        if name is not None:
            clauses.append(assistants.c.name.ilike(f"%{name}%"))
        return clauses

    def _thread_where(self, ids, metadata, values, status) -> list[sa.ColumnElement]:
        clauses = self._contains("metadata", threads.c.metadata, metadata)
        clauses += self._contains("values", threads.c["values"], values)
        if ids:
            clauses.append(threads.c.thread_id.in_([str(i) for i in ids]))
        if status is not None:
            clauses.append(threads.c.status == status)
        return clauses

    @staticmethod
    def _page(stmt: sa.Select, table: sa.Table, sort_by, sort_order, allowed: set[str], tiebreak: str,
              limit: int, offset: int) -> sa.Select:
        """`stmt` ordered by `sort_by` if allowed (default `created_at`, newest first)."""
        column = table.c[sort_by if sort_by in allowed else "created_at"]
        tie = table.c[tiebreak]
        order = (column.asc(), tie.asc()) if sort_order == "asc" else (column.desc(), tie.desc())
        return stmt.order_by(*order).limit(_bigint(limit)).offset(_bigint(offset))

    async def search_assistants(
        self, *, graph_id, name, metadata, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        stmt = self._page(sa.select(assistants).where(*self._assistant_where(graph_id, name, metadata)),
                          assistants, sort_by, sort_order, ASSISTANT_SORT, "assistant_id", limit, offset)
        return await self.dialect.run(lambda conn: _all(conn.execute(stmt)), "read")

    async def count_assistants(self, *, graph_id, name, metadata) -> int:
        stmt = sa.select(sa.func.count()).select_from(assistants).where(
            *self._assistant_where(graph_id, name, metadata))
        return await self.dialect.run(lambda conn: conn.execute(stmt).scalar_one(), "read")

    async def search_threads(
        self, *, ids, metadata, values, status, limit, offset, sort_by, sort_order: SortOrder
    ) -> list[Record]:
        stmt = self._page(sa.select(*thread_columns).where(*self._thread_where(ids, metadata, values, status)),
                          threads, sort_by, sort_order, THREAD_SORT, "thread_id", limit, offset)
        return await self.dialect.run(lambda conn: _all(conn.execute(stmt)), "read")

    async def count_threads(self, *, metadata, values, status) -> int:
        stmt = sa.select(sa.func.count()).select_from(threads).where(
            *self._thread_where(None, metadata, values, status))
        return await self.dialect.run(lambda conn: conn.execute(stmt).scalar_one(), "read")

    # -- threads -----------------------------------------------------------
    @operation("statement")
    def create_thread(
        self, conn: sa.Connection, thread_id: str, *, metadata: dict,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> Record:
        return _insert_once(conn, self._insert_thread, self._thread_row(thread_id, metadata), if_exists,
                            f"Thread {thread_id}", lambda: self._get_thread(conn, thread_id))

    def _thread_row(self, thread_id: str, metadata: dict, status: str = "idle") -> Record:
        now = now_iso()
        return {
            "thread_id": thread_id, "created_at": now, "updated_at": now, "state_updated_at": now,
            "metadata": metadata, "config": {}, "status": status, "interrupts": {},
            **dict(zip(("ttl_minutes", "ttl_strategy"), thread_ttl_columns(self.default_thread_ttl))),
        }

    @staticmethod
    def _get_thread(conn: sa.Connection, thread_id: str) -> Record:
        return _found(_one(conn.execute(_GET_THREAD, {"p_thread_id": thread_id})), f"Thread {thread_id}")

    @operation("read")
    def get_thread(self, conn: sa.Connection, thread_id: str) -> Record:
        return self._get_thread(conn, thread_id)

    @operation("statement")
    def patch_thread_metadata(self, conn: sa.Connection, thread_id: str, metadata: dict) -> Record:
        row = _one(conn.execute(self._patch_thread_metadata,
                                {"p_thread_id": thread_id, "p_patch": metadata, "p_now": now_iso()}))
        if row is None:
            raise NotFound(f"Thread {thread_id} not found")
        return row

    @operation("statement", bulk=True)
    def _delete_thread(self, conn: sa.Connection, thread_id: str) -> None:
        # Runs, decisions and deadlines go with the thread (ON DELETE CASCADE).
        if conn.execute(_DELETE_THREAD, {"p_thread_id": thread_id}).rowcount == 0:
            raise NotFound(f"Thread {thread_id} not found")

    async def delete_thread(self, thread_id: str) -> None:
        await self._delete_thread(thread_id)
        await self.checkpointer.adelete_thread(thread_id)

    @staticmethod
    def _set_thread_state(conn: sa.Connection, thread_id: str, *, values: Any, interrupts: dict,
                          error: Any, status: str) -> str | None:
        """Store the thread's state; returns the status it got (`busy` while a run is active,
        None when the thread is gone)."""
        return conn.execute(_SET_THREAD_STATE, {
            "p_thread_id": thread_id, "p_values": values, "p_interrupts": interrupts, "p_error": error,
            "p_now": now_iso(), "p_status": status,
        }).scalar()

    @operation("transaction")
    def set_thread_state(
        self, conn: sa.Connection, thread_id: str, *, values: Any, interrupts: dict[str, list],
        error: Any | None, status: str,
    ) -> None:
        # Thread row lock first (as run creation, finish and cancel take it): the "active run?"
        # test below then sees every run change committed before ours.
        conn.execute(self._lock_thread, {"p_thread_id": thread_id})
        self._set_thread_state(conn, thread_id, values=values, interrupts=interrupts, error=error, status=status)

    def _columns(self, conn: sa.Connection, table: str) -> list[str]:
        # langgraph's checkpointer owns and migrates its tables: read their columns once.
        if table not in self._checkpoint_columns:
            self._checkpoint_columns[table] = [
                c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] != "thread_id"
            ]
        return self._checkpoint_columns[table]

    @operation("transaction", bulk=True)
    def copy_thread(self, conn: sa.Connection, source_id: str, target_id: str) -> Record:
        row = _one(conn.execute(_COPY_THREAD, {"p_target": target_id, "p_source": source_id, "p_now": now_iso()}))
        if row is None:
            raise NotFound(f"Thread {source_id} not found")
        # Checkpoint rows are keyed by thread_id: copied verbatim under the new id, their
        # metadata naming their own thread (see storage/checkpoints.py).
        target = _p("target", sa.Text)
        for name in self.dialect.checkpoint_tables:
            names = self._columns(conn, name)
            table = sa.table(name, *(sa.column(n) for n in ["thread_id", *names]))
            copied = [
                self.dialect.checkpoint_metadata_for(table.c.metadata, target)
                if name == "checkpoints" and n == "metadata" else table.c[n]
                for n in names
            ]
            conn.execute(sa.insert(table).from_select(
                ["thread_id", *names],
                sa.select(target, *copied).where(table.c.thread_id == _p("source")),
            ), {"p_target": target_id, "p_source": source_id})
        return row

    # -- runs --------------------------------------------------------------
    @operation("transaction")
    def create_run(
        self, conn: sa.Connection, run: Record, *, reject_if_busy: bool, decisions: Sequence[Record] = (),
        thread_metadata: dict | None = None, cron_tick: Record | None = None, new_thread: bool = False,
        assistant_stamp: tuple[int, str] | None = None, claim: tuple[str, float] | None = None,
        decide: Callable[[Record], Sequence[Record]] | None = None,
    ) -> tuple[Record, list[str]]:
        thread_id = run["thread_id"]
        if new_thread:  # inserted busy, locked by this transaction until it commits
            _insert_once(conn, self._insert_thread, self._thread_row(thread_id, thread_metadata or {}, "busy"),
                         "raise", f"Thread {thread_id}", dict)
        else:
            if assistant_stamp is None:
                lock = self._lock_thread_state if decide is not None else self._lock_thread_meta
            else:
                lock = self._lock_thread_state_stamp if decide is not None else self._lock_thread_meta_stamp
            locked = _one(conn.execute(lock, {"p_thread_id": thread_id, "p_assistant_id": run["assistant_id"]}))
            if locked is None:
                raise NotFound(f"Thread {thread_id} not found")
            if assistant_stamp is not None:
                _check_stamp(run["assistant_id"], (locked["assistant_version"], locked["assistant_updated_at"]),
                             assistant_stamp)
                assistant_stamp = None  # checked
            if decide is not None:
                decisions = decide(locked)  # under the lock: what it sees pending stays so
            stored = locked.get("metadata") or {}
            if thread_metadata and all(k in stored and stored[k] == v for k, v in thread_metadata.items()):
                thread_metadata = None  # nothing to merge (a thread's later runs)
        if assistant_stamp is not None:
            stored = conn.execute(_ASSISTANT_STAMP, {"p_assistant_id": run["assistant_id"]}).first()
            _check_stamp(run["assistant_id"], None if stored is None else tuple(stored), assistant_stamp)
        now = now_iso()  # under the thread lock: created_at follows queue order
        active = [] if new_thread else list(conn.execute(self._active_runs, {"p_thread_id": thread_id}).scalars())
        if active and reject_if_busy:
            raise ThreadBusy(thread_id, active)
        for decision in decisions:
            self._check_open(conn, thread_id, decision)
        if cron_tick is not None:
            self._take_tick(conn, **cron_tick)
        row = {
            "run_id": run["run_id"], "thread_id": thread_id, "assistant_id": run["assistant_id"],
            "created_at": now, "updated_at": now, "available_at": run.get("available_at") or now,
            "status": "pending", "metadata": run.get("metadata") or {}, "kwargs": run.get("kwargs") or {},
            "multitask_strategy": run.get("multitask_strategy", "enqueue"), "attempt": 0,
        }
        if claim is not None and not active and not run.get("available_at"):
            # Claimed as `claim_runs` would: the thread's lock is held and no run of it is
            # active, so this is its one running run cluster-wide.
            worker_id, lease_seconds = claim
            row.update(status="running", worker_id=worker_id, started_at=now,
                       lease_expires_at=now_iso(lease_seconds), attempt=1)
        busy = {"p_thread_id": thread_id, "p_now": now, **({"p_patch": thread_metadata} if thread_metadata else {})}
        if new_thread:  # inserted busy, with its metadata
            created, busy = _one(conn.execute(_INSERT_RUN, row)), None
        elif self._insert_run_busy is not None:  # with the thread's update, in one statement
            insert = self._insert_run_busy_merge if thread_metadata else self._insert_run_busy
            params = {f"p_{c}": row.get(c) for c in _RUN_INSERT_COLUMNS}
            created, busy = _one(conn.execute(insert, {**params, **busy})), None
        else:
            created = _one(conn.execute(_INSERT_RUN, row))
        if decisions:
            conn.execute(_INSERT_DECISION, [
                _decision_row({**d, "thread_id": thread_id, "run_id": run["run_id"]}) for d in decisions
            ])
        if busy is not None:
            conn.execute(self._mark_busy_merge if thread_metadata else _MARK_BUSY, busy)
        return created, active

    # -- decisions and deadlines -------------------------------------------
    @staticmethod
    def _check_open(conn: sa.Connection, thread_id: str, decision: Record) -> None:
        """Raise `InterruptAnswered` if `decision` closes an interrupt that is closed already.
        Callers hold the thread's lock (its row lock, or SQLite's one writer): no race."""
        if not decision.get("closes"):
            return
        row = conn.execute(_CLOSING_DECISION, {
            "p_thread_id": thread_id, "p_interrupt_id": decision["interrupt_id"]}).first()
        if row is not None:
            raise InterruptAnswered(thread_id, decision["interrupt_id"], row.run_id, row.action)

    @operation("transaction")
    def record_decision(self, conn: sa.Connection, decision: Record) -> Record:
        thread_id = decision["thread_id"]
        if conn.execute(self._lock_thread, {"p_thread_id": thread_id}).first() is None:
            raise NotFound(f"Thread {thread_id} not found")
        self._check_open(conn, thread_id, decision)
        return _one(conn.execute(self._insert_decision, _decision_row(decision)))

    @operation("read")
    def list_decisions(self, conn: sa.Connection, thread_id: str) -> list[Record]:
        return _all(conn.execute(self._list_decisions, {"p_thread_id": thread_id}))

    async def put_deadlines(self, deadlines: Sequence[Record]) -> None:
        if not deadlines:
            return
        rows = [{
            "thread_id": d["thread_id"], "interrupt_id": d["interrupt_id"], "run_id": d["run_id"],
            "assistant_id": d["assistant_id"], "expires_at": d["expires_at"], "on_expire": d["on_expire"],
            "default_value": d.get("default_value"),
        } for d in deadlines]
        await self.dialect.run(lambda conn: conn.execute(self._insert_deadlines, rows), "transaction")

    @operation("statement")
    def claim_due_deadlines(self, conn: sa.Connection, limit: int = 100) -> list[Record]:
        return _all(conn.execute(self._claim_deadlines, {"p_now": now_iso(), "p_limit": limit}))

    @operation("transaction", bulk=True)
    def _rollback_run(self, conn: sa.Connection, thread_id: str, run_id: str, released: Sequence[Record]) -> None:
        if released:
            conn.execute(_INSERT_DECISION, [
                _decision_row({**d, "thread_id": thread_id, "run_id": run_id}) for d in released
            ])
        else:
            conn.execute(_DELETE_RUN_DECISIONS, {"p_run_id": run_id})
        conn.execute(_DELETE_RUN_DEADLINES, {"p_run_id": run_id})
        ids = {"p_run_id": run_id, "p_thread_id": thread_id}
        conn.execute(_DELETE_RUN, ids)
        conn.execute(self._delete_run_writes, ids)
        conn.execute(self._delete_run_checkpoints, ids)

    async def rollback_run(self, thread_id: str, run_id: str, *, released: Sequence[Record] = ()) -> None:
        await self._rollback_run(thread_id, run_id, released)

    @operation("read")
    def get_run(self, conn: sa.Connection, run_id: str, thread_id: str | None = None) -> Record:
        if thread_id is None:
            row = _one(conn.execute(_GET_RUN, {"p_run_id": run_id}))
        else:
            row = _one(conn.execute(_GET_THREAD_RUN, {"p_run_id": run_id, "p_thread_id": thread_id}))
        if row is None:
            raise NotFound(f"Run {run_id} not found")
        return row

    @operation("read")
    def list_runs(self, conn: sa.Connection, thread_id: str, *, limit: int, offset: int,
                  status: str | None) -> list[Record]:
        params = {"p_thread_id": thread_id, "p_limit": limit, "p_offset": offset}
        if status is None:
            return _all(conn.execute(self._list_runs, params))
        return _all(conn.execute(self._list_runs_status, {**params, "p_status": status}))

    @operation("statement", bulk=True)
    def delete_run(self, conn: sa.Connection, run_id: str, thread_id: str) -> None:
        if conn.execute(_DELETE_RUN, {"p_run_id": run_id, "p_thread_id": thread_id}).rowcount == 0:
            raise NotFound(f"Run {run_id} not found")

    @operation("transaction")
    def claim_runs(self, conn: sa.Connection, worker_id: str, lease_seconds: float, limit: int) -> list[Record]:
        now, claimed = now_iso(), []
        # Other processes may hold some candidates (SKIP LOCKED): look a little further.
        wanted = limit if self.dialect.serializes_writers else limit + 15
        for cand in conn.execute(self._claim_candidates, {"p_now": now, "p_candidates": wanted}).all():
            if len(claimed) == limit:
                break
            if not self.dialect.serializes_writers:
                # The candidate query saw the snapshot of its start: under the thread's row
                # lock, "no running run on this thread" holds cluster-wide.
                if conn.execute(self._lock_thread_or_skip, {"p_thread_id": cand.thread_id}).first() is None:
                    continue
                if conn.execute(_RUNNING_ON_THREAD, {"p_thread_id": cand.thread_id}).first() is not None:
                    continue
            claimed.append(_one(conn.execute(_CLAIM_RUN, {
                "p_run_id": cand.run_id, "p_worker_id": worker_id, "p_now": now,
                "p_lease": now_iso(lease_seconds),
            })))
        return claimed

    async def renew_leases(self, worker_id: str, run_ids: Sequence[str], lease_seconds: float) -> None:
        if not run_ids:
            return
        params = {"p_worker_id": worker_id, "p_run_ids": list(run_ids), "p_lease": now_iso(lease_seconds)}
        await self.dialect.run(lambda conn: conn.execute(_RENEW_LEASES, params), "statement")

    @operation("read")
    def orphaned_runs(self, conn: sa.Connection, *, at_startup: bool) -> list[Record]:
        if at_startup and self.dialect.single_process:  # one process owns the file: nothing runs
            return _all(conn.execute(_RUNNING))
        # Other processes may be alive: only an expired lease proves a worker is gone.
        return _all(conn.execute(_LEASE_EXPIRED, {"p_now": now_iso()}))

    @operation("statement")
    def requeue_run(self, conn: sa.Connection, run_id: str, *, count_attempt: bool = True) -> bool:
        return conn.execute(_REQUEUE_RUN, {
            "p_run_id": run_id, "p_now": now_iso(), "p_undo": 0 if count_attempt else 1}).rowcount > 0

    @operation("read")
    def run_wrote_checkpoints(self, conn: sa.Connection, thread_id: str, run_id: str) -> bool:
        return conn.execute(self._run_wrote_checkpoints, {"p_thread_id": thread_id, "p_run_id": run_id}).first() is not None

    def _finish_run(self, conn: sa.Connection, run_id: str, status: str, output: Any, error: Any,
                    thread_state: dict[str, Any] | None) -> Record:
        # With the thread's state, its row is locked first (by the run's update): under READ
        # COMMITTED the thread's "active run?" test would otherwise miss a concurrent cancel
        # of its queued run (and both would leave the thread `busy`). (One writer at a time,
        # as on SQLite, sees every committed change anyway.)
        locked = thread_state is not None and not self.dialect.serializes_writers
        row = _one(conn.execute(self._finish_run_locked if locked else _FINISH_RUN, {
            "p_run_id": run_id, "p_status": status, "p_output": output, "p_error": error, "p_now": now_iso(),
        }))
        if row is None:
            raise NotFound(f"Run {run_id} not found")
        if thread_state is not None:
            row["thread_status"] = self._set_thread_state(conn, row["thread_id"], **thread_state)
        return row

    async def finish_run(
        self, run_id: str, *, status: str, output: Any, error: Any | None,
        thread_state: dict[str, Any] | None = None,
    ) -> Record:
        return await self.dialect.run(
            lambda conn: self._finish_run(conn, run_id, status, output, error, thread_state),
            "transaction" if thread_state is not None else "statement",
        )

    def _cancel_pending_run(self, conn: sa.Connection, run_id: str, action: str) -> bool:
        conn.execute(self._lock_run_thread, {"p_run_id": run_id})  # see _finish_run
        if action == "rollback":
            deleted = conn.execute(_DELETE_PENDING_RUN, {"p_run_id": run_id}).rowcount > 0
            if deleted:
                conn.execute(_DELETE_RUN_DECISIONS, {"p_run_id": run_id})
            return deleted
        return conn.execute(_INTERRUPT_PENDING_RUN, {"p_run_id": run_id, "p_now": now_iso()}).rowcount > 0

    async def cancel_pending_run(self, run_id: str, action: Literal["interrupt", "rollback"]) -> bool:
        return await self.dialect.run(lambda conn: self._cancel_pending_run(conn, run_id, action), "transaction")

    @operation("read")
    def next_run_available_at(self, conn: sa.Connection) -> str | None:
        return conn.execute(_NEXT_AVAILABLE).scalar()

    # -- webhook deliveries --------------------------------------------------
    @operation("statement")
    def put_webhook(self, conn: sa.Connection, delivery: Record, claim_seconds: float) -> None:
        conn.execute(_INSERT_WEBHOOK, {
            "delivery_id": delivery["delivery_id"], "url": delivery["url"], "body": delivery["body"],
            "run_id": delivery.get("run_id"), "attempts": 0, "next_attempt_at": delivery["next_attempt_at"],
            "claimed_until": now_iso(claim_seconds), "expires_at": delivery["expires_at"],
        })

    @operation("statement")
    def claim_webhooks(self, conn: sa.Connection, claim_seconds: float, limit: int = 50) -> list[Record]:
        return _all(conn.execute(self._claim_webhooks, {
            "p_now": now_iso(), "p_until": now_iso(claim_seconds), "p_limit": limit}))

    @operation("statement")
    def retry_webhook(self, conn: sa.Connection, delivery_id: str, *, next_attempt_at: str, error: str) -> None:
        conn.execute(_RETRY_WEBHOOK, {"p_delivery_id": delivery_id, "p_next_attempt_at": next_attempt_at,
                                      "p_error": error})

    @operation("statement")
    def delete_webhook(self, conn: sa.Connection, delivery_id: str) -> None:
        conn.execute(_DELETE_WEBHOOK, {"p_delivery_id": delivery_id})

    # -- notification deliveries -------------------------------------------
    @operation("transaction")
    def put_notifications(self, conn: sa.Connection, deliveries: Sequence[Record]) -> int:
        now = now_iso()
        return sum(conn.execute(self._insert_notification, {
            "delivery_id": d["delivery_id"], "thread_id": d["thread_id"], "interrupt_id": d.get("interrupt_id"),
            "event": d["event"], "target": d["target"], "target_url": d["target_url"], "title": d["title"],
            "body": d["body"], "status": "pending", "attempts": 0, "next_attempt_at": d["next_attempt_at"],
            "created_at": now,
        }).rowcount for d in deliveries)

    @operation("statement")
    def claim_notifications(self, conn: sa.Connection, claim_seconds: float, limit: int = 20) -> list[Record]:
        return _all(conn.execute(self._claim_notifications, {
            "p_now": now_iso(), "p_until": now_iso(claim_seconds), "p_limit": limit}))

    @operation("statement")
    def settle_notification(self, conn: sa.Connection, delivery_id: str, *, status: str, attempted: bool,
                            error: str | None = None, next_attempt_at: str | None = None) -> None:
        conn.execute(_SETTLE_NOTIFICATION, {
            "p_delivery_id": delivery_id, "p_status": status, "p_attempted": int(attempted), "p_error": error,
            "p_next_attempt_at": next_attempt_at, "p_now": now_iso(),
        })

    @operation("read")
    def list_notifications(self, conn: sa.Connection, thread_id: str) -> list[Record]:
        return _all(conn.execute(_LIST_NOTIFICATIONS, {"p_thread_id": thread_id}))

    # -- operations (/metrics) -----------------------------------------------
    @operation("read")
    def run_counts(self, conn: sa.Connection) -> dict[str, int]:
        return {status: n for status, n in conn.execute(_RUN_COUNTS)}

    def pool_stats(self) -> dict[str, int]:
        return self.dialect.pool_stats()

    # -- crons ---------------------------------------------------------------
    @staticmethod
    def _take_tick(conn: sa.Connection, cron_id: str, run_date: str, next_run_date: str | None) -> None:
        # Compare-and-set: under READ COMMITTED a concurrent taker waits for the row, then
        # sees the new date and changes nothing.
        if conn.execute(_TAKE_TICK, {"p_cron_id": cron_id, "p_run_date": run_date,
                                     "p_next_run_date": next_run_date}).rowcount == 0:
            raise TickTaken(f"Tick {run_date} of cron {cron_id} was already fired")

    @operation("statement")
    def put_cron(self, conn: sa.Connection, cron: Record) -> Record:
        now = now_iso()
        try:
            return _one(conn.execute(_INSERT_CRON, {**cron, "created_at": now, "updated_at": now}))
        except sa.exc.IntegrityError:  # its assistant or thread was deleted meanwhile
            raise NotFound(f"Assistant {cron['assistant_id']} or thread {cron['thread_id']} not found") from None

    @staticmethod
    def _get_cron(conn: sa.Connection, cron_id: str) -> Record:
        return _found(_one(conn.execute(_GET_CRON, {"p_cron_id": cron_id})), f"Cron {cron_id}")

    @operation("read")
    def get_cron(self, conn: sa.Connection, cron_id: str) -> Record:
        return self._get_cron(conn, cron_id)

    @operation("statement")
    def update_cron(self, conn: sa.Connection, cron_id: str, fields: dict[str, Any]) -> Record:
        stmt = sa.update(crons).where(crons.c.cron_id == cron_id).values(**fields, updated_at=now_iso())
        return _found(_one(conn.execute(stmt.returning(*crons.c))), f"Cron {cron_id}")

    @operation("statement")
    def delete_cron(self, conn: sa.Connection, cron_id: str) -> None:
        if conn.execute(_DELETE_CRON, {"p_cron_id": cron_id}).rowcount == 0:
            raise NotFound(f"Cron {cron_id} not found")

    def _cron_where(self, assistant_id, thread_id, enabled, metadata) -> list[sa.ColumnElement]:
        clauses = self._contains("metadata", crons.c.metadata, metadata)
        for column, value in (("assistant_id", assistant_id), ("thread_id", thread_id), ("enabled", enabled)):
            if value is not None:
                clauses.append(crons.c[column] == value)
        return clauses

    async def search_crons(
        self, *, assistant_id, thread_id, enabled, metadata, limit, offset, sort_by, sort_order
    ) -> list[Record]:
        stmt = self._page(sa.select(crons).where(*self._cron_where(assistant_id, thread_id, enabled, metadata)),
                          crons, sort_by, sort_order, CRON_SORT, "cron_id", limit, offset)
        return await self.dialect.run(lambda conn: _all(conn.execute(stmt)), "read")

    async def count_crons(self, *, assistant_id, thread_id, metadata) -> int:
        stmt = sa.select(sa.func.count()).select_from(crons).where(
            *self._cron_where(assistant_id, thread_id, None, metadata))
        return await self.dialect.run(lambda conn: conn.execute(stmt).scalar_one(), "read")

    @operation("read")
    def due_crons(self, conn: sa.Connection, now: str, limit: int = 100) -> list[Record]:
        return _all(conn.execute(_DUE_CRONS, {"p_now": now, "p_limit": limit}))

    @operation("read")
    def next_cron_run_date(self, conn: sa.Connection) -> str | None:
        return conn.execute(_NEXT_CRON_RUN_DATE).scalar()

    async def advance_cron(self, cron_id: str, run_date: str, next_run_date: str | None) -> bool:
        try:
            await self.dialect.run(lambda conn: self._take_tick(conn, cron_id, run_date, next_run_date), "statement")
        except TickTaken:
            return False
        return True

    # -- retention: thread TTL, keep_latest pruning, one sweeper at a time ----------------
    @operation("statement")
    def set_thread_ttl(self, conn: sa.Connection, thread_id: str, ttl: dict | None) -> None:
        minutes, strategy = thread_ttl_columns(ttl)
        if conn.execute(_SET_THREAD_TTL, {"p_thread_id": thread_id, "p_minutes": minutes, "p_strategy": strategy,
                                          "p_now": now_iso()}).rowcount == 0:
            raise NotFound(f"Thread {thread_id} not found")

    @operation("read")
    def get_thread_ttl(self, conn: sa.Connection, thread_id: str) -> Record | None:
        row = _found(_one(conn.execute(_GET_THREAD_TTL, {"p_thread_id": thread_id})), f"Thread {thread_id}")
        return thread_ttl_info(row)

    @operation("read")
    def expired_threads(self, conn: sa.Connection, limit: int) -> list[Record]:
        return _all(conn.execute(self._expired_threads, {"p_now": now_iso(), "p_limit": limit}))

    async def delete_expired_thread(self, thread_id: str) -> bool:
        # Run creation locks the thread row first (PostgreSQL; SQLite has one writer): this
        # delete then sees it `busy` and skips it.
        deleted = await self.dialect.run(lambda conn: conn.execute(
            self._delete_expired_thread, {"p_thread_id": thread_id, "p_now": now_iso()}).rowcount > 0, "statement",
            bulk=True)
        if deleted:  # runs, decisions, deadlines and deliveries went with it (ON DELETE CASCADE)
            await self.checkpointer.adelete_thread(thread_id)
        return deleted

    async def prune_thread_checkpoints(self, thread_id: str) -> bool:
        status = await self.dialect.run(
            lambda conn: conn.execute(_THREAD_STATUS, {"p_thread_id": thread_id}).scalar(), "read")
        if status is None or status == "busy":
            return False
        await self.dialect.prune_checkpoints(thread_id)
        await self.dialect.run(lambda conn: conn.execute(_MARK_PRUNED, {"p_thread_id": thread_id, "p_now": now_iso()}),
                               "statement")
        return True

    # -- thread event log (the in-process broker's durable copy) -------------------
    @operation("transaction")
    def put_thread_events(self, conn: sa.Connection, events: Sequence[tuple[str, int, bytes]], *,
                          keep: int, trim: Sequence[str] = ()) -> None:
        now = now_iso()
        conn.execute(self._insert_thread_events, [
            {"thread_id": thread_id, "seq": seq, "body": body.decode(), "created_at": now}
            for thread_id, seq, body in events])
        for thread_id in trim:
            conn.execute(_TRIM_THREAD_EVENTS, {"p_thread_id": thread_id, "p_skip": keep - 1})

    @operation("read")
    def read_thread_events(self, conn: sa.Connection, thread_id: str, *, since: int = 0, before: int | None = None,
                           limit: int) -> list[tuple[int, bytes]]:
        rows = conn.execute(_THREAD_EVENTS_AFTER, {
            "p_thread_id": thread_id, "p_since": since, "p_before": 2**63 - 1 if before is None else before,
            "p_limit": limit}).all()
        return [(seq, body.encode()) for seq, body in reversed(rows)]

    @operation("read")
    def last_thread_event_seq(self, conn: sa.Connection, thread_id: str | None = None) -> int:
        if thread_id is None:
            return conn.execute(_LAST_EVENT_SEQ).scalar() or 0
        return conn.execute(_LAST_THREAD_EVENT_SEQ, {"p_thread_id": thread_id}).scalar() or 0

    @operation("transaction", bulk=True)
    def delete_expired_thread_events(self, conn: sa.Connection, before: str, limit: int = 1000) -> int:
        expired = conn.execute(_EXPIRED_EVENT_LOGS, {"p_before": before, "p_limit": limit}).scalars().all()
        if not expired:
            return 0
        conn.execute(_DELETE_THREAD_EVENTS, {"p_thread_ids": list(expired)})
        return len(expired)

    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        return self.dialect.exclusive(name)
