"""The seed documents' Python examples, unchanged but for the URL, with their printed results."""

from __future__ import annotations

from langgraph_sdk.schema import Command


async def test_dynamic_interrupt_and_resume(client):
    # hitl-server-api.md, "Dynamic interrupts"
    assistant_id = "agent"
    thread = await client.threads.create()
    thread_id = thread["thread_id"]

    result = await client.runs.wait(thread_id, assistant_id, input={"some_text": "original text"})

    interrupts = result["__interrupt__"]
    assert len(interrupts) == 1
    assert interrupts[0]["value"] == {"text_to_revise": "original text"}
    assert interrupts[0]["resumable"] is True
    assert interrupts[0]["when"] == "during"
    assert len(interrupts[0]["ns"]) == 1 and interrupts[0]["ns"][0].startswith("human_node:")
    assert isinstance(interrupts[0]["id"], str) and interrupts[0]["id"]
    assert result["some_text"] == "original text"

    paused = await client.threads.get(thread_id)
    assert paused["status"] == "interrupted"
    assert [i["value"] for group in paused["interrupts"].values() for i in group] == [
        {"text_to_revise": "original text"}
    ]

    resumed = await client.runs.wait(thread_id, assistant_id, command=Command(resume="Edited text"))
    assert resumed == {"some_text": "Edited text"}
    done = await client.threads.get(thread_id)
    assert done["status"] == "idle"
    assert done["values"] == {"some_text": "Edited text"}
    assert done["interrupts"] == {}


async def _visited(client, thread_id):
    state = await client.threads.get_state(thread_id)
    return state["values"].get("visited", []), state["next"]


async def test_static_breakpoints_compile_time(client):
    # breakpoints-server-api.md: interrupt_before=["node_a"], interrupt_after=["node_b", "node_c"]
    thread = await client.threads.create()
    thread_id = thread["thread_id"]

    await client.runs.wait(thread_id, "breakpoints", input={"input": "hi"})
    assert await _visited(client, thread_id) == ([], ["node_a"])
    assert (await client.threads.get(thread_id))["status"] == "interrupted"

    await client.runs.wait(thread_id, "breakpoints", input=None)  # runs node_a, node_b; stops after node_b
    assert await _visited(client, thread_id) == (["node_a", "node_b"], ["node_c"])

    await client.runs.wait(thread_id, "breakpoints", input=None)  # runs node_c; stops after it
    visited, _ = await _visited(client, thread_id)
    assert visited == ["node_a", "node_b", "node_c"]

    await client.runs.wait(thread_id, "breakpoints", input=None)
    assert await _visited(client, thread_id) == (["node_a", "node_b", "node_c"], [])
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_static_breakpoints_run_time(client):
    # "Alternatively, you can set static interrupts at run time"
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    kwargs = {"interrupt_before": ["node_a"], "interrupt_after": ["node_b", "node_c"]}

    await client.runs.wait(thread_id, "chain", input={"input": "hi"}, **kwargs)
    assert await _visited(client, thread_id) == ([], ["node_a"])

    await client.runs.wait(thread_id, "chain", input=None, **kwargs)
    assert await _visited(client, thread_id) == (["node_a", "node_b"], ["node_c"])

    await client.runs.wait(thread_id, "chain", input=None, **kwargs)
    visited, _ = await _visited(client, thread_id)
    assert visited == ["node_a", "node_b", "node_c"]


async def test_run_time_breakpoints_star_stop_before_every_node(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    await client.runs.wait(thread_id, "chain", input={"input": "hi"}, interrupt_before="*")
    assert await _visited(client, thread_id) == ([], ["node_a"])
    await client.runs.wait(thread_id, "chain", input=None, interrupt_before="*")
    assert await _visited(client, thread_id) == (["node_a"], ["node_b"])
    # Without breakpoints the rest runs to the end.
    await client.runs.wait(thread_id, "chain", input=None)
    assert await _visited(client, thread_id) == (["node_a", "node_b", "node_c"], [])
