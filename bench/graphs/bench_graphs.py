"""Graphs of the benchmark scenarios (shared by every system measured)."""

import operator
from typing import Annotated, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


# 1, 4, 5 -- the seed graph: one node asking a person to revise a text.
class HitlState(TypedDict):
    some_text: str


def human_node(state: HitlState):
    return {"some_text": interrupt({"text_to_revise": state["some_text"]})}


_hitl = StateGraph(HitlState)
_hitl.add_node("human_node", human_node)
_hitl.add_edge(START, "human_node")
hitl = _hitl.compile()


# 2 -- a 10-node chain, stepped through with interrupt_before="*".
class ChainState(TypedDict, total=False):
    visited: Annotated[list[int], operator.add]


def _step(i):
    def node(state: ChainState):
        return {"visited": [i]}
    return node


_chain = StateGraph(ChainState)
for _i in range(10):
    _chain.add_node(f"n{_i}", _step(_i))
    _chain.add_edge(START if _i == 0 else f"n{_i - 1}", f"n{_i}")
_chain.add_edge("n9", END)
chain = _chain.compile()


# 3 -- one node emitting `count` custom events.
class StreamState(TypedDict, total=False):
    count: int
    done: bool


def emit(state: StreamState):
    write = get_stream_writer()
    for i in range(state.get("count", 2000)):
        write({"i": i})
    return {"done": True}


_stream = StateGraph(StreamState)
_stream.add_node("emit", emit)
_stream.add_edge(START, "emit")
streamer = _stream.compile()


# 5 -- a slow node for double-texting.
class SlowState(TypedDict, total=False):
    ticks: int
    n: int


async def tick(state: SlowState):
    import asyncio

    await asyncio.sleep(0.05)
    return {"n": state.get("n", 0) + 1}


def again(state: SlowState):
    return "tick" if state.get("n", 0) < state.get("ticks", 1) else END


_slow = StateGraph(SlowState)
_slow.add_node("tick", tick)
_slow.add_edge(START, "tick")
_slow.add_conditional_edges("tick", again, ["tick", END])
slow = _slow.compile()
