"""A graph factory that reports the authenticated user it was built for and run by."""

from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    built_for: str
    run_by: str
    display_name: str
    permissions: list


def make_graph(config):
    built_for = (config.get("configurable") or {}).get("langgraph_auth_user_id", "nobody")

    def whoami(state: State, config):
        configurable = config["configurable"]
        user = configurable.get("langgraph_auth_user") or {}
        return {"built_for": built_for, "run_by": configurable.get("langgraph_auth_user_id"),
                "display_name": user.get("display_name"),
                "permissions": configurable.get("langgraph_auth_permissions")}

    builder = StateGraph(State)
    builder.add_node("whoami", whoami)
    builder.add_edge(START, "whoami")
    return builder.compile()
