"""The graph of the human-in-the-loop seed: `interrupt()` asks a person to revise a text."""

from typing import TypedDict

from langgraph.constants import START
from langgraph.graph import StateGraph
from langgraph.types import interrupt


class State(TypedDict):
    some_text: str


def human_node(state: State):
    value = interrupt(  # pauses here until a client sends Command(resume=...)
        {
            "text_to_revise": state["some_text"]
        }
    )
    return {
        "some_text": value
    }


graph_builder = StateGraph(State)
graph_builder.add_node("human_node", human_node)
graph_builder.add_edge(START, "human_node")

graph = graph_builder.compile()
