"""Two nodes run in parallel and each asks a person a question: two pending interrupts."""

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    answers: Annotated[list[str], operator.add]


def ask_a(state: State):
    return {"answers": [f"a={interrupt({'question': 'a?'})}"]}


def ask_b(state: State):
    return {"answers": [f"b={interrupt({'question': 'b?'})}"]}


builder = StateGraph(State)
builder.add_node("ask_a", ask_a)
builder.add_node("ask_b", ask_b)
builder.add_edge(START, "ask_a")
builder.add_edge(START, "ask_b")
builder.add_edge("ask_a", END)
builder.add_edge("ask_b", END)
graph = builder.compile()
