"""Counts `steps` times, sleeping `delay` seconds per step: runs long enough to overlap."""

import asyncio
from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    steps: int
    delay: float
    count: int


async def tick(state: State):
    await asyncio.sleep(state.get("delay", 0.2))
    count = state.get("count", 0) + 1
    get_stream_writer()({"tick": count})
    return {"count": count}


def more(state: State):
    return "tick" if state.get("count", 0) < state.get("steps", 1) else END


builder = StateGraph(State)
builder.add_node("tick", tick)
builder.add_edge(START, "tick")
builder.add_conditional_edges("tick", more, ["tick", END])
graph = builder.compile()
