"""A chat-model node (a deterministic fake from langchain_core), custom stream events,
and a subgraph: exercises every stream mode. `burst`: one sync node writing `count`
custom events `{"i": 0..count-1}` in a loop, faster than a run publishes them."""

import operator
from typing import Annotated, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    notes: Annotated[list[str], operator.add]


def _model():
    return GenericFakeChatModel(messages=iter([AIMessage(content="hello there human friend")]))


async def chat(state: State):
    reply = await _model().ainvoke(state["messages"])
    get_stream_writer()({"progress": "chatted"})
    return {"messages": [reply]}


def inner(state: State):
    get_stream_writer()({"progress": "inside subgraph"})
    return {"notes": ["from subgraph"]}


sub_builder = StateGraph(State)
sub_builder.add_node("inner", inner)
sub_builder.add_edge(START, "inner")
subgraph = sub_builder.compile()

builder = StateGraph(State)
builder.add_node("chat", chat)
builder.add_node("sub", subgraph)
builder.add_edge(START, "chat")
builder.add_edge("chat", "sub")
graph = builder.compile()


class BurstState(TypedDict, total=False):
    count: int


def write_burst(state: BurstState):
    write = get_stream_writer()
    for i in range(state.get("count", 0)):
        write({"i": i})
    return {"count": state.get("count", 0)}


burst_builder = StateGraph(BurstState)
burst_builder.add_node("write_burst", write_burst)
burst_builder.add_edge(START, "write_burst")
burst = burst_builder.compile()
