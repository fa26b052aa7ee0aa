"""Threads and their state: CRUD, search, `get_state`, `update_state`, history, copy.

A thread's graph is the one its runs used: the first run records `graph_id` and
`assistant_id` in the thread's metadata, as the official server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langgraph.errors import InvalidUpdateError
from langgraph.graph import END
from langgraph.pregel import Pregel
from langgraph.types import StateUpdate

from waypoint import serde
from waypoint.graphs import AccessContext, GraphRegistry, system_assistant_id
from waypoint.service import metrics
from waypoint.service.auth import graph_user
from waypoint.service.errors import BadRequest, Conflict, Invalid, NotFound
from waypoint.service.state import (
    command_from_api,
    checkpoint_of,
    empty_thread_state,
    interrupts_by_task,
    snapshot_to_thread_state,
)
from waypoint.service.thread_storage import thread_storage
from waypoint.service.waiting import wait_run_ended
from waypoint.service.decisions import update_state_records
from waypoint.storage import AlreadyExists, InterruptAnswered, Storage
from waypoint.streams import Broker


def thread_config(thread_id: str, checkpoint: dict | None = None) -> dict[str, Any]:
    """The `RunnableConfig` addressing a thread's latest checkpoint, or the given one
    (`{"checkpoint_id", "checkpoint_ns"?, "checkpoint_map"?}`)."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
        if checkpoint and checkpoint.get(key) is not None:
            configurable[key] = checkpoint[key]
    return {"configurable": configurable}


def overlay_config(thread_id: str, *configs: dict | None) -> dict[str, Any]:
    """Configs (an assistant's, then a run's) overlaid left to right, `configurable` merged
    key by key, addressing the thread's latest checkpoint: what a factory graph is built
    with outside a run."""
    out: dict[str, Any] = {}
    configurable: dict[str, Any] = {}
    for config in configs:
        out.update(config or {})
        configurable.update((config or {}).get("configurable") or {})
    configurable.update(thread_config(thread_id)["configurable"])
    out["configurable"] = configurable
    return out


def _review_filters(graph_id: str | None, metadata: dict | None) -> dict | None:
    """The metadata filter of an inbox query (a thread's `graph_id` lives in its metadata)."""
    return {**(metadata or {}), **({"graph_id": graph_id} if graph_id else {})} or None


class ThreadService:
    """Thread records plus the graph state behind them."""

    def __init__(self, storage: Storage, registry: GraphRegistry, broker: Broker):
        self.storage = storage
        self.registry = registry
        self.broker = broker

    # -- records -----------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create from a `ThreadCreate` body. Raises `Conflict` when the id is taken and
        `if_exists="raise"`.

        `supersteps` (`[{"updates": [{"values", "command"?, "as_node"}, ...]}, ...]`, how
        the SDK copies a thread between deployments) are applied in order to the new
        thread's graph, named by `metadata.graph_id`, as LangGraph's `bulk_update_state`.
        Raises `Invalid` when that graph is missing or unknown, `BadRequest` when LangGraph
        refuses an update (the thread is not created then)."""
        metadata = dict(body.get("metadata") or {})
        supersteps = body.get("supersteps")
        if supersteps:
            graph_id = metadata.get("graph_id")
            if graph_id not in self.registry:
                raise Invalid(
                    "metadata.graph_id",
                    f"creating a thread from supersteps needs the graph they apply to; got {graph_id!r}, "
                    f"this server has: {', '.join(self.registry.graph_ids)}",
                )
            metadata.setdefault("assistant_id", system_assistant_id(graph_id))
        thread_id = body.get("thread_id") or str(uuid.uuid4())
        if (supersteps or body.get("ttl")) and body.get("if_exists") == "do_nothing":
            with contextlib.suppress(NotFound):
                return await self.storage.get_thread(thread_id)  # exists: left as it is
        try:
            thread = await self.storage.create_thread(
                thread_id, metadata=metadata, if_exists=body.get("if_exists") or "raise"
            )
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        if body.get("ttl"):
            await self.storage.set_thread_ttl(thread_id, body["ttl"])
        if supersteps:
            try:
                await self._apply_supersteps(thread, supersteps)
            except BaseException:
                await self.storage.delete_thread(thread_id)
                raise
            thread = await self.storage.get_thread(thread_id)
        return thread

    async def _apply_supersteps(self, thread: dict[str, Any], supersteps: list[dict]) -> None:
        steps = []
        for i, step in enumerate(supersteps):
            updates = step.get("updates") if isinstance(step, dict) else None
            if not updates or not isinstance(updates, list):
                raise Invalid(f"supersteps[{i}].updates", "must be a non-empty list of updates")
            batch = []
            for j, update in enumerate(updates):
                if not isinstance(update, dict) or not isinstance(update.get("as_node"), str):
                    raise Invalid(f"supersteps[{i}].updates[{j}].as_node", "is required (a node name)")
                command = update.get("command")
                values = command_from_api(command) if command else update.get("values")
                batch.append(StateUpdate(values, update["as_node"]))
            steps.append(batch)
        async with self._graph(thread, "threads.update") as graph:
            try:
                await graph.abulk_update_state(thread_config(thread["thread_id"]), steps)
            except (InvalidUpdateError, ValueError, KeyError) as exc:
                raise BadRequest(f"Cannot apply supersteps: {exc}") from None
            await self.refresh(thread["thread_id"], graph)

    async def get(self, thread_id: str, include: Sequence[str] = ()) -> dict[str, Any]:
        """The thread; with `include=["ttl"]` also its `ttl` (`{"strategy", "ttl_minutes",
        "expires_at"}`, absent without one), as the official `?include=ttl`. Raises `NotFound`."""
        thread = await self.storage.get_thread(thread_id)
        if "ttl" in include and (ttl := await self.storage.get_thread_ttl(thread_id)) is not None:
            thread["ttl"] = ttl
        return thread

    async def storage_use(self, thread_id: str) -> dict[str, Any]:
        """The official `ThreadStorage` of the thread (see `thread_storage.py`). Raises `NotFound`."""
        await self.storage.get_thread(thread_id)
        return await thread_storage(self.storage.checkpointer, thread_id)

    async def patch(self, thread_id: str, metadata: dict | None, ttl: dict | None = None) -> dict[str, Any]:
        """Merge `metadata`; a `ttl` (`{"strategy", "ttl"}` minutes) replaces the thread's TTL,
        counted from now. Raises `NotFound`."""
        if ttl:
            await self.storage.set_thread_ttl(thread_id, ttl)
        return await self.storage.patch_thread_metadata(thread_id, metadata or {})

    async def prune(self, thread_ids: Sequence[str], strategy: str = "delete",
                    metadata: dict | None = None) -> dict[str, int]:
        """`POST /threads/prune`: `delete` deletes each thread as `DELETE /threads/{id}` does
        (stopping its runs first); `keep_latest` keeps each thread with the latest checkpoint
        of each namespace (its state, and a pending interrupt stays answerable) and deletes the
        older ones, skipping a `busy` thread. Missing ids (and, with auth, threads whose
        metadata does not contain `metadata`) are skipped. Returns `{"pruned_count": n}`."""
        ids = list(dict.fromkeys(str(t) for t in thread_ids))
        if metadata and ids:
            found = await self.storage.search_threads(
                ids=ids, metadata=metadata, values=None, status=None, limit=len(ids), offset=0,
                sort_by="created_at", sort_order="asc",
            )
            ids = [t["thread_id"] for t in found]
        pruned = 0
        for thread_id in ids:
            if strategy == "keep_latest":
                pruned += await self.storage.prune_thread_checkpoints(thread_id)
                continue
            with contextlib.suppress(NotFound):
                await self.delete(thread_id)
                pruned += 1
        return {"pruned_count": pruned}

    async def delete(self, thread_id: str, *, grace_seconds: float = 10.0) -> None:
        """Stop the thread's running runs (waiting up to `grace_seconds` for them to stop
        writing checkpoints), then delete it with its runs and checkpoints. Raises `NotFound`."""
        await self.storage.get_thread(thread_id)
        running = await self.storage.list_runs(thread_id, limit=1000, offset=0, status="running")
        for run in running:
            await self.broker.cancel(run["run_id"], "interrupt")

        if running:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(wait_run_ended(self.storage, self.broker, r["run_id"]) for r in running)),
                    grace_seconds,
                )
        await self.storage.delete_thread(thread_id)

    async def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        threads = await self.storage.search_threads(
            ids=body.get("ids"),
            metadata=body.get("metadata"),
            values=body.get("values"),
            status=body.get("status"),
            limit=body.get("limit", 10),
            offset=body.get("offset", 0),
            sort_by=body.get("sort_by") or "created_at",
            sort_order=body.get("sort_order") or "desc",
        )
        if select := body.get("select"):
            threads = [{k: t.get(k) for k in select} for t in threads]
        return threads

    async def count(self, body: dict[str, Any]) -> int:
        return await self.storage.count_threads(
            metadata=body.get("metadata"), values=body.get("values"), status=body.get("status")
        )

    async def copy(self, thread_id: str) -> dict[str, Any]:
        """A new thread holding the same metadata and checkpoint history. Raises `NotFound`."""
        return await self.storage.copy_thread(thread_id, str(uuid.uuid4()))

    # -- state -------------------------------------------------------------
    async def graph_config(self, thread: dict[str, Any], graph_id: str) -> dict[str, Any]:
        """The config a factory graph is rebuilt with to read or update `thread`: the config
        of the assistant that last ran on it (so the graph has the topology its runs had),
        addressing the thread. A plain graph needs only the thread."""
        assistant_id = (thread.get("metadata") or {}).get("assistant_id")
        if not assistant_id or not self.registry.is_factory(graph_id):
            return thread_config(thread["thread_id"])
        try:
            assistant = await self.storage.get_assistant(assistant_id)
        except NotFound:  # deleted since: build with the thread alone
            return thread_config(thread["thread_id"])
        return overlay_config(thread["thread_id"], assistant.get("config"))

    @contextlib.asynccontextmanager
    async def _graph(
        self, thread: dict[str, Any], access_context: AccessContext = "threads.read"
    ) -> AsyncIterator[Pregel | None]:
        graph_id = (thread.get("metadata") or {}).get("graph_id")
        if graph_id is None or graph_id not in self.registry:
            yield None
            return
        async with self.registry.graph(
            graph_id,
            await self.graph_config(thread, graph_id),
            checkpointer=self.storage.checkpointer,
            store=self.storage.store,
            access_context=access_context,
            user=graph_user(),
        ) as graph:
            yield graph

    async def get_state(
        self, thread_id: str, checkpoint: dict | None = None, subgraphs: bool = False
    ) -> dict[str, Any]:
        """`ThreadState` at the latest checkpoint or at `checkpoint`. Raises `NotFound`
        (thread, or a named checkpoint that does not exist)."""
        thread = await self.storage.get_thread(thread_id)
        async with self._graph(thread) as graph:
            if graph is None:
                if checkpoint and checkpoint.get("checkpoint_id"):
                    raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found")
                return empty_thread_state()
            snapshot = await graph.aget_state(thread_config(thread_id, checkpoint), subgraphs=subgraphs)
        if snapshot.created_at is None:
            if checkpoint and checkpoint.get("checkpoint_id"):
                raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found")
            return empty_thread_state()
        return snapshot_to_thread_state(snapshot)

    async def update_state(
        self,
        thread_id: str,
        values: Any,
        as_node: str | None = None,
        checkpoint: dict | None = None,
    ) -> dict[str, Any]:
        """Write `values` as if `as_node` had returned them; returns `{"checkpoint": ...}`.

        `as_node="__end__"` (LangGraph's `END`) with `values=None` drops the paused tasks:
        agent-inbox's "Ignore" / "Mark as resolved". Like any update that clears pending
        interrupts, each gets a closing decision (action `update_state`), so a later resume
        naming it gets `Conflict`.

        Raises `NotFound`, `Conflict` (an active run holds the thread), `BadRequest`
        (no graph has run on the thread yet, or LangGraph refuses the update).
        """
        thread = await self.storage.get_thread(thread_id)
        if thread["status"] == "busy":
            raise Conflict(f"Thread {thread_id} is busy: wait for its run to finish before updating state")
        pending_before = _interrupt_ids(thread)
        async with self._graph(thread, "threads.update") as graph:
            if graph is None:
                raise BadRequest(
                    f"Thread {thread_id} has no graph yet: run an assistant on it before updating its state"
                )
            if as_node is not None and as_node != END and as_node not in graph.nodes:
                raise Invalid("as_node", f"graph has no node {as_node!r}")
            try:
                new_config = await graph.aupdate_state(
                    thread_config(thread_id, checkpoint), values, as_node=as_node
                )
            except (InvalidUpdateError, ValueError) as exc:
                raise BadRequest(f"Cannot update state: {exc}") from None
            await self.refresh(thread_id, graph)
        # Interrupts the update cleared are decided by it: recorded, never silently gone.
        pending_after = _interrupt_ids(await self.storage.get_thread(thread_id))
        for decision in update_state_records([i for i in pending_before if i not in pending_after], values):
            with contextlib.suppress(InterruptAnswered):  # closed meanwhile by a resume
                await self.storage.record_decision({**decision, "thread_id": thread_id})
                metrics.decisions_recorded([decision])
        return {"checkpoint": checkpoint_of(new_config)}

    async def withdraw_pending(self, thread_id: str) -> None:
        """Drop the thread's paused tasks (its pending interrupts) without running them:
        LangGraph's `update_state(None, as_node=END)`. The thread becomes `idle`."""
        thread = await self.storage.get_thread(thread_id)
        async with self._graph(thread, "threads.update") as graph:
            if graph is None:
                return
            await graph.aupdate_state(thread_config(thread_id), None, as_node=END)
            await self.refresh(thread_id, graph)

    async def awaiting_review(
        self,
        *,
        graph_id: str | None = None,
        metadata: dict | None = None,
        limit: int = 25,
        offset: int = 0,
        thread_id: str | None = None,
    ) -> dict[str, Any]:
        """One page of the threads paused for a person, most recently paused first:
        `{"items": [...], "total": int, "offset": int, "limit": int}`, each item
        `{thread_id, graph_id, assistant_id, metadata, values, updated_at, interrupts: [...],
        next: [...]}`. `interrupts` is empty for a thread paused at a static breakpoint.
        Filtering and paging happen in the database (the `(status, updated_at)` index);
        `thread_id` narrows the page to that one thread (the inbox link in notifications)."""
        filters = _review_filters(graph_id, metadata)
        ids = [thread_id] if thread_id else None
        threads = await self.storage.search_threads(
            ids=ids, metadata=filters, values=None, status="interrupted",
            limit=limit, offset=offset, sort_by="updated_at", sort_order="desc",
        )
        total = (len(threads) if ids else
                 await self.storage.count_threads(metadata=filters, values=None, status="interrupted"))
        items = []
        for thread in threads:
            interrupts = [i for group in (thread.get("interrupts") or {}).values() for i in group]
            nxt = [] if interrupts else (await self.get_state(thread["thread_id"]))["next"]
            meta = thread.get("metadata") or {}
            items.append({
                "thread_id": thread["thread_id"],
                "graph_id": meta.get("graph_id"),
                "assistant_id": meta.get("assistant_id"),
                "metadata": meta,
                "values": thread.get("values"),
                "updated_at": thread["updated_at"],
                "interrupts": interrupts,
                "next": nxt,
            })
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    async def review_marker(self, *, graph_id: str | None = None, metadata: dict | None = None) -> dict[str, Any]:
        """What changes whenever the set of paused threads matching the filters changes:
        `{"total": int, "latest": str | None}` (the count, and the newest pause's
        `updated_at`). The inbox's event stream compares successive markers."""
        filters = _review_filters(graph_id, metadata)
        page = await self.storage.search_threads(
            ids=None, metadata=filters, values=None, status="interrupted",
            limit=1, offset=0, sort_by="updated_at", sort_order="desc",
        )
        total = await self.storage.count_threads(metadata=filters, values=None, status="interrupted")
        return {"total": total, "latest": page[0]["updated_at"] if page else None}

    async def notifications(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's notification deliveries, oldest first (service/notifications.py), each
        `{delivery_id, thread_id, interrupt_id, event, target, target_url, title, body, status,
        attempts, next_attempt_at, last_error, created_at, sent_at}`. Raises `NotFound`."""
        await self.storage.get_thread(thread_id)
        return [{k: v for k, v in d.items() if k != "claimed_until"}
                for d in await self.storage.list_notifications(thread_id)]

    async def decisions(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's decision audit trail, oldest first. Raises `NotFound`."""
        await self.storage.get_thread(thread_id)
        return await self.storage.list_decisions(thread_id)

    async def get_history(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        before: dict | None = None,
        metadata: dict | None = None,
        checkpoint: dict | None = None,
    ) -> list[dict[str, Any]]:
        """`ThreadState`s newest first, at most `limit`, older than `before`, whose checkpoint
        metadata contains `metadata`. Raises `NotFound`."""
        thread = await self.storage.get_thread(thread_id)
        async with self._graph(thread) as graph:
            if graph is None:
                return []
            states = []
            async for snapshot in graph.aget_state_history(
                thread_config(thread_id, checkpoint),
                filter=metadata or None,
                before=thread_config(thread_id, before) if before else None,
                limit=limit,
            ):
                states.append(snapshot_to_thread_state(snapshot))
        return states

    async def derive_state(
        self,
        thread_id: str,
        graph: Pregel | None = None,
        *,
        error: Any | None = None,
        cancelled: bool = False,
    ) -> dict[str, Any]:
        """The thread row's state from its latest checkpoint, as `set_thread_state` keywords:
        `values`, `interrupts` (pending, by task id), `error`, and `status` - `error` if
        `error` is given, `interrupted` if tasks are pending (an `interrupt()` or a
        breakpoint) and the run was not cancelled, else `idle`. `graph` defaults to the
        thread's own; a thread without one keeps its stored values."""
        if graph is None:
            thread = await self.storage.get_thread(thread_id)
            async with self._graph(thread) as own:
                if own is not None:
                    return await self.derive_state(thread_id, own, error=error, cancelled=cancelled)
            return {
                "values": thread.get("values"),
                "interrupts": thread.get("interrupts") or {},
                "error": error,
                "status": "error" if error is not None else "idle",
            }
        snapshot = await graph.aget_state(thread_config(thread_id))
        if error is not None:
            status = "error"
        elif snapshot.next and not cancelled:
            status = "interrupted"
        else:
            status = "idle"
        return {
            "values": serde.to_jsonable(snapshot.values) if snapshot.created_at else None,
            "interrupts": interrupts_by_task(snapshot) if snapshot.created_at else {},
            "error": error,
            "status": status,
        }

    async def refresh(self, thread_id: str, graph: Pregel | None = None, **kwargs: Any) -> None:
        """Store `derive_state(...)` on the thread row (status stays `busy` while a run is active)."""
        await self.storage.set_thread_state(thread_id, **await self.derive_state(thread_id, graph, **kwargs))


def _interrupt_ids(thread: dict) -> list[str]:
    """Ids of the thread row's pending interrupts."""
    return [i["id"] for group in (thread.get("interrupts") or {}).values() for i in group]
