"""Graphs for the multi-process tests.

`ticker`: ticks `steps` times (`delay` seconds each), streaming `{"tick", "pid"}` custom
events, then asks a person to review the count with `interrupt()`.
`recorder`: records each execution in the store under ("executions", run_id) with the
executing process id, and counts the runs of its thread in the state.
"""

import asyncio
import os
import uuid
from typing import TypedDict

from langgraph.config import get_config, get_store, get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class TickerState(TypedDict, total=False):
    steps: int
    delay: float
    count: int
    review: str


async def tick(state: TickerState):
    await asyncio.sleep(state.get("delay", 0.05))
    count = state.get("count", 0) + 1
    get_stream_writer()({"tick": count, "pid": os.getpid()})
    return {"count": count}


def more(state: TickerState):
    return "tick" if state.get("count", 0) < state.get("steps", 1) else "review"


def review(state: TickerState):
    return {"review": interrupt({"count": state["count"], "pid": os.getpid()})}


ticker_builder = StateGraph(TickerState)
ticker_builder.add_node("tick", tick)
ticker_builder.add_node("review", review)
ticker_builder.add_edge(START, "tick")
ticker_builder.add_conditional_edges("tick", more, ["tick", "review"])
ticker_builder.add_edge("review", END)
ticker = ticker_builder.compile()


class RecorderState(TypedDict, total=False):
    runs: int


async def record(state: RecorderState):
    run_id = get_config()["configurable"]["run_id"]
    await get_store().aput(("executions", run_id), uuid.uuid4().hex, {"pid": os.getpid()})
    return {"runs": state.get("runs", 0) + 1}


recorder_builder = StateGraph(RecorderState)
recorder_builder.add_node("record", record)
recorder_builder.add_edge(START, "record")
recorder = recorder_builder.compile()
