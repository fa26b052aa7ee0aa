"""Double-texting: the four multitask strategies with two and three overlapping runs.

The `slow` graph sleeps per step, and the tests wait for the first run to be `running`
(polled) before sending the next message, so the overlap is certain, not timing luck.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langchain_core.messages import convert_to_messages


async def _wait_for(predicate, timeout=20.0, interval=0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(interval)


async def _running(client, thread_id, run_id):
    async def check():
        return (await client.runs.get(thread_id, run_id))["status"] == "running"
    await _wait_for(check)


async def test_seed_interrupt_example(client):
    # double-texting-interrupt.md, with deterministic stand-ins for the LLM and the search tool.
    assistant_id = "weather"
    thread = await client.threads.create()
    interrupted_run = await client.runs.create(
        thread["thread_id"], assistant_id,
        input={"messages": [{"role": "user", "content": "what's the weather in sf?"}]},
    )

    # "sleep a bit to get partial outputs from the first run": until the tool has answered.
    async def tool_answered():
        values = (await client.threads.get_state(thread["thread_id"]))["values"]
        return any(m["type"] == "tool" for m in (values or {}).get("messages", []))
    await _wait_for(tool_answered)

    run = await client.runs.create(
        thread["thread_id"], assistant_id,
        input={"messages": [{"role": "user", "content": "what's the weather in nyc?"}]},
        multitask_strategy="interrupt",
    )
    await client.runs.join(thread["thread_id"], run["run_id"])

    state = await client.threads.get_state(thread["thread_id"])
    messages = convert_to_messages(state["values"]["messages"])
    assert [m.type for m in messages] == ["human", "ai", "tool", "human", "ai", "tool", "ai"]
    assert messages[0].content == "what's the weather in sf?"
    assert messages[1].tool_calls[0]["args"] == {"query": "weather in san francisco"}
    assert "san francisco" in messages[2].content
    assert messages[3].content == "what's the weather in nyc?"
    assert messages[4].tool_calls[0]["args"] == {"query": "weather in new york city"}
    assert messages[6].content.startswith("Based on the search: Forecast for weather in new york city")

    assert (await client.runs.get(thread["thread_id"], interrupted_run["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"


@pytest.mark.parametrize("overlapping", [2, 3])
async def test_interrupt_strategy(client, overlapping):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    runs = [await client.runs.create(tid, "slow", input={"steps": 100, "delay": 0.05})]
    await _running(client, tid, runs[0]["run_id"])
    for _ in range(overlapping - 1):
        runs.append(await client.runs.create(
            tid, "slow", input={"steps": 100, "delay": 0.05}, multitask_strategy="interrupt"
        ))
    last = runs[-1]
    # The last double-text replaces everything before it; let it finish quickly.
    await _running(client, tid, last["run_id"])
    final = await client.runs.create(
        tid, "slow", input={"steps": 2, "delay": 0.01, "count": 0}, multitask_strategy="interrupt"
    )
    result = await client.runs.join(tid, final["run_id"])
    assert result["count"] == 2
    statuses = [(await client.runs.get(tid, r["run_id"]))["status"] for r in runs]
    assert statuses == ["interrupted"] * overlapping
    assert (await client.runs.get(tid, final["run_id"]))["status"] == "success"
    assert (await client.threads.get(tid))["status"] == "idle"


@pytest.mark.parametrize("overlapping", [2, 3])
async def test_rollback_strategy(client, overlapping):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "slow", input={"steps": 1, "delay": 0})
    before = await client.threads.get_state(tid)
    assert before["values"]["count"] == 1

    first = await client.runs.create(tid, "slow", input={"steps": 100, "delay": 0.05})
    await _running(client, tid, first["run_id"])
    await _wait_for(lambda: _count_above(client, tid, 1))  # run 1 wrote checkpoints
    doomed = [first]
    for _ in range(overlapping - 2):
        doomed.append(await client.runs.create(
            tid, "slow", input={"steps": 100, "delay": 0.05}, multitask_strategy="enqueue"
        ))
    last = await client.runs.create(tid, "slow", input={"steps": 1, "delay": 0}, multitask_strategy="rollback")
    result = await client.runs.join(tid, last["run_id"])

    # Run 1 and the queued runs are gone with their checkpoints; the new run started from
    # the state before run 1 (count 1) and added one step.
    assert result["count"] == 2
    for run in doomed:
        with pytest.raises(httpx.HTTPStatusError) as err:
            await client.runs.get(tid, run["run_id"])
        assert err.value.response.status_code == 404
    assert [r["run_id"] for r in await client.runs.list(tid)][0] == last["run_id"]
    history = await client.threads.get_history(tid, limit=100)
    assert all(h["metadata"].get("run_id") != first["run_id"] for h in history)


async def _count_above(client, tid, n):
    values = (await client.threads.get_state(tid))["values"] or {}
    return values.get("count", 0) > n


@pytest.mark.parametrize("overlapping", [2, 3])
async def test_reject_strategy(client, overlapping):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input={"steps": 10, "delay": 0.1})  # ~1 s: certainly busy
    await _running(client, tid, first["run_id"])
    for _ in range(overlapping - 1):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await client.runs.create(tid, "slow", input={"steps": 1}, multitask_strategy="reject")
        assert err.value.response.status_code == 409
    result = await client.runs.join(tid, first["run_id"])
    assert result["count"] == 10
    assert [r["run_id"] for r in await client.runs.list(tid)] == [first["run_id"]]


@pytest.mark.parametrize("overlapping", [2, 3])
async def test_enqueue_strategy(client, overlapping):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    # Long enough (~1 s) that the queued runs are certainly still pending when checked.
    first = await client.runs.create(tid, "slow", input={"steps": 10, "delay": 0.1})
    await _running(client, tid, first["run_id"])
    queued = [
        await client.runs.create(tid, "slow", input={"steps": 1, "delay": 0.01, "count": 10 * (i + 1)},
                                 multitask_strategy="enqueue")
        for i in range(overlapping - 1)
    ]
    for run in queued:
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "pending"
    results = [await client.runs.join(tid, r["run_id"]) for r in [first, *queued]]
    assert [r["count"] for r in results] == [10] + [10 * (i + 1) + 1 for i in range(overlapping - 1)]
    assert {(await client.runs.get(tid, r["run_id"]))["status"] for r in [first, *queued]} == {"success"}


async def test_enqueue_order_under_concurrent_creates(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]

    async def create(i):
        return await client.runs.create(tid, "slow", input={"steps": 1, "delay": 0, "count": 0},
                                        metadata={"i": i})
    runs = await asyncio.gather(*(create(i) for i in range(20)))
    for run in runs:
        await client.runs.join(tid, run["run_id"])
    finished = sorted(
        [await client.runs.get(tid, r["run_id"]) for r in runs], key=lambda r: r["created_at"]
    )
    assert [r["status"] for r in finished] == ["success"] * 20
    # Executed in creation order: each run's end is after the previous run's end.
    ends = [r["updated_at"] for r in finished]
    assert ends == sorted(ends)
    history = await client.threads.get_history(tid, limit=200, metadata={"source": "input"})
    assert [h["metadata"]["run_id"] for h in reversed(history)] == [r["run_id"] for r in finished]


async def test_runs_on_twenty_threads_run_in_parallel(client):
    threads = [await client.threads.create() for _ in range(20)]
    runs = [
        await client.runs.create(t["thread_id"], "barrier", input={"barrier": threads[0]["thread_id"], "parties": 20, "timeout": 30})
        for t in threads
    ]
    results = [await client.runs.join(t["thread_id"], r["run_id"]) for t, r in zip(threads, runs)]
    # Each run only returns once all 20 were inside the node at the same time.
    assert all(r.get("peers") == 20 for r in results), results
