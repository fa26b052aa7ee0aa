"""A graph that reads and writes the long-term store on every step: `rounds` times it reads
its counter (`("counters", key)`), writes it back incremented, writes a log item and reads
the namespace, some of it concurrently (so the store batches reads with writes). `doc` is
carried as state (thread search by `values`)."""

import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore


class State(TypedDict, total=False):
    key: str
    rounds: int
    count: int
    doc: Any


async def touch(state: State, *, store: BaseStore) -> dict:
    key = state.get("key", "shared")
    count = 0
    for i in range(state.get("rounds", 1)):
        item = await store.aget(("counters",), key)
        count = (item.value["n"] if item else 0) + 1
        await asyncio.gather(
            store.aput(("counters",), key, {"n": count}),
            store.aput(("log", key), str(i), {"round": i}),
            store.asearch(("log", key), limit=5),
            store.aget(("counters",), "shared"),
        )
    return {"count": count}


graph = StateGraph(State).add_node("touch", touch).add_edge(START, "touch").add_edge("touch", END).compile()
