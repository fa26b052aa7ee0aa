"""`GET /threads/{thread_id}/storage` (the official `ThreadStorage`; the SDK has no call, so httpx)."""

from __future__ import annotations

import uuid

from langgraph_sdk.schema import Command


def _sections_add_up(usage: dict) -> None:
    assert usage["total_bytes"] == (usage["checkpoints"]["bytes"] + usage["channel_values"]["bytes"]
                                    + usage["pending_writes"]["bytes"])
    by_channel = usage["channel_values"]["by_channel"]
    assert usage["channel_values"]["count"] == sum(c["versions"] for c in by_channel.values())
    assert usage["channel_values"]["bytes"] == sum(c["bytes"] for c in by_channel.values())


async def test_storage_of_a_thread_grows_with_its_checkpoints(client, http):
    thread_id = (await client.threads.create())["thread_id"]
    empty = http.get(f"/threads/{thread_id}/storage")
    assert empty.status_code == 200
    assert empty.json() == {
        "thread_id": thread_id, "total_bytes": 0, "checkpoints": {"count": 0, "bytes": 0},
        "channel_values": {"count": 0, "bytes": 0, "by_channel": {}}, "pending_writes": {"count": 0, "bytes": 0},
    }

    text = "x" * 5000
    await client.runs.wait(thread_id, "agent", input={"some_text": text})
    paused = http.get(f"/threads/{thread_id}/storage").json()
    _sections_add_up(paused)
    history = await client.threads.get_history(thread_id, limit=100)
    assert paused["checkpoints"]["count"] == len(history)
    assert paused["channel_values"]["by_channel"]["some_text"]["versions"] == 1
    assert paused["channel_values"]["by_channel"]["some_text"]["bytes"] >= len(text)
    assert paused["pending_writes"]["count"] >= 1  # the interrupt the paused task wrote

    await client.runs.wait(thread_id, "agent", command=Command(resume="y" * 3000))
    done = http.get(f"/threads/{thread_id}/storage").json()
    _sections_add_up(done)
    assert done["checkpoints"]["count"] == len(await client.threads.get_history(thread_id, limit=100))
    assert done["checkpoints"]["count"] > paused["checkpoints"]["count"]
    assert done["channel_values"]["by_channel"]["some_text"]["versions"] == 2
    assert done["total_bytes"] >= paused["total_bytes"] + 3000


async def test_storage_of_an_unknown_thread(http):
    missing = http.get(f"/threads/{uuid.uuid4()}/storage")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert http.get("/threads/not-a-uuid/storage").status_code == 422
