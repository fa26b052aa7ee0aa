"""Graphs whose nodes append their name to the file `log` when they start (the file counts
executions of each node across processes) and may wait until the file `gate` exists, so a
test can kill, stop or roll back a run mid-step.

`graph`: `first → gated → last` (`gated` waits). `approval`: `ask` (an `interrupt()`) →
`work` (waits).
"""

import asyncio
import operator
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    log: str
    gate: str
    visited: Annotated[list[str], operator.add]


def _record(state: State, node: str) -> dict:
    with open(state["log"], "a") as f:
        f.write(node + "\n")
    return {"visited": [node]}


async def first(state: State):
    return _record(state, "first")


async def gated(state: State):
    update = _record(state, "gated")
    while not Path(state["gate"]).exists():
        await asyncio.sleep(0.05)
    return update


async def last(state: State):
    return _record(state, "last")


builder = StateGraph(State)
builder.add_node("first", first)
builder.add_node("gated", gated)
builder.add_node("last", last)
builder.add_edge(START, "first")
builder.add_edge("first", "gated")
builder.add_edge("gated", "last")
builder.add_edge("last", END)
graph = builder.compile()


class ApprovalState(TypedDict, total=False):
    log: str
    gate: str
    approval: str
    visited: Annotated[list[str], operator.add]


def ask(state: ApprovalState):
    return {"approval": interrupt({"question": "approve?"}), "visited": ["ask"]}


async def work(state: ApprovalState):
    update = _record(state, "work")
    while not Path(state["gate"]).exists():
        await asyncio.sleep(0.05)
    return update


approval_builder = StateGraph(ApprovalState)
approval_builder.add_node("ask", ask)
approval_builder.add_node("work", work)
approval_builder.add_edge(START, "ask")
approval_builder.add_edge("ask", "work")
approval_builder.add_edge("work", END)
approval = approval_builder.compile()
