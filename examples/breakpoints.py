"""The static-breakpoint seed: node_a -> node_b -> node_c, paused before node_a and after
node_b and node_c (compile time). `chain` is the same graph without breakpoints, for
run-time `interrupt_before`/`interrupt_after`."""

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    input: str
    visited: Annotated[list[str], operator.add]


def node_a(state: State):
    return {"visited": ["node_a"]}


def node_b(state: State):
    return {"visited": ["node_b"]}


def node_c(state: State):
    return {"visited": ["node_c"]}


graph_builder = StateGraph(State)
graph_builder.add_node("node_a", node_a)
graph_builder.add_node("node_b", node_b)
graph_builder.add_node("node_c", node_c)
graph_builder.add_edge(START, "node_a")
graph_builder.add_edge("node_a", "node_b")
graph_builder.add_edge("node_b", "node_c")
graph_builder.add_edge("node_c", END)

graph = graph_builder.compile(
    interrupt_before=["node_a"],
    interrupt_after=["node_b", "node_c"],
)

# Uncompiled: Waypoint compiles it (no breakpoints) and attaches its checkpointer.
chain = graph_builder
