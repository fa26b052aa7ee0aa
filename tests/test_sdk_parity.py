"""Parity with the official server where the SDK's own integration suite and other clients
noticed differences: graph factories with a `ServerRuntime`, context defaults, breakpoints,
store answers, stream payloads, thread creation from supersteps, `GET /threads/{id}/stream`.

Each test drives the real server through the official Python SDK (`langgraph_sdk`)."""

from __future__ import annotations

import uuid

import pytest


async def _factory_calls(client, tag: str) -> list[dict]:
    found = await client.store.search_items(["factory-calls", tag], limit=100)
    return [item["value"] for item in found["items"]]


async def _factory_assistant(client, **configurable) -> tuple[dict, str]:
    tag = uuid.uuid4().hex
    assistant = await client.assistants.create(
        "runtime_factory", config={"configurable": {"tag": tag, **configurable}}
    )
    return assistant, tag


async def test_factory_gets_config_and_server_runtime(client):
    """A `(config, runtime)` factory runs, sees `threads.create_run` with an execution
    runtime and a real store, and gets the assistant's config."""
    assistant, tag = await _factory_assistant(client)
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"text": "hi"})
    assert result == {
        "text": "hi echoed", "access_context": "threads.create_run", "is_for_execution": True,
        "model": "default-model",
    }
    calls = await _factory_calls(client, tag)
    assert {"access_context": "threads.create_run", "execution": True,
            "thread_id": thread["thread_id"]} in calls


async def test_factory_access_contexts(client):
    """State reads, history and `update_state` rebuild the factory with the assistant's config
    and the matching access context; introspection uses `assistants.read`."""
    assistant, tag = await _factory_assistant(client)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, assistant["assistant_id"], input={"text": "x"})
    await client.threads.get_state(tid)
    await client.threads.get_history(tid)
    await client.threads.update_state(tid, {"text": "patched"}, as_node="echo")
    await client.assistants.get_graph(assistant["assistant_id"])
    await client.assistants.get_schemas(assistant["assistant_id"])
    contexts = {(c["access_context"], c["execution"]) for c in await _factory_calls(client, tag)}
    assert contexts == {
        ("threads.create_run", True), ("threads.read", False),
        ("threads.update", False), ("assistants.read", False),
    }


async def test_factory_update_state_as_node_of_assistant_topology(client):
    """`update_state(as_node=...)` on a node only the assistant's config adds (the factory
    rebuilt with the thread alone would lack it, the old 422)."""
    assistant, _ = await _factory_assistant(client, variant="reviewed")
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, assistant["assistant_id"], input={"text": "x"})
    state = await client.threads.get_state(tid)
    assert state["next"] == ["review"]
    graph = await client.assistants.get_graph(assistant["assistant_id"])
    assert "review" in {node["id"] for node in graph["nodes"]}
    await client.threads.update_state(tid, {"reviewed": True}, as_node="review")
    state = await client.threads.get_state(tid)
    assert state["values"]["reviewed"] is True and state["next"] == []
    assert state["metadata"]["source"] == "update"


async def test_run_without_context_gets_context_schema_defaults(client):
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "context_defaults", input={})
    assert result == {"model": "default-model", "text": "temperature=0.5"}
    # A partial context keeps the other defaults.
    result = await client.runs.wait(
        thread["thread_id"], "context_defaults", input={}, context={"model": "big"}
    )
    assert result == {"model": "big", "text": "temperature=0.5"}


async def test_breakpoints_on_unknown_nodes_are_accepted(client):
    """As the official server: breakpoints naming nodes the graph lacks never match."""
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"], "chain", input={"input": "x"},
        interrupt_before=["no_such_node"], interrupt_after=["node_b", "nor_this"],
    )
    assert result["visited"] == ["node_a", "node_b"]
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["node_c"]


async def test_store_missing_item_is_null(client):
    namespace = ["parity", uuid.uuid4().hex]
    assert await client.store.get_item(namespace, "absent") is None
