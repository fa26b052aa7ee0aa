"""A graph factory taking the run's config; reads a value set by langgraph.json `env`."""

import os
from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    greeting: str
    user: str


def make_graph(config):
    user = (config.get("configurable") or {}).get("user", "nobody")

    def greet(state: State):
        return {"greeting": os.environ.get("WAYPOINT_TEST_GREETING", "unset"), "user": user}

    builder = StateGraph(State)
    builder.add_node("greet", greet)
    builder.add_edge(START, "greet")
    return builder.compile()
