"""Human-in-the-loop beyond the official server: exactly-once resume, the decision audit
trail, interrupt deadlines, and webhooks when a run stops at an interrupt."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk.schema import Command

from test_run_options import _Receiver


async def _until(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await predicate()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
    return value


async def _paused_thread(client, some_text="draft", **kwargs):
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "agent", input={"some_text": some_text}, **kwargs)
    return thread["thread_id"], result["__interrupt__"][0]


async def test_twenty_concurrent_resumes_apply_exactly_once(client, server):
    tid, interrupt = await _paused_thread(client)

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        async def resume(i):
            return await h.post(f"/threads/{tid}/runs", json={
                "assistant_id": "agent", "command": {"resume": f"answer {i}"}, "metadata": {"reviewer": f"r{i}"},
            })
        responses = await asyncio.gather(*(resume(i) for i in range(20)))

    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 409]
    assert len(ok) == 1 and len(refused) == 19, [r.status_code for r in responses]
    winner = ok[0].json()
    for r in refused:
        assert winner["run_id"] in r.json()["detail"] and interrupt["id"] in r.json()["detail"]

    result = await client.runs.join(tid, winner["run_id"])
    # A resume arriving after the winner finished is refused the same way.
    late = await client.http.client.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "command": {"resume": "late"}})
    assert late.status_code == 409 and winner["run_id"] in late.json()["detail"]
    i = winner["metadata"]["reviewer"][1:]
    assert result == {"some_text": f"answer {i}"}
    runs = await client.runs.list(tid)
    assert len(runs) == 2  # the first run and the one resume that won
    decisions = (await client.http.get(f"/threads/{tid}/decisions"))
    assert len(decisions) == 1
    assert decisions[0]["interrupt_id"] == interrupt["id"]
    assert decisions[0]["run_id"] == winner["run_id"]
    assert decisions[0]["reviewer"] == f"r{i}" and decisions[0]["value"] == f"answer {i}"
    assert decisions[0]["action"] == "resume" and decisions[0]["decided_at"]


async def test_resume_by_id_records_each_decision_and_refuses_repeats(client, http):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    pending = (await client.runs.wait(tid, "parallel", input={}))["__interrupt__"]
    a = next(i for i in pending if i["value"]["question"] == "a?")
    b = next(i for i in pending if i["value"]["question"] == "b?")

    first = await client.runs.wait(tid, "parallel", command=Command(resume={a["id"]: "yes"}),
                                   metadata={"reviewer": "ada"})
    assert [i["id"] for i in first["__interrupt__"]] == [b["id"]]
    r = http.post(f"/threads/{tid}/runs", json={"assistant_id": "parallel", "command": {"resume": {a["id"]: "again"}}})
    assert r.status_code == 409 and a["id"] in r.json()["detail"]  # a is answered already
    final = await client.runs.wait(tid, "parallel", command=Command(resume={b["id"]: "no"}),
                                   metadata={"reviewer": "grace"})
    assert sorted(final["answers"]) == ["a=yes", "b=no"]

    decisions = http.get(f"/threads/{tid}/decisions").json()
    assert [(d["interrupt_id"], d["reviewer"], d["value"]) for d in decisions] == [
        (a["id"], "ada", "yes"), (b["id"], "grace", "no")
    ]


async def test_rolled_back_resume_releases_its_decision(client):
    tid, interrupt = await _paused_thread(client)
    queued = await client.runs.create(tid, "agent", command=Command(resume="too early"), after_seconds=60)
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "agent", command=Command(resume="second"))
    assert err.value.response.status_code == 409
    await client.runs.cancel(tid, queued["run_id"], action="rollback")
    assert await client.http.get(f"/threads/{tid}/decisions") == []
    assert await client.runs.wait(tid, "agent", command=Command(resume="kept")) == {"some_text": "kept"}


async def test_decisions_of_unknown_thread_is_404(http):
    assert http.get("/threads/00000000-0000-0000-0000-000000000000/decisions").status_code == 404


async def test_deadline_resume_with_default(client):
    tid, interrupt = await _paused_thread(
        client, metadata={"interrupt_ttl_seconds": 1, "on_expire": "resume-with-default", "interrupt_default": "auto"}
    )

    async def resumed():
        return (await client.threads.get(tid))["status"] == "idle"
    await _until(resumed)
    assert (await client.threads.get_state(tid))["values"] == {"some_text": "auto"}
    decisions = await client.http.get(f"/threads/{tid}/decisions")
    assert [(d["action"], d["reviewer"], d["value"]) for d in decisions] == [
        ("deadline:resume-with-default", "waypoint:deadline", "auto")
    ]
    assert len(await client.runs.list(tid)) == 2  # acted on exactly once


async def test_deadline_cancel_withdraws_the_interrupt(client, http):
    tid, interrupt = await _paused_thread(
        client, config={"configurable": {"interrupt_ttl_seconds": 1, "on_expire": "cancel"}}
    )

    async def withdrawn():
        return (await client.threads.get(tid))["status"] == "idle"
    await _until(withdrawn)
    state = await client.threads.get_state(tid)
    assert state["interrupts"] == [] and state["next"] == [] and state["values"] == {"some_text": "draft"}
    decisions = http.get(f"/threads/{tid}/decisions").json()
    assert [(d["action"], d["interrupt_id"]) for d in decisions] == [("deadline:cancel", interrupt["id"])]
    r = http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "command": {"resume": "late"}})
    assert r.status_code == 400


async def test_deadline_escalate_keeps_the_interrupt_open(client):
    receiver = _Receiver()
    try:
        assistant = await client.assistants.create(
            "agent", config={"configurable": {"interrupt_ttl_seconds": 1, "on_expire": "escalate"}}
        )
        thread = await client.threads.create()
        tid = thread["thread_id"]
        await client.runs.wait(tid, assistant["assistant_id"], input={"some_text": "urgent"}, webhook=receiver.url)

        async def escalated():
            return any(b.get("event") == "interrupt.escalated" for b in receiver.bodies)
        await _until(escalated)
        # The webhook was also called when the run stopped at the interrupt.
        stopped = next(b for b in receiver.bodies if b.get("event") is None)
        assert [i["value"] for i in stopped["interrupts"]] == [{"text_to_revise": "urgent"}]
        escalation = next(b for b in receiver.bodies if b.get("event") == "interrupt.escalated")
        assert escalation["thread_id"] == tid and escalation["interrupt"]["value"] == {"text_to_revise": "urgent"}

        assert (await client.threads.get(tid))["metadata"]["escalated"] is True
        assert [d["action"] for d in await client.http.get(f"/threads/{tid}/decisions")] == ["deadline:escalate"]
        assert (await client.threads.get(tid))["status"] == "interrupted"
        done = await client.runs.wait(tid, assistant["assistant_id"], command=Command(resume="handled"),
                                      metadata={"reviewer": "oncall"})
        assert done == {"some_text": "handled"}
        actions = [(d["action"], d["reviewer"]) for d in await client.http.get(f"/threads/{tid}/decisions")]
        assert actions == [("deadline:escalate", "waypoint:deadline"), ("resume", "oncall")]
    finally:
        receiver.close()


async def test_invalid_deadline_settings(http):
    thread = http.post("/threads", json={}).json()
    r = http.post(f"/threads/{thread['thread_id']}/runs", json={
        "assistant_id": "agent", "input": {"some_text": "x"}, "metadata": {"interrupt_ttl_seconds": "soon"}})
    assert r.status_code == 422 and "interrupt_ttl_seconds" in r.json()["detail"]
    r = http.post(f"/threads/{thread['thread_id']}/runs", json={
        "assistant_id": "agent", "input": {"some_text": "x"}, "metadata": {"interrupt_ttl_seconds": 5, "on_expire": "explode"}})
    assert r.status_code == 422 and "on_expire" in r.json()["detail"]
