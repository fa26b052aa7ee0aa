"""A graph factory that raises when its config asks it to: a bug in user code outside any
run, which the server must answer as a JSON `500` (with an error id in its log)."""

from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    value: int


def make_graph(config):
    if (config.get("configurable") or {}).get("explode"):
        raise RuntimeError("the graph factory exploded on purpose")
    builder = StateGraph(State)
    builder.add_node("noop", lambda state: {"value": 1})
    builder.add_edge(START, "noop")
    return builder.compile()
