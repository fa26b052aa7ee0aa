"""A run's contribution to its thread's event log (the thread streaming protocol).

Events have the shape of the `langchain-protocol` `Event` type:
`{"type": "event", "method", "params": {"namespace", "timestamp", "data"}}` (the log adds
`seq` and `event_id`). Their payloads come from LangGraph's own v3 stream
(`astream_events(version="v3")`) for runs started through the protocol, and from the
`values`/`updates`/`custom` chunks of `astream` for other runs; this module adds what a
thread-level client needs besides: root `lifecycle` events (`running`, then `interrupted`,
`completed` or `failed`), one `input.requested` per pending interrupt (before the
`interrupted` lifecycle event, with the interrupt's id and value), and the sub-agent `lifecycle`
events moved to the namespace they describe.

A cancelled run ends with `lifecycle` `failed` and `error: "cancelled"`: the protocol's
statuses (`AgentStatus`) have no `cancelled`, and the official SDKs treat only `completed`
and `failed` as the end of a run.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from langchain_core.messages import BaseMessage

from waypoint import serde
from waypoint.streams import Broker

#: `error` of the `failed` lifecycle event of a cancelled run.
CANCELLED = "cancelled"


#: A protocol event's JSON with its method, namespace, timestamp and data filled in
#: (encoded separately: a chunk the run's stream encoded already is not encoded again).
_EVENT_JSON = b'{"type":"event","method":%b,"params":{"namespace":%b,"timestamp":%d,"data":%b}}'
#: Method names as JSON strings (a few distinct ones per graph).
_method_json = functools.lru_cache(maxsize=256)(serde.dumps)


def event_body(method: str, namespace: list[str], data: Any, *, encoded: bytes | None = None) -> bytes:
    """One protocol event (without `seq`/`event_id`) as JSON bytes; `encoded`: `data`
    already as JSON bytes (`serde.dumps`)."""
    return _EVENT_JSON % (
        _method_json(method),
        serde.dumps(list(namespace)) if namespace else b"[]",
        int(time.time() * 1000),
        serde.dumps(data) if encoded is None else encoded,
    )


def _message_events(payload: Any, metadata: Any) -> list[dict]:
    """`messages` data items for one LangGraph `messages` chunk: the content-block events
    of a streamed chat model as they are; a whole message a chat model returned, replayed
    as the same event sequence; messages that are a node's output (state, not generation,
    `ls_integration == "langgraph"`) are dropped, as the official server does."""
    if isinstance(payload, dict) and "event" in payload:
        return [payload]
    if not isinstance(payload, BaseMessage):
        return []
    if isinstance(metadata, dict) and metadata.get("ls_integration") == "langgraph":
        return []
    from langchain_core.language_models._compat_bridge import message_to_events

    return list(message_to_events(payload))


def _checkpoint_data(data: Any) -> Any:
    """A `checkpoints` chunk as the protocol's `Checkpoint` (`id`, `parent_id`, `step`, `source`)."""
    if not isinstance(data, dict):
        return data
    conf = ((data.get("config") or {}).get("configurable")) or {}
    parent = ((data.get("parent_config") or {}).get("configurable")) or {}
    metadata = data.get("metadata") or {}
    out = {"id": conf.get("checkpoint_id"), "step": metadata.get("step"), "source": metadata.get("source")}
    if parent.get("checkpoint_id"):
        out["parent_id"] = parent["checkpoint_id"]
    return out


class RunEvents:
    """Appends one run's events to its thread's log (`Broker.queue_thread_events`: on a
    remote broker in the process's next batch of sends, with the run stream's events);
    the run's closing `lifecycle` event waits until the whole log is appended."""

    def __init__(self, broker: Broker, thread_id: str, graph_name: str):
        self.broker = broker
        self.thread_id = thread_id
        self.graph_name = graph_name
        self._subgraph_names: dict[tuple[str, ...], str] = {}
        self._tasks: list[dict] = []  # `tasks` events LangGraph keeps off its main log

    def tasks_tap(self) -> type:
        """A v3 stream transformer handing this run the `tasks` events (LangGraph folds
        them into its lifecycle projections and keeps them off the main event log)."""
        from langgraph.stream._types import StreamTransformer

        sink = self._tasks

        class TasksTap(StreamTransformer):
            before_builtins = True  # see the events before the lifecycle transformers drop them
            required_stream_modes = ("tasks",)

            def init(self) -> dict:
                return {}

            def process(self, event: dict) -> bool:
                if event.get("method") == "tasks" and not self.scope:  # the root mux sees all
                    sink.append(event)
                return True

        return TasksTap

    async def _append(self, bodies: list[bytes], *, last: bool = False) -> None:
        if bodies:
            await self.broker.queue_thread_events(self.thread_id, bodies)
        if last:
            await self.broker.flush()

    async def lifecycle(self, event: str, *, error: str | None = None) -> None:
        """A root `lifecycle` event: `running`, `interrupted`, `completed` or `failed`
        (returning once the log holds every event of the run)."""
        data: dict[str, Any] = {"event": event, "graph_name": self.graph_name}
        if error is not None:
            data["error"] = error
        await self._append([event_body("lifecycle", [], data)], last=event != "running")

    async def interrupted(self, pending: list[dict]) -> None:
        """`input.requested` for each pending interrupt (API dicts with `id`, `value`,
        `ns`), then `lifecycle` `interrupted`."""
        bodies = []
        for interrupt in pending:
            # `ns` ends with the interrupting node's own task; the namespace is its graph's
            namespace = list(interrupt.get("ns") or [])[:-1]
            # `payload` per the protocol; `value` too, the key langgraph_sdk reads into
            # `thread.interrupts`
            value = interrupt.get("value")
            bodies.append(event_body(
                "input.requested", namespace, {"interrupt_id": interrupt["id"], "payload": value, "value": value}
            ))
        bodies.append(event_body("lifecycle", [], {"event": "interrupted", "graph_name": self.graph_name}))
        await self._append(bodies, last=True)

    async def protocol_event(self, event: dict | None) -> None:
        """One event of LangGraph's v3 stream (`astream_events(version="v3")`), after the
        `tasks` events `tasks_tap` collected before it; None flushes those only."""
        bodies: list[bytes] = []
        pending = [*self._tasks, *([event] if event is not None else [])]
        self._tasks.clear()
        for item in pending:
            params = item.get("params") or {}
            bodies += self._convert(item.get("method"), list(params.get("namespace") or []), params.get("data"))
        await self._append(bodies)

    async def chunk(self, namespace: tuple[str, ...], mode: str, chunk: Any, encoded: bytes | None = None) -> None:
        """One `astream` chunk of a run not started through the protocol (modes `values`,
        `updates`, `custom`, `checkpoints`, `tasks`; others are left to the run's stream).
        `encoded`: `chunk` as JSON bytes, when the run's stream encoded it already."""
        if encoded is not None and (mode == "custom" and isinstance(chunk, dict)
                                    or mode == "values" and not (isinstance(chunk, dict) and "__interrupt__" in chunk)):
            await self._append([event_body(mode, namespace, chunk, encoded=encoded)])
        elif mode in ("values", "updates", "custom", "checkpoints", "tasks"):
            await self._append(self._convert(mode, list(namespace), chunk))

    def _convert(self, method: str | None, namespace: list[str], data: Any) -> list[bytes]:
        if method == "messages":
            payload, metadata = (list(data) + [None, None])[:2] if isinstance(data, (list, tuple)) else (data, None)
            return [event_body("messages", namespace, item) for item in _message_events(payload, metadata)]
        if method == "values":
            if isinstance(data, dict) and "__interrupt__" in data:
                data = {k: v for k, v in data.items() if k != "__interrupt__"}
            return [event_body("values", namespace, data)]
        if method == "updates":
            if not isinstance(data, dict):
                return [event_body("updates", namespace, {"values": data})]
            return [
                event_body("updates", namespace, {"node": node, "values": values})
                for node, values in data.items() if node != "__interrupt__"
            ]
        if method == "lifecycle" and isinstance(data, dict) and data.get("namespace"):
            # LangGraph reports a sub-agent's lifecycle from its parent; clients filter by
            # the sub-agent's own namespace, so the event moves there.
            target = tuple(data["namespace"])
            if data.get("graph_name"):
                self._subgraph_names[target] = data["graph_name"]
            elif target in self._subgraph_names:
                data = {**data, "graph_name": self._subgraph_names[target]}
            return [event_body("lifecycle", list(target), data)]
        if method == "checkpoints":
            return [event_body("checkpoints", namespace, _checkpoint_data(data))]
        if method == "custom" and not isinstance(data, dict):
            data = {"payload": data}
        if method is None:
            return []
        return [event_body(method, namespace, data)]
