"""A subgraph that pauses at `interrupt()`: the parent's state shows it under `tasks[].state`."""

from typing import TypedDict

from langgraph.graph import START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    draft: str
    approved: str


def review(state: State):
    return {"approved": interrupt({"approve": state["draft"]})}


inner = StateGraph(State)
inner.add_node("review", review)
inner.add_edge(START, "review")

outer = StateGraph(State)
outer.add_node("approval", inner.compile())
outer.add_edge(START, "approval")
graph = outer.compile()
