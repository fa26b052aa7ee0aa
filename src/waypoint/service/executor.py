"""Executing one run: drive the graph, publish its stream events, record the outcome.

Stream event names and payloads follow the official server (langgraph_api.stream):
`metadata` first (`{"run_id", "attempt"}`), then one event per chunk named after its
stream mode (`values`, `updates`, `messages`, `custom`, `debug`, `checkpoints`, `tasks`,
`events`, `messages/partial|complete|metadata`), suffixed `|ns1|ns2` for subgraph chunks
when `stream_subgraphs` is on, and `error` (`{"error", "message"}`) if the graph raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessageChunk, message_chunk_to_message
from langgraph.types import Interrupt
from pydantic import BaseModel

from waypoint import serde
from waypoint.clock import now_iso
from waypoint.graphs import GraphRegistry
from waypoint.service import metrics
from waypoint.service.assistants import AssistantService
from waypoint.service.auth import graph_user
from waypoint.service.decisions import deadline_settings, default_for, rollback_records
from waypoint.service.dependencies import unavailable
from waypoint.service.records import public_run
from waypoint.service.state import command_from_api, debug_payload, interrupt_to_dict, task_interrupts
from waypoint.service.thread_events import CANCELLED, RunEvents
from waypoint.service.threads import ThreadService, thread_config
from waypoint.service.notifications import Notifier
from waypoint.service.webhooks import WebhookSender
from waypoint.storage import NotFound, Storage
from waypoint.streams import Broker

if TYPE_CHECKING:  # deadlines.py imports runs.py, which imports this module
    from waypoint.service.deadlines import DeadlineSweeper

log = logging.getLogger(__name__)

# LangGraph marks its v3 stream experimental on every call; the server uses it knowingly.
warnings.filterwarnings("ignore", message=r".*v3 streaming protocol.*")
warnings.filterwarnings("ignore", message=r".*_achat_model_stream_v3.*")


#: Key of a run's (or its assistant's) `config` giving the run's timeout in seconds; Waypoint
#: reads it and the graph never sees it.
RUN_TIMEOUT_KEY = "run_timeout"


def run_timeout(server_timeout: float | None, assistant: dict, run: dict) -> float | None:
    """The tighter of the server's `--run-timeout` and the run's `config.run_timeout`
    (falling back to the assistant's); None for no limit."""
    own = (run["kwargs"].get("config") or {}).get(RUN_TIMEOUT_KEY)
    if own is None:
        own = (assistant.get("config") or {}).get(RUN_TIMEOUT_KEY)
    limits = [t for t in (server_timeout, own) if t is not None]
    return min(limits) if limits else None


def run_output(values: Any, error: dict | None, interrupts: list[dict]) -> Any:
    """The body `runs.wait`/`runs.join` return: the thread's values, plus `__interrupt__`
    when the run stopped at interrupts, or `{"__error__": {"error", "message"}}`."""
    if error is not None:
        return {"__error__": error}
    output = values if values is not None else {}
    if interrupts and isinstance(output, dict):
        output = {**output, "__interrupt__": interrupts}
    return output


def webhook_payload(run: dict, values: Any, interrupts: list[dict]) -> dict[str, Any]:
    """The body POSTed to a run's webhook (see `WebhookSender`); `interrupts` lists what the
    run stopped at, so a chat bot or ticketing system can ping a reviewer."""
    payload = {
        **public_run(run),
        "run_started_at": run.get("started_at"),
        "run_ended_at": run.get("updated_at"),
        "webhook_sent_at": now_iso(),
        "values": values,
        "interrupts": interrupts,
    }
    if run.get("error") is not None:
        payload["error"] = run["error"]
    return payload


def error_payload(exc: BaseException) -> dict[str, str]:
    """`{"error": exception type, "message": text}`, the shape of the `error` stream event."""
    return {"error": type(exc).__name__, "message": str(exc)}


def build_config(assistant: dict, run: dict) -> dict[str, Any]:
    """The `RunnableConfig` of a run: the assistant's config overlaid by the run's, plus
    `thread_id`/`run_id`/`assistant_id`/`graph_id` in `configurable` and in `metadata`."""
    kwargs = run["kwargs"]
    a_conf = assistant.get("config") or {}
    r_conf = kwargs.get("config") or {}
    config: dict[str, Any] = {
        **{k: v for k, v in a_conf.items() if k != RUN_TIMEOUT_KEY},
        **{k: v for k, v in r_conf.items() if k not in ("configurable", RUN_TIMEOUT_KEY)},
    }
    configurable = {**(a_conf.get("configurable") or {}), **(r_conf.get("configurable") or {})}
    ids = {
        "thread_id": run["thread_id"],
        "run_id": run["run_id"],
        "assistant_id": assistant["assistant_id"],
        "graph_id": assistant["graph_id"],
    }
    configurable.update(ids)
    checkpoint = kwargs.get("checkpoint") or {}
    for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
        if checkpoint.get(key) is not None:
            configurable[key] = checkpoint[key]
    config["configurable"] = configurable
    config["metadata"] = {**(config.get("metadata") or {}), **(run.get("metadata") or {}), **ids}
    config["run_id"] = run["run_id"]  # the root run id, also used to find root events
    return config


def run_context(assistant: dict, run: dict) -> dict[str, Any]:
    """The run's `context`: the assistant's overlaid by the run's (`{}` when neither has one)."""
    return {**(assistant.get("context") or {}), **(run["kwargs"].get("context") or {})}


def context_for_graph(graph: Any, context: dict[str, Any]) -> dict[str, Any] | None:
    """What to pass as `context=`: the given context, or - when it is empty - `{}` if the
    graph's `context_schema` can be built from nothing, so LangGraph gives nodes the
    schema's defaults (as the official server does) instead of `runtime.context = None`."""
    if context:
        return context
    schema = getattr(graph, "context_schema", None)
    if schema is None:
        return None
    if dataclasses.is_dataclass(schema) or (isinstance(schema, type) and issubclass(schema, BaseModel)):
        try:
            schema()  # LangGraph builds `schema(**context)`
        except Exception:  # required fields without defaults: nothing sensible to build
            return None
    return {}


def _graph_input(kwargs: dict) -> Any:
    command = kwargs.get("command")
    if command:
        return command_from_api(command)
    return kwargs.get("input")


def _extra_transformers(graph: Any) -> list:
    """The v3 stream transformers that make LangGraph emit the protocol channels `updates`,
    `custom` and `checkpoints` (`tasks`: `RunEvents.tasks_tap`), minus those the graph
    compiled in."""
    from langgraph.stream.transformers import CheckpointsTransformer, CustomTransformer, UpdatesTransformer

    own = list(getattr(graph, "stream_transformers", None) or [])
    return [t for t in (UpdatesTransformer, CustomTransformer, CheckpointsTransformer) if t not in own]


def _streamed_state(graph: Any, kwargs: dict, trace: dict[str, Any]) -> dict[str, Any] | None:
    """The thread row's state after a run that ended `success`, taken from its stream
    (`set_thread_state` keywords, as `ThreadService.derive_state` gives them), or None when
    only a state read can tell. The stream tells when it had a root `values` chunk (the
    thread's values, as a state read gives them) and no `interrupt_after` breakpoint could
    have stopped the run (one after the last node reports an interrupt with nothing
    pending). Then, if no chunk named an interrupt: `idle`. A run streamed with LangGraph's
    `tasks` chunks (`task_interrupts` in `trace`) is also told when it paused: a root chunk
    named an interrupt (one seen only inside a subgraph, caught by a node, is no pause) →
    `interrupted`, with the interrupts its root tasks reported (a breakpoint reports none).
    Other runs (protocol, `events`) take the read whenever a breakpoint could have stopped them."""
    tasks_streamed = "task_interrupts" in trace
    if ("values" not in trace
            or kwargs.get("interrupt_after") or getattr(graph, "interrupt_after_nodes", None)
            or trace.get("interrupted") and not (tasks_streamed and trace.get("root_interrupted"))
            or not tasks_streamed and (kwargs.get("interrupt_before") or getattr(graph, "interrupt_before_nodes", None))):
        return None
    interrupts = {  # a `tasks` chunk lists a task's interrupts as dicts (`dataclasses.asdict`)
        task_id: task_interrupts(task_id, name, (Interrupt(**i) for i in found))
        for task_id, (name, found) in trace.get("task_interrupts", {}).items()
    }
    return {"values": serde.to_jsonable(trace["values"]), "interrupts": interrupts, "error": None,
            "status": "interrupted" if trace.get("interrupted") else "idle"}


class _MessagesAccumulator:
    """Legacy `messages` stream mode: merge chunks per message id into partial/complete events."""

    def __init__(self) -> None:
        self.messages: dict[str, Any] = {}

    def feed(self, message: Any, metadata: dict) -> list[tuple[str, Any]]:
        out = []
        msg_id = getattr(message, "id", None) or str(uuid.uuid4())
        if msg_id in self.messages:
            self.messages[msg_id] = self.messages[msg_id] + message
        else:
            self.messages[msg_id] = message
            out.append(("messages/metadata", {msg_id: {"metadata": metadata}}))
        merged = self.messages[msg_id]
        # Both carry the message so far as a message, not a chunk (`type: "ai"`, not
        # "AIMessageChunk"), as the official server sends them.
        if isinstance(merged, BaseMessageChunk):
            out.append(("messages/partial", [message_chunk_to_message(merged)]))
        else:
            out.append(("messages/complete", [message_chunk_to_message(merged)]))
        return out


class _Outbox:
    """A run's stream events on their way to the broker. From the first chunk that names
    interrupts on, events are held until the run has ended (`flush`): the interrupts' `ns`
    comes from the thread's final state, which the run reads anyway for the thread row,
    instead of a state read per interrupt chunk (with `durability="async"` LangGraph may
    stream an interrupt before the checkpointer holds it, so such a read can miss it)."""

    def __init__(self, broker: Broker, run_id: str):
        self._broker = broker
        self._run_id = run_id
        self._held: list[tuple[str, Any, Any]] | None = None

    async def publish(self, event: str, data: Any, encoded: bytes | None = None) -> None:
        """Publish `data` (`encoded`: as `serde.dumps` gives it, not encoded again)."""
        if self._held is not None:
            self._held.append((event, data, None))
        else:
            await self._broker.publish(self._run_id, event, serde.dumps(data) if encoded is None else encoded)

    def interrupts(self, event: str, chunk: dict) -> None:
        """Hold `chunk` (a `values`/`updates` chunk with `__interrupt__`), and every event
        after it, until `flush`."""
        if self._held is None:
            self._held = []
        self._held.append((event, chunk, chunk["__interrupt__"]))

    async def flush(self, pending: list[dict]) -> None:
        """Publish the held events, each interrupt as its API dict among `pending` (the
        thread's pending interrupts, with `ns`), or without `ns` when it is not pending."""
        held, self._held = self._held or [], None
        known = {i["id"]: i for i in pending}
        for event, data, interrupts in held:
            if interrupts is not None:
                data = {**data, "__interrupt__": [known.get(i.id) or interrupt_to_dict(i) for i in interrupts]}
            await self._broker.publish(self._run_id, event, serde.dumps(data))


#: Seconds a run's stream may keep the event loop before letting the rest run. A graph
#: that streams faster than the run can publish (a sync node writing in a loop, whose
#: chunks LangGraph queues) is otherwise handled without a pause: the sends in flight, the
#: stream readers and the SSE writes all wait behind it, so the first event of a large
#: stream reaches the client only after the last one was produced.
YIELD_SECONDS = 0.001
#: Event loop turns such a pause gives: a reply reaching its reader, the reader handing it
#: to a subscriber, the subscriber writing it out take a turn each.
YIELD_TURNS = 3


class _Pauser:
    """`await pause()` between chunks: gives the event loop `YIELD_TURNS` turns once
    `YIELD_SECONDS` passed since the last pause (a clock read otherwise)."""

    def __init__(self) -> None:
        self._since = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self._since >= YIELD_SECONDS:
            for _ in range(YIELD_TURNS):
                await asyncio.sleep(0)
            self._since = time.monotonic()


#: What `_execute` returns for a run put back in the queue (shutdown, a dependency down):
#: the run is not over, its stream goes on in its next execution.
NOT_FINISHED = object()


class RunExecutor:
    """Executes claimed runs end to end; never raises for a graph's own failure."""

    def __init__(
        self,
        storage: Storage,
        broker: Broker,
        registry: GraphRegistry,
        threads: ThreadService,
        webhooks: WebhookSender,
        *,
        run_timeout: float | None = None,
        notifier: Notifier | None = None,
        assistants: AssistantService | None = None,
        deadlines: DeadlineSweeper | None = None,
    ):
        self.storage = storage
        self.assistants = assistants or AssistantService(storage, registry)
        self.broker = broker
        self.registry = registry
        self.threads = threads
        self.webhooks = webhooks
        self.notifier = notifier
        self.deadlines = deadlines
        self.run_timeout = run_timeout
        #: `time.monotonic()` of the last run put back for a failing dependency (`_put_back`).
        self.last_put_back = 0.0
        self._hand_back = asyncio.Event()

    def hand_back(self) -> None:
        """Shutdown: stop every executing run at once and put it back in the queue
        (`pending`, lease released, attempt not counted) for another process to continue."""
        self._hand_back.set()

    async def _publish(self, run_id: str, event: str, data: Any) -> None:
        await self.broker.publish(run_id, event, serde.dumps(data))

    async def execute(self, run: dict) -> bool:
        """Run `run` (already marked `running`) to a terminal status, then end its stream.

        Terminal statuses: `success` (also when it stops at an interrupt or breakpoint),
        `error`, `timeout`, `interrupted` (cancelled with action `interrupt`); a run
        cancelled with action `rollback` is deleted with the checkpoints it wrote. A run
        that a failing dependency or shutdown stops is not ended: it goes back to the queue.

        Returns whether the run's end may let a queued run start (another run of its thread
        is pending, or the run went back to the queue, or its end is not known): False only
        when it ended leaving its thread without an active run.
        """
        run_id, thread_id = run["run_id"], run["thread_id"]
        output: Any = None
        outcome = {"frees_queued": True}
        try:
            output = await self._execute(run, outcome)
        except NotFound:
            log.info("run %s ended after its thread was deleted", run_id)
        except Exception as exc:
            if unavailable(exc) is not None:  # the run is not over: it continues later
                output = NOT_FINISHED
                await self._put_back(run, exc)
            else:  # a bug of ours: never leave the run or thread hanging
                log.exception("run %s failed outside the graph", run_id)
                output = {"__error__": error_payload(exc)}
                with contextlib.suppress(Exception):
                    await self._fail(run, error_payload(exc))
        finally:
            if output is not NOT_FINISHED:
                await self.broker.end(run_id, None if output is None else serde.dumps(output))
                if run["kwargs"].get("temporary"):  # stateless run, on_completion="delete"
                    with contextlib.suppress(NotFound):
                        await self.storage.delete_thread(thread_id)
            # (the worker pool wakes the workers when this task ends, if a queued run
            # may start now)
        return outcome["frees_queued"]

    async def _execute(self, run: dict, outcome: dict) -> Any:
        run_id, thread_id, kwargs = run["run_id"], run["thread_id"], run["kwargs"]
        started = time.monotonic()
        attempt = run.get("attempt") or 1
        await self._publish(run_id, "metadata", {"run_id": run_id, "attempt": attempt})
        try:
            assistant = await self.assistants.for_run(run)
        except NotFound as exc:
            return await self._fail_before_start(run, exc)
        config = build_config(assistant, run)
        # A retried run (its worker died, or shutdown handed it back) that already wrote
        # checkpoints continues from the thread's latest one: no input, no fork point, so
        # the steps it completed are not executed again.
        resuming = attempt > 1 and await self.storage.run_wrote_checkpoints(thread_id, run_id)
        if resuming:
            for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
                config["configurable"].pop(key, None)
        timeout = run_timeout(self.run_timeout, assistant, run)
        events = RunEvents(self.broker, thread_id, assistant["graph_id"])
        await events.lifecycle("running")
        async with self.registry.graph(
            assistant["graph_id"], config,
            checkpointer=self.storage.checkpointer, store=self.storage.store,
            access_context="threads.create_run", context=run_context(assistant, run),
            user=graph_user(config),
        ) as graph:
            error: dict | None = None
            status = "success"
            cancel_action: str | None = None
            outbox = _Outbox(self.broker, run_id)
            trace: dict[str, Any] = {}
            stream = asyncio.create_task(
                self._stream(graph, run, config, assistant, events, outbox, resuming=resuming, trace=trace)
            )
            cancel = asyncio.create_task(self.broker.wait_cancel(run_id))
            hand_back = asyncio.create_task(self._hand_back.wait())
            try:
                done, _ = await asyncio.wait(
                    {stream, cancel, hand_back}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                cancel.cancel()
                hand_back.cancel()
            if stream not in done:
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stream
                if hand_back in done:
                    await self.storage.requeue_run(run_id, count_attempt=False)
                    log.info("run %s handed back to the queue at shutdown", run_id)
                    return NOT_FINISHED
                if cancel in done and not cancel.cancelled():
                    cancel_action = cancel.result()
                    status = "interrupted"
                else:
                    status = "timeout"
                    error = {"error": "TimeoutError", "message": f"Run exceeded its timeout of {timeout} seconds"}
                    await outbox.publish("error", error)
            elif (exc := stream.exception()) is not None:
                if unavailable(exc) is not None:
                    raise exc  # not the graph's fault: the run is put back (execute)
                # The user's graph raised: the client gets type and message, the log the traceback.
                log.error("run %s: graph %r raised %s", run_id, assistant["graph_id"], type(exc).__name__, exc_info=exc)
                status = "error"
                error = error_payload(exc)
                await outbox.publish("error", error)

            if cancel_action == "rollback":
                await outbox.flush([])
                await self._rollback(run, graph)
                await events.lifecycle("failed", error=CANCELLED)
                return None
            thread_state = _streamed_state(graph, kwargs, trace) if status == "success" else None
            if thread_state is None:
                thread_state = await self.threads.derive_state(
                    thread_id, graph, error=error, cancelled=cancel_action is not None
                )
            pending = [i for group in thread_state["interrupts"].values() for i in group]
            await outbox.flush(pending)
            output = run_output(thread_state["values"], error, pending if status == "success" else [])
            finished = await self.storage.finish_run(
                run_id, status=status, output=output, error=error, thread_state=thread_state
            )
            # The thread's status came from the same transaction, under its row lock: `busy`
            # means a run of it is queued; otherwise a run created later wakes the pool itself.
            outcome["frees_queued"] = finished.get("thread_status") == "busy"
            metrics.run_finished(status, time.monotonic() - started)
            if status == "success":
                await (events.interrupted(pending) if pending else events.lifecycle("completed"))
            else:
                await events.lifecycle("failed", error=CANCELLED if cancel_action else error["message"])
            if pending and status == "success":
                await self._schedule_deadlines(assistant, run, pending)
                if self.notifier is not None:
                    self.notifier.interrupted(assistant, run, pending)
            if kwargs.get("webhook"):
                self.webhooks.send(kwargs["webhook"], webhook_payload(finished, thread_state["values"], pending))
            return output

    async def _put_back(self, run: dict, exc: Exception) -> None:
        """A dependency (database, Redis, disk) failed under the run: back to the queue,
        not counted as an attempt, to continue from its last checkpoint once the dependency
        answers (the worker pool does not claim runs while the broker is down). If even
        that write fails, the run's lease expires and crash recovery re-queues it."""
        log.warning("run %s stopped: %s; it goes back to the queue", run["run_id"], exc)
        self.last_put_back = time.monotonic()
        try:
            await self.storage.requeue_run(run["run_id"], count_attempt=False)
        except Exception as again:
            log.warning("run %s stays with its expiring lease (%s)", run["run_id"], again)

    async def _fail_before_start(self, run: dict, exc: Exception) -> dict:
        error = error_payload(exc)
        await self._publish(run["run_id"], "error", error)
        await RunEvents(self.broker, run["thread_id"], run["assistant_id"]).lifecycle("failed", error=error["message"])
        await self._fail(run, error)
        return {"__error__": error}

    async def _fail(self, run: dict, error: dict) -> None:
        """End the run `error` and put its thread in `error`, keeping the thread's values."""
        thread = await self.storage.get_thread(run["thread_id"])
        await self.storage.finish_run(
            run["run_id"], status="error", output={"__error__": error}, error=error,
            thread_state={
                "values": thread.get("values"), "interrupts": thread.get("interrupts") or {},
                "error": error, "status": "error",
            },
        )
        metrics.run_finished("error", None)

    async def _schedule_deadlines(self, assistant: dict, run: dict, pending: list[dict]) -> None:
        """Give the run's new interrupts the deadline its settings ask for (decisions.py)."""
        settings = deadline_settings(assistant, run)
        if settings is None:
            return
        expires_at = now_iso(settings["ttl"])
        await self.storage.put_deadlines([
            {
                "thread_id": run["thread_id"],
                "interrupt_id": interrupt["id"],
                "run_id": run["run_id"],
                "assistant_id": assistant["assistant_id"],
                "expires_at": expires_at,
                "on_expire": settings["on_expire"],
                "default_value": default_for(interrupt, settings),
            }
            for interrupt in pending
        ])
        if self.deadlines is not None:
            self.deadlines.expect(expires_at)
        if self.notifier is not None:
            self.notifier.deadlines_set(assistant, run, pending, expires_at)

    async def _rollback(self, run: dict, graph: Any) -> None:
        """Delete the run and the checkpoints it wrote; the thread returns to its prior state.
        Decisions the run made are kept once they took effect (it started a step), with
        the rollback recorded next to them (see `rollback_records`)."""
        released: list[dict] = []
        if await self.storage.run_wrote_checkpoints(run["thread_id"], run["run_id"]):
            released = rollback_records(await self.storage.list_decisions(run["thread_id"]), run["run_id"])
        await self.storage.rollback_run(run["thread_id"], run["run_id"], released=released)
        await self.threads.refresh(run["thread_id"], graph)

    async def _stream(
        self, graph: Any, run: dict, config: dict, assistant: dict, events: RunEvents, outbox: _Outbox,
        *, resuming: bool = False, trace: dict[str, Any] | None = None,
    ) -> None:
        """Drive the graph and publish each chunk the client asked for, and the thread's
        protocol events (`thread_events.py`): from LangGraph's v3 stream for a run started
        through the protocol (`kwargs["protocol"]`), else mirrored from the chunks.
        `resuming` continues from the thread's latest checkpoint instead of feeding the
        run's input again. Events go through `outbox` (interrupt chunks are held there).
        `trace` gets `values` (the last root `values` chunk), `interrupted` (True once any
        chunk named interrupts; `root_interrupted` once a root one did) and, where the
        stream carries LangGraph's `tasks` chunks, `task_interrupts` (root task id →
        (name, interrupts as the chunk lists them)): what `_streamed_state` reads."""
        trace = {} if trace is None else trace
        run_id, kwargs = run["run_id"], run["kwargs"]
        requested = set(kwargs.get("stream_mode") or ["values"])
        subgraphs = bool(kwargs.get("subgraphs"))
        modes = {"messages" if m in ("messages", "messages-tuple") else m for m in requested}
        modes.discard("events")
        modes |= {"values", "updates"}  # updates carry interrupts; values feed the result
        context = context_for_graph(graph, run_context(assistant, run))
        options: dict[str, Any] = {
            "stream_mode": sorted(modes),
            "subgraphs": subgraphs,
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
        }
        if context is not None:
            options["context"] = context
        if kwargs.get("durability"):
            options["durability"] = kwargs["durability"]
        graph_input = None if resuming else _graph_input(kwargs)
        accumulator = _MessagesAccumulator()
        publish = outbox.publish
        last_step = time.monotonic()
        pause = _Pauser()

        async def handle(ns: tuple, mode: str, chunk: Any, mirror: bool = True) -> None:
            nonlocal last_step
            if mode == "tasks":
                if not ns and chunk.get("interrupts"):
                    trace["task_interrupts"][chunk["id"]] = (chunk["name"], chunk["interrupts"])
                if "tasks" not in requested:  # streamed for the trace only
                    await pause()
                    return
            if mode == "updates" and not ns:  # a root superstep finished
                now = time.monotonic()
                metrics.STEP_SECONDS.observe(now - last_step)
                last_step = now
            # The run's own stream first: its client waits for it; the thread's log follows.
            encoded = await stream_chunk(ns, mode, chunk)
            if mirror:
                await events.chunk(ns, mode, chunk, encoded)
            # After the chunk went out, not before: the turns carry it on (the first chunk
            # of a burst, published after a pause, waited out three turns first).
            await pause()

        async def stream_chunk(ns: tuple, mode: str, chunk: Any) -> bytes | None:
            """Publish `chunk` as the client asked; return its JSON when published as it is."""
            suffix = ("|" + "|".join(ns)) if ns else ""
            if mode in ("values", "updates") and isinstance(chunk, dict) and "__interrupt__" in chunk:
                trace["interrupted"] = True  # an interrupt() or a breakpoint (then empty)
                trace["root_interrupted"] = trace.get("root_interrupted") or not ns
                if chunk["__interrupt__"]:
                    if mode == "updates" and not requested & {"values", "updates"}:
                        # Interrupts always reach the client, as `values` like upstream does.
                        outbox.interrupts("values" + suffix, chunk)
                    elif mode in requested:
                        outbox.interrupts(mode + suffix, chunk)
                    return None
            elif mode == "values" and not ns:
                trace["values"] = chunk
            if mode == "messages":
                if "messages-tuple" in requested:
                    await publish("messages" + suffix, list(chunk))
                if "messages" in requested:
                    for event, data in accumulator.feed(*chunk):
                        await publish(event + suffix, data)
                return None
            if mode not in requested:
                return None
            if mode == "debug":
                await publish(mode + suffix, debug_payload(chunk))
                return None
            encoded = serde.dumps(chunk)
            await publish(mode + suffix, chunk, encoded)
            return encoded

        if kwargs.get("protocol"):
            v3_options = {k: v for k, v in options.items() if k not in ("stream_mode", "subgraphs")}
            run_stream = await graph.astream_events(
                graph_input, config, version="v3",
                transformers=[*_extra_transformers(graph), events.tasks_tap()], **v3_options,
            )
            async with run_stream:
                async for event in run_stream:
                    await pause()
                    await events.protocol_event(event)
                    # the run's own stream (join, wait) still gets its root values/updates
                    method, params = event.get("method"), event.get("params") or {}
                    if method in ("values", "updates") and not params.get("namespace"):
                        await handle((), method, params.get("data"), mirror=False)
            await events.protocol_event(None)
        elif "events" in requested:
            async for event in graph.astream_events(graph_input, config, version="v2", **options):
                if event.get("event") == "on_chain_stream" and event.get("run_id") == run_id:
                    chunk = event["data"]["chunk"]
                    await handle(*(chunk if subgraphs else ((), *chunk)))
                else:
                    await pause()
                    await publish("events", event)
        else:
            # `tasks` tells which task raised each interrupt: the thread's state at the end
            # comes from the stream instead of a state read (`_streamed_state`).
            trace["task_interrupts"] = {}
            options["stream_mode"] = sorted(modes | {"tasks"})
            async for chunk in graph.astream(graph_input, config, **options):
                await handle(*(chunk if subgraphs else ((), *chunk)))
