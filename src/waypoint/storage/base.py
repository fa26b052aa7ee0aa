"""The storage interface: everything Waypoint keeps durably, behind one class.

Records cross this boundary as plain dicts shaped like the LangGraph Server API's
`Assistant`, `Thread` and `Run` objects (see `langgraph_sdk.schema`), with JSON
columns already decoded and timestamps as ISO-8601 strings in UTC.

Each implementation also owns the graph checkpointer and the long-term store that
runs use, so that server rows and checkpoints live in the same database.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from waypoint.clock import to_iso

Record = dict[str, Any]
SortOrder = Literal["asc", "desc"]

#: Run statuses that still hold their thread (the thread is `busy`).
ACTIVE_RUN_STATUSES = ("pending", "running")


class StorageError(Exception):
    """Base class of the errors storage raises for the service layer to translate."""


class NotFound(StorageError):
    """The addressed assistant, thread or run does not exist."""


class AlreadyExists(StorageError):
    """A create named an id that is taken (and `if_exists` was `raise`)."""


class ThreadBusy(StorageError):
    """A run was created with `multitask_strategy="reject"` on a thread that has an active run.

    `active_run_ids` lists the pending/running runs that hold the thread.
    """

    def __init__(self, thread_id: str, active_run_ids: Sequence[str]):
        self.thread_id = thread_id
        self.active_run_ids = list(active_run_ids)
        super().__init__(
            f"Thread {thread_id} is busy with run(s) {', '.join(self.active_run_ids)}; "
            "multitask_strategy='reject' refuses a concurrent run"
        )


class UnsupportedValue(StorageError):
    """A value the database cannot hold or a filter it cannot answer (the NUL character,
    which PostgreSQL refuses in text and jsonb). The API answers 422 with this message."""


class ExtensionMissing(StorageError):
    """The database lacks an extension a configured feature needs (pgvector for `store.index`
    on PostgreSQL); the message names it and how to install it. Start-up fails with it."""


class InterruptAnswered(StorageError):
    """A decision would close an interrupt that another decision already closed.

    `run_id` is the run of the decision that won (None when a deadline closed it).
    """

    def __init__(self, thread_id: str, interrupt_id: str, run_id: str | None, action: str):
        self.thread_id = thread_id
        self.interrupt_id = interrupt_id
        self.run_id = run_id
        by = f"run {run_id}" if run_id else f"its deadline ({action})"
        super().__init__(f"Interrupt {interrupt_id} of thread {thread_id} was already answered by {by}")


class AssistantChanged(StorageError):
    """A run's assistant was updated, re-pinned or deleted since the caller read it (the
    `assistant_stamp` given to `create_run` no longer matches): nothing was written."""


class TickTaken(StorageError):
    """A cron tick was already fired (another process compare-and-set its `next_run_date`
    first) or the cron changed meanwhile: nothing was written."""
#: Thread columns of the retention feature, kept out of thread records (the API shows a
#: thread's TTL only on `GET /threads/{id}?include=ttl`, through `Storage.get_thread_ttl`).
THREAD_TTL_COLUMNS = ("ttl_minutes", "ttl_strategy", "ttl_pruned_at")


def thread_ttl_info(row: Record) -> Record | None:
    """The API's `ttl` of a thread row (`{"strategy", "ttl_minutes", "expires_at"}`, expiry
    `ttl_minutes` after `updated_at`), or None when the thread has no TTL."""
    if row.get("ttl_minutes") is None:
        return None
    expires = datetime.fromisoformat(row["updated_at"]) + timedelta(minutes=row["ttl_minutes"])
    return {"strategy": row["ttl_strategy"] or "delete", "ttl_minutes": row["ttl_minutes"],
            "expires_at": to_iso(expires)}


def thread_ttl_columns(ttl: dict | None) -> tuple[float | None, str | None]:
    """`(ttl_minutes, ttl_strategy)` column values of an API `ttl` (None: no TTL)."""
    return (None, None) if not ttl else (float(ttl["ttl"]), ttl.get("strategy") or "delete")


class Storage(abc.ABC):
    """Durable state of one Waypoint deployment.

    Methods are coroutines; each mutating method is atomic (one transaction).
    `default_thread_ttl` (`{"strategy": "delete"|"keep_latest", "ttl": minutes}`, from
    `checkpointer.ttl` in langgraph.json) is stamped on every thread created while it is set.
    """

    default_thread_ttl: dict | None = None

    # -- lifecycle ---------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """A cheap round trip to the database (`SELECT 1`); raises the driver's error when it
        is unreachable. The `/ok` health check calls it with a short timeout."""

    @property
    @abc.abstractmethod
    def checkpointer(self) -> BaseCheckpointSaver:
        """The LangGraph checkpointer every graph runs with."""

    @property
    @abc.abstractmethod
    def store(self) -> BaseStore:
        """The LangGraph long-term store (`/store/*` endpoints and `graph.store`)."""

    # -- assistants --------------------------------------------------------
    @abc.abstractmethod
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
        """Insert an assistant as its version 1 (recorded in its versions too). Raises
        `AlreadyExists` unless `if_exists="do_nothing"`, in which case the existing record
        is returned unchanged."""

    @abc.abstractmethod
    async def get_assistant(self, assistant_id: str) -> Record:
        """Return the assistant. Raises `NotFound`."""

    @abc.abstractmethod
    async def update_assistant(self, assistant_id: str, fields: dict[str, Any]) -> Record:
        """Make a new version from the current one: replace the given fields (graph_id,
        config, context, name, description), merge `metadata`; the new version's number is
        one above the assistant's highest (not its current: a pinned older version is the
        base of the new one), and it becomes current. Raises `NotFound`."""

    @abc.abstractmethod
    async def delete_assistant(self, assistant_id: str) -> None:
        """Delete the assistant and its versions. Raises `NotFound`."""

    @abc.abstractmethod
    async def list_assistant_versions(
        self, assistant_id: str, *, metadata: dict | None, limit: int, offset: int
    ) -> list[Record]:
        """The assistant's versions (assistant_id, version, graph_id, config, context,
        metadata, name, description, created_at), newest first, whose metadata contains
        `metadata` (jsonb `@>`). Unknown assistant: []."""

    @abc.abstractmethod
    async def set_assistant_version(self, assistant_id: str, version: int) -> Record:
        """Make recorded `version` the assistant's current one (its fields and number) and
        return the assistant. Raises `NotFound` (assistant or version)."""

    @abc.abstractmethod
    async def search_assistants(
        self,
        *,
        graph_id: str | None,
        name: str | None,
        metadata: dict | None,
        limit: int,
        offset: int,
        sort_by: str,
        sort_order: SortOrder,
    ) -> list[Record]:
        """Assistants matching every given filter: `metadata` by JSON containment (jsonb `@>`
        semantics on every database, see storage/containment.py), `graph_id` equal, `name` a
        substring. Raises `UnsupportedValue` for a filter holding the NUL character."""

    @abc.abstractmethod
    async def count_assistants(
        self, *, graph_id: str | None, name: str | None, metadata: dict | None
    ) -> int:
        """How many assistants `search_assistants` would match with no limit."""

    # -- threads -----------------------------------------------------------
    @abc.abstractmethod
    async def create_thread(
        self,
        thread_id: str,
        *,
        metadata: dict,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> Record:
        """Insert an `idle` thread. Raises `AlreadyExists` unless `if_exists="do_nothing"`."""

    @abc.abstractmethod
    async def get_thread(self, thread_id: str) -> Record:
        """Return the thread. Raises `NotFound`."""

    @abc.abstractmethod
    async def patch_thread_metadata(self, thread_id: str, metadata: dict) -> Record:
        """Merge `metadata` into the thread's metadata. Raises `NotFound`."""

    @abc.abstractmethod
    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its runs and its checkpoints. Raises `NotFound`."""

    @abc.abstractmethod
    async def search_threads(
        self,
        *,
        ids: Sequence[str] | None,
        metadata: dict | None,
        values: dict | None,
        status: str | None,
        limit: int,
        offset: int,
        sort_by: str,
        sort_order: SortOrder,
    ) -> list[Record]:
        """Threads matching every given filter: `metadata` and `values` by JSON containment
        (jsonb `@>` semantics on every database: objects recursively, each element of an array
        in some element, scalars equal with their type), `ids`, `status`.
        Raises `UnsupportedValue` for a filter holding the NUL character."""

    @abc.abstractmethod
    async def count_threads(
        self, *, metadata: dict | None, values: dict | None, status: str | None
    ) -> int:
        """How many threads `search_threads` would match with no limit."""

    @abc.abstractmethod
    async def set_thread_state(
        self,
        thread_id: str,
        *,
        values: Any,
        interrupts: dict[str, list],
        error: Any | None,
        status: str,
    ) -> None:
        """Record the thread's latest values, pending interrupts (task id → interrupts) and
        error. `status` is applied unless the thread has an active run (it then stays `busy`)."""

    @abc.abstractmethod
    async def copy_thread(self, source_id: str, target_id: str) -> Record:
        """Create `target_id` as a copy of the thread row and all its checkpoints (runs are
        not copied). Raises `NotFound`."""

    # -- runs --------------------------------------------------------------
    @abc.abstractmethod
    async def create_run(
        self, run: Record, *, reject_if_busy: bool, decisions: Sequence[Record] = (),
        thread_metadata: dict | None = None, cron_tick: Record | None = None, new_thread: bool = False,
        assistant_stamp: tuple[int, str] | None = None, claim: tuple[str, float] | None = None,
        decide: Callable[[Record], Sequence[Record]] | None = None,
    ) -> tuple[Record, list[str]]:
        """Insert a `pending` run, its `decisions` (the interrupts a resume answers), merge
        `thread_metadata` into the thread's metadata and mark the thread `busy`, atomically.
        With `new_thread` the thread is inserted in the same transaction (a stateless run's
        temporary thread, with `thread_metadata`) instead of being required to exist;
        `AlreadyExists` if its id is taken.
        With `cron_tick` (`cron_id`, `run_date`: the tick fired, `next_run_date`: the next
        one or None), the cron's `next_run_date` moves from `run_date` to `next_run_date`
        in the same transaction (compare-and-set), else `TickTaken` and nothing is written.
        With `assistant_stamp` (`(version, updated_at)` of the run's assistant as the caller
        read it, e.g. from a cache), the stored assistant is checked in the same transaction:
        `AssistantChanged` and nothing is written when it differs or is gone.
        With `claim` (`(worker_id, lease_seconds)`), a run that may start at once (no other
        run active on its thread, no `available_at`) is inserted already claimed by that
        worker, as `claim_runs` would leave it (`running`, leased, attempt 1); else `pending`.
        With `decide` (not with `new_thread`), the decisions come from `decide(thread)`
        instead of `decisions`, called in the transaction under the thread's lock with the
        thread's `thread_id`, `status` and `interrupts`; what it raises aborts the creation.

        `run` carries run_id, thread_id, assistant_id, metadata, kwargs, multitask_strategy
        and optionally `available_at` (ISO time before which no worker picks it up).
        A decision carries decision_id, interrupt_id, reviewer, action, value, closes.
        Returns (the run, ids of the runs that were already active on the thread).
        Raises `ThreadBusy` when `reject_if_busy` and the thread has an active run,
        `InterruptAnswered` when a closing decision's interrupt is already closed (nothing
        is written), `NotFound` when the thread does not exist.
        """

    @abc.abstractmethod
    async def record_decision(self, decision: Record) -> Record:
        """Insert a decision that has no run of its own (a deadline's cancel or escalation).
        Raises `InterruptAnswered` like `create_run`."""

    @abc.abstractmethod
    async def list_decisions(self, thread_id: str) -> list[Record]:
        """The thread's decisions, oldest first."""

    @abc.abstractmethod
    async def put_deadlines(self, deadlines: Sequence[Record]) -> None:
        """Register interrupt deadlines (thread_id, interrupt_id, run_id, assistant_id,
        expires_at, on_expire, default_value); an interrupt keeps its first deadline."""

    @abc.abstractmethod
    async def claim_due_deadlines(self, limit: int = 100) -> list[Record]:
        """Atomically mark due, unfired deadlines fired and return them: each deadline is
        returned once, to one caller, across all processes."""

    @abc.abstractmethod
    async def rollback_run(self, thread_id: str, run_id: str, *, released: Sequence[Record] = ()) -> None:
        """Delete the run with the checkpoints it wrote, and the decisions it made unless
        `released` is given: then its decisions (which took effect) are kept and the
        `released` decisions (decision_id, interrupt_id, action, closes false) recording the
        rollback are added, atomically."""

    @abc.abstractmethod
    async def get_run(self, run_id: str, thread_id: str | None = None) -> Record:
        """Return the run (scoped to `thread_id` when given). Raises `NotFound`."""

    @abc.abstractmethod
    async def list_runs(
        self, thread_id: str, *, limit: int, offset: int, status: str | None
    ) -> list[Record]:
        """The thread's runs, newest first."""

    @abc.abstractmethod
    async def delete_run(self, run_id: str, thread_id: str) -> None:
        """Delete the run. Raises `NotFound`."""

    @abc.abstractmethod
    async def claim_runs(self, worker_id: str, lease_seconds: float, limit: int) -> list[Record]:
        """Atomically take up to `limit` available `pending` runs, oldest first, each the
        oldest pending run of a thread with no `running` run (so at most one per thread):
        mark them `running` for `worker_id` with a lease of `lease_seconds`, set their
        `started_at`, raise their `attempt` by one, and return them ([] when there is none).
        One transaction for all: a worker pool woken by N queued runs claims them at once."""

    @abc.abstractmethod
    async def renew_leases(self, worker_id: str, run_ids: Sequence[str], lease_seconds: float) -> None:
        """Extend the leases of `worker_id`'s running runs (the worker's heartbeat)."""

    @abc.abstractmethod
    async def orphaned_runs(self, *, at_startup: bool) -> list[Record]:
        """`running` runs whose worker is gone: those whose lease expired, and at start-up of
        a single-process deployment (SQLite) every `running` run."""

    @abc.abstractmethod
    async def requeue_run(self, run_id: str, *, count_attempt: bool = True) -> bool:
        """Put a `running` run back to `pending` (no worker, no lease). False if it was not running.

        The run's `attempt` (raised by each claim, `claim_runs`) is kept, so the next claim
        counts one more attempt; `count_attempt=False` (a graceful hand-back, not a failure)
        takes this claim back instead."""

    @abc.abstractmethod
    async def run_wrote_checkpoints(self, thread_id: str, run_id: str) -> bool:
        """Whether run `run_id` wrote any checkpoint on the thread (it started a step)."""

    @abc.abstractmethod
    async def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        output: Any,
        error: Any | None,
        thread_state: dict[str, Any] | None = None,
    ) -> Record:
        """Set a run's terminal status and its result (the body `runs.join` returns) and, in
        the same transaction, the thread's state (`set_thread_state` keywords) if given.
        Returns the updated run, with `thread_status` (the status the thread got: `busy`
        when another run of it is still pending) when `thread_state` was given; raises
        `NotFound` if it is gone (its thread was deleted)."""

    @abc.abstractmethod
    async def cancel_pending_run(self, run_id: str, action: Literal["interrupt", "rollback"]) -> bool:
        """If the run is still `pending`, end it atomically: `interrupt` sets it `interrupted`,
        `rollback` deletes it. Returns False (and changes nothing) when it is not pending."""

    # -- webhook deliveries --------------------------------------------------
    @abc.abstractmethod
    async def put_webhook(self, delivery: Record, claim_seconds: float) -> None:
        """Record a delivery to make (delivery_id, url, body (JSON text), run_id,
        next_attempt_at, expires_at), claimed by the caller for `claim_seconds`."""

    @abc.abstractmethod
    async def claim_webhooks(self, claim_seconds: float, limit: int = 50) -> list[Record]:
        """Atomically claim due deliveries (`next_attempt_at` passed, not claimed by a live
        claim) for `claim_seconds` and return them; each goes to one caller at a time."""

    @abc.abstractmethod
    async def retry_webhook(self, delivery_id: str, *, next_attempt_at: str, error: str) -> None:
        """Count a failed attempt, keep `error`, release the claim until `next_attempt_at`."""

    @abc.abstractmethod
    async def delete_webhook(self, delivery_id: str) -> None:
        """Forget a delivery (made, refused, or given up)."""

    # -- notification deliveries (service/notifications.py) ------------------
    @abc.abstractmethod
    async def put_notifications(self, deliveries: Sequence[Record]) -> int:
        """Record `pending` deliveries (delivery_id, thread_id, interrupt_id, event, target,
        target_url, title, body, next_attempt_at); one whose delivery_id is already recorded
        is left as it is (exactly once). Returns how many were new."""

    @abc.abstractmethod
    async def claim_notifications(self, claim_seconds: float, limit: int = 20) -> list[Record]:
        """Atomically claim `pending` deliveries whose `next_attempt_at` passed and whose claim
        lapsed, for `claim_seconds`, and return them: each goes to one caller at a time, across
        processes."""

    @abc.abstractmethod
    async def settle_notification(self, delivery_id: str, *, status: str, attempted: bool,
                                  error: str | None = None, next_attempt_at: str | None = None) -> None:
        """After an attempt (`attempted`: count it): `sent` (stamps `sent_at`), `failed` (gave
        up), `skipped`, or `pending` again at `next_attempt_at`; keeps `error`, drops the claim."""

    @abc.abstractmethod
    async def list_notifications(self, thread_id: str) -> list[Record]:
        """The thread's notification deliveries, oldest first."""

    @abc.abstractmethod
    async def run_counts(self) -> dict[str, int]:
        """`{status: number of runs}` over all threads (the `/metrics` gauges)."""

    def pool_stats(self) -> dict[str, int]:
        """This process's database connections by state (`in_use`, `size`, ...); `{}` where
        there is no pool."""
        return {}

    async def next_run_available_at(self) -> str | None:
        """The earliest `available_at` of a pending run (for delayed runs), or None."""

    # -- crons ---------------------------------------------------------------
    @abc.abstractmethod
    async def put_cron(self, cron: Record) -> Record:
        """Insert a cron (cron_id, assistant_id, thread_id, user_id, schedule, timezone,
        end_time, enabled, on_run_completed, payload, metadata, next_run_date) and return it."""

    @abc.abstractmethod
    async def get_cron(self, cron_id: str) -> Record:
        """Return the cron. Raises `NotFound`."""

    @abc.abstractmethod
    async def update_cron(self, cron_id: str, fields: dict[str, Any]) -> Record:
        """Replace the given columns (any `put_cron` field but the ids) and return the cron.
        Raises `NotFound`."""

    @abc.abstractmethod
    async def delete_cron(self, cron_id: str) -> None:
        """Delete the cron. Raises `NotFound`."""

    @abc.abstractmethod
    async def search_crons(
        self, *, assistant_id: str | None, thread_id: str | None, enabled: bool | None,
        metadata: dict | None, limit: int, offset: int, sort_by: str | None, sort_order: SortOrder | None,
    ) -> list[Record]:
        """Crons matching every given filter (`metadata` by JSON containment)."""

    @abc.abstractmethod
    async def count_crons(self, *, assistant_id: str | None, thread_id: str | None, metadata: dict | None) -> int:
        """How many crons `search_crons` would match with no limit (any `enabled`)."""

    @abc.abstractmethod
    async def due_crons(self, now: str, limit: int = 100) -> list[Record]:
        """Enabled crons whose `next_run_date` is at or before `now`, earliest first."""

    @abc.abstractmethod
    async def next_cron_run_date(self) -> str | None:
        """The earliest `next_run_date` of an enabled cron, or None."""

    @abc.abstractmethod
    async def advance_cron(self, cron_id: str, run_date: str, next_run_date: str | None) -> bool:
        """Compare-and-set `next_run_date` from `run_date` (a tick consumed without a run);
        False when the cron no longer has that `next_run_date`."""
    # -- retention: thread TTL, keep_latest pruning, one sweeper at a time ----------------
    # A thread with a TTL expires `ttl_minutes` after its last update (`updated_at`).
    @abc.abstractmethod
    async def set_thread_ttl(self, thread_id: str, ttl: dict | None) -> None:
        """Give the thread a TTL (`{"strategy": "delete"|"keep_latest", "ttl": minutes}`),
        counted from now (the thread's `updated_at` is set to now), or none (`None`).
        Raises `NotFound`."""

    @abc.abstractmethod
    async def get_thread_ttl(self, thread_id: str) -> Record | None:
        """`{"strategy", "ttl_minutes", "expires_at"}` of the thread's TTL, None without one.
        Raises `NotFound`."""

    @abc.abstractmethod
    async def expired_threads(self, limit: int) -> list[Record]:
        """Up to `limit` threads (`{"thread_id", "strategy"}`, least recently updated first)
        whose TTL has passed and that a sweep may act on: not `busy`; for `keep_latest`, not
        pruned since their last update; for `delete`, no interrupt deadline still unfired."""

    @abc.abstractmethod
    async def delete_expired_thread(self, thread_id: str) -> bool:
        """Delete the thread with its runs and checkpoints if it is still expired and not
        `busy` (checked atomically with the delete); whether it was deleted."""

    @abc.abstractmethod
    async def prune_thread_checkpoints(self, thread_id: str) -> bool:
        """`keep_latest`: delete every checkpoint of the thread (and its writes) but the
        latest of each checkpoint namespace still in use, and record the prune. False (nothing
        done) when the thread is missing or `busy`."""

    # -- the thread event log, kept durable for the in-process broker ---------------------
    # (`streams.memory.InProcessBroker` with `durable=`; Redis keeps its own.) A log expires
    # as a whole, retention seconds after its newest event; seqs are per thread and unique.
    @abc.abstractmethod
    async def put_thread_events(self, events: Sequence[tuple[str, int, bytes]], *, keep: int,
                                trim: Sequence[str] = ()) -> None:
        """Store `(thread_id, seq, body)` events (body: the event's JSON object as UTF-8
        bytes), logged now, in one transaction; an event already stored (same thread and
        seq) is left as it is. Then each thread of `trim` keeps only its newest `keep`
        events."""

    @abc.abstractmethod
    async def read_thread_events(self, thread_id: str, *, since: int = 0, before: int | None = None,
                                 limit: int) -> list[tuple[int, bytes]]:
        """The thread's stored `(seq, body)` events with `since < seq < before` (no upper
        bound for None), the newest `limit` of them, in seq order."""

    @abc.abstractmethod
    async def last_thread_event_seq(self, thread_id: str | None = None) -> int:
        """The highest stored seq of the thread's log (of every log for None); 0 if none."""

    @abc.abstractmethod
    async def delete_expired_thread_events(self, before: str, limit: int = 1000) -> int:
        """Delete the logs (every event) of up to `limit` threads whose newest event was
        logged before the ISO time `before`; how many logs were deleted."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """`async with storage.exclusive(name) as mine:` - `mine` is True in at most one
        process at a time for a given `name` (PostgreSQL: a session advisory lock; SQLite:
        one process serves the file), False when another holds it (never waits)."""
