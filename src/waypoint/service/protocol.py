"""The thread streaming protocol: commands on a thread, and its filtered event log.

What `client.threads.stream(...)` (`langgraph_sdk`, `@langchain/langgraph-sdk`) and
`RemoteGraph.astream_events(version="v3")` speak. Commands are `{id, method, params}`
(types: the `langchain-protocol` package); each is answered with
`{"type": "success", "id", "result", "meta": {"applied_through_seq"}}` or
`{"type": "error", "id", "error": <ErrorCode>, "message"}`. Events are the thread's log
(`thread_events.py` writes it, `Broker.queue_thread_events` numbers it), filtered by
channel and namespace as `SubscribeParams` define: a `custom:<name>` channel selects
custom events of that name; `namespaces` are prefixes (a segment without `:` also matches
`name:<task id>`); `depth` bounds how far below a prefix an event may be.

`input.respond` resumes through `RunService.create` with `Command(resume={interrupt_id:
response})`, so it is recorded and refused exactly as any API resume (decisions.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from waypoint import serde
from waypoint.service.errors import BadRequest, Conflict, Invalid, NotFound
from waypoint.service.runs import RunService
from waypoint.service.threads import ThreadService, thread_config
from waypoint.storage import Storage
from waypoint.streams import Broker, ThreadEvent

#: Channels of `SubscribeParams.channels` (plus `custom:<name>`).
CHANNELS = ("values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks", "custom")
#: Run fields `run.start` passes on to the run (as `POST /threads/{id}/runs` takes them).
RUN_FIELDS = (
    "input", "config", "context", "metadata", "checkpoint", "checkpoint_id", "interrupt_before",
    "interrupt_after", "webhook", "multitask_strategy", "after_seconds", "durability",
)


class ProtocolError(Exception):
    """A command that cannot be applied; `code` is a protocol `ErrorCode`."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _normalize(segment: str) -> str:
    return segment.partition(":")[0]


class EventFilter:
    """Which events of a thread's log a subscriber wants (`SubscribeParams`).

    Raises `ProtocolError("invalid_argument")` for an unknown channel or a bad `depth`.
    """

    def __init__(self, channels: list[str], namespaces: list[list[str]] | None = None, depth: int | None = None):
        if not isinstance(channels, list) or not channels:
            raise ProtocolError("invalid_argument", "channels: a non-empty list of channels is required")
        for channel in channels:
            if not isinstance(channel, str) or (channel not in CHANNELS and not channel.startswith("custom:")):
                raise ProtocolError("invalid_argument", f"channels: unknown channel {channel!r}")
        if namespaces is not None and not (
            isinstance(namespaces, list)
            and all(isinstance(ns, list) and all(isinstance(s, str) for s in ns) for ns in namespaces)
        ):
            raise ProtocolError("invalid_argument", "namespaces: a list of namespaces (lists of strings) is required")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
            raise ProtocolError("invalid_argument", f"depth: a non-negative integer is required, got {depth!r}")
        self.channels = set(channels)
        self.namespaces = namespaces or None
        self.depth = depth

    @classmethod
    def from_params(cls, params: dict) -> EventFilter:
        return cls(params.get("channels"), params.get("namespaces"), params.get("depth"))

    def _channel_of(self, method: str, data: Any) -> str | None:
        if method == "input.requested":
            return "input"
        if method == "custom":
            name = data.get("name") if isinstance(data, dict) else None
            return f"custom:{name}" if name else "custom"
        return method

    def _namespace_matches(self, namespace: list[str]) -> bool:
        if self.namespaces is None:
            return True
        for prefix in self.namespaces:
            if len(prefix) > len(namespace):
                continue
            if all(c == p or (":" not in p and _normalize(c) == p) for p, c in zip(prefix, namespace)):
                if self.depth is None or len(namespace) - len(prefix) <= self.depth:
                    return True
        return False

    def matches(self, event: dict) -> bool:
        """Whether a decoded event (`{"method", "params": {"namespace", "data"}}`) passes."""
        params = event.get("params") or {}
        channel = self._channel_of(event.get("method"), params.get("data"))
        if channel not in self.channels and not (channel.startswith("custom:") and "custom" in self.channels):
            return False
        return self._namespace_matches(list(params.get("namespace") or []))


def wire_event(event: ThreadEvent) -> bytes:
    """The event as sent to clients: its body with `seq` and `event_id` (the seq as text:
    unique within the thread, stable across replays and processes)."""
    return b'{"seq":%d,"event_id":"%d",%s' % (event.seq, event.seq, event.body[1:])


class ThreadProtocol:
    """Applies protocol commands to a thread and serves its filtered event log."""

    def __init__(self, storage: Storage, broker: Broker, runs: RunService, threads: ThreadService):
        self.storage = storage
        self.broker = broker
        self.runs = runs
        self.threads = threads
        self._methods = {
            "run.start": self.run_start,
            "run.cancel": self.run_cancel,
            "input.respond": self.input_respond,
            "input.inject": self.input_inject,
            "state.get": self.state_get,
            "state.listCheckpoints": self.state_list_checkpoints,
            "state.fork": self.state_fork,
            "agent.getTree": self.agent_get_tree,
        }

    async def command(self, thread_id: str, method: Any, params: Any) -> tuple[dict, int]:
        """Apply one command; returns `(result, applied_through_seq)`: the thread's last
        seq before the command's own events, so a client resuming from it misses none.
        Raises `ProtocolError`."""
        if not isinstance(params, dict):
            raise ProtocolError("invalid_argument", "params: an object is required")
        handler = self._methods.get(method)
        if handler is None:
            if isinstance(method, str) and method.startswith("subscription."):
                raise ProtocolError(
                    "not_supported",
                    f"{method} applies to a WebSocket connection; over HTTP, POST the filter to "
                    f"/threads/{thread_id}/stream/events",
                )
            raise ProtocolError("unknown_command", f"unknown method {method!r}")
        seq = await self.broker.thread_seq(thread_id)
        try:
            result = await handler(thread_id, params)
        except NotFound as exc:
            raise ProtocolError("invalid_argument", str(exc)) from None
        except Conflict as exc:
            raise ProtocolError("no_such_interrupt" if "answered" in str(exc) else "invalid_argument", str(exc)) from None
        except (BadRequest, Invalid) as exc:
            raise ProtocolError("invalid_argument", str(exc)) from None
        return result, seq

    # -- runs ----------------------------------------------------------------
    async def run_start(self, thread_id: str, params: dict) -> dict:
        """`run.start` (`RunStartParams` plus the usual run fields): queue a run on the
        thread, creating the thread if needed. When the thread is paused at interrupts,
        `input` is the answer to them (as `RemoteGraph` sends `Command(resume=…)`)."""
        if not isinstance(params.get("assistant_id"), str) or not params["assistant_id"]:
            raise ProtocolError("invalid_argument", "assistant_id: a non-empty string is required")
        body = {k: params[k] for k in RUN_FIELDS if params.get(k) is not None}
        body["assistant_id"] = params["assistant_id"]
        body["if_not_exists"] = "create"
        if isinstance(params.get("command"), dict):
            body["command"] = params["command"]
            body.pop("input", None)
        else:
            try:
                thread = await self.storage.get_thread(thread_id)
            except NotFound:
                thread = None
            if thread is not None and thread.get("status") == "interrupted" and "input" in body:
                body["command"] = {"resume": body.pop("input")}
        run = await self.runs.create(thread_id, body, protocol=True)
        return {"run_id": run["run_id"]}

    async def run_cancel(self, thread_id: str, params: dict) -> dict:
        """`run.cancel` (`run_id`, optional `action`): cancel a run; without `run_id`, every
        pending or running run of the thread."""
        action = params.get("action") or "interrupt"
        if action not in ("interrupt", "rollback"):
            raise ProtocolError("invalid_argument", f"action: interrupt or rollback, got {action!r}")
        if params.get("run_id") is not None:
            try:
                await self.storage.get_run(str(params["run_id"]), thread_id)
            except NotFound:
                raise ProtocolError("no_such_run", f"run {params['run_id']} not found on thread {thread_id}") from None
            run_ids = [str(params["run_id"])]
        else:
            await self.storage.get_thread(thread_id)
            run_ids = [
                r["run_id"] for status in ("pending", "running")
                for r in await self.storage.list_runs(thread_id, limit=1000, offset=0, status=status)
            ]
        for run_id in run_ids:
            await self.runs.cancel(thread_id, run_id, action=action)
        return {}

    # -- input ---------------------------------------------------------------
    async def input_respond(self, thread_id: str, params: dict) -> dict:
        """`input.respond` (`InputRespondOne` or `InputRespondMany`): resume the thread's
        pending interrupts with `Command(resume={interrupt_id: response}, update, goto)`."""
        entries = params["responses"] if isinstance(params.get("responses"), list) else [params]
        resume: dict[str, Any] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
                raise ProtocolError("invalid_argument", "interrupt_id: a string is required")
            if "response" not in entry:
                raise ProtocolError("invalid_argument", "response: required")
            resume[entry["interrupt_id"]] = entry["response"]
        thread = await self.storage.get_thread(thread_id)
        pending = {i["id"] for group in (thread.get("interrupts") or {}).values() for i in group}
        unknown = set(resume) - pending
        if unknown and thread.get("status") != "busy":
            answered = [d for d in await self.storage.list_decisions(thread_id) if d["closes"] and d["interrupt_id"] in unknown]
            if answered:
                d = answered[-1]
                raise ProtocolError(
                    "no_such_interrupt",
                    f"interrupt {d['interrupt_id']} was already answered by run {d['run_id']} ({d['action']})",
                )
            raise ProtocolError(
                "no_such_interrupt",
                f"interrupt(s) {', '.join(sorted(unknown))} not pending on thread {thread_id}; "
                f"pending: {', '.join(sorted(pending)) or 'none'}",
            )
        assistant_id = (thread.get("metadata") or {}).get("assistant_id")
        if not assistant_id:
            raise ProtocolError("invalid_argument", f"thread {thread_id} has no run to resume")
        command: dict[str, Any] = {"resume": resume}
        for key in ("update", "goto"):
            if params.get(key) is not None:
                command[key] = params[key]
        body = {"assistant_id": assistant_id, "command": command}
        for key in ("config", "metadata"):
            if params.get(key) is not None:
                body[key] = params[key]
        await self.runs.create(thread_id, body, protocol=True)
        return {}

    async def input_inject(self, thread_id: str, params: dict) -> dict:
        """`input.inject` (`namespace`, `message: {role, content, name?}`, `config?`): add the
        message to the thread as a new run's input (`{"messages": [message]}`), queued after
        any run in progress."""
        message = params.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ProtocolError("invalid_argument", "message: {role, content} is required")
        if message.get("role", "user") not in ("user", "system"):
            raise ProtocolError("invalid_argument", f"message.role: user or system, got {message.get('role')!r}")
        if params.get("namespace"):
            raise ProtocolError("not_supported", "input.inject into a sub-agent namespace is not supported")
        thread = await self.storage.get_thread(thread_id)
        assistant_id = (thread.get("metadata") or {}).get("assistant_id")
        if not assistant_id:
            raise ProtocolError("invalid_argument", f"thread {thread_id} has no assistant yet: send run.start first")
        msg = {"role": message.get("role", "user"), "content": message["content"]}
        if message.get("name"):
            msg["name"] = message["name"]
        body = {"assistant_id": assistant_id, "input": {"messages": [msg]}, "multitask_strategy": "enqueue"}
        if params.get("config") is not None:
            body["config"] = params["config"]
        run = await self.runs.create(thread_id, body, protocol=True)
        return {"run_id": run["run_id"]}

    # -- state -----------------------------------------------------------------
    async def state_get(self, thread_id: str, params: dict) -> dict:
        """`state.get` (`namespace`, `keys?`): `{values, checkpoint: {id, ns}}` of the
        thread (or of the sub-agent at `namespace`)."""
        namespace = params.get("namespace") or []
        state = await self.threads.get_state(thread_id, subgraphs=bool(namespace))
        for segment in namespace:
            task = next((t for t in state.get("tasks") or [] if f"{t.get('name')}:{t.get('id')}" == segment
                         or t.get("name") == segment), None)
            if task is None or not isinstance(task.get("state"), dict):
                raise ProtocolError("no_such_namespace", f"no sub-agent at namespace {namespace!r}")
            state = task["state"]
        values = serde.to_jsonable(state.get("values") or {})
        keys = params.get("keys")
        if isinstance(keys, list) and isinstance(values, dict):
            values = {k: values[k] for k in keys if k in values}
        result: dict[str, Any] = {"values": values}
        checkpoint = state.get("checkpoint") or {}
        if checkpoint.get("checkpoint_id"):
            result["checkpoint"] = {"id": checkpoint["checkpoint_id"], "ns": checkpoint.get("checkpoint_ns") or ""}
        return result

    async def state_list_checkpoints(self, thread_id: str, params: dict) -> dict:
        """`state.listCheckpoints` (`limit?` 1-1000, default 10; `before?` a checkpoint id):
        `{checkpoints: [CheckpointSummary]}` of the thread, newest first, each `{id,
        timestamp, step, metadata}` plus `node_name` when one node wrote it. Sub-agent
        namespaces are refused (`not_supported`): their checkpoints belong to the root's."""
        if params.get("namespace"):
            raise ProtocolError("not_supported", "state.listCheckpoints of a sub-agent namespace is not supported")
        limit = params.get("limit", 10)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ProtocolError("invalid_argument", f"limit: an integer from 1 to 1000 is required, got {limit!r}")
        before = params.get("before")
        if before is not None:
            if not isinstance(before, str) or not before:
                raise ProtocolError("invalid_argument", "before: a checkpoint id is required")
            await self._require_checkpoint(thread_id, before)
        # one more than asked: the node that wrote a checkpoint is its parent's task
        states = await self.threads.get_history(
            thread_id, limit=limit + 1, before={"checkpoint_id": before} if before else None
        )
        summaries = []
        for state, older in zip(states[:limit], [*states[1:], None]):
            checkpoint_id = (state.get("checkpoint") or {}).get("checkpoint_id")
            metadata = state.get("metadata") or {}
            summary: dict[str, Any] = {
                "id": checkpoint_id, "timestamp": state.get("created_at"), "step": metadata.get("step"),
                "metadata": metadata,
            }
            parent_id = (state.get("parent_checkpoint") or {}).get("checkpoint_id")
            if older is not None and parent_id == (older.get("checkpoint") or {}).get("checkpoint_id"):
                writers = {t.get("name") for t in older.get("tasks") or []}
                if len(writers) == 1:
                    summary["node_name"] = writers.pop()
            summaries.append(summary)
        return {"checkpoints": summaries}

    async def state_fork(self, thread_id: str, params: dict) -> dict:
        """`state.fork` (`checkpoint_id`, `input?`, `config?`): a run of the thread's
        assistant from that checkpoint (as `checkpoint_id` on `POST /threads/{id}/runs`:
        LangGraph branches the thread's history there). Returns `{run_id, thread_id}`;
        `no_such_checkpoint` for a checkpoint the thread lacks."""
        checkpoint_id = params.get("checkpoint_id")
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise ProtocolError("invalid_argument", "checkpoint_id: a checkpoint id is required")
        thread = await self.storage.get_thread(thread_id)
        assistant_id = (thread.get("metadata") or {}).get("assistant_id")
        if not assistant_id:
            raise ProtocolError("invalid_argument", f"thread {thread_id} has no assistant yet: send run.start first")
        await self._require_checkpoint(thread_id, checkpoint_id)
        body: dict[str, Any] = {"assistant_id": assistant_id, "checkpoint_id": checkpoint_id}
        for key in ("input", "config"):
            if params.get(key) is not None:
                body[key] = params[key]
        run = await self.runs.create(thread_id, body, protocol=True)
        return {"run_id": run["run_id"], "thread_id": thread_id}

    async def _require_checkpoint(self, thread_id: str, checkpoint_id: str) -> None:
        """Raises `ProtocolError("no_such_checkpoint")` unless the thread has that checkpoint."""
        config = thread_config(thread_id, {"checkpoint_id": checkpoint_id})
        if await self.storage.checkpointer.aget_tuple(config) is None:
            raise ProtocolError("no_such_checkpoint", f"checkpoint {checkpoint_id} not found on thread {thread_id}")

    async def agent_get_tree(self, thread_id: str, params: dict) -> dict:
        """`agent.getTree`: the root agent (the thread's graph) with its status and the
        sub-agents its latest run started, as `AgentTreeNode`s."""
        thread = await self.storage.get_thread(thread_id)
        runs = await self.storage.list_runs(thread_id, limit=1, offset=0, status=None)
        status = {
            "pending": "started", "running": "running", "error": "failed", "timeout": "failed",
            "interrupted": "failed",
        }.get(runs[0]["status"] if runs else "", "completed")
        if thread.get("status") == "interrupted":
            status = "interrupted"
        graph_name = (thread.get("metadata") or {}).get("graph_id") or ""
        children: dict[tuple[str, ...], dict] = {}
        for logged in await self.replay(thread_id, EventFilter(["lifecycle"])):
            params = serde.loads(logged.body)["params"]
            data = params.get("data") or {}
            namespace = tuple(params.get("namespace") or [])
            if not namespace:
                if data.get("event") == "running":
                    children.clear()  # a new run: its sub-agents replace the previous run's
                continue
            node = children.setdefault(namespace, {"namespace": list(namespace), "graph_name": "", "status": "started"})
            node["graph_name"] = data.get("graph_name") or node["graph_name"]
            node["status"] = data.get("event") or node["status"]
        return {"tree": {"namespace": [], "status": status, "graph_name": graph_name, "children": _nest(children)}}

    async def replay(self, thread_id: str, event_filter: EventFilter, *, since: int = 0) -> list[ThreadEvent]:
        """The thread's retained events after `since` matching `event_filter`, up to now."""
        return [
            event for event in await self.broker.read_thread_events(thread_id, since=since)
            if event_filter.matches(serde.loads(event.body))
        ]

    # -- events ------------------------------------------------------------------
    async def follow(self, thread_id: str, event_filter: EventFilter, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        """The thread's events after `since` matching `event_filter`, replayed then live;
        never ends by itself. Raises `NotFound` (before the first event) for an unknown
        thread."""
        await self.storage.get_thread(thread_id)
        return self._follow(thread_id, event_filter, since)

    async def _follow(self, thread_id: str, event_filter: EventFilter, since: int) -> AsyncIterator[ThreadEvent]:
        async for event in self.broker.follow_thread(thread_id, since=since):
            if event_filter.matches(serde.loads(event.body)):
                yield event


def _nest(nodes: dict[tuple[str, ...], dict]) -> list[dict]:
    """Sub-agent nodes keyed by namespace, as a tree under the root (each node's parent is
    the longest namespace prefix present)."""
    roots: list[dict] = []
    for namespace in sorted(nodes, key=len):
        node = nodes[namespace]
        parent = next((nodes[namespace[:i]] for i in range(len(namespace) - 1, 0, -1) if namespace[:i] in nodes), None)
        (parent.setdefault("children", []) if parent is not None else roots).append(node)
    return roots
