"""Run lifecycle: creation with HITL and multitask checks, join, stream, cancel, delete.

Runs are queued `pending` in storage and executed by the worker pool (`worker.py`);
every client call (create, wait, stream, join) attaches to the same queued run.
Semantics follow the LangGraph Server API (`langgraph_sdk` `RunsClient`).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse
from collections.abc import AsyncIterator
from typing import Any

from waypoint import serde
from waypoint.clock import now_iso
from waypoint.graphs import GraphRegistry
from waypoint.service import metrics
from waypoint.service.assistants import AssistantService
from waypoint.service.decisions import plan_decisions, resume_map, reviewer_of, validate_deadline_fields
from waypoint.service.auth import graph_user
from waypoint.service.errors import BadRequest, Conflict, Invalid, NotFound
from waypoint.service.executor import RUN_TIMEOUT_KEY
from waypoint.service.records import public_run
from waypoint.service.state import pending_interrupts
from waypoint.service.thread_events import CANCELLED, RunEvents
from waypoint.service.threads import ThreadService, overlay_config, thread_config
from waypoint.service.webhook_policy import WebhookPolicy, WebhookRefused
from waypoint.service.worker import WorkerPool
from waypoint.service.waiting import run_end_check, wait_run_ended
from waypoint.storage import AssistantChanged, InterruptAnswered, Storage, ThreadBusy
from waypoint.storage.base import ACTIVE_RUN_STATUSES
from waypoint.streams import Broker, CancelAction, StreamEvent



class RunService:
    """Creates runs and lets clients follow and stop them."""

    #: Where webhooks may go (`Services.build` sets the deployment's).
    webhook_policy: WebhookPolicy = WebhookPolicy()
    #: This process's worker pool (`Services.build` sets it): a run that may start at once
    #: is inserted claimed by it when it has a free slot. None: runs are always queued.
    pool: WorkerPool | None = None

    def __init__(
        self,
        storage: Storage,
        broker: Broker,
        registry: GraphRegistry,
        assistants: AssistantService,
        threads: ThreadService,
    ):
        self.storage = storage
        self.broker = broker
        self.registry = registry
        self.assistants = assistants
        self.threads = threads

    # -- create ------------------------------------------------------------
    async def create(
        self, thread_id: str | None, body: dict[str, Any], *, decision_action: str = "resume",
        protocol: bool = False, cron_tick: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a run from a `RunCreateStateful`/`RunCreateStateless` body; returns the run.

        `thread_id=None` makes a stateless run on a temporary thread (deleted when it ends
        unless `on_completion="keep"`). Raises `NotFound` (assistant, thread), `Invalid`
        (a field's value), `BadRequest` (a resume with nothing to resume),
        `Conflict` (`multitask_strategy="reject"` on a busy thread, or a resume of an
        interrupt another decision already answered). A resume records its decisions
        (see `decisions.py`) with `decision_action`. `protocol` marks a run started through
        the thread streaming protocol (its events come from LangGraph's v3 stream).
        `cron_tick` (see `Storage.create_run`) fires a cron's tick with this run: `TickTaken`
        when it was fired already (nothing is written, a stateless run's thread included).
        """
        self.check_fields(body)
        options = {"decision_action": decision_action, "protocol": protocol, "cron_tick": cron_tick}
        try:
            try:
                return await self._create(thread_id, body, **options, read_thread=False)
            except _ReadThreadFirst:  # a case the run's transaction alone does not settle
                return await self._create(thread_id, body, **options, read_thread=True)
        except AssistantChanged:  # the cached assistant is stale: again, with it read afresh
            self.assistants.forget(body["assistant_id"])
            return await self._create(thread_id, body, **options, read_thread=True)

    async def _create(
        self, thread_id: str | None, body: dict[str, Any], *, decision_action: str, protocol: bool,
        cron_tick: dict[str, Any] | None, read_thread: bool,
    ) -> dict[str, Any]:
        """`create`, with the assistant from this process's cache (checked current in the
        run's transaction: `AssistantChanged` when it is not) or read now. Without
        `read_thread`, a run on an existing thread that needs no graph check (no `goto`, no
        checkpoint) reads nothing first: the thread's existence, and for a resume what is
        pending and which decisions it makes, are settled in the run's own transaction
        (`_ReadThreadFirst` for any case that needs more: a missing thread, a resume of a
        thread whose row shows nothing pending or other interrupt ids)."""
        assistant, stamp = await self.assistants.for_new_run(body["assistant_id"])
        command = body.get("command") or {}
        in_transaction = (not read_thread and thread_id is not None and command.get("goto") is None
                          and not _checkpoint_of(body))
        graph_id = assistant["graph_id"]
        temporary = False
        stateless = thread_id is None
        pending: list[dict] = []
        if thread_id is None and (body.get("command") or {}).get("resume") is not None:
            raise BadRequest("You must provide a thread_id when resuming: a stateless run has nothing to resume")
        if thread_id is None:
            if _checkpoint_of(body).get("checkpoint_id"):
                raise NotFound("A stateless run has no checkpoint to start from: its thread is new")
            await self._check_run_against_graph(None, assistant, body)
            thread_id = str(uuid.uuid4())  # created with the run, in its transaction
            temporary = (body.get("on_completion") or "delete") == "delete"
        elif in_transaction:
            pass  # the thread is locked and checked by the run's transaction
        else:
            try:
                thread = await self.storage.get_thread(thread_id)
            except NotFound:
                if body.get("if_not_exists") != "create":
                    raise NotFound(
                        f"Thread {thread_id} not found; pass if_not_exists='create' to create it"
                    ) from None
                if _checkpoint_of(body).get("checkpoint_id"):
                    raise NotFound(f"Thread {thread_id} does not exist, so it has no checkpoint to start from") from None
                await self._check_run_against_graph(None, assistant, body)
                thread = await self.storage.create_thread(thread_id, metadata={}, if_exists="do_nothing")
            pending = await self._check_run_against_graph(thread, assistant, body)
        checkpoint = _checkpoint_of(body)
        kwargs = {
            "input": body.get("input"),
            "command": body.get("command"),
            "config": body.get("config") or {},
            "context": body.get("context") or {},
            "stream_mode": _stream_modes(body.get("stream_mode")),
            "interrupt_before": body.get("interrupt_before"),
            "interrupt_after": body.get("interrupt_after"),
            "webhook": body.get("webhook"),
            "subgraphs": bool(body.get("stream_subgraphs")),
            "checkpoint": checkpoint or None,
            "on_disconnect": body.get("on_disconnect") or "continue",
            "durability": body.get("durability"),
            "temporary": temporary,
            "protocol": protocol,
        }
        strategy = body.get("multitask_strategy") or "enqueue"
        after = float(body.get("after_seconds") or 0)
        resume = command.get("resume")
        reviewer = reviewer_of(body.get("metadata"))
        decide = None
        if resume is not None and in_transaction:
            decided: list[dict] = []

            def decide(thread: dict) -> list[dict]:
                # As `_check_run_against_graph` with the thread row, under the thread's lock.
                pending = [i for group in (thread.get("interrupts") or {}).values() for i in group]
                named = resume_map(resume)
                if thread["status"] != "interrupted" or not pending or (
                        named is not None and set(named) - {i["id"] for i in pending}):
                    raise _ReadThreadFirst()
                decided[:] = plan_decisions(resume, pending, reviewer=reviewer, action=decision_action)
                return decided

            decisions = decided
        else:
            decisions = [] if resume is None else plan_decisions(
                resume, pending, reviewer=reviewer, action=decision_action
            )
        run_id = str(uuid.uuid4())
        self.assistants.remember_for_run(run_id, assistant)
        claim = self.pool.reserve() if self.pool is not None and after <= 0 else None
        try:
            run, active = await self.storage.create_run(
                {
                    "run_id": run_id,
                    "thread_id": thread_id,
                    "assistant_id": assistant["assistant_id"],
                    "metadata": body.get("metadata") or {},
                    "kwargs": kwargs,
                    "multitask_strategy": strategy,
                    "available_at": now_iso(after) if after > 0 else None,
                },
                reject_if_busy=strategy == "reject",
                decisions=decisions,
                # The thread's graph is the one its runs use (as the official server records).
                thread_metadata={
                    "graph_id": graph_id, "assistant_id": assistant["assistant_id"],
                    **({"cron_id": cron_tick["cron_id"]} if stateless and cron_tick else {}),
                },
                cron_tick=cron_tick,
                new_thread=stateless,
                assistant_stamp=stamp,
                claim=claim,
                decide=decide,
            )
        except BaseException as exc:
            if claim is not None:
                self.pool.release()
            self.assistants.forget_for_run(run_id)
            if isinstance(exc, (ThreadBusy, InterruptAnswered)):
                raise Conflict(str(exc)) from None
            if isinstance(exc, NotFound) and in_transaction:
                raise _ReadThreadFirst() from None  # not there: refused or created as asked
            raise
        if claim is not None:
            if run["status"] == "running":  # inserted claimed: no queue, no claim transaction
                self.pool.start_claimed(run)
            else:
                self.pool.release()
        metrics.decisions_recorded(decisions)
        if strategy in ("interrupt", "rollback"):
            for active_id in active:
                await self.cancel(thread_id, active_id, action=strategy)
        if run["status"] == "pending":
            self.broker.notify_runs_available()
        return public_run(run)

    def check_fields(self, body: dict[str, Any]) -> None:
        """Checks of a run body beyond the request model's types, the webhook against the
        deployment's policy included (also for a cron's payload). Raises `Invalid`."""
        _validate_run_fields(body)
        if body.get("webhook") is not None:
            try:
                self.webhook_policy.check_url(body["webhook"])
            except WebhookRefused as exc:
                raise Invalid("webhook", str(exc)) from None

    async def create_batch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue one stateless run per `RunCreateStateless` body (`POST /runs/batch`, SDK
        `runs.create_batch`); returns the runs in the order of `bodies`. Every body's fields
        and assistant are checked before any run is queued, so a bad item (`Invalid`,
        `NotFound`) queues nothing; after that each run is created as `create` does."""
        for body in bodies:
            self.check_fields(body)
            await self.assistants.resolve(body["assistant_id"])
        return [await self.create(None, body) for body in bodies]

    async def _check_run_against_graph(self, thread: dict | None, assistant: dict, body: dict) -> list[dict]:
        """Reject a `command.goto` naming no node of the graph (`Invalid`), a checkpoint the
        thread does not have (`NotFound`), and resumes of a thread with nothing paused.
        `thread` is None for a run on a thread that does not exist yet. Returns the
        interrupts pending on the thread when the run resumes, else []. Breakpoints naming
        nodes the graph lacks are accepted, as the official server accepts them (LangGraph
        never matches them)."""
        command = body.get("command") or {}
        wants_resume = thread is not None and command.get("resume") is not None
        goto = _goto_nodes(command["goto"]) if command.get("goto") is not None else []
        checkpoint = _checkpoint_of(body)
        if thread is not None and checkpoint.get("checkpoint_id"):
            if await self.storage.checkpointer.aget_tuple(thread_config(thread["thread_id"], checkpoint)) is None:
                raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found on thread {thread['thread_id']}")
        if not wants_resume and not goto:
            return []
        if not goto and not checkpoint and thread["status"] == "interrupted" and thread.get("interrupts"):
            # The thread row holds what its last run paused at (stored with its status when
            # the run finished): a resume needs no graph state read.
            pending = [i for group in thread["interrupts"].values() for i in group]
            return await self._check_resume(thread, command, pending, has_next=True)
        graph_id = assistant["graph_id"]
        thread_id = thread["thread_id"] if thread is not None else str(uuid.uuid4())
        async with self.registry.graph(
            graph_id,
            overlay_config(thread_id, assistant.get("config"), body.get("config"))
            if self.registry.is_factory(graph_id) else thread_config(thread_id),
            checkpointer=self.storage.checkpointer, store=self.storage.store,
            access_context="threads.read", user=graph_user(body.get("config")),
        ) as graph:
            unknown = [n for n in goto if n not in graph.nodes or n == "__start__"]
            if unknown:
                raise Invalid("command.goto", f"graph {graph_id!r} has no node(s) {', '.join(map(repr, unknown))}")
            if not wants_resume:
                return []
            snapshot = await graph.aget_state(thread_config(thread_id, checkpoint or None))
        pending = pending_interrupts(snapshot) if snapshot.created_at else []
        return await self._check_resume(thread, command, pending, has_next=bool(snapshot.next))

    async def _check_resume(self, thread: dict, command: dict, pending: list[dict], *, has_next: bool) -> list[dict]:
        """Refuse a resume that answers nothing pending on `thread` (`BadRequest`, or
        `Conflict` when another decision answered it first); returns `pending`."""
        named = resume_map(command["resume"])
        if named is not None:
            unknown = set(named) - {i["id"] for i in pending}
            if unknown:
                await self._refuse_if_answered(thread["thread_id"], unknown)
                raise BadRequest(
                    f"Interrupt id(s) {', '.join(sorted(unknown))} are not pending on thread "
                    f"{thread['thread_id']}; pending: {', '.join(i['id'] for i in pending) or 'none'}"
                )
        elif not pending:
            await self._refuse_if_answered(thread["thread_id"], None)
        if thread["status"] == "busy":
            return pending  # a queued run may still pause the thread before this one starts
        if not pending and not has_next:
            raise BadRequest(
                f"Thread {thread['thread_id']} has no pending interrupt to resume: "
                "Command(resume=...) needs a run paused at interrupt()"
            )
        return pending

    async def _refuse_if_answered(self, thread_id: str, interrupt_ids: set[str] | None) -> None:
        """Raise `Conflict` naming the winner when a resume comes after its interrupt was
        answered: one of `interrupt_ids` has a closing decision, or (for a plain resume,
        `None`) the thread's latest run is a resume that closed interrupts."""
        decisions = [d for d in await self.storage.list_decisions(thread_id) if d["closes"]]
        if interrupt_ids is None:
            latest = await self.storage.list_runs(thread_id, limit=1, offset=0, status=None)
            decisions = [d for d in decisions if latest and d["run_id"] == latest[0]["run_id"]]
        else:
            decisions = [d for d in decisions if d["interrupt_id"] in interrupt_ids]
        if decisions:
            d = decisions[-1]
            raise Conflict(str(InterruptAnswered(thread_id, d["interrupt_id"], d["run_id"], d["action"])))

    # -- read --------------------------------------------------------------
    async def get(self, thread_id: str | None, run_id: str) -> dict[str, Any]:
        return public_run(await self.storage.get_run(run_id, thread_id))

    async def list(self, thread_id: str, *, limit: int, offset: int, status: str | None) -> list[dict]:
        await self.storage.get_thread(thread_id)
        runs = await self.storage.list_runs(thread_id, limit=limit, offset=offset, status=status)
        return [public_run(r) for r in runs]

    async def delete(self, thread_id: str, run_id: str) -> None:
        """Delete a finished run. Raises `NotFound`, `Conflict` for a pending/running run."""
        run = await self.storage.get_run(run_id, thread_id)
        if run["status"] in ACTIVE_RUN_STATUSES:
            raise Conflict(f"Run {run_id} is {run['status']}: cancel it before deleting it")
        await self.storage.delete_run(run_id, thread_id)

    # -- follow ------------------------------------------------------------
    def stream(self, run_id: str, *, last_event_id: str | None = None) -> AsyncIterator[StreamEvent]:
        """The run's stream events (replayed from the start, or after `last_event_id`)
        until it ends; empty for a run that ended before its stream was retained."""
        return self.broker.subscribe(
            run_id, last_event_id=last_event_id, is_finished=run_end_check(self.storage, run_id)
        )

    def stream_batches(self, run_id: str, *, last_event_id: str | None = None) -> AsyncIterator[list[StreamEvent]]:
        """`stream`, in the batches the events arrive in (`Broker.subscribe_batches`)."""
        return self.broker.subscribe_batches(
            run_id, last_event_id=last_event_id, is_finished=run_end_check(self.storage, run_id)
        )

    async def wait(self, run_id: str) -> None:
        """Return once the run has ended (or been deleted)."""
        await wait_run_ended(self.storage, self.broker, run_id)

    async def join(self, thread_id: str | None, run_id: str, *, known: bool = False) -> Any:
        """Wait for the run and return its output: the thread's values (with `__interrupt__`
        when it paused at an interrupt), or `{"__error__": {"error", "message"}}`. Raises
        `NotFound` for an unknown run, unless the caller `known`s it exists (it just created
        or read it: no read again)."""
        if not known:
            await self.storage.get_run(run_id, thread_id)
        await self.wait(run_id)
        result = await self.broker.result(run_id)
        if result is not None:
            return serde.loads(result)
        try:
            run = await self.storage.get_run(run_id)
        except NotFound:
            return {}
        if run.get("output") is not None:
            return run["output"]
        if run.get("error") is not None:
            return {"__error__": run["error"]}
        return {}

    # -- cancel ------------------------------------------------------------
    async def cancel(
        self, thread_id: str, run_id: str, *, action: CancelAction = "interrupt", wait: bool = False
    ) -> dict[str, Any] | None:
        """Stop a pending or running run. `interrupt` keeps it with status `interrupted` and
        keeps the progress it checkpointed; `rollback` deletes it and its checkpoints.
        A finished run is left as it is. Returns the run after the cancel took effect when
        `wait` (None if it was rolled back), else None. Raises `NotFound`."""
        run = await self.storage.get_run(run_id, thread_id)
        if run["status"] == "pending" and await self.storage.cancel_pending_run(run_id, action):
            await self.broker.end(run_id)
            await self._cancelled_before_start(run)
            await self.threads.refresh(thread_id)
            self.broker.notify_runs_available()
        elif run["status"] in ("pending", "running"):
            await self.broker.cancel(run_id, action)
        if not wait:
            return None
        await self.wait(run_id)
        try:
            return public_run(await self.storage.get_run(run_id))
        except NotFound:
            return None

    async def cancel_many(
        self,
        *,
        thread_id: str | None = None,
        run_ids: list[str] | None = None,
        status: str | None = None,
        action: CancelAction = "interrupt",
        thread_filter: dict | None = None,
    ) -> list[str]:
        """Cancel several runs through `cancel` (`POST /runs/cancel`, SDK `runs.cancel_many`):
        the `run_ids` of `thread_id`, or every run in `status` (`pending`, `running`, `all`
        meaning both), on `thread_id` only when given, else on every thread whose metadata
        contains `thread_filter` (the auth handler's filter; None: all). Returns the ids of
        the runs it cancelled. Raises `NotFound` (before cancelling anything) when the thread
        or one of `run_ids` does not exist. Runs that end meanwhile are left as they are."""
        if run_ids:
            targets = [(thread_id, (await self.storage.get_run(r, thread_id))["run_id"]) for r in run_ids]
        else:
            statuses = list(ACTIVE_RUN_STATUSES) if status == "all" else [status]
            if thread_id is not None:
                thread_ids = [(await self.storage.get_thread(thread_id))["thread_id"]]
            else:  # a pending or running run keeps its thread busy
                thread_ids = await self._busy_thread_ids(thread_filter)
            targets = [(t, run["run_id"]) for t in thread_ids for run in await self._runs_in(t, statuses)]
        cancelled = []
        for t, run_id in targets:
            try:
                await self.cancel(t, run_id, action=action)
            except NotFound:
                continue  # deleted meanwhile (its thread too)
            cancelled.append(run_id)
        return cancelled

    async def _busy_thread_ids(self, metadata: dict | None, page: int = 1000) -> list[str]:
        """Ids of every `busy` thread whose metadata contains `metadata`, gathered before any
        is cancelled (cancelling frees threads, which would shift later pages)."""
        ids: list[str] = []
        while True:
            threads = await self.storage.search_threads(
                ids=None, metadata=metadata, values=None, status="busy", limit=page, offset=len(ids),
                sort_by="created_at", sort_order="asc",
            )
            ids += [t["thread_id"] for t in threads]
            if len(threads) < page:
                return ids

    async def _runs_in(self, thread_id: str, statuses: list[str], page: int = 1000) -> list[dict]:
        """The thread's runs in any of `statuses`, every page of them."""
        found: list[dict] = []
        for status in statuses:
            offset = 0
            while True:
                runs = await self.storage.list_runs(thread_id, limit=page, offset=offset, status=status)
                found += runs
                offset += len(runs)
                if len(runs) < page:
                    break
        return found

    async def _cancelled_before_start(self, run: dict) -> None:
        """Tell the thread's protocol subscribers that a queued run ended (`failed`,
        `cancelled`) without starting."""
        try:
            graph_name = (await self.storage.get_assistant(run["assistant_id"]))["graph_id"]
        except NotFound:
            graph_name = run["assistant_id"]
        await RunEvents(self.broker, run["thread_id"], graph_name).lifecycle("failed", error=CANCELLED)


class _ReadThreadFirst(Exception):
    """A run's creation that its transaction alone does not settle: made again, reading
    the thread (and, when needed, its graph state) first."""


def _validate_run_fields(body: dict[str, Any]) -> None:
    """Checks beyond the request model's types. Raises `Invalid` naming the field.

    As the LangGraph Server API defines a run's input: `command`, when given, sets at least
    one of `update`, `resume`, `goto`, and replaces `input` (never both)."""
    command = body.get("command")
    if command is not None:
        if all(value is None for value in command.values()):
            raise Invalid("command", "must set at least one of update, resume, goto")
        if body.get("input") is not None:
            raise Invalid("input", "give either input or command, not both")
    webhook = body.get("webhook")
    if webhook is not None:
        parsed = urlparse(webhook)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise Invalid("webhook", f"must be an absolute http(s) URL, got {webhook!r}")
    timeout = (body.get("config") or {}).get(RUN_TIMEOUT_KEY)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise Invalid(f"config.{RUN_TIMEOUT_KEY}", f"must be a positive number of seconds, got {timeout!r}")
    validate_deadline_fields(body.get("metadata"), body.get("config"))


def _checkpoint_of(body: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint a run starts from: `checkpoint`, with `checkpoint_id` over it ({} if none)."""
    checkpoint = {k: v for k, v in (body.get("checkpoint") or {}).items() if v is not None}
    if body.get("checkpoint_id"):
        checkpoint["checkpoint_id"] = body["checkpoint_id"]
    return checkpoint


def _goto_nodes(goto: Any) -> list[str]:
    """Node names a `command.goto` targets (a name, a `Send`, or a list of either)."""
    items = goto if isinstance(goto, list) else [goto]
    return [item["node"] if isinstance(item, dict) else item for item in items]


def _stream_modes(value: Any) -> list[str]:
    if value is None:
        return ["values"]
    return [value] if isinstance(value, str) else list(value)
