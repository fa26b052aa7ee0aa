"""A graph whose second node raises: the run must end `error`, the thread `error`."""

from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    steps: int


def first(state: State):
    return {"steps": 1}


def explode(state: State):
    raise ValueError("the node exploded on purpose")


builder = StateGraph(State)
builder.add_node("first", first)
builder.add_node("explode", explode)
builder.add_edge(START, "first")
builder.add_edge("first", "explode")
graph = builder.compile()
