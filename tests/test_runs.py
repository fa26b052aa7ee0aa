"""Runs: lifecycle, join, list, cancel, delete, multiple interrupts, errors and bad input."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from langgraph_sdk.schema import Command


async def _wait_status(client, thread_id, run_id, statuses, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = await client.runs.get(thread_id, run_id)
        if run["status"] in statuses:
            return run
        assert asyncio.get_running_loop().time() < deadline, f"run stuck in {run['status']}"
        await asyncio.sleep(0.05)


async def test_background_run_join_get_list(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "chain", input={"input": "bg"}, metadata={"who": "test"})
    assert run["status"] in ("pending", "running")
    assert run["thread_id"] == thread["thread_id"] and run["metadata"] == {"who": "test"}
    assert run["multitask_strategy"] == "enqueue"

    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result == {"input": "bg", "visited": ["node_a", "node_b", "node_c"]}
    done = await client.runs.get(thread["thread_id"], run["run_id"])
    assert done["status"] == "success"
    # Joining a finished run returns the same result.
    assert await client.runs.join(thread["thread_id"], run["run_id"]) == result

    second = await client.runs.create(thread["thread_id"], "chain", input={"input": "again"})
    await client.runs.join(thread["thread_id"], second["run_id"])
    listed = await client.runs.list(thread["thread_id"])
    assert [r["run_id"] for r in listed] == [second["run_id"], run["run_id"]]
    assert [r["run_id"] for r in await client.runs.list(thread["thread_id"], limit=1, offset=1)] == [run["run_id"]]
    assert [r["run_id"] for r in await client.runs.list(thread["thread_id"], status="success")] == [
        second["run_id"], run["run_id"]
    ]


async def test_stateless_wait_and_thread_cleanup(client):
    before = await client.threads.count()
    assert await client.runs.wait(None, "chain", input={"input": "s"}) == {
        "input": "s", "visited": ["node_a", "node_b", "node_c"]
    }
    await asyncio.sleep(0.2)
    assert await client.threads.count() == before  # the temporary thread is gone


async def test_multiple_interrupts_resumed_by_id(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    result = await client.runs.wait(thread_id, "parallel", input={})
    pending = result["__interrupt__"]
    assert sorted(i["value"]["question"] for i in pending) == ["a?", "b?"]
    assert len({i["id"] for i in pending}) == 2

    answers = {i["id"]: ("yes" if i["value"]["question"] == "a?" else "no") for i in pending}
    final = await client.runs.wait(thread_id, "parallel", command=Command(resume=answers))
    assert sorted(final["answers"]) == ["a=yes", "b=no"]
    assert "__interrupt__" not in final
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_resume_one_of_several_interrupts_by_id(client):
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    pending = (await client.runs.wait(thread_id, "parallel", input={}))["__interrupt__"]
    first = next(i for i in pending if i["value"]["question"] == "a?")
    partial = await client.runs.wait(thread_id, "parallel", command=Command(resume={first["id"]: "only a"}))
    assert [i["value"] for i in partial["__interrupt__"]] == [{"question": "b?"}]
    assert (await client.threads.get(thread_id))["status"] == "interrupted"


async def test_resume_errors(client, http):
    thread = await client.threads.create()
    r = http.post(f"/threads/{thread['thread_id']}/runs/wait", json={"assistant_id": "agent", "command": {"resume": "x"}})
    assert r.status_code == 400 and "no pending interrupt" in r.json()["detail"]

    await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "t"})
    unknown = "0" * 32
    r = http.post(
        f"/threads/{thread['thread_id']}/runs/wait",
        json={"assistant_id": "agent", "command": {"resume": {unknown: "x"}}},
    )
    assert r.status_code == 400 and unknown in r.json()["detail"]
    # The thread is still paused and resumable.
    assert (await client.threads.get(thread["thread_id"]))["status"] == "interrupted"
    assert await client.runs.wait(thread["thread_id"], "agent", command=Command(resume="ok")) == {"some_text": "ok"}

    done = await client.threads.create()
    await client.runs.wait(done["thread_id"], "chain", input={"input": "x"})
    r = http.post(f"/threads/{done['thread_id']}/runs", json={"assistant_id": "chain", "command": {"resume": 1}})
    assert r.status_code == 400


async def test_graph_error_marks_run_and_thread_and_server_survives(client):
    thread = await client.threads.create()
    with pytest.raises(Exception) as err:
        await client.runs.wait(thread["thread_id"], "failing", input={})
    assert "ValueError: the node exploded on purpose" in str(err.value)
    raw = await client.runs.wait(thread["thread_id"], "failing", input={}, raise_error=False)
    assert raw == {"__error__": {"error": "ValueError", "message": "the node exploded on purpose"}}

    runs = await client.runs.list(thread["thread_id"])
    assert {r["status"] for r in runs} == {"error"}
    failed = await client.threads.get(thread["thread_id"])
    assert failed["status"] == "error"
    assert failed["values"] == {"steps": 1}  # the step before the failure is kept
    # The server keeps serving.
    assert await client.runs.wait(None, "chain", input={"input": "alive"}) is not None


async def test_cancel_running_run_interrupt(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 50, "delay": 0.1})
    await _wait_status(client, thread["thread_id"], run["run_id"], {"running"})
    await asyncio.sleep(0.35)
    await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
    cancelled = await client.runs.get(thread["thread_id"], run["run_id"])
    assert cancelled["status"] == "interrupted"
    state = await client.threads.get_state(thread["thread_id"])
    assert 1 <= state["values"]["count"] < 50  # progress made before the cancel is kept
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_cancel_running_run_rollback(client):
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "slow", input={"steps": 1, "delay": 0})
    before = await client.threads.get_state(thread["thread_id"])
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 50, "delay": 0.1})
    await _wait_status(client, thread["thread_id"], run["run_id"], {"running"})
    await asyncio.sleep(0.35)
    await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True, action="rollback")
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.get(thread["thread_id"], run["run_id"])
    assert err.value.response.status_code == 404
    after = await client.threads.get_state(thread["thread_id"])
    assert after["values"] == before["values"]
    assert after["checkpoint"]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_cancel_pending_run(client):
    thread = await client.threads.create()
    first = await client.runs.create(thread["thread_id"], "slow", input={"steps": 5, "delay": 0.1})
    second = await client.runs.create(thread["thread_id"], "slow", input={"steps": 1, "delay": 0})
    assert (await client.runs.get(thread["thread_id"], second["run_id"]))["status"] == "pending"
    await client.runs.cancel(thread["thread_id"], second["run_id"])
    assert (await client.runs.get(thread["thread_id"], second["run_id"]))["status"] == "interrupted"
    await client.runs.join(thread["thread_id"], first["run_id"])
    assert (await client.runs.get(thread["thread_id"], first["run_id"]))["status"] == "success"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_reject_strategy_refuses_a_second_run(client, http):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 3, "delay": 0.1})
    r = http.post(
        f"/threads/{thread['thread_id']}/runs",
        json={"assistant_id": "slow", "input": {"steps": 1}, "multitask_strategy": "reject"},
    )
    assert r.status_code == 409 and run["run_id"] in r.json()["detail"]
    await client.runs.join(thread["thread_id"], run["run_id"])
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
    assert len(await client.runs.list(thread["thread_id"])) == 1


async def test_enqueued_runs_run_in_order(client):
    thread = await client.threads.create()
    runs = [
        await client.runs.create(thread["thread_id"], "slow", input={"steps": 1, "delay": 0.05})
        for _ in range(3)
    ]
    for run in runs:
        await client.runs.join(thread["thread_id"], run["run_id"])
    finished = [await client.runs.get(thread["thread_id"], r["run_id"]) for r in runs]
    assert [r["status"] for r in finished] == ["success"] * 3
    ends = [r["updated_at"] for r in finished]
    assert ends == sorted(ends)


async def test_delete_run(client, http):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 20, "delay": 0.1})
    r = http.delete(f"/threads/{thread['thread_id']}/runs/{run['run_id']}")
    assert r.status_code == 409
    await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
    await client.runs.delete(thread["thread_id"], run["run_id"])
    assert await client.runs.list(thread["thread_id"]) == []


async def test_bad_input(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    missing = str(uuid.uuid4())
    cases = [
        (http.post(f"/threads/{tid}/runs", json={"assistant_id": "no-such-graph"}), 404, "no-such-graph"),
        (http.post(f"/threads/{tid}/runs", json={"assistant_id": missing}), 404, missing),
        (http.post(f"/threads/{missing}/runs", json={"assistant_id": "agent"}), 404, missing),
        (http.get(f"/threads/{tid}/runs/{missing}"), 404, missing),
        (http.get(f"/threads/{missing}"), 404, missing),
        (http.get(f"/threads/{missing}/state"), 404, missing),
        (http.post(f"/threads/{tid}/runs", json={"input": {}}), 422, "assistant_id"),
        (http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "multitask_strategy": "sometimes"}), 422, "multitask_strategy"),
        (http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "stream_mode": ["everything"]}), 422, "stream_mode"),
        (http.post(f"/threads/{tid}/runs", json={"assistant_id": "chain", "interrupt_after": "everything"}), 422, "interrupt_after"),
        (http.post("/threads/search", json={"limit": 0}), 422, "limit"),
        (http.post("/threads", json={"thread_id": "not-a-uuid"}), 422, "thread_id"),
        (http.get("/threads/not-a-uuid"), 422, "thread_id"),
        (http.post(f"/threads/{tid}/runs", content=b"{not json", headers={"content-type": "application/json"}), 422, ""),
    ]
    for response, status, needle in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert needle in response.json()["detail"], response.text
    # None of it touched the thread.
    assert (await client.threads.get(tid))["status"] == "idle"
    assert await client.runs.list(tid) == []


async def test_if_not_exists_create(client):
    thread_id = str(uuid.uuid4())
    result = await client.runs.wait(thread_id, "chain", input={"input": "new"}, if_not_exists="create")
    assert result["visited"] == ["node_a", "node_b", "node_c"]
    assert (await client.threads.get(thread_id))["metadata"]["graph_id"] == "chain"
