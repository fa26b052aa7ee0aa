"""Conversions from LangGraph state objects to the Server API's JSON shapes.

Shapes follow `langgraph_sdk.schema` (`ThreadState`, `Interrupt`, `Checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.types import Command, Interrupt, Send, StateSnapshot

from waypoint import serde


def command_from_api(command: dict[str, Any]) -> Command:
    """The API's `Command` (`{"update", "resume", "goto"}`; `goto` a node name, a `Send`
    as `{"node", "input"}`, or a list of them) as LangGraph's `Command`."""
    goto = command.get("goto")
    if isinstance(goto, dict):
        goto = Send(goto["node"], goto.get("input"))
    elif isinstance(goto, list):
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in goto]
    return Command(update=command.get("update"), resume=command.get("resume"), goto=goto if goto is not None else ())


def interrupt_to_dict(interrupt: Interrupt, ns: list[str] | None = None) -> dict[str, Any]:
    """`{"value", "id", "resumable", "ns", "when"}`: the current client reads `id`/`value`,
    older clients (and the seeds' printed output) read `resumable`/`ns`/`when` too."""
    out = {
        "value": serde.to_jsonable(interrupt.value),
        "id": interrupt.id,
        "resumable": True,
        "ns": ns or [],
        "when": "during",
    }
    if getattr(interrupt, "response_schema", None) is not None:
        out["response_schema"] = serde.to_jsonable(interrupt.response_schema)
    return out


def task_interrupts(task_id: str, name: str, interrupts: Iterable[Interrupt]) -> list[dict[str, Any]]:
    """A task's interrupts as `interrupt_to_dict` gives them, `ns` naming the task (`name:id`)."""
    ns = [f"{name}:{task_id}"]
    return [interrupt_to_dict(i, ns) for i in interrupts]


def interrupts_by_task(snapshot: StateSnapshot) -> dict[str, list[dict[str, Any]]]:
    """Pending interrupts of a snapshot keyed by task id (the `Thread.interrupts` shape)."""
    return {task.id: task_interrupts(task.id, task.name, task.interrupts) for task in snapshot.tasks if task.interrupts}


def pending_interrupts(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    """All pending interrupts of a snapshot, in task order."""
    return [i for group in interrupts_by_task(snapshot).values() for i in group]


def checkpoint_of(config: dict | None) -> dict[str, Any] | None:
    """`Checkpoint` (`thread_id`, `checkpoint_ns`, `checkpoint_id`, `checkpoint_map`) of a config."""
    if not config:
        return None
    conf = config.get("configurable") or {}
    if not conf.get("checkpoint_id"):
        return None
    out = {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns") or "",
        "checkpoint_id": conf["checkpoint_id"],
    }
    if "checkpoint_map" in conf:
        out["checkpoint_map"] = conf["checkpoint_map"]
    return out


def debug_payload(chunk: Any) -> Any:
    """A `debug` stream chunk as the official server sends it: a `checkpoint` event's payload
    also carries `checkpoint` and `parent_checkpoint` (the `Checkpoint` shapes of its
    `config`/`parent_config`), which LangGraph Studio and the SDKs read."""
    if not isinstance(chunk, dict) or chunk.get("type") != "checkpoint":
        return chunk
    payload = chunk.get("payload")
    if not isinstance(payload, dict):
        return chunk
    return {
        **chunk,
        "payload": {
            **payload,
            "checkpoint": checkpoint_of(payload.get("config")),
            "parent_checkpoint": checkpoint_of(payload.get("parent_config")),
        },
    }


def snapshot_to_thread_state(snapshot: StateSnapshot) -> dict[str, Any]:
    """A `StateSnapshot` as the API's `ThreadState` (subgraph states nested in `tasks[].state`)."""
    tasks = []
    for task in snapshot.tasks:
        ns = [f"{task.name}:{task.id}"]
        tasks.append({
            "id": task.id,
            "name": task.name,
            "path": serde.to_jsonable(task.path),
            "error": None if task.error is None else (
                task.error if isinstance(task.error, str) else f"{type(task.error).__name__}({task.error})"
            ),
            "interrupts": [interrupt_to_dict(i, ns) for i in task.interrupts],
            "checkpoint": task.state["configurable"]
            if task.state is not None and not isinstance(task.state, StateSnapshot) else None,
            "state": snapshot_to_thread_state(task.state)
            if isinstance(task.state, StateSnapshot) else None,
            "result": serde.to_jsonable(getattr(task, "result", None)),
        })
    parent = checkpoint_of(snapshot.parent_config)
    checkpoint = checkpoint_of(snapshot.config)
    return {
        "values": serde.to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": tasks,
        "metadata": serde.to_jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": pending_interrupts(snapshot),
        # deprecated fields still read by older clients
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def empty_thread_state() -> dict[str, Any]:
    """The state of a thread that has no checkpoint yet."""
    return {
        "values": {},
        "next": [],
        "tasks": [],
        "metadata": {},
        "created_at": None,
        "checkpoint": None,
        "parent_checkpoint": None,
        "interrupts": [],
        "checkpoint_id": None,
        "parent_checkpoint_id": None,
    }
