"""Graphs for the official server's factory and context contracts.

`make_graph(config, runtime)` is a factory in the `ServerRuntime` form: it records every
call (`access_context`, whether it got an execution runtime, the assistant's `tag`) in the
store under `("factory-calls", tag)`, reports the authenticated user (`runtime.user`), and its topology depends on the assistant's
`configurable.variant` (`"reviewed"` adds a `review` node with a breakpoint before it).
`graph` is a plain graph whose `context_schema` has defaults.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph_sdk.runtime import ServerRuntime


@dataclass
class Context:
    model: str = "default-model"
    temperature: float = 0.5


class State(TypedDict, total=False):
    text: str
    access_context: str
    is_for_execution: bool
    model: str
    reviewed: bool
    user: str | None


def _echo(access_context: str, is_for_execution: bool, user: str | None):
    def echo(state: State, runtime: Runtime[Context]) -> State:
        return {
            "text": (state.get("text") or "") + " echoed",
            "access_context": access_context,
            "is_for_execution": is_for_execution,
            "model": runtime.context.model,
            "user": user,
        }

    return echo


def review(state: State) -> State:
    return {"reviewed": True}


async def make_graph(config: RunnableConfig, runtime: ServerRuntime):
    if not isinstance(runtime.store, BaseStore):
        raise TypeError(f"runtime.store must be a BaseStore, got {type(runtime.store).__name__}")
    configurable = config.get("configurable") or {}
    tag = configurable.get("tag")
    if tag:
        await runtime.store.aput(("factory-calls", tag), uuid.uuid4().hex, {
            "access_context": runtime.access_context,
            "execution": runtime.execution_runtime is not None,
            "thread_id": configurable.get("thread_id"),
            "user": runtime.user.identity if runtime.user is not None else None,
        })
    builder = StateGraph(State, context_schema=Context)
    user = runtime.user.identity if runtime.user is not None else None
    builder.add_node("echo", _echo(runtime.access_context, runtime.execution_runtime is not None, user))
    builder.add_edge(START, "echo")
    if configurable.get("variant") == "reviewed":
        builder.add_node("review", review)
        builder.add_edge("echo", "review")
        builder.add_edge("review", END)
        return builder.compile(interrupt_before=["review"])
    builder.add_edge("echo", END)
    return builder.compile()


def _model(state: State, runtime: Runtime[Context]) -> State:
    return {"model": runtime.context.model, "text": f"temperature={runtime.context.temperature}"}


graph = StateGraph(State, context_schema=Context).add_node("model", _model).add_edge(START, "model").compile()
