"""Streaming a run over SSE in each stream mode, joining streams, subgraph namespaces."""

from __future__ import annotations

HELLO = {"messages": [{"role": "user", "content": "hi"}]}


async def _collect(stream):
    return [part async for part in stream]


async def test_values_is_the_default_mode(client):
    thread = await client.threads.create()
    parts = await _collect(client.runs.stream(thread["thread_id"], "chain", input={"input": "v"}))
    assert parts[0].event == "metadata"
    assert parts[0].data["run_id"] and parts[0].data["attempt"] == 1
    assert {p.event for p in parts[1:]} == {"values"}
    assert [p.data.get("visited", []) for p in parts[1:]] == [[], ["node_a"], ["node_a", "node_b"], ["node_a", "node_b", "node_c"]]


async def test_updates_mode(client):
    parts = await _collect(client.runs.stream(None, "chain", input={"input": "u"}, stream_mode="updates"))
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates == [{"node_a": {"visited": ["node_a"]}}, {"node_b": {"visited": ["node_b"]}}, {"node_c": {"visited": ["node_c"]}}]


async def test_interrupt_reaches_a_values_stream(client):
    thread = await client.threads.create()
    parts = await _collect(client.runs.stream(thread["thread_id"], "agent", input={"some_text": "s"}))
    last = parts[-1]
    assert last.event == "values"
    assert [i["value"] for i in last.data["__interrupt__"]] == [{"text_to_revise": "s"}]


async def test_messages_tuple_mode_streams_llm_tokens(client):
    parts = await _collect(client.runs.stream(None, "streaming", input=HELLO, stream_mode="messages-tuple"))
    messages = [p.data for p in parts if p.event == "messages"]
    assert messages, [p.event for p in parts]
    chunk, metadata = messages[0]
    assert chunk["type"] == "AIMessageChunk"
    assert metadata["langgraph_node"] == "chat"
    assert "".join(m[0]["content"] for m in messages) == "hello there human friend"


async def test_legacy_messages_mode(client):
    parts = await _collect(client.runs.stream(None, "streaming", input=HELLO, stream_mode="messages"))
    events = [p.event for p in parts]
    assert "messages/metadata" in events and "messages/partial" in events
    partials = [p.data for p in parts if p.event == "messages/partial"]
    assert partials[-1][0]["content"] == "hello there human friend"
    # Partial messages are AI messages, as the official server sends them (not chunks).
    assert {m[0]["type"] for m in partials} == {"ai"}


async def test_custom_mode(client):
    parts = await _collect(client.runs.stream(None, "streaming", input=HELLO, stream_mode="custom"))
    # Without stream_subgraphs, only the root graph's custom events (as LangGraph streams them).
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": "chatted"}]
    nested = await _collect(
        client.runs.stream(None, "streaming", input=HELLO, stream_mode="custom", stream_subgraphs=True)
    )
    assert [(p.event.split(":")[0], p.data) for p in nested if p.event.startswith("custom")] == [
        ("custom", {"progress": "chatted"}), ("custom|sub", {"progress": "inside subgraph"})
    ]


async def test_debug_checkpoints_and_tasks_modes(client):
    parts = await _collect(
        client.runs.stream(None, "chain", input={"input": "d"}, stream_mode=["debug", "checkpoints", "tasks"])
    )
    debug = [p.data for p in parts if p.event == "debug"]
    assert {"checkpoint", "task", "task_result"} <= {d["type"] for d in debug}
    # Debug checkpoint events name their checkpoint and its parent (the official shape).
    debug_checkpoints = [d["payload"] for d in debug if d["type"] == "checkpoint"]
    assert debug_checkpoints[0]["parent_checkpoint"] is None
    for previous, current in zip(debug_checkpoints, debug_checkpoints[1:]):
        assert current["checkpoint"]["checkpoint_id"] == current["config"]["configurable"]["checkpoint_id"]
        assert current["parent_checkpoint"]["checkpoint_id"] == previous["checkpoint"]["checkpoint_id"]
        assert set(current["checkpoint"]) >= {"thread_id", "checkpoint_ns", "checkpoint_id"}
    checkpoints = [p.data for p in parts if p.event == "checkpoints"]
    assert checkpoints and checkpoints[-1]["values"]["visited"] == ["node_a", "node_b", "node_c"]
    tasks = [p.data for p in parts if p.event == "tasks"]
    assert {t["name"] for t in tasks} == {"node_a", "node_b", "node_c"}
    assert any("result" in t for t in tasks) and any("input" in t for t in tasks)


async def test_events_mode(client):
    parts = await _collect(client.runs.stream(None, "streaming", input=HELLO, stream_mode=["events", "values"]))
    events = [p.data for p in parts if p.event == "events"]
    kinds = {e["event"] for e in events}
    assert {"on_chain_start", "on_chain_end", "on_chat_model_stream"} <= kinds
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["notes"] == ["from subgraph"]


async def test_stream_subgraphs_names_namespaces(client):
    parts = await _collect(
        client.runs.stream(None, "streaming", input=HELLO, stream_mode=["updates"], stream_subgraphs=True)
    )
    sub_events = [p for p in parts if p.event.startswith("updates|sub:")]
    assert sub_events and sub_events[0].data == {"inner": {"notes": ["from subgraph"]}}
    plain = await _collect(client.runs.stream(None, "streaming", input=HELLO, stream_mode=["updates"]))
    assert all("|" not in p.event for p in plain)


async def test_join_stream_replays_a_background_run(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 3, "delay": 0.2}, stream_mode=["custom", "values"])
    parts = await _collect(client.runs.join_stream(thread["thread_id"], run["run_id"]))
    assert [p.data for p in parts if p.event == "custom"] == [{"tick": 1}, {"tick": 2}, {"tick": 3}]
    assert [p.data for p in parts if p.event == "values"][-1]["count"] == 3
    only_custom = await _collect(client.runs.join_stream(thread["thread_id"], run["run_id"], stream_mode="custom"))
    assert {p.event for p in only_custom} <= {"metadata", "custom"}
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"


async def test_a_burst_arrives_whole_and_resumes_after_any_event(client):
    """2,000 custom events written in a loop (faster than the run publishes them, so they
    travel in batches) reach the client all, in order, once; `Last-Event-ID` set to any
    event's id (one in the middle of a batch too) resumes right after that event."""
    tid = (await client.threads.create())["thread_id"]
    parts = await _collect(client.runs.stream(tid, "burst", input={"count": 2000}, stream_mode="custom"))
    custom = [p for p in parts if p.event == "custom"]
    assert [p.data["i"] for p in custom] == list(range(2000))
    ids = [p.id for p in parts]
    assert all(ids) and len(set(ids)) == len(ids)
    run_id = parts[0].data["run_id"]  # the `metadata` event
    for cut in (0, 1, 999, 1998, 1999):
        rest = await _collect(client.runs.join_stream(tid, run_id, last_event_id=custom[cut].id))
        assert [p.data["i"] for p in rest if p.event == "custom"] == list(range(cut + 1, 2000))


async def test_error_event_when_graph_raises(client):
    thread = await client.threads.create()
    parts = await _collect(client.runs.stream(thread["thread_id"], "failing", input={}))
    errors = [p.data for p in parts if p.event == "error"]
    assert errors == [{"error": "ValueError", "message": "the node exploded on purpose"}]
