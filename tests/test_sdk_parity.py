"""Parity with the official server where the SDK's own integration suite and other clients
noticed differences: graph factories with a `ServerRuntime`, context defaults, breakpoints,
store answers, stream payloads, thread creation from supersteps, `GET /threads/{id}/stream`.

Each test drives the real server through the official Python SDK (`langgraph_sdk`)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

from langgraph_sdk import get_client


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
        "model": "default-model", "user": None,  # no auth configured
    }
    calls = await _factory_calls(client, tag)
    assert {"access_context": "threads.create_run", "execution": True,
            "thread_id": thread["thread_id"], "user": None} in calls


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


async def _collect_thread_stream(client, thread_id: str, runs_expected: int, **kwargs) -> list:
    """Parts of `threads.join_stream` until `runs_expected` runs are done (and their
    `state_update` when that mode is asked for)."""
    parts = []
    want_state = "state_update" in (kwargs.get("stream_mode") or [])
    want_done = not want_state or {"run_modes", "lifecycle"} & set(kwargs.get("stream_mode") or [])
    async for part in await client.threads.join_stream(thread_id, **kwargs):
        parts.append(part)
        done = sum(p.event == "run_done" for p in parts)
        states = sum(p.event == "state_update" for p in parts)
        if (not want_done or done >= runs_expected) and (not want_state or states >= runs_expected):
            return parts
    return parts


async def test_join_thread_stream_follows_every_run(client):
    """`GET /threads/{id}/stream` (run_modes): the events of each run in turn, each closed by
    `run_done`, with ids that order the whole thread and resume it with `Last-Event-ID`."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    follower = asyncio.create_task(
        asyncio.wait_for(_collect_thread_stream(client, tid, 2), 60)
    )
    await asyncio.sleep(0.3)  # the stream is open before the runs start
    first = await client.runs.create(tid, "chain", input={"input": "one"})
    second = await client.runs.create(tid, "chain", input={"input": "two"})
    parts = await follower
    names = [p.event for p in parts]
    assert names.count("metadata") == 2 and names.count("run_done") == 2
    dones = [p.data for p in parts if p.event == "run_done"]
    assert dones == [
        {"run_id": first["run_id"], "status": "success"},
        {"run_id": second["run_id"], "status": "success"},
    ]
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["input"] == "two" and values[-1]["visited"] == ["node_a", "node_b", "node_c"] * 2
    ids = [p.id for p in parts]
    assert all(re.fullmatch(r"\d+-\d+", i) for i in ids)
    keys = [tuple(map(int, i.split("-"))) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)

    # Resume after the first run's `run_done`: the second run exactly, nothing repeated.
    cut = names.index("run_done")
    resumed = await asyncio.wait_for(
        _collect_thread_stream(client, tid, 1, last_event_id=ids[cut]), 30
    )
    assert [(p.id, p.event, p.data) for p in resumed] == [(p.id, p.event, p.data) for p in parts[cut + 1:]]
    # `-` replays from the beginning.
    replayed = await asyncio.wait_for(_collect_thread_stream(client, tid, 2, last_event_id="-"), 30)
    assert [p.id for p in replayed] == ids


async def test_join_thread_stream_live_skips_finished_runs(client):
    """Without `Last-Event-ID` the stream starts live: runs already over are not replayed."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    old = await client.runs.wait(tid, "chain", input={"input": "old"})
    assert old["input"] == "old"
    follower = asyncio.create_task(asyncio.wait_for(
        _collect_thread_stream(client, tid, 1, stream_mode=["lifecycle"]), 60
    ))
    await asyncio.sleep(0.5)
    new = await client.runs.create(tid, "chain", input={"input": "new"})
    parts = await follower
    assert [(p.event, p.data["run_id"]) for p in parts] == [("metadata", new["run_id"]), ("run_done", new["run_id"])]


async def test_join_thread_stream_lifecycle_and_state_update(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    follower = asyncio.create_task(asyncio.wait_for(
        _collect_thread_stream(client, tid, 1, stream_mode=["lifecycle", "state_update"]), 60
    ))
    await asyncio.sleep(0.3)
    run = await client.runs.create(tid, "agent", input={"some_text": "draft"})
    parts = await follower
    assert [p.event for p in parts] == ["metadata", "run_done", "state_update"]
    assert parts[0].data["run_id"] == run["run_id"]
    assert parts[1].data == {"run_id": run["run_id"], "status": "success"}
    state = parts[2].data
    assert state["run_id"] == run["run_id"]
    assert state["values"] == {"some_text": "draft"}
    assert [i["value"] for i in state["interrupts"]] == [{"text_to_revise": "draft"}]
    assert state == {"run_id": run["run_id"], **await client.threads.get_state(tid)}


async def test_join_thread_stream_errors(http):
    missing = str(uuid.uuid4())
    r = http.get(f"/threads/{missing}/stream")
    assert r.status_code == 404 and missing in r.json()["detail"]
    tid = http.post("/threads", json={}).json()["thread_id"]
    r = http.get(f"/threads/{tid}/stream", params={"stream_mode": "everything"})
    assert r.status_code == 422 and "everything" in r.json()["detail"]
    r = http.get(f"/threads/{tid}/stream", headers={"Last-Event-ID": "nonsense"})
    assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"]


async def test_config_schema_is_flat(client):
    """`config_schema` lists the configurable/context fields themselves, as officially
    (not LangGraph's whole-`RunnableConfig` schema with a nested `configurable`)."""
    schemas = await client.assistants.get_schemas("context_defaults")
    assert schemas["config_schema"]["properties"] == {
        "model": {"default": "default-model", "title": "Model", "type": "string"},
        "temperature": {"default": 0.5, "title": "Temperature", "type": "number"},
    }
    assert "configurable" not in schemas["config_schema"]["properties"]
    assert schemas["context_schema"]["properties"] == schemas["config_schema"]["properties"]
    # A graph without a context or config schema: no fields.
    plain = await client.assistants.get_schemas("chain")
    assert plain["config_schema"]["properties"] == {}


async def test_create_thread_from_supersteps(client):
    """`threads.create(supersteps=...)` replays updates as LangGraph's `bulk_update_state`:
    the new thread has the state and the pending next node, and runs on from there."""
    thread = await client.threads.create(
        graph_id="chain",
        supersteps=[
            {"updates": [{"values": {"input": "copied"}, "as_node": "__input__"}]},
            {"updates": [{"values": {"input": "copied", "visited": []}, "as_node": "__start__"}]},
            {"updates": [{"values": {"visited": ["node_a"]}, "as_node": "node_a"}]},
        ],
    )
    tid = thread["thread_id"]
    assert thread["metadata"]["graph_id"] == "chain"
    state = await client.threads.get_state(tid)
    assert state["values"] == {"input": "copied", "visited": ["node_a"]}
    assert state["next"] == ["node_b"]
    assert [s["metadata"]["source"] for s in await client.threads.get_history(tid)] == ["update", "update", "input"]
    result = await client.runs.wait(tid, "chain", input=None)
    assert result["visited"] == ["node_a", "node_b", "node_c"]


async def test_create_thread_from_supersteps_errors(http):
    update = {"updates": [{"values": {"input": "x"}, "as_node": "node_a"}]}
    r = http.post("/threads", json={"supersteps": [update]})
    assert r.status_code == 422 and "graph_id" in r.json()["detail"]
    tid = str(uuid.uuid4())
    r = http.post("/threads", json={"thread_id": tid, "metadata": {"graph_id": "chain"},
                                    "supersteps": [{"updates": [{"values": {}, "as_node": "no_such_node"}]}]})
    assert r.status_code == 400 and "no_such_node" in r.json()["detail"]
    assert http.get(f"/threads/{tid}").status_code == 404  # not left half-made


async def test_default_assistants_take_langgraph_config(make_server, tmp_path, monkeypatch):
    """`LANGGRAPH_CONFIG` (`{graph_id: config}`, `context` inside) configures the default
    assistants, as the official servers read it."""
    monkeypatch.setenv("LANGGRAPH_CONFIG", json.dumps({
        "context_defaults": {"configurable": {"team": "qa"}, "context": {"model": "from-env"}},
    }))
    proc = make_server(tmp_path).start()
    try:
        client = get_client(url=proc.url)
        assistant = await client.assistants.get("context_defaults")
        assert assistant["config"] == {"configurable": {"team": "qa"}}
        assert assistant["context"] == {"model": "from-env"}
        assert (await client.assistants.get("chain"))["config"] == {}
        result = await client.runs.wait(None, "context_defaults", input={})
        assert result == {"model": "from-env", "text": "temperature=0.5"}
    finally:
        proc.stop()


async def test_join_thread_stream_state_update_outside_runs(client):
    """`state_update` also reports a change made outside a run (`update_state`)."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "draft"})
    parts = []

    async def follow():
        async for part in await client.threads.join_stream(tid, stream_mode="state_update"):
            parts.append(part)
            return

    follower = asyncio.create_task(asyncio.wait_for(follow(), 60))
    await asyncio.sleep(0.5)
    await client.threads.update_state(tid, {"some_text": "edited"}, as_node="human_node")
    await follower
    assert [p.event for p in parts] == ["state_update"]
    assert parts[0].data["run_id"] is None
    assert parts[0].data["values"] == {"some_text": "edited"} and parts[0].data["next"] == []
    assert re.fullmatch(r"\d+-0", parts[0].id)
