"""Each run waits until `parties` runs of the same barrier are inside the node at once:
it only finishes if that many runs execute in parallel (it raises after `timeout`)."""

import asyncio
from typing import TypedDict

from langgraph.graph import START, StateGraph

_arrived: dict[str, int] = {}
_events: dict[str, asyncio.Event] = {}


class State(TypedDict, total=False):
    barrier: str
    parties: int
    timeout: float
    peers: int


async def meet(state: State):
    key = state["barrier"]
    event = _events.setdefault(key, asyncio.Event())
    _arrived[key] = _arrived.get(key, 0) + 1
    if _arrived[key] >= state["parties"]:
        event.set()
    await asyncio.wait_for(event.wait(), state.get("timeout", 20))
    return {"peers": _arrived[key]}


builder = StateGraph(State)
builder.add_node("meet", meet)
builder.add_edge(START, "meet")
graph = builder.compile()
