"""`first → gated → last`, each node appending its name to the file `log` when it starts:
the file counts executions of each node across processes. `gated` waits until the file
`gate` exists, so a test can kill or stop the server while the run is mid-step."""

import asyncio
import operator
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


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
