"""Crons through the official SDK's `CronClient` (`client.crons`), on real servers: the
shapes of create / get / search / count / patch / delete, firing (thread and stateless crons,
`on_run_completed`, `end_time`, a deleted thread), exactly-once firing with two processes on
one PostgreSQL, and one catch-up run after a restart.

Schedules use croniter's sixth field (seconds), so a cron ticks every second; the
`cron_log` graph (tests/graphs/cron_log.py) records each run with the tick it ran for.
Waits are generous waits for an event, never timed assertions."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from conftest import BACKENDS, ServerProcess

EVERY_SECOND = "* * * * * *"
DISTANT = "0 0 1 1 *"  # once a year
CRON_FIELDS = {
    "cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule", "timezone",
    "created_at", "updated_at", "payload", "user_id", "next_run_date", "metadata", "enabled",
}


async def _until(predicate, timeout: float = 90.0):
    """The first truthy value of `predicate()`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not (value := await predicate()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
    return value


async def _ticks(client, cron_id: str) -> list[dict]:
    """What `cron_log` recorded for the cron's runs: {run_date, thread_id, pid} each."""
    found = await client.store.search_items(["cron_log", cron_id], limit=1000)
    return [item["value"] for item in found["items"]]


def _utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def test_create_get_search_count_patch_delete_shapes(client, http):
    tag = str(uuid.uuid4())
    thread = await client.threads.create()
    tid = thread["thread_id"]
    stateless = await client.crons.create(
        "agent", schedule=DISTANT, input={"some_text": "yearly"}, metadata={"tag": tag, "kind": "stateless"},
        on_run_completed="keep", webhook="http://127.0.0.1:9/hook",
    )
    on_thread = await client.crons.create_for_thread(
        tid, "agent", schedule="0 9 * * *", timezone="America/New_York", input={"some_text": "daily"},
        metadata={"tag": tag, "kind": "thread"}, multitask_strategy="reject",
    )
    assert set(stateless) == CRON_FIELDS and set(on_thread) == CRON_FIELDS
    system_agent = (await client.assistants.get("agent"))["assistant_id"]
    assert stateless["assistant_id"] == on_thread["assistant_id"] == system_agent
    assert stateless["thread_id"] is None and stateless["on_run_completed"] == "keep"
    assert on_thread["thread_id"] == tid and on_thread["on_run_completed"] is None
    assert stateless["enabled"] is True and stateless["user_id"] is None and stateless["end_time"] is None
    assert stateless["payload"]["input"] == {"some_text": "yearly"}
    assert stateless["payload"]["webhook"] == "http://127.0.0.1:9/hook"
    assert on_thread["payload"]["multitask_strategy"] == "reject"
    # Next ticks: Jan 1 00:00 UTC; 09:00 in New York (13:00 or 14:00 UTC by daylight saving).
    yearly = _utc(stateless["next_run_date"])
    assert (yearly.month, yearly.day, yearly.hour, yearly.minute) == (1, 1, 0, 0)
    assert yearly > datetime.now(timezone.utc)
    daily = _utc(on_thread["next_run_date"])
    assert daily.hour in (13, 14) and daily.minute == 0 and on_thread["timezone"] == "America/New_York"
    assert http.get(f"/runs/crons/{on_thread['cron_id']}").json() == on_thread

    # Search and count: by metadata, assistant (graph id or assistant id), thread, enabled.
    both = await client.crons.search(metadata={"tag": tag}, sort_by="created_at", sort_order="asc")
    assert [c["cron_id"] for c in both] == [stateless["cron_id"], on_thread["cron_id"]]
    assert [c["cron_id"] for c in await client.crons.search(thread_id=tid)] == [on_thread["cron_id"]]
    assert len(await client.crons.search(assistant_id="agent", metadata={"tag": tag})) == 2
    assert len(await client.crons.search(assistant_id=system_agent, metadata={"tag": tag})) == 2
    assert await client.crons.search(assistant_id="recorder", metadata={"tag": tag}) == []
    assert await client.crons.count(metadata={"tag": tag}) == 2
    assert await client.crons.count(thread_id=tid) == 1
    page = await client.crons.search(metadata={"tag": tag}, limit=1, offset=1, sort_order="asc", sort_by="created_at")
    assert [c["cron_id"] for c in page] == [on_thread["cron_id"]]
    selected = await client.crons.search(metadata={"tag": tag}, select=["cron_id", "schedule"])
    assert all(set(c) == {"cron_id", "schedule"} for c in selected)

    # Patch: schedule and time zone move next_run_date; metadata merges; enabled; end_time.
    end = datetime.now(timezone.utc) + timedelta(days=30)
    patched = await client.crons.update(
        on_thread["cron_id"], schedule="30 6 * * *", timezone="UTC", metadata={"extra": 1},
        enabled=False, end_time=end, input={"some_text": "patched"},
    )
    assert patched["schedule"] == "30 6 * * *" and patched["enabled"] is False
    assert (_utc(patched["next_run_date"]).hour, _utc(patched["next_run_date"]).minute) == (6, 30)
    assert patched["metadata"] == {"tag": tag, "kind": "thread", "extra": 1}
    assert patched["payload"]["input"] == {"some_text": "patched"}
    assert patched["payload"]["multitask_strategy"] == "reject"
    assert _utc(patched["end_time"]) == end
    assert patched["updated_at"] > on_thread["updated_at"]
    assert await client.crons.search(metadata={"tag": tag}, enabled=False) == [patched]
    cleared = await client.crons.update(on_thread["cron_id"], end_time=None)
    assert cleared["end_time"] is None and cleared["schedule"] == "30 6 * * *"
    # An end time before the next tick: the cron has no next run.
    ended = await client.crons.update(stateless["cron_id"], end_time=datetime.now(timezone.utc) + timedelta(days=1))
    assert ended["next_run_date"] is None

    # Delete: gone; a second delete and a get are 404.
    await client.crons.delete(stateless["cron_id"])
    assert http.get(f"/runs/crons/{stateless['cron_id']}").status_code == 404
    with pytest.raises(NotFoundError):
        await client.crons.delete(stateless["cron_id"])
    assert await client.crons.count(metadata={"tag": tag}) == 1
    await client.crons.delete(on_thread["cron_id"])
    # A cron goes with its assistant.
    assistant = await client.assistants.create("agent")
    doomed = await client.crons.create(assistant["assistant_id"], schedule=DISTANT, metadata={"tag": tag})
    await client.assistants.delete(assistant["assistant_id"])
    assert http.get(f"/runs/crons/{doomed['cron_id']}").status_code == 404


def test_bad_input_is_a_clear_4xx(http):
    tid = http.post("/threads", json={}).json()["thread_id"]
    cases = [
        ("/runs/crons", {"assistant_id": "agent", "schedule": "every day"}, 422, "schedule"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": "61 * * * *"}, 422, "schedule"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": "0 0 30 2 *"}, 422, "no tick"),  # Feb 30
        ("/runs/crons", {"assistant_id": "agent", "schedule": "H * * * *"}, 422, "schedule"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "timezone": "Mars/Olympus"}, 422, "timezone"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "timezone": "x" * 5000}, 422, "timezone"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "end_time": "0001-01-01T00:00:00+01:00"},
         422, "end_time"),
        ("/runs/crons", {"assistant_id": "agent"}, 422, "schedule"),
        ("/runs/crons", {"assistant_id": "no-such-graph", "schedule": DISTANT}, 404, "no-such-graph"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "on_run_completed": "later"}, 422, "on_run_completed"),
        ("/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "webhook": "ftp://x"}, 422, "webhook"),
        (f"/threads/{uuid.uuid4()}/runs/crons", {"assistant_id": "agent", "schedule": DISTANT}, 404, "not found"),
        (f"/threads/{tid}/runs/crons", {"assistant_id": "agent", "schedule": DISTANT, "end_time": "soon"}, 422, "end_time"),
        ("/runs/crons/search", {"limit": 0}, 422, "limit"),
        ("/runs/crons/search", {"sort_by": "schedule"}, 422, "sort_by"),
    ]
    for path, body, status, word in cases:
        r = http.post(path, json=body)
        assert r.status_code == status and r.headers["content-type"] == "application/json", (path, body, r.text)
        assert word in r.text, (path, body, r.text)
    assert http.get("/runs/crons/not-a-uuid").status_code == 422
    assert http.get(f"/runs/crons/{uuid.uuid4()}").status_code == 404
    assert http.patch(f"/runs/crons/{uuid.uuid4()}", json={"enabled": False}).status_code == 404
    cron = http.post("/runs/crons", json={"assistant_id": "agent", "schedule": DISTANT}).json()
    r = http.patch(f"/runs/crons/{cron['cron_id']}", json={"schedule": "nope"})
    assert r.status_code == 422 and "schedule" in r.text
    assert http.delete(f"/runs/crons/{cron['cron_id']}").status_code == 204


def test_info_reports_crons(http):
    info = http.get("/info").json()
    assert info["flags"]["crons"] is True
    assert {"version", "langgraph_py_version", "flags", "metadata"} <= set(info)


async def test_thread_cron_fires_each_tick_once_through_the_queue_and_stops_with_its_thread(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    cron = await client.crons.create_for_thread(tid, "cron_log", schedule=EVERY_SECOND, input={},
                                                metadata={"purpose": "thread-cron"})
    await _until(lambda: _n_runs_done(client, tid, 3))
    runs = await client.runs.list(tid, limit=1000)
    assert all(r["metadata"]["cron_id"] == cron["cron_id"] and r["metadata"]["purpose"] == "thread-cron" for r in runs)
    run_dates = [r["metadata"]["cron_run_date"] for r in runs]
    assert len(set(run_dates)) == len(run_dates), "a tick fired twice"
    assert all(_utc(d).microsecond == 0 for d in run_dates)  # each run is for a whole-second tick
    ticks = await _ticks(client, cron["cron_id"])
    assert all(t["thread_id"] == tid for t in ticks)
    # Runs of one thread cron share its thread: the state counts them.
    state = await client.threads.get_state(tid)
    assert state["values"]["ticks"] >= 3
    # Deleting the thread stops the cron: it is gone with it.
    await client.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await client.http.get(f"/runs/crons/{cron['cron_id']}")


async def _n_runs_done(client, tid: str, n: int) -> bool:
    runs = await client.runs.list(tid, limit=1000)
    return sum(r["status"] == "success" for r in runs) >= n


async def test_stateless_crons_keep_or_delete_their_threads_and_end_at_end_time(client):
    # on_run_completed="keep": a new thread per tick, kept; the cron ends at end_time.
    end = datetime.now(timezone.utc) + timedelta(seconds=3)
    kept = await client.crons.create("cron_log", schedule=EVERY_SECOND, input={}, on_run_completed="keep",
                                     end_time=end)

    async def ended():
        return (await client.http.get(f"/runs/crons/{kept['cron_id']}"))["next_run_date"] is None

    await _until(ended)
    ticks = await _until(lambda: _ticks(client, kept["cron_id"]))
    await _until(lambda: _all_threads_idle(client, kept["cron_id"]))
    threads = await client.threads.search(metadata={"cron_id": kept["cron_id"]}, limit=100)
    assert 1 <= len(threads) <= 4 and len({t["thread_id"] for t in threads}) == len(threads)
    ticks = await _ticks(client, kept["cron_id"])
    assert sorted(t["thread_id"] for t in ticks) == sorted(t["thread_id"] for t in threads)
    assert all(_utc(t["run_date"]) <= end for t in ticks)
    for t in threads:
        assert [r["metadata"]["cron_id"] for r in await client.runs.list(t["thread_id"])] == [kept["cron_id"]]

    # on_run_completed="delete" (the default): each run's thread is deleted when it ends.
    deleted = await client.crons.create("cron_log", schedule=EVERY_SECOND, input={})
    assert deleted["on_run_completed"] == "delete"
    await _until(lambda: _n_ticks(client, deleted["cron_id"], 2))
    await client.crons.update(deleted["cron_id"], enabled=False)
    await _until(lambda: _no_threads(client, deleted["cron_id"]))
    await client.crons.delete(deleted["cron_id"])


async def _n_ticks(client, cron_id: str, n: int) -> bool:
    return len(await _ticks(client, cron_id)) >= n


async def _all_threads_idle(client, cron_id: str) -> bool:
    threads = await client.threads.search(metadata={"cron_id": cron_id}, limit=100)
    return bool(threads) and all(t["status"] == "idle" for t in threads)


async def _no_threads(client, cron_id: str) -> bool:
    return await client.threads.count(metadata={"cron_id": cron_id}) == 0


async def test_a_tick_missed_while_down_fires_once_on_start(make_server, tmp_path, output_dir, backend):
    """Stopped across several ticks, the server fires the missed tick once when it starts
    (not once per missed tick), then follows the schedule."""
    proc = make_server(tmp_path / "restart").start()
    try:
        client = get_client(url=proc.url)
        thread = await client.threads.create()
        tid = thread["thread_id"]
        cron = await client.crons.create_for_thread(tid, "cron_log", schedule=EVERY_SECOND, input={})
        await _until(lambda: _n_runs_done(client, tid, 2))
        proc.stop()
        stopped = datetime.now(timezone.utc)
        await asyncio.sleep(4)  # down across several ticks
        started = datetime.now(timezone.utc)
        proc.start()
        client = get_client(url=proc.url)

        async def after_start():
            runs = await client.runs.list(tid, limit=1000)
            return any(_utc(r["metadata"]["cron_run_date"]) > started for r in runs) and runs

        await _until(after_start)
        await client.crons.update(cron["cron_id"], enabled=False)
        runs = await client.runs.list(tid, limit=1000)
        run_dates = [_utc(r["metadata"]["cron_run_date"]) for r in runs]
        assert len(set(run_dates)) == len(run_dates), "a tick fired twice"
        before = max(d for r, d in zip(runs, run_dates) if _utc(r["created_at"]) <= stopped)
        missed = (started - before) // timedelta(seconds=1)
        assert missed >= 3  # the server was down across several ticks
        catch_up = [d for r, d in zip(runs, run_dates) if _utc(r["created_at"]) > started and d <= started]
        assert len(catch_up) == 1, f"{len(catch_up)} runs for the {missed} ticks missed while down"
    finally:
        proc.stop()
        (output_dir / f"server-crons-restart-{backend}.log").write_text(proc.log())


@pytest.mark.skipif("postgres" not in BACKENDS, reason="WAYPOINT_TEST_BACKENDS excludes postgres")
async def test_two_processes_on_one_postgres_fire_each_tick_once(postgres, redis_server, tmp_path, output_dir):
    database_uri = postgres.create_database()
    procs = [ServerProcess(tmp_path / n, database_uri=database_uri, redis_uri=redis_server.uri) for n in "ab"]
    for proc in procs:
        proc.launch()
    try:
        for proc in procs:
            proc.wait_ready()
        a, b = (get_client(url=p.url) for p in procs)
        thread = await a.threads.create()
        tid = thread["thread_id"]
        on_thread = await a.crons.create_for_thread(tid, "cron_log", schedule=EVERY_SECOND, input={})
        stateless = await b.crons.create("cron_log", schedule=EVERY_SECOND, input={}, on_run_completed="keep")
        await _until(lambda: _n_runs_done(b, tid, 6))
        await _until(lambda: _n_ticks(a, stateless["cron_id"], 6))
        # Process A goes away: B alone keeps both crons ticking.
        procs[0].stop()
        so_far = len(await b.runs.list(tid, limit=1000))
        await _until(lambda: _n_runs_done(b, tid, so_far + 3))
        for cron in (on_thread, stateless):
            await b.crons.update(cron["cron_id"], enabled=False)
        await _until(lambda: _all_done(b, tid, stateless["cron_id"]))
        # Per tick, exactly one run: on the thread, and across the stateless cron's threads.
        runs = await b.runs.list(tid, limit=1000)
        run_dates = [r["metadata"]["cron_run_date"] for r in runs]
        assert len(set(run_dates)) == len(run_dates) >= 9, "a tick fired twice"
        ticks = await _ticks(b, stateless["cron_id"])
        threads = await b.threads.search(metadata={"cron_id": stateless["cron_id"]}, limit=1000)
        assert len({t["run_date"] for t in ticks}) == len(ticks) == len(threads) >= 6, "a tick fired twice"
    finally:
        for name, proc in zip("ab", procs):
            proc.stop()
            (output_dir / f"server-crons-cluster-{name}.log").write_text(proc.log())


async def _all_done(client, tid: str, cron_id: str) -> bool:
    runs = await client.runs.list(tid, limit=1000)
    threads = await client.threads.search(metadata={"cron_id": cron_id}, limit=1000)
    return all(r["status"] == "success" for r in runs) and all(t["status"] == "idle" for t in threads)
