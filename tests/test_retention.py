"""Retention through the official SDK: thread `ttl` on create/patch (`?include=ttl`),
`POST /threads/prune` (`delete`, `keep_latest`), the sweeper of `checkpointer.ttl` and of
`store.ttl`, on SQLite and PostgreSQL. Sweeps run every 0.01 minute here; every wait is
generous and polls for the outcome (no timed assertion)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

from conftest import start_up_error, write_config

#: Sweep every 0.6 s (langgraph.json accepts fractions of a minute).
SWEEP = 0.01
WAIT_SECONDS = 60


async def _eventually(check, what: str, timeout: float = WAIT_SECONDS):
    """Poll the coroutine function `check` until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


async def _exists(client, thread_id: str) -> bool:
    try:
        await client.threads.get(thread_id)
    except httpx.HTTPStatusError as exc:
        assert exc.response.status_code == 404
        return False
    return True


async def _history_length(client, thread_id: str) -> int:
    return len(await client.threads.get_history(thread_id, limit=100))


async def test_thread_ttl_on_create_and_patch_shown_with_include(client, http):
    thread = await client.threads.create(ttl={"strategy": "keep_latest", "ttl": 60})
    assert "ttl" not in await client.threads.get(thread["thread_id"])
    shown = await client.threads.get(thread["thread_id"], include=["ttl"])
    ttl = shown["ttl"]
    assert ttl["strategy"] == "keep_latest" and ttl["ttl_minutes"] == 60
    # Expiry counts from the thread's last update.
    assert datetime.fromisoformat(ttl["expires_at"]) == datetime.fromisoformat(shown["updated_at"]) + timedelta(minutes=60)

    patched = await client.threads.update(thread["thread_id"], metadata={"k": "v"}, ttl=30)  # SDK: int → delete
    assert patched["metadata"] == {"k": "v"} and "ttl" not in patched
    ttl = (await client.threads.get(thread["thread_id"], include=["ttl"]))["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 30)

    plain = await client.threads.create()
    assert "ttl" not in await client.threads.get(plain["thread_id"], include=["ttl"])
    for bad in ({"ttl": 0}, {"ttl": 5, "strategy": "archive"}, {"strategy": "delete"}):
        response = http.post("/threads", json={"ttl": bad})
        assert response.status_code == 422, response.text
        assert "ttl" in response.text


async def test_prune_keep_latest_then_delete(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "slow", input={"steps": 3, "delay": 0.01})
    state = await client.threads.get_state(tid)
    assert await _history_length(client, tid) > 2
    missing = "00000000-0000-4000-8000-000000000000"

    assert await client.threads.prune([tid, missing], strategy="keep_latest") == {"pruned_count": 1}
    assert await _history_length(client, tid) == 1
    after = await client.threads.get_state(tid)
    assert after["values"] == state["values"] == {"steps": 3, "delay": 0.01, "count": 3}
    assert after["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    # The thread goes on from its kept checkpoint.
    await client.runs.wait(tid, "slow", input={"steps": 4, "delay": 0.01})
    assert (await client.threads.get_state(tid))["values"]["count"] == 4

    other = await client.threads.create()
    assert await client.threads.prune([tid, other["thread_id"], missing]) == {"pruned_count": 2}
    assert not await _exists(client, tid) and not await _exists(client, other["thread_id"])


async def test_keep_latest_keeps_a_pending_interrupt_answerable(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "draft"})
    assert (await client.threads.get(tid))["status"] == "interrupted"
    assert await client.threads.prune([tid], strategy="keep_latest") == {"pruned_count": 1}
    assert await _history_length(client, tid) == 1
    assert len((await client.threads.get_state(tid))["interrupts"]) == 1
    assert await client.runs.wait(tid, "agent", command=Command(resume="final")) == {"some_text": "final"}


@pytest.fixture
def ttl_server(make_server, tmp_path):
    config = write_config(tmp_path / "langgraph.json", checkpointer={"ttl": {
        "strategy": "delete", "default_ttl": 0.05, "sweep_interval_minutes": SWEEP, "sweep_limit": 2,
    }})
    server = make_server(tmp_path, config=config).start()
    yield server
    server.stop()


async def test_sweeper_deletes_expired_threads_prunes_keep_latest_and_spares_busy_ones(ttl_server):
    client = get_client(url=ttl_server.url)
    # The default TTL (0.05 minute, delete) is stamped on new threads.
    default = await client.threads.create()
    ttl = (await client.threads.get(default["thread_id"], include=["ttl"]))["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 0.05)
    extra = [(await client.threads.create())["thread_id"] for _ in range(4)]  # > sweep_limit: several batches
    kept = await client.threads.create(ttl={"ttl": 600})
    pruned = await client.threads.create(ttl={"strategy": "keep_latest", "ttl": 0.02})
    await client.runs.wait(pruned["thread_id"], "slow", input={"steps": 3, "delay": 0.01})
    # A busy thread with an expired TTL: its run ticks for a long while.
    busy = await client.threads.create(ttl={"ttl": 0.01})
    run = await client.runs.create(busy["thread_id"], "slow", input={"steps": 400, "delay": 0.25})
    await _eventually(lambda: _running(client, busy["thread_id"], run["run_id"]), "the long run started")

    async def gone():
        return not any([await _exists(client, t) for t in [default["thread_id"], *extra]])

    await _eventually(gone, "threads with the default TTL deleted")
    await _eventually(lambda: _has_history(client, pruned["thread_id"], 1), "keep_latest pruned to one checkpoint")
    assert (await client.threads.get_state(pruned["thread_id"]))["values"]["count"] == 3
    assert await _exists(client, kept["thread_id"])
    # Still running, so still there, although its TTL passed long ago.
    assert await _exists(client, busy["thread_id"])
    assert (await client.runs.get(busy["thread_id"], run["run_id"]))["status"] == "running"
    await client.runs.cancel(busy["thread_id"], run["run_id"], wait=True)
    await _eventually(lambda: _gone(client, busy["thread_id"]), "the thread deleted once its run ended")


async def _running(client, thread_id: str, run_id: str) -> bool:
    return (await client.runs.get(thread_id, run_id))["status"] == "running"


async def _has_history(client, thread_id: str, n: int) -> bool:
    return await _history_length(client, thread_id) == n


async def _gone(client, thread_id: str) -> bool:
    return not await _exists(client, thread_id)


async def test_store_ttl_default_per_item_and_sweep(make_server, tmp_path):
    config = write_config(tmp_path / "langgraph.json", store={"ttl": {
        "default_ttl": 0.02, "refresh_on_read": True, "sweep_interval_minutes": SWEEP,
    }})
    server = make_server(tmp_path, config=config).start()
    try:
        client = get_client(url=server.url)
        await client.store.put_item(["notes"], "short", {"text": "default ttl"})
        await client.store.put_item(["notes"], "long", {"text": "own ttl"}, ttl=600)
        item = await client.store.get_item(["notes"], "long", refresh_ttl=True)
        assert item["value"] == {"text": "own ttl"}
        found = await client.store.search_items(["notes"], refresh_ttl=False)
        assert {i["key"] for i in found["items"]} <= {"short", "long"}

        async def short_gone():
            return await client.store.get_item(["notes"], "short", refresh_ttl=False) is None

        await _eventually(short_gone, "the item with the default TTL swept")
        assert (await client.store.get_item(["notes"], "long"))["value"] == {"text": "own ttl"}
    finally:
        server.stop()


def test_bad_retention_config_is_refused_at_start_up(tmp_path):
    config = write_config(tmp_path / "langgraph.json", checkpointer={"ttl": {"strategy": "archive"}})
    assert "checkpointer.ttl.strategy" in start_up_error(config)
    config = write_config(tmp_path / "langgraph.json", store={"index": {"embed": "./nowhere.py:embed", "dims": 8}})
    assert "nowhere.py" in start_up_error(config)


async def test_two_processes_sweep_one_at_a_time(backend, make_server, request, tmp_path):
    """PostgreSQL: two processes share the database and both run the sweeper; each expired
    thread is deleted once, with no failed sweep in either log (the advisory lock lets one
    process sweep at a time)."""
    if backend != "postgres":
        pytest.skip("one process serves a SQLite file")
    database = request.getfixturevalue("postgres").create_database()
    config = write_config(tmp_path / "langgraph.json", checkpointer={"ttl": {
        "default_ttl": 0.02, "sweep_interval_minutes": SWEEP, "sweep_limit": 3,
    }})
    servers = [make_server(tmp_path / f"p{i}", config=config, database_uri=database).start() for i in range(2)]
    try:
        client = get_client(url=servers[0].url)
        ids = [(await client.threads.create())["thread_id"] for _ in range(12)]

        async def all_gone():
            return not any([await _exists(client, t) for t in ids])

        await _eventually(all_gone, "every expired thread deleted")
        for server in servers:
            assert "retention of thread" not in server.log() and "retention sweep failed" not in server.log()
    finally:
        for server in servers:
            server.stop()
