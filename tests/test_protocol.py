"""The thread streaming protocol (`client.threads.stream`, `POST /threads/{id}/commands`,
`/threads/{id}/stream/events` as SSE and WebSocket), through the official SDK, raw HTTP,
a WebSocket client and the JS runtime, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from langgraph_sdk import get_client

from conftest import BACKENDS, ServerProcess

CHANNELS = ("values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks", "custom")

JS_DIR = Path(__file__).resolve().parent / "js"


# --- helpers --------------------------------------------------------------------------------

async def command(http: httpx.AsyncClient, thread_id: str, method: str, params: dict, command_id: int = 1) -> dict:
    """POST one protocol command; returns the response envelope."""
    response = await http.post(f"/threads/{thread_id}/commands", json={"id": command_id, "method": method, "params": params})
    assert response.status_code == 200, response.text
    return response.json()


async def read_events(http: httpx.AsyncClient, thread_id: str, body: dict, until, *, limit: int = 10_000) -> list[dict]:
    """Open the SSE event stream with `body` and collect events until `until(event)` is true
    (that event included), then disconnect."""
    events: list[dict] = []
    async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
        assert response.status_code == 200, await response.aread()
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                event = json.loads("\n".join(data))
                data = []
                events.append(event)
                if until(event) or len(events) >= limit:
                    return events
    return events


def is_root_lifecycle(*phases: str):
    def check(event: dict) -> bool:
        params = event["params"]
        return event["method"] == "lifecycle" and not params["namespace"] and params["data"]["event"] in phases
    return check


@pytest.fixture
async def ahttp(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


# --- the Python SDK -------------------------------------------------------------------------

async def test_sdk_thread_stream_interrupt_answered_with_input_respond(client, ahttp):
    async with client.threads.stream(assistant_id="agent") as thread:
        started = await thread.run.start(input={"some_text": "original text"})
        assert started["run_id"]
        snapshots = [snap async for snap in thread.values]
        assert {"some_text": "original text"} in snapshots, snapshots
        assert thread.interrupted
        [pending] = thread.interrupts
        assert pending["namespace"] == [] and pending["value"] == {"text_to_revise": "original text"}
        await thread.run.respond("Edited text")
        final = await thread.output
        assert final == {"some_text": "Edited text"}
        tid = thread.thread_id

    # input.respond went through the same decision trail as Command(resume=...)
    decisions = (await ahttp.get(f"/threads/{tid}/decisions")).json()
    assert [(d["interrupt_id"], d["value"], d["closes"]) for d in decisions] == [
        (pending["interrupt_id"], "Edited text", True)
    ]
    runs = (await ahttp.get(f"/threads/{tid}/runs")).json()
    assert sorted(r["status"] for r in runs) == ["success", "success"]
    # ... and is refused, naming the winner, when the interrupt was already answered
    again = await command(ahttp, tid, "input.respond", {"interrupt_id": pending["interrupt_id"], "namespace": [], "response": "late"})
    assert again["type"] == "error" and again["error"] == "no_such_interrupt"
    assert "already answered" in again["message"] and decisions[0]["run_id"] in again["message"]


async def test_sdk_websocket_transport(client):
    async with client.threads.stream(assistant_id="agent", transport="websocket") as thread:
        await thread.run.start(input={"some_text": "over ws"})
        snapshots = [snap async for snap in thread.values]
        assert snapshots and thread.interrupted
        await thread.run.respond("ws answer")
        assert (await thread.output) == {"some_text": "ws answer"}


async def test_sdk_messages_and_custom_channels(client):
    """The `streaming` graph's chat model tokens arrive as content-block deltas."""
    async with client.threads.stream(assistant_id="streaming") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "hi"}]})
        streams = [s async for s in thread.messages]
        assert streams
        texts = ["".join([t async for t in s.text]) for s in streams]
        assert any(texts), texts


# --- raw protocol: replay, filters, lifecycle -------------------------------------------------

async def test_reconnect_with_since_has_no_gap_and_no_duplicate(ahttp):
    tid = str(uuid.uuid4())
    started = await command(ahttp, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 6, "delay": 0.05}})
    assert started["type"] == "success" and started["meta"]["applied_through_seq"] == 0
    body = {"channels": ["lifecycle", "custom"]}
    first = await read_events(ahttp, tid, {**body, "since": 0}, until=lambda e: e["method"] == "custom", limit=3)
    cursor = first[-1]["seq"]
    rest = await read_events(ahttp, tid, {**body, "since": cursor}, until=is_root_lifecycle("completed"))
    events = first + rest
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "seqs must be strictly increasing across the reconnect"
    assert [e["event_id"] for e in events] == [str(s) for s in seqs]
    ticks = [e["params"]["data"]["tick"] for e in events if e["method"] == "custom"]
    assert ticks == [1, 2, 3, 4, 5, 6]
    assert [e["params"]["data"]["event"] for e in events if e["method"] == "lifecycle"] == ["running", "completed"]

    # A stream without `since` replays the thread's log from its start.
    replay = await read_events(ahttp, tid, {"channels": ["lifecycle"]}, until=is_root_lifecycle("completed"))
    assert [e["seq"] for e in replay] == [e["seq"] for e in events if e["method"] == "lifecycle"]


async def test_events_span_all_runs_of_the_thread_including_classic_runs(client, ahttp):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    # A classic run (runs.wait) is visible to protocol subscribers too.
    await client.runs.wait(tid, "agent", input={"some_text": "classic"})
    events = await read_events(ahttp, tid, {"channels": ["lifecycle", "input", "values"], "since": 0},
                               until=is_root_lifecycle("interrupted"))
    methods = [e["method"] for e in events]
    assert methods[0] == "lifecycle" and events[0]["params"]["data"] == {"event": "running", "graph_name": "agent"}
    assert "values" in methods
    requested = [e for e in events if e["method"] == "input.requested"]
    state = await client.threads.get_state(tid)
    assert [r["params"]["data"]["interrupt_id"] for r in requested] == [state["interrupts"][0]["id"]]
    assert requested[0]["params"]["data"]["payload"] == {"text_to_revise": "classic"}
    assert methods.index("input.requested") < len(methods) - 1  # interrupted comes after it

    # Answered through the protocol; the second run's events follow in the same log.
    respond = await command(ahttp, tid, "input.respond", {"interrupt_id": state["interrupts"][0]["id"], "namespace": [], "response": "done"})
    assert respond["type"] == "success"
    after = await read_events(ahttp, tid, {"channels": ["lifecycle"], "since": events[-1]["seq"]},
                              until=is_root_lifecycle("completed"))
    assert [e["params"]["data"]["event"] for e in after] == ["running", "completed"]
    assert after[0]["seq"] > events[-1]["seq"]
    assert (await client.threads.get_state(tid))["values"] == {"some_text": "done"}


async def test_namespace_and_depth_filters(ahttp):
    tid = str(uuid.uuid4())
    await command(ahttp, tid, "run.start", {"assistant_id": "nested", "input": {"draft": "d1"}})
    everything = await read_events(ahttp, tid, {"channels": ["lifecycle", "values", "input"]},
                                   until=is_root_lifecycle("interrupted"))
    nested = [e for e in everything if e["params"]["namespace"]]
    assert nested, "the subgraph's events carry its namespace"
    sub_ns = nested[0]["params"]["namespace"]
    assert sub_ns[0].startswith("approval:")

    root_only = await read_events(ahttp, tid, {"channels": ["lifecycle", "values", "input"], "namespaces": [[]], "depth": 0},
                                  until=is_root_lifecycle("interrupted"))
    assert root_only and all(e["params"]["namespace"] == [] for e in root_only)
    assert [e["seq"] for e in root_only] == [e["seq"] for e in everything if not e["params"]["namespace"]]

    # A prefix without the task id matches the subgraph's namespace `approval:<task id>`.
    sub_values = await read_events(ahttp, tid, {"channels": ["values"], "namespaces": [["approval"]]},
                                   until=lambda e: True, limit=1)
    assert sub_values[0]["params"]["namespace"] == sub_ns

    tasks = await read_events(ahttp, tid, {"channels": ["tasks"], "namespaces": [[]], "depth": 0},
                              until=lambda e: True, limit=1)
    assert tasks[0]["params"]["data"]["name"] == "approval" and tasks[0]["params"]["data"]["id"]
    checkpoints = await read_events(ahttp, tid, {"channels": ["checkpoints"]}, until=lambda e: True, limit=1)
    assert checkpoints[0]["params"]["data"]["source"] == "input" and checkpoints[0]["params"]["data"]["id"]

    state = await command(ahttp, tid, "state.get", {"namespace": []})
    assert state["type"] == "success" and state["result"]["values"] == {"draft": "d1"}
    assert state["result"]["checkpoint"]["id"]
    tree = await command(ahttp, tid, "agent.getTree", {})
    assert tree["result"]["tree"]["graph_name"] == "nested"
    assert tree["result"]["tree"]["status"] == "interrupted"


async def test_cancel_queued_and_running_runs(ahttp):
    tid = str(uuid.uuid4())
    first = await command(ahttp, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 400, "delay": 0.05}})
    second = await command(ahttp, tid, "run.start",
                           {"assistant_id": "slow", "input": {"steps": 1}, "multitask_strategy": "enqueue"})
    await read_events(ahttp, tid, {"channels": ["lifecycle"], "since": 0}, until=is_root_lifecycle("running"))
    # The queued run is cancelled before it starts: subscribers still learn it ended.
    cancelled = await command(ahttp, tid, "run.cancel", {"run_id": second["result"]["run_id"]})
    assert cancelled["type"] == "success"
    # Then every active run of the thread.
    assert (await command(ahttp, tid, "run.cancel", {}))["type"] == "success"
    events = await read_events(ahttp, tid, {"channels": ["lifecycle"], "since": 0},
                               until=lambda e: False, limit=3)
    assert [e["params"]["data"] for e in events] == [
        {"event": "running", "graph_name": "slow"},
        {"event": "failed", "graph_name": "slow", "error": "cancelled"},
        {"event": "failed", "graph_name": "slow", "error": "cancelled"},
    ]
    runs = {r["run_id"]: r["status"] for r in (await ahttp.get(f"/threads/{tid}/runs")).json()}
    assert runs == {first["result"]["run_id"]: "interrupted", second["result"]["run_id"]: "interrupted"}
    missing = await command(ahttp, tid, "run.cancel", {"run_id": str(uuid.uuid4())})
    assert missing["type"] == "error" and missing["error"] == "no_such_run"


async def test_list_checkpoints_and_fork(client, ahttp):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    assert await client.runs.wait(tid, "chain", input={"input": "x"}) == {"input": "x", "visited": ["node_a", "node_b", "node_c"]}
    history = await client.threads.get_history(tid, limit=10)
    ids = [h["checkpoint"]["checkpoint_id"] for h in history]

    first = await command(ahttp, tid, "state.listCheckpoints", {"limit": 2})
    assert first["type"] == "success", first
    page = first["result"]["checkpoints"]
    assert [c["id"] for c in page] == ids[:2]
    assert [(c["step"], c["node_name"]) for c in page] == [(3, "node_c"), (2, "node_b")]
    assert page[0]["timestamp"] == history[0]["created_at"] and page[0]["metadata"]["source"] == "loop"
    rest = (await command(ahttp, tid, "state.listCheckpoints", {"before": page[-1]["id"]}))["result"]["checkpoints"]
    assert [c["id"] for c in rest] == ids[2:] and [c["step"] for c in rest] == [1, 0, -1]
    assert rest[0]["node_name"] == "node_a" and "node_name" not in rest[-1]  # the input checkpoint

    # fork after node_a: the graph runs node_b and node_c again on a branch of the thread
    forked = await command(ahttp, tid, "state.fork", {"checkpoint_id": ids[2]})
    assert forked["type"] == "success", forked
    assert forked["result"]["thread_id"] == tid
    await client.runs.join(tid, forked["result"]["run_id"])
    state = await client.threads.get_state(tid)
    assert state["values"]["visited"] == ["node_a", "node_b", "node_c"]
    branch = await client.threads.get_history(tid, limit=3)
    assert branch[-1]["metadata"]["source"] == "fork" and branch[-1]["parent_checkpoint"]["checkpoint_id"] == ids[2]
    assert state["checkpoint"]["checkpoint_id"] not in ids

    missing = await command(ahttp, tid, "state.fork", {"checkpoint_id": str(uuid.uuid4())})
    assert missing["type"] == "error" and missing["error"] == "no_such_checkpoint"
    bad_before = await command(ahttp, tid, "state.listCheckpoints", {"before": str(uuid.uuid4())})
    assert bad_before["error"] == "no_such_checkpoint"
    bad_limit = await command(ahttp, tid, "state.listCheckpoints", {"limit": 0})
    assert bad_limit["error"] == "invalid_argument" and "limit" in bad_limit["message"]
    sub_agent = await command(ahttp, tid, "state.listCheckpoints", {"namespace": ["tools:1"]})
    assert sub_agent["error"] == "not_supported"
    no_thread = await command(ahttp, str(uuid.uuid4()), "state.fork", {"checkpoint_id": ids[0]})
    assert no_thread["error"] == "invalid_argument"


async def test_protocol_errors_and_bad_input(ahttp):
    tid = str(uuid.uuid4())
    unknown = await command(ahttp, tid, "run.teleport", {}, command_id=7)
    assert unknown == {"type": "error", "id": 7, "error": "unknown_command", "message": "unknown method 'run.teleport'"}
    no_assistant = await command(ahttp, tid, "run.start", {"input": {}})
    assert no_assistant["error"] == "invalid_argument"
    bad_assistant = await command(ahttp, tid, "run.start", {"assistant_id": "no-such-graph", "input": {}})
    assert bad_assistant["error"] == "invalid_argument" and "no-such-graph" in bad_assistant["message"]
    nothing_pending = await command(ahttp, tid, "input.respond", {"interrupt_id": "0" * 32, "namespace": [], "response": 1})
    assert nothing_pending["type"] == "error"

    not_json = await ahttp.post(f"/threads/{tid}/commands", content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_argument"
    bad_channel = await ahttp.post(f"/threads/{tid}/stream/events", json={"channels": ["telepathy"]})
    assert bad_channel.status_code == 400 and "telepathy" in bad_channel.json()["detail"]
    bad_since = await ahttp.post(f"/threads/{tid}/stream/events", json={"channels": ["values"], "since": -1})
    assert bad_since.status_code == 400
    unknown_thread = await ahttp.post(f"/threads/{uuid.uuid4()}/stream/events", json={"channels": ["values"]})
    assert unknown_thread.status_code == 404 and "detail" in unknown_thread.json()


async def test_retention_keeps_the_newest_events(make_server, tmp_path, output_dir, backend):
    proc = make_server(tmp_path / "capped", "--stream-max-events", "5").start()
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            tid = str(uuid.uuid4())
            run = await command(h, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 8, "delay": 0}})
            await h.get(f"/threads/{tid}/runs/{run['result']['run_id']}/join")
            kept = await read_events(h, tid, {"channels": list(CHANNELS), "since": 0}, until=is_root_lifecycle("completed"))
            seqs = [e["seq"] for e in kept]
            assert len(kept) == 5 and seqs == list(range(seqs[0], seqs[0] + 5))
        proc.stop()
        stored = stored_events(proc, backend, tid)
        assert stored is None or stored == (5, seqs[-1])  # the stored copy is trimmed too
        proc.start()
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            assert await read_until_seq(h, tid, 0, seqs[-1]) == kept
    finally:
        proc.stop()
        (output_dir / f"protocol-capped-{backend}.log").write_text(proc.log())


# --- across a restart of the server ----------------------------------------------------------

def assert_consecutive(events: list[dict]) -> None:
    """One process numbers a thread's events one by one."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert [e["event_id"] for e in events] == [str(s) for s in seqs]


async def read_until_seq(http: httpx.AsyncClient, thread_id: str, since: int, last_seq: int) -> list[dict]:
    """Every event after `since` through `last_seq` (a hang, when one is missing, fails after 60 s)."""
    body = {"channels": list(CHANNELS), "since": since}
    return await asyncio.wait_for(read_events(http, thread_id, body, until=lambda e: e["seq"] >= last_seq), 60)


def stored_events(proc: ServerProcess, backend: str, thread_id: str) -> tuple[int, int] | None:
    """`(count, highest seq)` of the thread's events in the server's SQLite file (where the
    in-process broker stores its log); None on PostgreSQL + Redis (Redis keeps the log)."""
    if backend != "sqlite":
        return None
    import sqlite3

    with contextlib.closing(sqlite3.connect(proc.database_uri.removeprefix("sqlite:///"))) as conn:
        count, last = conn.execute(
            "SELECT count(*), max(seq) FROM thread_events WHERE thread_id = ?", (thread_id,)).fetchone()
    return count, last or 0


async def wait_stored(proc: ServerProcess, backend: str, thread_id: str, seq: int) -> None:
    """Until the thread's stored log holds `seq` (the in-process broker stores in batches;
    PostgreSQL + Redis: Redis holds what the stream showed)."""
    for _ in range(600):
        stored = stored_events(proc, backend, thread_id)
        if stored is None or stored[1] >= seq:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"seq {seq} of thread {thread_id} was not stored")


async def test_replay_with_since_after_a_restart_and_after_kill_9(make_server, tmp_path, output_dir, backend):
    """A paused thread's log survives a graceful restart whole, and a `kill -9` up to what was
    stored (on SQLite the in-process broker stores every 50 ms; what the last moments logged
    may be lost); a client resuming with `since` gets exactly the events after it, in order,
    and new events continue above every seq handed out before."""
    proc = make_server(tmp_path / "restart").start()
    tid = str(uuid.uuid4())
    everything = {"channels": list(CHANNELS)}
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            await command(h, tid, "run.start", {"assistant_id": "agent", "input": {"some_text": "before"}})
            before = await read_events(h, tid, {**everything, "since": 0}, until=is_root_lifecycle("interrupted"))
        proc.stop()  # graceful: the rest of the log is stored on the way out
        assert_consecutive(before)
        assert [e["method"] for e in before].count("input.requested") == 1

        proc.start()
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            middle = len(before) // 2
            assert await read_until_seq(h, tid, before[middle]["seq"], before[-1]["seq"]) == before[middle + 1:]
            assert await read_until_seq(h, tid, 0, before[-1]["seq"]) == before
            [requested] = [e for e in before if e["method"] == "input.requested"]
            answer = await command(h, tid, "input.respond", {
                "interrupt_id": requested["params"]["data"]["interrupt_id"], "namespace": [], "response": "after"})
            assert answer["type"] == "success", answer
            assert answer["meta"]["applied_through_seq"] == before[-1]["seq"]
            resumed = await read_events(h, tid, {**everything, "since": before[-1]["seq"]},
                                        until=is_root_lifecycle("completed"))
            assert_consecutive(resumed)
            assert resumed[0]["seq"] > before[-1]["seq"]
            assert resumed[0]["params"]["data"]["event"] == "running"
            # A second pause, then the process is killed once its events are stored.
            await command(h, tid, "run.start", {"assistant_id": "agent", "input": {"some_text": "again"}})
            paused = await read_events(h, tid, {**everything, "since": resumed[-1]["seq"]},
                                       until=is_root_lifecycle("interrupted"))
            assert_consecutive(resumed + paused)
        await wait_stored(proc, backend, tid, paused[-1]["seq"])
        proc.kill()

        proc.start()
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            replayed = await read_until_seq(h, tid, 0, paused[-1]["seq"])
            assert replayed == before + resumed + paused
            assert await read_until_seq(h, tid, resumed[-1]["seq"], paused[-1]["seq"]) == paused
            [requested] = [e for e in paused if e["method"] == "input.requested"]
            answer = await command(h, tid, "input.respond", {
                "interrupt_id": requested["params"]["data"]["interrupt_id"], "namespace": [], "response": "done"})
            assert answer["type"] == "success", answer
            final = await read_events(h, tid, {**everything, "since": paused[-1]["seq"]},
                                      until=is_root_lifecycle("completed"))
            assert_consecutive(final)
            assert final[0]["seq"] > paused[-1]["seq"]
        seqs = [e["seq"] for e in before + resumed + paused + final]
        assert seqs == sorted(set(seqs))
    finally:
        proc.stop()
        (output_dir / f"protocol-restart-{backend}.log").write_text(proc.log())


async def test_events_expire_after_the_retention_window_also_across_a_restart(make_server, tmp_path, output_dir, backend):
    """`--stream-retention-seconds`: a thread's log is dropped that long after its last event,
    from memory and from the stored copy (swept at start-up and while serving)."""
    proc = make_server(tmp_path / "retention", "--stream-retention-seconds", "5").start()
    url = proc.url.replace("http://", "ws://")

    async def replayed(thread_id: str) -> int:
        async with websockets.connect(f"{url}/threads/{thread_id}/stream/events") as ws:
            # (lifecycle only: a replay longer than the client's receive queue, unread, would
            # hold up its close handshake)
            await ws.send(json.dumps({"id": 1, "method": "subscription.subscribe",
                                      "params": {"channels": ["lifecycle"], "since": 0}}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame.get("id") == 1:
                    assert frame["type"] == "success", frame
                    return frame["result"]["replayed_events"]

    def stored(thread_id: str) -> int | None:
        counted = stored_events(proc, backend, thread_id)
        return None if counted is None else counted[0]

    async def run(thread_id: str) -> None:
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as h:
            started = await command(h, thread_id, "run.start", {"assistant_id": "chain", "input": {"input": "x"}})
            await h.get(f"/threads/{thread_id}/runs/{started['result']['run_id']}/join")

    try:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        await run(first)
        assert await replayed(first) > 0
        proc.stop()
        assert stored(first) != 0  # stored on the way out (None: Redis keeps it)
        await asyncio.sleep(5.5)  # the window passes while the server is down ...
        proc.start()
        assert await replayed(first) == 0  # ... and the start-up sweep deleted the log
        assert stored(first) in (None, 0)
        if backend == "sqlite":  # while serving, the sweeper deletes expired logs too
            await run(second)
            counts = [stored(second)]
            while (max(counts) == 0 or counts[-1] != 0) and len(counts) < 1200:  # stored, then swept
                await asyncio.sleep(0.05)
                counts.append(stored(second))
            assert max(counts) > 0 and counts[-1] == 0
            assert await replayed(second) == 0
    finally:
        proc.stop()
        (output_dir / f"protocol-retention-{backend}.log").write_text(proc.log())


# --- WebSocket ----------------------------------------------------------------------------

async def test_websocket_session_commands_and_subscriptions(server):
    tid = str(uuid.uuid4())
    url = server.url.replace("http://", "ws://") + f"/threads/{tid}/stream/events"
    async with websockets.connect(url) as ws:
        async def call(command_id: int, method: str, params: dict) -> dict:
            await ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("id") == command_id and frame["type"] != "event":
                    return frame
                received.append(frame)

        received: list[dict] = []
        started = await call(1, "run.start", {"assistant_id": "agent", "input": {"some_text": "ws"}})
        assert started["type"] == "success"
        sub = await call(2, "subscription.subscribe", {"channels": ["lifecycle", "input"], "since": 0})
        assert sub["type"] == "success" and sub["result"]["subscription_id"]
        # a second, overlapping subscription: each event still arrives once on this connection
        assert (await call(3, "subscription.subscribe", {"channels": ["lifecycle"]}))["type"] == "success"

        async def until(predicate):
            while not any(predicate(e) for e in received):
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))

        await until(is_root_lifecycle("interrupted"))
        requested = [e for e in received if e.get("method") == "input.requested"]
        assert len(requested) == 1
        answer = await call(4, "input.respond", {"interrupt_id": requested[0]["params"]["data"]["interrupt_id"],
                                                 "namespace": [], "response": "from ws"})
        assert answer["type"] == "success"
        await until(is_root_lifecycle("completed"))
        seqs = [e["seq"] for e in received if e.get("type") == "event"]
        assert seqs == sorted(set(seqs))
        assert (await call(5, "subscription.unsubscribe", {"subscription_id": sub["result"]["subscription_id"]}))["type"] == "success"
        gone = await call(6, "subscription.unsubscribe", {"subscription_id": sub["result"]["subscription_id"]})
        assert gone["error"] == "no_such_subscription"
        state = await call(7, "state.get", {"namespace": []})
        assert state["result"]["values"] == {"some_text": "from ws"}


# --- JavaScript ---------------------------------------------------------------------------

def test_js_client_drives_the_protocol(server):
    """tests/js/thread_stream.mjs: node's fetch drives commands and SSE (the installed
    `@langchain/langgraph-sdk` 2.0.0 has no thread-stream API yet), the JS SDK checks state."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript SDK tests (not on PATH)")
    if not (JS_DIR / "node_modules").is_dir():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, install.stderr
    proc = subprocess.run([node, "thread_stream.mjs"], cwd=JS_DIR, env={**os.environ, "WAYPOINT_URL": server.url},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\nserver log:\n{server.log()[-3000:]}"
    assert "thread stream checks passed" in proc.stdout


# --- across processes (PostgreSQL + Redis) --------------------------------------------------

@pytest.mark.skipif("postgres" not in BACKENDS, reason="WAYPOINT_TEST_BACKENDS excludes postgres")
async def test_commands_to_one_process_stream_from_another_across_a_restart(postgres, redis_server, tmp_path, output_dir):
    database_uri = postgres.create_database()
    a, b = (ServerProcess(tmp_path / n, database_uri=database_uri, redis_uri=redis_server.uri) for n in "ab")
    a.start(), b.start()
    try:
        tid = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=a.url, timeout=60) as ha, httpx.AsyncClient(base_url=b.url, timeout=60) as hb:
            await command(ha, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 30, "delay": 0.1}})
            body = {"channels": ["lifecycle", "custom"], "since": 0}
            first = await read_events(hb, tid, body, until=lambda e: e["method"] == "custom", limit=4)
        b.stop()  # B restarts meanwhile; the client reconnects to it with its cursor
        b.start()
        async with httpx.AsyncClient(base_url=b.url, timeout=60) as hb:
            rest = await read_events(hb, tid, {**body, "since": first[-1]["seq"]}, until=is_root_lifecycle("completed"))
            # and through the SDK on B, the thread's output
            client_b = get_client(url=b.url)
            async with client_b.threads.stream(tid, assistant_id="slow") as thread:
                assert (await thread.output)["count"] == 30
        events = first + rest
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
        assert [e["params"]["data"]["tick"] for e in events if e["method"] == "custom"] == list(range(1, 31))
    finally:
        for name, proc in (("a", a), ("b", b)):
            proc.stop()
            (output_dir / f"protocol-cluster-{name}.log").write_text(proc.log())


async def test_thread_log_appends_after_redis_lost_its_scripts(postgres, redis_server, tmp_path, output_dir):
    """The Redis broker appends thread log events with a script it loaded once; after Redis
    lost it (a restart, `SCRIPT FLUSH`) the next appends load it again: no event is lost."""
    import redis

    proc = ServerProcess(tmp_path / "s", database_uri=postgres.create_database(), redis_uri=redis_server.uri).start()
    try:
        tid = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as http:
            await command(http, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 3, "delay": 0}})
            body = {"channels": ["lifecycle", "custom"], "since": 0}
            first = await read_events(http, tid, body, until=is_root_lifecycle("completed"))
            redis.Redis.from_url(redis_server.uri).script_flush()
            # the thread's count goes on: 4, 5, 6
            await command(http, tid, "run.start", {"assistant_id": "slow", "input": {"steps": 6, "delay": 0}}, command_id=2)
            rest = await asyncio.wait_for(  # a lost append would leave the stream waiting
                read_events(http, tid, {**body, "since": first[-1]["seq"]}, until=is_root_lifecycle("completed")), 60)
        events = first + rest
        assert [e["params"]["data"]["event"] for e in events if e["method"] == "lifecycle"] == ["running", "completed"] * 2
        assert [e["params"]["data"]["tick"] for e in events if e["method"] == "custom"] == [1, 2, 3, 4, 5, 6]
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
    finally:
        proc.stop()
        (output_dir / "protocol-script-flush.log").write_text(proc.log())
