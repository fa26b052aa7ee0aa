"""Faults: nothing lost, nothing stuck, clear answers (issue 9, section 5).

Each test drives real server processes and, where a dependency fails, real PostgreSQL/Redis
instances of its own (stopped and restarted by the test) so other tests are not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import BACKENDS, ServerProcess, free_port
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

postgres_only = pytest.mark.skipif("postgres" not in BACKENDS, reason="WAYPOINT_TEST_BACKENDS excludes postgres")


def test_second_process_on_one_sqlite_file_refuses_to_start(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = ServerProcess(tmp_path / "first", database_uri=uri).start()
    try:
        second = ServerProcess(tmp_path / "second", database_uri=uri).launch()
        assert second.proc.wait(30) != 0
        log = second.log()
        assert str(tmp_path / "shared.sqlite") in log
        assert f"process {first.proc.pid}" in log
        assert httpx.get(f"{first.url}/ok").status_code == 200  # the first is untouched
    finally:
        first.kill()  # kill -9: the kernel releases the lock with the process
    third = ServerProcess(tmp_path / "third", database_uri=uri).start()
    try:
        assert httpx.get(f"{third.url}/ok").status_code == 200
        assert (tmp_path / "shared.sqlite.lock").read_text() == str(third.proc.pid)
    finally:
        third.stop()


def _executions(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


async def _until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _start_counting_run(client, tmp_path: Path) -> tuple[str, str, Path, Path]:
    log, gate = tmp_path / "executions.log", tmp_path / "gate"
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "counting", input={"log": str(log), "gate": str(gate)})

    async def in_gated():
        return _executions(log) == ["first", "gated"]

    async def first_checkpointed():  # `first` is complete once its checkpoint is written
        return (await client.threads.get_state(thread["thread_id"]))["values"].get("visited") == ["first"]

    await _until(in_gated, "the run to reach its second step")
    await _until(first_checkpointed, "the checkpoint after the first step")
    return thread["thread_id"], run["run_id"], log, gate


async def test_crash_recovery_continues_from_the_last_checkpoint(make_server, tmp_path):
    server = make_server(tmp_path / "srv").start()
    thread_id, run_id, log, gate = await _start_counting_run(get_client(url=server.url), tmp_path)
    server.kill()  # kill -9 in the middle of step `gated`

    server.start()
    try:
        client = get_client(url=server.url)

        async def retried():
            return _executions(log).count("gated") == 2

        await _until(retried, "the run to be re-queued and retried")
        gate.touch()
        result = await client.runs.join(thread_id, run_id)
        assert result["visited"] == ["first", "gated", "last"]
        # `first` had completed before the crash: it is not executed again.
        assert _executions(log) == ["first", "gated", "gated", "last"]
        assert (await client.runs.get(thread_id, run_id))["status"] == "success"
        assert (await client.threads.get(thread_id))["status"] == "idle"
    finally:
        server.stop()


async def test_crash_recovery_gives_up_after_max_attempts(make_server, tmp_path):
    server = make_server(tmp_path / "srv", "--max-run-attempts", "2").start()
    thread_id, run_id, log, _gate = await _start_counting_run(get_client(url=server.url), tmp_path)
    server.kill()
    server.start()

    async def retried():
        return _executions(log).count("gated") == 2

    await _until(retried, "the second attempt")
    server.kill()  # the second attempt dies too: the limit is reached
    server.start()
    try:
        client = get_client(url=server.url)

        async def errored():
            return (await client.runs.get(thread_id, run_id))["status"] == "error"

        await _until(errored, "the run to end in error")
        result = await client.runs.join(thread_id, run_id)
        assert result["__error__"]["error"] == "WorkerLost"
        assert "2 times" in result["__error__"]["message"]
        assert _executions(log) == ["first", "gated", "gated"]  # no third attempt
        assert (await client.threads.get(thread_id))["status"] == "error"
        assert await client.threads.search(status="busy") == []
    finally:
        server.stop()


async def test_sigterm_hands_running_runs_back_to_the_queue(make_server, tmp_path):
    server = make_server(tmp_path / "srv", "--shutdown-grace-seconds", "1").start()
    client = get_client(url=server.url)
    thread_id, run_id, log, gate = await _start_counting_run(client, tmp_path)
    server.proc.send_signal(signal.SIGTERM)  # the run is in step `gated`: it outlives the grace
    assert server.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert "handing 1 running run(s) back to the queue" in server.log()

    successor = make_server(tmp_path / "next", database_uri=server.database_uri).start()
    try:
        client = get_client(url=successor.url)

        async def retried():
            return _executions(log).count("gated") == 2

        await _until(retried, "the run to continue in the next process")
        assert (await client.threads.get(thread_id))["status"] == "busy"
        gate.touch()
        result = await client.runs.join(thread_id, run_id)
        assert result["visited"] == ["first", "gated", "last"]
        assert _executions(log) == ["first", "gated", "gated", "last"]
        run = await client.runs.get(thread_id, run_id)
        assert run["status"] == "success"
        assert (await client.threads.get(thread_id))["status"] == "idle"
    finally:
        successor.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test alone (the test stops and restarts it)."""
    from services import PostgresServer

    pg = PostgresServer().start()
    yield pg
    with contextlib.suppress(RuntimeError):  # already halted if the test failed mid-outage
        pg.stop()


@pytest.fixture
def own_redis():
    """A Redis server of this test alone (the test stops and restarts it)."""
    from services import RedisServer

    r = RedisServer().start()
    yield r
    r.stop()


def _until_sync(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


@postgres_only
async def test_postgres_down_answers_503_and_recovers(own_postgres, tmp_path):
    server = ServerProcess(tmp_path, database_uri=own_postgres.create_database()).start()
    try:
        client = get_client(url=server.url)
        thread = await client.threads.create(metadata={"case": "pg-down"})
        own_postgres.halt()

        with httpx.Client(base_url=server.url, timeout=60) as http:
            ok = http.get("/ok")
            assert ok.status_code == 503
            assert "PostgreSQL" in ok.json()["detail"]
            for response in (
                http.get(f"/threads/{thread['thread_id']}"),
                http.post("/threads", json={}),
                http.post("/threads/search", json={}),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/json"
                assert "PostgreSQL is unavailable" in response.json()["detail"]

            own_postgres.resume()
            _until_sync(lambda: http.get("/ok").status_code == 200, "/ok to recover")
            again = http.get(f"/threads/{thread['thread_id']}")
            assert again.json()["metadata"] == {"case": "pg-down"}, again.text
        result = await client.runs.wait(thread["thread_id"], "chain", input={"input": "after the outage"})
        assert result["visited"] == ["node_a", "node_b", "node_c"]
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MB filesystem (tmpfs) the test can fill; skipped where mounting is not allowed."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {result.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _fill(disk: Path) -> Path:
    """Fill `disk` to the last byte with a file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def test_disk_full_answers_507_and_leaves_no_thread_busy(small_disk, tmp_path):
    server = ServerProcess(tmp_path / "srv", database_uri=f"sqlite:///{small_disk / 'waypoint.sqlite'}").start()
    try:
        client = get_client(url=server.url)
        thread = await client.threads.create()
        thread_id, run_id, log, gate = await _start_counting_run(client, tmp_path)
        filler = _fill(small_disk)
        big = "x" * 1_000_000

        with httpx.Client(base_url=server.url, timeout=60) as http:
            created = http.post("/threads", json={"metadata": {"big": big}})
            assert created.status_code == 507, created.text
            assert "database or disk is full" in created.json()["detail"]
            refused = http.post(f"/threads/{thread['thread_id']}/runs",
                                json={"assistant_id": "chain", "input": {"input": big}})
            assert refused.status_code == 507, refused.text
            assert http.get(f"/threads/{thread['thread_id']}").json()["status"] == "idle"
            gate.touch()  # the running run's next checkpoint cannot be written
            _until_sync(lambda: server.log().count("database or disk is full") > 2, "the run to hit the full disk")
            assert (await client.threads.get(thread_id))["status"] == "busy"  # its run is not over
            filler.unlink()  # space comes back: the run is retried from its last checkpoint
            result = await client.runs.join(thread_id, run_id)
        assert result["visited"] == ["first", "gated", "last"]
        assert (await client.runs.get(thread_id, run_id))["status"] == "success"
        assert await client.threads.search(status="busy") == []
        assert (await client.runs.wait(thread["thread_id"], "chain", input={"input": "ok"}))["visited"]
    finally:
        server.stop()


@postgres_only
async def test_redis_down_keeps_runs_queued_and_recovers(postgres, own_redis, tmp_path):
    server = ServerProcess(tmp_path / "srv", database_uri=postgres.create_database(), redis_uri=own_redis.uri).start()
    try:
        client = get_client(url=server.url)
        log, gate = tmp_path / "executions.log", tmp_path / "gate"
        streamed = await client.threads.create()
        events: list = []

        async def follow():
            async for part in client.runs.stream(
                streamed["thread_id"], "counting", input={"log": str(log), "gate": str(gate)}, stream_mode="updates"
            ):
                events.append(part)

        follower = asyncio.create_task(follow())

        async def in_gated():
            return _executions(log) == ["first", "gated"]

        await _until(in_gated, "the streamed run to reach its second step")
        own_redis.halt()

        await asyncio.wait_for(follower, 60)  # the open stream ends, with an `error` event
        assert events[-1].event == "error"
        assert "Redis is unavailable" in events[-1].data["message"]

        queued = await client.threads.create()
        waited = await client.threads.create()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            ok = http.get("/ok")
            assert ok.status_code == 503 and "Redis" in ok.json()["detail"]
            # A run created meanwhile is queued in PostgreSQL...
            run = http.post(f"/threads/{queued['thread_id']}/runs", json={"assistant_id": "chain", "input": {"input": "q"}})
            assert run.status_code == 200, run.text
            # ...and a wait cannot follow it: 503 JSON.
            wait = http.post(f"/threads/{waited['thread_id']}/runs/wait", json={"assistant_id": "chain", "input": {"input": "w"}})
            assert wait.status_code == 503, wait.text
            assert "Redis is unavailable" in wait.json()["detail"]
            assert http.get(f"/threads/{queued['thread_id']}/runs/{run.json()['run_id']}").json()["status"] == "pending"

            own_redis.start()  # Redis is back (same port, empty)
            _until_sync(lambda: http.get("/ok").status_code == 200, "/ok to recover")
        # The first run after recovery succeeds.
        fresh = await client.threads.create()
        assert (await client.runs.wait(fresh["thread_id"], "chain", input={"input": "after"}))["visited"]
        # Runs created during the outage ran; none ended `error`.
        for thread in (queued, waited):
            [only] = await client.runs.list(thread["thread_id"])
            assert (await client.runs.join(thread["thread_id"], only["run_id"]))["visited"] == ["node_a", "node_b", "node_c"]
            assert (await client.runs.get(thread["thread_id"], only["run_id"]))["status"] == "success"
        gate.touch()
        [streamed_run] = await client.runs.list(streamed["thread_id"])
        assert (await client.runs.join(streamed["thread_id"], streamed_run["run_id"]))["visited"] == ["first", "gated", "last"]
        assert (await client.runs.get(streamed["thread_id"], streamed_run["run_id"]))["status"] == "success"
        assert await client.threads.search(status="busy") == []
    finally:
        server.stop()


async def test_rollback_keeps_a_decision_that_took_effect(client, tmp_path):
    log, gate = tmp_path / "executions.log", tmp_path / "gate"
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "approval", input={"log": str(log), "gate": str(gate)})
    [asked] = paused["__interrupt__"]
    resume = await client.runs.create(tid, "approval", command=Command(resume="approved"),
                                      metadata={"reviewer": "ada"})

    async def in_work(times: int = 1):
        return _executions(log) == ["work"] * times  # `ask` took the answer; the run goes on

    await _until(in_work, "the resume to pass the interrupt")
    # A rollback double-text deletes the resume's run and checkpoints, but the answer was
    # given and used: the next run continues with it.
    again = await client.runs.create(tid, "approval", input=None, multitask_strategy="rollback")
    await _until(lambda: in_work(2), "the next run to continue with the answer")
    gate.touch()
    final = await client.runs.join(tid, again["run_id"])
    assert final["approval"] == "approved"
    # The decision stays, and the rollback is recorded next to it.
    decisions = await client.http.get(f"/threads/{tid}/decisions")
    assert [(d["action"], d["interrupt_id"], d["run_id"], d["reviewer"], d["value"]) for d in decisions] == [
        ("resume", asked["id"], resume["run_id"], "ada", "approved"),
        ("rollback", asked["id"], resume["run_id"], None, None),
    ]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_update_state_clearing_an_interrupt_is_recorded_as_a_decision(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "agent", input={"some_text": "draft"})
    [asked] = paused["__interrupt__"]
    await client.threads.update_state(tid, {"some_text": "edited by hand"})
    assert (await client.threads.get_state(tid))["interrupts"] == []
    decisions = await client.http.get(f"/threads/{tid}/decisions")
    assert [(d["action"], d["interrupt_id"], d["value"], d["run_id"]) for d in decisions] == [
        ("update_state", asked["id"], {"some_text": "edited by hand"}, None)
    ]


class _Receiver:
    """A loopback HTTP server on `port` recording the JSON bodies POSTed to it."""

    def __init__(self, port: int):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def test_webhook_survives_a_restart_until_delivered(make_server, tmp_path):
    port = free_port()  # nothing listens there yet: the receiver is down
    url = f"http://127.0.0.1:{port}/hook"
    server = make_server(tmp_path / "srv").start()
    client = get_client(url=server.url)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "chain", input={"input": "hook"}, webhook=url)
    await client.runs.join(thread["thread_id"], run["run_id"])
    _until_sync(lambda: "attempt 1 failed" in server.log(), "a failed delivery attempt")
    server.stop()  # the delivery is not made yet; it is in the database

    receiver = _Receiver(port)
    server.start()
    try:
        _until_sync(lambda: receiver.bodies, "the delivery after the restart")
        [body] = receiver.bodies
        assert body["run_id"] == run["run_id"] and body["status"] == "success"
        assert body["values"]["visited"] == ["node_a", "node_b", "node_c"]
    finally:
        server.stop()
        receiver.close()
