"""`POST /runs/batch` (SDK `runs.create_batch`) and bulk `POST /runs/cancel` (SDK
`runs.cancel_many`), through the official SDK, on a server of their own (a cancel by status
reaches every thread of the deployment)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError
from langgraph_sdk.schema import Command

SLOW = {"steps": 200, "delay": 0.1}  # runs ~20 s unless cancelled


@pytest.fixture
def client(module_server):
    return get_client(url=module_server.url)


async def _status_becomes(client, thread_id, run_id, wanted, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (status := (await client.runs.get(thread_id, run_id))["status"]) not in wanted:
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} stayed {status}"
        await asyncio.sleep(0.05)
    return status


async def _busy_thread(client):
    """A thread with one running slow run and one queued behind it."""
    thread = await client.threads.create()
    running = await client.runs.create(thread["thread_id"], "slow", input=SLOW)
    await _status_becomes(client, thread["thread_id"], running["run_id"], {"running"})
    queued = await client.runs.create(thread["thread_id"], "slow", input=SLOW, multitask_strategy="enqueue")
    return thread["thread_id"], running["run_id"], queued["run_id"]


async def test_batch_creates_stateless_runs_in_order(client):
    runs = await client.runs.create_batch([
        {"assistant_id": "agent", "input": {"some_text": "one"}, "on_completion": "keep"},
        {"assistant_id": "slow", "input": {"steps": 2, "delay": 0}, "on_completion": "keep",
         "metadata": {"n": 2}},
    ])
    assert len(runs) == 2
    assert runs[0]["assistant_id"] != runs[1]["assistant_id"]
    assert runs[1]["metadata"] == {"n": 2}
    assert runs[0]["thread_id"] != runs[1]["thread_id"]
    assert {r["status"] for r in runs} <= {"pending", "running"}
    first = await client.runs.join(runs[0]["thread_id"], runs[0]["run_id"])
    assert first["__interrupt__"][0]["value"] == {"text_to_revise": "one"}
    assert await client.runs.join(runs[1]["thread_id"], runs[1]["run_id"]) == {"steps": 2, "delay": 0, "count": 2}


async def test_batch_with_a_bad_item_queues_nothing(module_server, client):
    before = await client.threads.count()
    async with httpx.AsyncClient(base_url=module_server.url) as http:
        missing = await http.post("/runs/batch", json=[
            {"assistant_id": "agent", "input": {"some_text": "x"}, "on_completion": "keep"},
            {"assistant_id": "no-such-graph", "input": {}},
        ])
        assert missing.status_code == 404 and "no-such-graph" in missing.json()["detail"]
        empty = await http.post("/runs/batch", json=[])
        assert empty.status_code == 422 and empty.json()["detail"]
        not_a_list = await http.post("/runs/batch", json={"assistant_id": "agent"})
        assert not_a_list.status_code == 422
    assert await client.threads.count() == before


async def test_cancel_many_by_run_ids(client):
    thread_id, running, queued = await _busy_thread(client)
    await client.runs.cancel_many(thread_id=thread_id, run_ids=[running, queued])
    assert await _status_becomes(client, thread_id, running, {"interrupted"}) == "interrupted"
    assert (await client.runs.get(thread_id, queued))["status"] == "interrupted"
    await client.runs.join(thread_id, running)
    assert (await client.threads.get(thread_id))["status"] != "busy"  # as after a single cancel


async def test_cancel_many_rollback_deletes_the_runs(client):
    thread_id, running, queued = await _busy_thread(client)
    await client.runs.cancel_many(thread_id=thread_id, run_ids=[queued, running], action="rollback")
    for run_id in (queued, running):
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                await client.runs.get(thread_id, run_id)
            except NotFoundError:
                break
            assert asyncio.get_running_loop().time() < deadline, f"run {run_id} was not rolled back"
            await asyncio.sleep(0.05)
    assert await client.runs.list(thread_id) == []


async def test_cancel_many_by_status(client):
    a, a_running, a_queued = await _busy_thread(client)
    b = (await client.threads.create())["thread_id"]
    b_delayed = (await client.runs.create(b, "slow", input=SLOW, after_seconds=600))["run_id"]
    # A thread paused at interrupt() has no active run: a cancel by status leaves it paused.
    paused = (await client.threads.create())["thread_id"]
    await client.runs.wait(paused, "agent", input={"some_text": "keep me"})

    await client.runs.cancel_many(status="pending")
    assert (await client.runs.get(a, a_queued))["status"] == "interrupted"
    assert (await client.runs.get(b, b_delayed))["status"] == "interrupted"
    assert (await client.runs.get(a, a_running))["status"] == "running"
    assert (await client.threads.get(b))["status"] == "idle"

    await client.runs.cancel_many(status="running")
    assert await _status_becomes(client, a, a_running, {"interrupted"}) == "interrupted"
    await client.runs.join(a, a_running)
    assert (await client.threads.get(a))["status"] != "busy"

    c, c_running, c_queued = await _busy_thread(client)
    await client.runs.cancel_many(status="all", action="interrupt")
    assert await _status_becomes(client, c, c_running, {"interrupted"}) == "interrupted"
    assert (await client.runs.get(c, c_queued))["status"] == "interrupted"

    assert (await client.threads.get(paused))["status"] == "interrupted"
    resumed = await client.runs.wait(paused, "agent", command=Command(resume="resumed"))
    assert resumed == {"some_text": "resumed"}


async def test_cancel_many_scoped_to_one_thread(client):
    a, a_running, a_queued = await _busy_thread(client)
    b, b_running, b_queued = await _busy_thread(client)
    async with httpx.AsyncClient(base_url=client.http.client.base_url) as http:
        r = await http.post("/runs/cancel", json={"status": "all", "thread_id": a})
        assert r.status_code == 204 and r.content == b""
    assert await _status_becomes(client, a, a_running, {"interrupted"}) == "interrupted"
    assert (await client.runs.get(b, b_running))["status"] == "running"
    assert (await client.runs.get(b, b_queued))["status"] == "pending"
    await client.runs.cancel_many(thread_id=b, run_ids=[b_running, b_queued])
    await client.runs.join(b, b_running)


async def test_cancel_many_errors(module_server, client):
    thread_id = (await client.threads.create())["thread_id"]
    unknown = "00000000-0000-4000-8000-000000000000"
    async with httpx.AsyncClient(base_url=module_server.url) as http:
        for body, status in [
            ({}, 422),
            ({"thread_id": thread_id}, 422),
            ({"status": "done"}, 422),
            ({"status": "all", "run_ids": [unknown]}, 422),
            ({"thread_id": thread_id, "run_ids": ["not-a-uuid"]}, 422),
            ({"thread_id": thread_id, "run_ids": [unknown]}, 404),
            ({"thread_id": unknown, "run_ids": [unknown]}, 404),
            ({"thread_id": unknown, "status": "pending"}, 404),
        ]:
            r = await http.post("/runs/cancel", json=body)
            assert r.status_code == status, (body, r.status_code, r.text)
            assert r.json()["detail"], body
        r = await http.post("/runs/cancel", params={"action": "explode"}, json={"status": "all"})
        assert r.status_code == 422
