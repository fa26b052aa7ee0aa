"""Threads, thread state, history, update_state, copy, search and status; assistants."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from langgraph_sdk.schema import Command

from waypoint.graphs import system_assistant_id


async def test_thread_create_get_update_delete(client):
    thread_id = str(uuid.uuid4())
    thread = await client.threads.create(thread_id=thread_id, metadata={"owner": "ada"})
    assert thread["thread_id"] == thread_id
    assert thread["status"] == "idle"
    assert thread["metadata"] == {"owner": "ada"}

    again = await client.threads.create(thread_id=thread_id, if_exists="do_nothing")
    assert again["metadata"] == {"owner": "ada"}
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.create(thread_id=thread_id)
    assert err.value.response.status_code == 409

    updated = await client.threads.update(thread_id, metadata={"team": "x"})
    assert updated["metadata"] == {"owner": "ada", "team": "x"}
    assert (await client.threads.get(thread_id))["metadata"] == {"owner": "ada", "team": "x"}

    await client.threads.delete(thread_id)
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.get(thread_id)
    assert err.value.response.status_code == 404


async def test_thread_search_by_metadata_status_and_values(client):
    tag = str(uuid.uuid4())
    paused = await client.threads.create(metadata={"tag": tag, "kind": "paused"})
    finished = await client.threads.create(metadata={"tag": tag, "kind": "finished"})
    await client.runs.wait(paused["thread_id"], "agent", input={"some_text": "wait for me"})
    await client.runs.wait(finished["thread_id"], "chain", input={"input": tag})

    found = await client.threads.search(metadata={"tag": tag})
    assert {t["thread_id"] for t in found} == {paused["thread_id"], finished["thread_id"]}

    interrupted = await client.threads.search(metadata={"tag": tag}, status="interrupted")
    assert [t["thread_id"] for t in interrupted] == [paused["thread_id"]]
    idle = await client.threads.search(metadata={"tag": tag}, status="idle")
    assert [t["thread_id"] for t in idle] == [finished["thread_id"]]

    by_values = await client.threads.search(values={"input": tag})
    assert [t["thread_id"] for t in by_values] == [finished["thread_id"]]

    page = await client.threads.search(metadata={"tag": tag}, limit=1, offset=0, sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in page] == [paused["thread_id"]]
    page2 = await client.threads.search(metadata={"tag": tag}, limit=1, offset=1, sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in page2] == [finished["thread_id"]]
    assert await client.threads.count(metadata={"tag": tag}) == 2
    assert await client.threads.count(metadata={"tag": tag}, status="interrupted") == 1


async def test_get_state_history_and_checkpoint(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    await client.runs.wait(thread_id, "chain", input={"input": "x"})

    state = await client.threads.get_state(thread_id)
    assert state["values"] == {"input": "x", "visited": ["node_a", "node_b", "node_c"]}
    assert state["next"] == []
    assert state["checkpoint"]["thread_id"] == thread_id
    assert state["checkpoint"]["checkpoint_id"] == state["checkpoint_id"]
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]

    history = await client.threads.get_history(thread_id, limit=10)
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert [h["values"].get("visited", []) for h in history] == [
        ["node_a", "node_b", "node_c"], ["node_a", "node_b"], ["node_a"], [], [],
    ]
    assert len(await client.threads.get_history(thread_id, limit=2)) == 2
    older = await client.threads.get_history(thread_id, limit=10, before=history[1]["checkpoint"])
    assert [h["checkpoint"]["checkpoint_id"] for h in older] == [h["checkpoint"]["checkpoint_id"] for h in history[2:]]
    inputs = await client.threads.get_history(thread_id, metadata={"source": "input"})
    assert len(inputs) == 1 and inputs[0]["metadata"]["source"] == "input"

    # State at an earlier checkpoint, by id and by checkpoint object.
    mid = history[2]
    at_id = await client.threads.get_state(thread_id, checkpoint_id=mid["checkpoint"]["checkpoint_id"])
    assert at_id["values"]["visited"] == ["node_a"]
    assert at_id["next"] == ["node_b"]
    at_obj = await client.threads.get_state(thread_id, checkpoint=mid["checkpoint"])
    assert at_obj["values"] == at_id["values"]

    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.get_state(thread_id, checkpoint_id=str(uuid.uuid4()))
    assert err.value.response.status_code == 404


async def test_state_of_new_thread_is_empty(client):
    thread = await client.threads.create()
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {} and state["next"] == [] and state["checkpoint"] is None
    assert await client.threads.get_history(thread["thread_id"]) == []


async def test_update_state_as_node_then_continue(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    await client.runs.wait(thread_id, "breakpoints", input={"input": "hi"})  # paused before node_a

    result = await client.threads.update_state(thread_id, {"visited": ["human"]}, as_node="node_a")
    assert result["checkpoint"]["thread_id"] == thread_id
    state = await client.threads.get_state(thread_id)
    assert state["values"]["visited"] == ["human"]
    assert state["next"] == ["node_b"]
    assert state["checkpoint"]["checkpoint_id"] == result["checkpoint"]["checkpoint_id"]

    await client.runs.wait(thread_id, "breakpoints", input=None)  # node_b, paused after it
    assert (await client.threads.get_state(thread_id))["values"]["visited"] == ["human", "node_b"]


async def test_update_state_edits_interrupted_value_before_resume(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    await client.runs.wait(thread_id, "agent", input={"some_text": "draft"})
    await client.threads.update_state(thread_id, {"some_text": "edited draft"})
    state = await client.threads.get_state(thread_id)
    assert state["values"]["some_text"] == "edited draft"
    assert state["next"] == ["human_node"]
    # LangGraph re-runs the paused node on the updated state: it asks again with the edit.
    again = await client.runs.wait(thread_id, "agent", input=None)
    assert [i["value"] for i in again["__interrupt__"]] == [{"text_to_revise": "edited draft"}]
    assert await client.runs.wait(thread_id, "agent", command=Command(resume="final")) == {"some_text": "final"}


async def test_update_state_errors(client, http):
    fresh = await client.threads.create()
    r = http.post(f"/threads/{fresh['thread_id']}/state", json={"values": {"x": 1}})
    assert r.status_code == 400 and "no graph" in r.json()["detail"]

    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "chain", input={"input": "x"})
    r = http.post(f"/threads/{thread['thread_id']}/state", json={"values": {"input": "y"}, "as_node": "nope"})
    assert r.status_code == 422 and "nope" in r.json()["detail"]


async def test_copy_thread_keeps_state_and_pending_interrupt(client):
    thread = await client.threads.create(metadata={"origin": "copy-test"})
    await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "copy me"})
    copy = await client.threads.copy(thread["thread_id"])
    assert copy["thread_id"] != thread["thread_id"]
    assert copy["metadata"]["origin"] == "copy-test"
    copied_state = await client.threads.get_state(copy["thread_id"])
    assert copied_state["values"] == {"some_text": "copy me"}
    assert copied_state["next"] == ["human_node"]
    # Checkpoint metadata names the thread (as the official server's does), the copy's own.
    for tid in (thread["thread_id"], copy["thread_id"]):
        history = await client.threads.get_history(tid)
        assert history and {s["metadata"]["thread_id"] for s in history} == {tid}
    await client.threads.update_state(thread["thread_id"], {"some_text": "edited"}, as_node="human_node")
    assert (await client.threads.get_state(thread["thread_id"]))["metadata"]["thread_id"] == thread["thread_id"]
    await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "again"})

    # Resuming the copy leaves the original paused.
    assert await client.runs.wait(copy["thread_id"], "agent", command=Command(resume="copy done")) == {
        "some_text": "copy done"
    }
    assert (await client.threads.get_state(thread["thread_id"]))["next"] == ["human_node"]


async def test_system_assistants_and_crud(client):
    system = await client.assistants.get("agent")
    assert system["assistant_id"] == system_assistant_id("agent")
    assert system["graph_id"] == "agent" and system["metadata"] == {"created_by": "system"}
    assert (await client.assistants.get(system["assistant_id"]))["graph_id"] == "agent"

    created = await client.assistants.create(
        "factory", config={"configurable": {"user": "grace"}}, metadata={"team": "qa"}, name="greeter"
    )
    assert created["graph_id"] == "factory" and created["version"] == 1 and created["name"] == "greeter"
    patched = await client.assistants.update(created["assistant_id"], metadata={"stage": "beta"})
    assert patched["version"] == 2 and patched["metadata"] == {"team": "qa", "stage": "beta"}

    found = await client.assistants.search(metadata={"team": "qa"}, graph_id="factory")
    assert [a["assistant_id"] for a in found] == [created["assistant_id"]]
    assert await client.assistants.count(graph_id="factory", metadata={"team": "qa"}) == 1

    # The assistant's config reaches the factory; langgraph.json `env` reaches the graph.
    result = await client.runs.wait(None, created["assistant_id"], input={})
    assert result == {"greeting": "hello from env", "user": "grace"}

    await client.assistants.delete(created["assistant_id"])
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.assistants.get(created["assistant_id"])
    assert err.value.response.status_code == 404


async def test_assistant_graph_and_schemas(client):
    drawn = await client.assistants.get_graph("breakpoints")
    node_ids = {n["id"] for n in drawn["nodes"]}
    assert {"node_a", "node_b", "node_c", "__start__", "__end__"} <= node_ids
    assert {(e["source"], e["target"]) for e in drawn["edges"]} >= {("node_a", "node_b"), ("node_b", "node_c")}

    schemas = await client.assistants.get_schemas("agent")
    assert schemas["graph_id"] == "agent"
    assert "some_text" in schemas["input_schema"]["properties"]
    assert "some_text" in schemas["state_schema"]["properties"]

    subgraphs = await client.assistants.get_subgraphs("streaming")
    assert "sub" in subgraphs


async def test_assistant_errors(client, http):
    r = http.post("/assistants", json={"graph_id": "no-such-graph"})
    assert r.status_code == 422 and "no-such-graph" in r.json()["detail"]
    r = http.get("/assistants/no-such-graph")
    assert r.status_code == 404
    r = http.post("/assistants", json={"config": {}})
    assert r.status_code == 422 and "graph_id" in r.json()["detail"]


async def test_subgraph_interrupt_state_and_resume(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    result = await client.runs.wait(thread_id, "nested", input={"draft": "plan"})
    assert [i["value"] for i in result["__interrupt__"]] == [{"approve": "plan"}]

    flat = await client.threads.get_state(thread_id)
    assert flat["next"] == ["approval"]
    assert flat["tasks"][0]["state"] is None and flat["tasks"][0]["checkpoint"] is not None
    deep = await client.threads.get_state(thread_id, subgraphs=True)
    sub = deep["tasks"][0]["state"]
    assert sub["values"] == {"draft": "plan"} and sub["next"] == ["review"]
    assert [i["value"] for i in sub["interrupts"]] == [{"approve": "plan"}]

    done = await client.runs.wait(thread_id, "nested", command=Command(resume="yes"))
    assert done == {"draft": "plan", "approved": "yes"}


async def test_openapi_and_docs(http):
    spec = http.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/threads/{thread_id}/runs/wait", "/threads/{thread_id}/state", "/assistants/search", "/store/items"):
        assert path in paths
    assert http.get("/docs").status_code == 200
    assert http.get("/ok").json() == {"ok": True}
    assert "agent" in http.get("/info").json()["graphs"]


async def test_store_items(client):
    await client.store.put_item(["users", "ada"], "prefs", {"theme": "dark"})
    item = await client.store.get_item(["users", "ada"], "prefs")
    assert item["value"] == {"theme": "dark"} and item["namespace"] == ["users", "ada"]
    # ISO-8601 with microseconds and a time zone, on both stores.
    for stamp in (item["created_at"], item["updated_at"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", stamp), stamp
    found = await client.store.search_items(["users"], filter={"theme": "dark"})
    assert [i["key"] for i in found["items"]] == ["prefs"]
    spaces = await client.store.list_namespaces(prefix=["users"])
    assert ["users", "ada"] in spaces["namespaces"]
    await client.store.delete_item(["users", "ada"], "prefs")
    # A missing item is `200 null`, as the official server answers (the SDK returns None).
    assert await client.store.get_item(["users", "ada"], "prefs") is None


async def test_delete_thread_with_running_run(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 100, "delay": 0.05})
    await client.runs.join_stream(thread["thread_id"], run["run_id"]).__anext__()  # started
    await client.threads.delete(thread["thread_id"])
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.get(thread["thread_id"])
    assert err.value.response.status_code == 404
    assert await client.threads.search(ids=[thread["thread_id"]]) == []


def _row_matches_state(thread: dict, state: dict) -> None:
    """The thread row a run left (status, values, interrupts by task with `ns`) is what a
    state read of the thread gives."""
    assert thread["status"] == ("interrupted" if state["next"] else "idle"), (thread, state)
    assert thread["values"] == state["values"]
    expected = {t["id"]: [(i["id"], i["value"], [f"{t['name']}:{t['id']}"]) for i in t["interrupts"]]
                for t in state["tasks"] if t["interrupts"]}
    assert {task_id: [(i["id"], i["value"], i["ns"]) for i in group]
            for task_id, group in (thread["interrupts"] or {}).items()} == expected


@pytest.mark.parametrize("graph, first, kwargs, resumes", [
    ("parallel", {"answers": ["start"]}, {}, [None]),  # two interrupts in one step; the resume answers one
    ("nested", {"draft": "plan"}, {"stream_mode": ["values"], "stream_subgraphs": True}, ["yes"]),
    ("breakpoints", {"input": "x"}, {}, [None, None, None]),  # compiled before and after
    ("chain", {"input": "x"}, {"interrupt_before": "*"}, [None, None, None]),
    ("chain", {"input": "x"}, {"interrupt_after": "*"}, [None, None, None]),  # after the last node: idle
])
async def test_thread_row_after_each_run_matches_a_state_read(client, graph, first, kwargs, resumes):
    """A run that ends takes the thread's status, values and interrupts from its own stream
    (LangGraph's `tasks` chunks name each interrupt's task) instead of reading the state:
    the row must still be what a state read gives, at every pause and at the end."""
    thread_id = (await client.threads.create())["thread_id"]
    if "stream_mode" in kwargs:  # streamed with subgraphs: the subgraph's chunks name its interrupt too
        async for _ in client.runs.stream(thread_id, graph, input=first, **kwargs):
            pass
        kwargs = {}
    else:
        await client.runs.wait(thread_id, graph, input=first, **kwargs)
    _row_matches_state(await client.threads.get(thread_id), await client.threads.get_state(thread_id))
    for resume in resumes:
        if graph == "parallel":  # answer only the first pending interrupt, by its id
            pending = (await client.threads.get(thread_id))["interrupts"]
            first_id = next(iter(pending.values()))[0]["id"]
            await client.runs.wait(thread_id, graph, command=Command(resume={first_id: "A"}))
        elif resume is not None:
            await client.runs.wait(thread_id, graph, command=Command(resume=resume), **kwargs)
        else:
            await client.runs.wait(thread_id, graph, input=None, **kwargs)
        _row_matches_state(await client.threads.get(thread_id), await client.threads.get_state(thread_id))
