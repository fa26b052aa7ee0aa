"""A real `create_agent` agent whose tool calls wait for a person in the Waypoint inbox.

Three tools, paused in the two standard shapes the inbox answers natively:

- `send_email` and `lookup_order` are guarded by LangChain's `HumanInTheLoopMiddleware`
  (`send_email`: approve / edit / reject; `lookup_order`: approve, or respond, a person
  answering in the tool's place): the interrupt value is `{"action_requests": [...],
  "review_configs": [...]}` (one action per tool call of the turn) and the answer
  `{"decisions": [...]}`, one per action, in order.
- `issue_refund` asks itself, agent-inbox style: `interrupt([HumanInterrupt])` with
  `allow_accept` / `allow_edit` / `allow_respond` / `allow_ignore`, answered by a list of
  one `HumanResponse` (`accept` / `edit` / `response` / `ignore`).

The model is `ScriptedChatModel`, a deterministic stand-in from `langchain_core` so the
example runs without an API key. To use a real model, change the one line `MODEL = ...`
below (for example `MODEL = "openai:gpt-4.1-mini"` with `langchain-openai` installed and
`OPENAI_API_KEY` set): nothing else depends on the scripted model.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal, TypedDict

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.types import interrupt


# -- agent-inbox's interrupt types (github.com/langchain-ai/agent-inbox, src/components/agent-inbox/types.ts)
class ActionRequest(TypedDict):
    action: str
    args: dict


class HumanInterruptConfig(TypedDict):
    allow_ignore: bool
    allow_respond: bool
    allow_edit: bool
    allow_accept: bool


class HumanInterrupt(TypedDict):
    action_request: ActionRequest
    config: HumanInterruptConfig
    description: str | None


class HumanResponse(TypedDict):
    type: Literal["accept", "ignore", "response", "edit"]
    args: None | str | ActionRequest


# -- tools -------------------------------------------------------------------------
@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email (guarded by HumanInTheLoopMiddleware below)."""
    return f"Email sent to {to} with subject {subject!r}."


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status (a person may answer in its place)."""
    return f"Order {order_id}: in the warehouse, not shipped yet (order system)."


@tool
def issue_refund(order_id: str, amount: float) -> str:
    """Refund an order; a person accepts, edits, answers or ignores the refund first."""
    request = HumanInterrupt(
        action_request=ActionRequest(action="issue_refund", args={"order_id": order_id, "amount": amount}),
        config=HumanInterruptConfig(allow_accept=True, allow_edit=True, allow_respond=True, allow_ignore=True),
        description=(
            f"## Refund request\n\nThe customer asks for a refund of **{amount:.2f} EUR** on order "
            f"`{order_id}`.\n\n- *Accept* to refund as requested\n- *Edit* to change the amount\n"
            "- *Respond* to tell the agent what to do instead"
        ),
    )
    response: HumanResponse = interrupt([request])[0]
    if response["type"] == "accept":
        return f"Refunded {amount:.2f} EUR on order {order_id}."
    if response["type"] == "edit":
        args = response["args"]["args"]
        return f"Refunded {float(args['amount']):.2f} EUR on order {args['order_id']}."
    if response["type"] == "response":
        return f"No refund issued. The reviewer said: {response['args']}"
    return "No refund issued: the reviewer ignored the request."


TOOLS = [send_email, lookup_order, issue_refund]


# -- the scripted model ----------------------------------------------------------------
class ScriptedChatModel(BaseChatModel):
    """A deterministic chat model (no API key) that plays a support agent.

    On a user message it calls `send_email` when the text mentions an email address,
    `issue_refund` when it mentions an order number (`#1234`) and an amount (`30 EUR`), and
    `lookup_order` when it asks for the status of an order without an amount.
    After tool results it answers with a summary quoting every tool message it received,
    so what the tools did (or the reason a person gave for rejecting them) is visible in
    the final answer. Its decisions depend only on the conversation, so any number of
    threads and server processes can share one instance.
    """

    @property
    def _llm_type(self) -> str:
        return "waypoint-scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self  # the script knows its tools

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    @staticmethod
    def _reply(messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else None
        if isinstance(last, HumanMessage):
            text = last.text if isinstance(last.text, str) else str(last.content)
            calls = []
            if email := re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text):
                calls.append({
                    "name": "send_email",
                    "args": {"to": email.group(0), "subject": "About your request",
                             "body": f"Hello,\n\nwe received your message: {text}\n\nThe support team"},
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                })
            order = re.search(r"#(\w+)", text)
            amount = re.search(r"(\d+(?:\.\d+)?)\s*(?:EUR|€)", text)
            if order and amount:
                calls.append({
                    "name": "issue_refund",
                    "args": {"order_id": order.group(1), "amount": float(amount.group(1))},
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                })
            elif order and "status" in text.lower():
                calls.append({"name": "lookup_order", "args": {"order_id": order.group(1)},
                              "id": f"call_{uuid.uuid4().hex[:12]}"})
            if calls:
                return AIMessage(content="", tool_calls=calls)
            return AIMessage(content="Please give me an email address or an order number and amount.")
        results = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            results.append(f"{message.name}: {message.content}")
        return AIMessage(content="Done. " + " | ".join(reversed(results)) if results else "Done.")


MODEL: BaseChatModel | str = ScriptedChatModel()  # swap for a real one, e.g. "openai:gpt-4.1-mini"

agent = create_agent(
    MODEL,
    tools=TOOLS,
    system_prompt="You are a support agent. Use the tools to answer the customer.",
    middleware=[
        HumanInTheLoopMiddleware(
            interrupt_on={
                "send_email": {
                    "allowed_decisions": ["approve", "edit", "reject"],
                    "description": "Review the **email** before it goes out. Edit the recipient, "
                    "subject or body, or reject it with a reason for the agent.",
                },
                "lookup_order": {
                    "allowed_decisions": ["approve", "respond"],
                    "description": "Let the order system answer, or **respond** in its place.",
                },
                "issue_refund": False,  # asks a person itself (agent-inbox style)
            }
        )
    ],
)
