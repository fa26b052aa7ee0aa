"""Durability across process restarts: a paused thread resumes after a restart; a run whose
process was killed is re-queued and finishes (tests/test_faults.py proves it continues from
its last checkpoint and gives up after a bounded number of attempts)."""

from __future__ import annotations

import asyncio

from langgraph_sdk import get_client
from langgraph_sdk.schema import Command


async def test_interrupted_thread_survives_restart(make_server, tmp_path):
    server = make_server(tmp_path).start()
    try:
        client = get_client(url=server.url)
        thread = await client.threads.create(metadata={"case": "restart"})
        thread_id = thread["thread_id"]
        paused = await client.runs.wait(thread_id, "agent", input={"some_text": "before restart"})
        interrupt_id = paused["__interrupt__"][0]["id"]
        finished = await client.threads.create()
        await client.runs.wait(finished["thread_id"], "chain", input={"input": "kept"})
    finally:
        server.stop()

    server.start()
    try:
        client = get_client(url=server.url)
        again = await client.threads.get(thread_id)
        assert again["status"] == "interrupted"
        assert again["metadata"]["case"] == "restart"
        state = await client.threads.get_state(thread_id)
        assert [i["id"] for i in state["interrupts"]] == [interrupt_id]
        assert state["values"] == {"some_text": "before restart"}
        assert (await client.threads.get_state(finished["thread_id"]))["values"]["visited"] == [
            "node_a", "node_b", "node_c"
        ]
        resumed = await client.runs.wait(thread_id, "agent", command=Command(resume="after restart"))
        assert resumed == {"some_text": "after restart"}
        assert (await client.threads.get(thread_id))["status"] == "idle"
    finally:
        server.stop()


async def test_killed_process_leaves_no_busy_thread(make_server, tmp_path):
    server = make_server(tmp_path).start()
    client = get_client(url=server.url)
    bystander = await client.threads.create()
    await client.runs.wait(bystander["thread_id"], "agent", input={"some_text": "untouched"})
    bystander_state = await client.threads.get_state(bystander["thread_id"])

    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 30, "delay": 0.1})
    await _until_status(client, thread["thread_id"], run["run_id"], "running")
    await asyncio.sleep(0.3)
    server.kill()  # SIGKILL mid-run

    server.start()
    try:
        client = get_client(url=server.url)
        # SQLite: re-queued at start-up; PostgreSQL: once the dead worker's lease expires.
        result = await client.runs.join(thread["thread_id"], run["run_id"])
        assert result["count"] == 30
        assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
        assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
        assert await client.threads.search(status="busy") == []
        assert await client.threads.get_state(bystander["thread_id"]) == bystander_state
        # The thread takes new runs again.
        result = await client.runs.wait(thread["thread_id"], "slow", input={"steps": 1, "delay": 0, "count": 0})
        assert result["count"] == 1
        assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
    finally:
        server.stop()


async def test_queued_run_survives_a_kill_and_runs_after_restart(make_server, tmp_path):
    server = make_server(tmp_path).start()
    client = get_client(url=server.url)
    thread = await client.threads.create()
    first = await client.runs.create(thread["thread_id"], "slow", input={"steps": 20, "delay": 0.1})
    queued = await client.runs.create(thread["thread_id"], "chain", input={"input": "queued"})
    await _until_status(client, thread["thread_id"], first["run_id"], "running")
    assert (await client.runs.get(thread["thread_id"], queued["run_id"]))["status"] == "pending"
    server.kill()

    server.start()
    try:
        client = get_client(url=server.url)
        result = await client.runs.join(thread["thread_id"], queued["run_id"])
        assert result["visited"] == ["node_a", "node_b", "node_c"]
        assert (await client.runs.get(thread["thread_id"], first["run_id"]))["status"] == "success"
        assert (await client.runs.get(thread["thread_id"], queued["run_id"]))["status"] == "success"
        assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
    finally:
        server.stop()


async def _until_status(client, thread_id, run_id, status, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (await client.runs.get(thread_id, run_id))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} never became {status}"
        await asyncio.sleep(0.05)
