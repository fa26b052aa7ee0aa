"""MCP at `/mcp`, driven by the `mcp` package's own client (`streamable_http_client` +
`ClientSession`) against a live server: tools are the assistants, a call runs one on a new
thread, a pause at `interrupt()` is a kept thread a person answers through the usual resume."""

from __future__ import annotations

import contextlib
import json

import httpx
from conftest import write_config
from langgraph_sdk.schema import Command
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


@contextlib.asynccontextmanager
async def mcp_session(base_url: str, path: str = "/mcp"):
    async with streamable_http_client(base_url + path) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def test_tools_are_the_assistants(server, client):
    mine = await client.assistants.create("chat", name="Echo bot (mcp)", description="Echoes what it is told.")
    twin = await client.assistants.create("chat", name="Echo bot (mcp)")
    # An assistant whose graph cannot be built now is still a tool (with an open schema).
    await client.assistants.create("faulty", name="exploding-mcp", config={"configurable": {"explode": True}})
    async with mcp_session(server.url, "/mcp/") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    # One tool per assistant: names made tool-safe, a taken name gets the assistant id's start.
    assert tools["Echo_bot__mcp_"].description == "Echoes what it is told."
    assert f"Echo_bot__mcp_-{twin['assistant_id'][:8]}" in tools
    assert mine["assistant_id"] != twin["assistant_id"]
    # The input schema is the graph's, as GET /assistants/{id}/schemas gives it.
    assert tools["agent"].input_schema == (await client.assistants.get_schemas("agent"))["input_schema"]
    assert tools["agent"].input_schema["properties"]["some_text"]["type"] == "string"
    assert "messages" in tools["chat"].input_schema["properties"]
    assert tools["agent"].description == "Runs the LangGraph graph 'agent'."
    assert tools["exploding-mcp"].input_schema == {"type": "object", "properties": {}}


async def test_call_runs_the_graph_on_a_new_thread(server, client):
    async with mcp_session(server.url) as session:
        result = await session.call_tool("chat", {"messages": [{"role": "user", "content": "hi there"}]})
        again = await session.call_tool("chat", {"messages": [{"role": "user", "content": "and again"}]})
    assert not result.is_error, result
    messages = result.structured_content["messages"]
    assert [(m["type"], m["content"]) for m in messages] == [("human", "hi there"), ("ai", "echo: hi there")]
    assert json.loads(result.content[0].text) == result.structured_content
    # Each call had its own thread (no history carried over), deleted once it finished.
    assert [m["content"] for m in again.structured_content["messages"]] == ["and again", "echo: and again"]
    assert await client.threads.search(metadata={"mcp_tool": "chat"}) == []


async def test_interrupt_is_an_error_result_with_a_kept_thread(server, client):
    async with mcp_session(server.url) as session:
        result = await session.call_tool("agent", {"some_text": "draft from mcp"})
    assert result.is_error
    paused = result.structured_content
    assert paused["status"] == "interrupted"
    assert [i["value"] for i in paused["interrupts"]] == [{"text_to_revise": "draft from mcp"}]
    assert "paused at an interrupt" in result.content[0].text and paused["thread_id"] in result.content[0].text
    thread = await client.threads.get(paused["thread_id"])
    assert thread["status"] == "interrupted" and thread["metadata"]["mcp_tool"] == "agent"
    # A person answers it through the normal exactly-once resume, with its audit trail.
    assert await client.runs.wait(paused["thread_id"], "agent", command=Command(resume="final text")) == {
        "some_text": "final text"}
    decisions = await client.http.get(f"/threads/{paused['thread_id']}/decisions")
    assert [(d["interrupt_id"], d["value"]) for d in decisions] == [(paused["interrupts"][0]["id"], "final text")]


async def test_failures_are_error_results(server):
    async with mcp_session(server.url) as session:
        failed = await session.call_tool("failing", {})
        unknown = await session.call_tool("no_such_agent", {})
    assert failed.is_error and "the node exploded on purpose" in failed.content[0].text
    assert unknown.is_error and "Unknown tool 'no_such_agent'" in unknown.content[0].text


def test_get_and_delete_as_the_official_server(http):
    get = http.get("/mcp/", headers={"Accept": "text/event-stream"})
    assert get.status_code == 405 and "detail" in get.json()
    delete = http.delete("/mcp")
    assert delete.status_code == 404 and "stateless" in delete.json()["detail"]
    # A POST the transport cannot take is refused by it with a clear status, not a 500.
    bad = http.post("/mcp/", content=b"{not json", headers={"Accept": "application/json, text/event-stream",
                                                             "Content-Type": "application/json"})
    assert 400 <= bad.status_code < 500


def test_disable_mcp_and_a2a(make_server, tmp_path):
    config = write_config(tmp_path / "langgraph.json", http={"disable_mcp": True, "disable_a2a": True})
    proc = make_server(tmp_path, config=config).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as http:
            for method, path in (("POST", "/mcp"), ("POST", "/mcp/"), ("GET", "/mcp/"), ("POST", "/a2a/chat"),
                                 ("GET", "/.well-known/agent-card.json?assistant_id=chat")):
                r = http.request(method, path, json={})
                assert r.status_code == 404 and "disabled" in r.json()["detail"], (method, path, r.text)
            assert http.get("/ok").status_code == 200
            paths = http.get("/openapi.json").json()["paths"]
            assert not [p for p in paths if p.startswith(("/a2a", "/.well-known"))]
    finally:
        proc.stop()

