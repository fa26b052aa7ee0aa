"""The agent of the double-texting seed, with deterministic stand-ins for the LLM and the
search tool: the model asks the `search` tool about the user's city, then answers from
its result. The final answer takes `think_seconds` (default 3) so that a second message
sent meanwhile finds the first run between its tool step and its answer, as in the seed."""

import asyncio
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _city(text: str) -> str:
    return {"sf": "san francisco", "nyc": "new york city"}.get(
        text.rstrip("?").split()[-1], text.rstrip("?").split()[-1]
    )


async def agent(state: State, config):
    last = state["messages"][-1]
    if isinstance(last, HumanMessage):
        query = f"weather in {_city(last.content)}"
        return {"messages": [AIMessage(
            content="",
            tool_calls=[{"name": "search", "args": {"query": query}, "id": f"call_{len(state['messages'])}"}],
        )]}
    await asyncio.sleep((config.get("configurable") or {}).get("think_seconds", 3.0))
    return {"messages": [AIMessage(content=f"Based on the search: {last.content}")]}


async def tools(state: State):
    call = state["messages"][-1].tool_calls[0]
    await asyncio.sleep(0.1)
    return {"messages": [ToolMessage(
        content=f"Forecast for {call['args']['query']}: mild, 64F", name="search", tool_call_id=call["id"]
    )]}


def route(state: State):
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


builder = StateGraph(State)
builder.add_node("agent", agent)
builder.add_node("tools", tools)
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", route, ["tools", END])
builder.add_edge("tools", "agent")
graph = builder.compile()
