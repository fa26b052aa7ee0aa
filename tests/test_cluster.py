"""Several `waypoint serve` processes on one PostgreSQL + Redis (production mode)."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

from conftest import BACKENDS, ServerProcess
from waypoint.streams.redis import ENDED_CHANNEL

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="WAYPOINT_TEST_BACKENDS excludes postgres")


@pytest.fixture
def cluster(postgres, redis_server, tmp_path, output_dir):
    """Three processes sharing one fresh database and one Redis."""
    database_uri = postgres.create_database()
    procs = [
        ServerProcess(tmp_path / name, database_uri=database_uri, redis_uri=redis_server.uri)
        for name in ("a", "b", "c")
    ]
    for proc in procs:  # launched together on an empty database: migrations must tolerate it
        proc.launch()
    for proc in procs:
        proc.wait_ready()
    yield procs
    for name, proc in zip("abc", procs):
        proc.stop()
        (output_dir / f"cluster-{name}.log").write_text(proc.log())


async def _until(predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await predicate()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
    return value


async def test_stream_join_double_text_and_resume_across_processes(cluster):
    a, b, c = (get_client(url=p.url) for p in cluster)
    thread = await a.threads.create()
    tid = thread["thread_id"]
    first = await a.runs.create(tid, "ticker", input={"steps": 400, "delay": 0.05}, stream_mode=["custom"])

    # Process B streams the run created through A (whichever process executes it).
    ticks = []
    async for part in b.runs.join_stream(tid, first["run_id"]):
        if part.event == "custom":
            ticks.append(part.data["tick"])
            if len(ticks) == 3:
                break
    assert ticks == [1, 2, 3]

    # A double-text sent to C interrupts the run wherever it executes.
    second = await c.runs.create(tid, "ticker", input={"steps": 1, "delay": 0, "count": 0},
                                 multitask_strategy="interrupt")
    paused = await b.runs.join(tid, second["run_id"])
    assert paused["__interrupt__"][0]["value"]["count"] == 1
    assert (await c.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    assert (await a.threads.get(tid))["status"] == "interrupted"

    # The interrupt() is resumed through B.
    done = await b.runs.wait(tid, "ticker", command=Command(resume="looks right"))
    assert done["review"] == "looks right" and done["count"] == 1
    assert (await c.threads.get(tid))["status"] == "idle"


async def test_a_burst_streams_whole_from_every_process(cluster):
    """2,000 custom events written in a loop reach the streams joined on every process (so
    on processes other than the executing one) all, in order, once; a stream resumed on
    another process with `Last-Event-ID` continues right after that event."""
    clients = [get_client(url=p.url) for p in cluster]
    tid = (await clients[0].threads.create())["thread_id"]
    run = await clients[0].runs.create(tid, "burst", input={"count": 2000}, stream_mode=["custom"])

    async def custom(client, **kw):
        return [p async for p in client.runs.join_stream(tid, run["run_id"], **kw) if p.event == "custom"]

    streams = await asyncio.gather(*(custom(c) for c in clients))
    for parts in streams:
        assert [p.data["i"] for p in parts] == list(range(2000))
    for cut, client in ((0, clients[1]), (1234, clients[2]), (1999, clients[0])):
        rest = await custom(client, last_event_id=streams[0][cut].id)
        assert [p.data["i"] for p in rest] == list(range(cut + 1, 2000))


async def test_two_hundred_runs_each_execute_exactly_once(cluster):
    clients = [get_client(url=p.url) for p in cluster]
    threads = [await clients[i % 3].threads.create() for i in range(50)]
    runs = []
    for round_ in range(4):  # four queued runs per thread, created through all processes
        for i, thread in enumerate(threads):
            client = clients[(i + round_) % 3]
            runs.append((thread["thread_id"], await client.runs.create(thread["thread_id"], "recorder", input={})))
    assert len(runs) == 200
    for n, (tid, run) in enumerate(runs):
        await clients[n % 3].runs.join(tid, run["run_id"])

    pids = set()
    for n, (tid, run) in enumerate(runs):
        assert (await clients[n % 3].runs.get(tid, run["run_id"]))["status"] == "success"
        found = await clients[0].store.search_items(["executions", run["run_id"]], limit=10)
        assert len(found["items"]) == 1, f"run {run['run_id']} executed {len(found['items'])} times"
        pids.add(found["items"][0]["value"]["pid"])
    assert len(pids) >= 2, "all runs executed in one process"
    # Runs of one thread never overlapped: each saw the previous one's count.
    for thread in threads:
        assert (await clients[1].threads.get_state(thread["thread_id"]))["values"]["runs"] == 4


async def test_killed_process_runs_are_recovered_by_the_others(cluster):
    clients = [get_client(url=p.url) for p in cluster]
    thread = await clients[0].threads.create()
    tid = thread["thread_id"]
    doomed = await clients[0].runs.create(tid, "ticker", input={"steps": 100, "delay": 0.05}, stream_mode=["custom"])
    async for part in clients[1].runs.join_stream(tid, doomed["run_id"]):
        if part.event == "custom":
            victim_pid = part.data["pid"]
            break
    victim = next(p for p in cluster if p.proc.pid == victim_pid)
    survivors = [get_client(url=p.url) for p in cluster if p is not victim]

    # Work on another thread keeps going while a process dies.
    other = await survivors[0].threads.create()
    other_run = await survivors[0].runs.create(other["thread_id"], "ticker", input={"steps": 20, "delay": 0.05})
    victim.kill()

    # Once the dead worker's lease expires, a survivor continues the run from its last
    # checkpoint and finishes it.
    async def recovered():
        run = await survivors[1].runs.get(tid, doomed["run_id"])
        return run["status"] == "success"
    await _until(recovered)
    finished = await survivors[1].runs.join(tid, doomed["run_id"])
    assert finished["__interrupt__"][0]["value"]["count"] == 100
    assert finished["__interrupt__"][0]["value"]["pid"] != victim_pid
    assert (await survivors[0].threads.get(tid))["status"] == "interrupted"
    paused = await survivors[1].runs.join(other["thread_id"], other_run["run_id"])
    assert paused["__interrupt__"][0]["value"]["count"] == 20
    victim.start()  # so the fixture can stop it cleanly


async def test_postgres_without_redis_serves_one_process(postgres, tmp_path):
    server = ServerProcess(tmp_path, database_uri=postgres.create_database()).start()
    try:
        client = get_client(url=server.url)
        thread = await client.threads.create()
        paused = await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "pg only"})
        assert paused["__interrupt__"][0]["value"] == {"text_to_revise": "pg only"}
        parts = [p async for p in client.runs.stream(
            thread["thread_id"], "agent", command=Command(resume="done"), stream_mode="updates"
        )]
        assert {"human_node": {"some_text": "done"}} in [p.data for p in parts]
    finally:
        server.stop()


def test_redis_without_postgres_is_refused(tmp_path, redis_server):
    server = ServerProcess(tmp_path, redis_uri=redis_server.uri)
    with pytest.raises(RuntimeError, match="needs a PostgreSQL"):
        server.start()


async def test_concurrent_resumes_through_all_processes_apply_once(cluster):
    import httpx

    a = get_client(url=cluster[0].url)
    thread = await a.threads.create()
    tid = thread["thread_id"]
    interrupt = (await a.runs.wait(tid, "agent", input={"some_text": "race"}))["__interrupt__"][0]
    clients = [httpx.AsyncClient(base_url=p.url, timeout=30) for p in cluster]
    try:
        responses = await asyncio.gather(*(
            clients[i % 3].post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "command": {"resume": f"v{i}"}})
            for i in range(20)
        ))
    finally:
        for c in clients:
            await c.aclose()
    assert sorted(r.status_code for r in responses) == [200] + [409] * 19
    winner = next(r.json() for r in responses if r.status_code == 200)
    await a.runs.join(tid, winner["run_id"])
    decisions = await a.http.get(f"/threads/{tid}/decisions")
    assert [(d["interrupt_id"], d["run_id"]) for d in decisions] == [(interrupt["id"], winner["run_id"])]
    assert len(await a.runs.list(tid)) == 2


async def test_many_concurrent_waits_on_one_process(cluster):
    client = get_client(url=cluster[0].url)

    async def cycle(i):
        thread = await client.threads.create()
        paused = await client.runs.wait(thread["thread_id"], "agent", input={"some_text": f"t{i}"})
        return paused["__interrupt__"][0]["value"]["text_to_revise"]

    # More waiting clients than redis-py's default pool size (100) of stream subscriptions.
    results = await asyncio.gather(*(cycle(i) for i in range(150)))
    assert sorted(results) == sorted(f"t{i}" for i in range(150))


async def test_assistant_update_on_one_process_is_seen_by_runs_created_on_another(cluster):
    # Each process keeps the assistants it created runs with; an update made through another
    # process must still reach the next run (checked in the run's own transaction).
    a, b, _ = (get_client(url=p.url) for p in cluster)
    assistant = await a.assistants.create("factory", config={"configurable": {"user": "v1"}})
    aid = assistant["assistant_id"]
    thread = await b.threads.create()
    assert (await b.runs.wait(thread["thread_id"], aid, input={}))["user"] == "v1"  # cached on B now

    await a.assistants.update(aid, config={"configurable": {"user": "v2"}})
    assert (await b.runs.wait(thread["thread_id"], aid, input={}))["user"] == "v2"
    await a.assistants.set_latest(aid, 1)
    assert (await b.runs.wait(None, aid, input={}))["user"] == "v1"  # a stateless run checks it too
    assert (await b.runs.wait(thread["thread_id"], aid, input={}))["user"] == "v1"

    await a.assistants.delete(aid)
    with pytest.raises(Exception) as refused:
        await b.runs.wait(thread["thread_id"], aid, input={})
    assert getattr(refused.value, "response", None) is not None and refused.value.response.status_code == 404


async def test_a_run_end_is_announced_to_every_process(cluster, redis_server):
    # Waiters of a run (runs.wait, runs.join) learn of its end from an announcement on the
    # `waypoint:ended` channel (with the result when small), instead of reading its stream.
    a, b = (get_client(url=p.url) for p in cluster[:2])
    listener = aioredis.from_url(redis_server.uri)
    pubsub = listener.pubsub()
    await pubsub.subscribe(ENDED_CHANNEL)
    try:
        thread = await a.threads.create()
        tid = thread["thread_id"]
        run = await a.runs.create(tid, "agent", input={"some_text": "announced"})
        joined = await b.runs.join(tid, run["run_id"])  # b waits for a run created through a
        assert joined["__interrupt__"][0]["value"]["text_to_revise"] == "announced"

        async def announcement():
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and run["run_id"].encode() in message["data"]:
                    return message["data"]

        data = await asyncio.wait_for(announcement(), 30)
        _origin, run_id, result = data.split(b" ", 2)
        assert run_id.decode() == run["run_id"]
        assert json.loads(result) == joined
        # A join after the end (no announcement to wait for) reads the stream's end marker.
        assert await a.runs.join(tid, run["run_id"]) == joined
    finally:
        await pubsub.aclose()
        await listener.aclose()
