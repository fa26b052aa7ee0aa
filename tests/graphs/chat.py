"""A chat graph with a `messages` state, for the MCP and A2A tests.

The reply to a user message `text` is `echo: text`; `approve: text` first pauses at
`interrupt({"question": "Approve text?"})` and replies `text: <the answer>`; `slow`
sleeps in steps of 0.1 s until cancelled (up to 60 s)."""

import asyncio

from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt


async def reply(state: MessagesState):
    text = state["messages"][-1].content
    if text == "slow":
        for _ in range(600):
            await asyncio.sleep(0.1)
        return {"messages": [{"role": "ai", "content": "slept"}]}
    if text.startswith("approve: "):
        subject = text.removeprefix("approve: ")
        answer = interrupt({"question": f"Approve {subject}?"})
        return {"messages": [{"role": "ai", "content": f"{subject}: {answer}"}]}
    return {"messages": [{"role": "ai", "content": f"echo: {text}"}]}


graph = StateGraph(MessagesState).add_node("reply", reply).add_edge(START, "reply").compile()
