"""Run options: timeouts, delayed runs, client disconnects, webhooks."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import free_port


async def _until(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_run_timeout_from_config(client):
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"], "slow", input={"steps": 1000, "delay": 0.05}, config={"run_timeout": 0.5}
    )
    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["__error__"]["error"] == "TimeoutError"
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "timeout"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "error"
    # The thread takes new runs afterwards.
    again = await client.runs.wait(thread["thread_id"], "slow", input={"steps": 1, "delay": 0, "count": 0})
    assert again["count"] == 1


async def test_invalid_run_timeout_and_webhook(http):
    thread = http.post("/threads", json={}).json()
    r = http.post(f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "slow", "config": {"run_timeout": -1}})
    assert r.status_code == 422 and "run_timeout" in r.json()["detail"]
    r = http.post(f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "slow", "webhook": "ftp://x"})
    assert r.status_code == 422 and "webhook" in r.json()["detail"]


async def test_after_seconds_delays_the_run(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={"steps": 1, "delay": 0}, after_seconds=1.0)
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "pending"
    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["count"] == 1
    history = await client.threads.get_history(thread["thread_id"], metadata={"source": "input"})
    started = datetime.fromisoformat(history[0]["created_at"])
    assert (started - datetime.fromisoformat(run["created_at"])).total_seconds() >= 1.0


@pytest.mark.parametrize("endpoint", ["stream", "wait"])
async def test_on_disconnect_cancel(client, server, endpoint):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    body = {"assistant_id": "slow", "input": {"steps": 200, "delay": 0.05}, "on_disconnect": "cancel"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        async with h.stream("POST", f"/threads/{tid}/runs/{endpoint}", json=body) as response:
            assert response.status_code == 200
            run_id = response.headers["content-location"].rsplit("/", 1)[-1]
            await _until(lambda: _status_is(client, tid, run_id, "running"))
        # the client went away mid-run
    await _until(lambda: _status_is(client, tid, run_id, "interrupted"))
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_on_disconnect_continue_is_the_default(client, server):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    body = {"assistant_id": "slow", "input": {"steps": 5, "delay": 0.05}}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        async with h.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            run_id = response.headers["content-location"].rsplit("/", 1)[-1]
    result = await client.runs.join(tid, run_id)
    assert result["count"] == 5
    assert (await client.runs.get(tid, run_id))["status"] == "success"


async def _status_is(client, tid, run_id, status):
    return (await client.runs.get(tid, run_id))["status"] == status


class _Receiver:
    """A loopback HTTP server recording webhook POSTs; fails the first `fail_first` of them."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


async def test_webhook_receives_finished_run(client, receiver):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "chain", input={"input": "hook"}, webhook=receiver.url)
    await client.runs.join(thread["thread_id"], run["run_id"])
    await _until(lambda: _has(receiver.bodies))
    body = receiver.bodies[0]
    assert body["run_id"] == run["run_id"] and body["thread_id"] == thread["thread_id"]
    assert body["status"] == "success"
    assert body["values"] == {"input": "hook", "visited": ["node_a", "node_b", "node_c"]}
    assert body["run_started_at"] and body["run_ended_at"] and body["webhook_sent_at"]


async def test_webhook_on_failed_run_reports_error(client, receiver):
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "failing", input={}, webhook=receiver.url, raise_error=False)
    await _until(lambda: _has(receiver.bodies))
    assert receiver.bodies[0]["status"] == "error"
    assert receiver.bodies[0]["error"] == {"error": "ValueError", "message": "the node exploded on purpose"}


async def test_webhook_retries_until_delivered(client):
    receiver = _Receiver(fail_first=2)
    try:
        await client.runs.wait(None, "chain", input={"input": "retry"}, webhook=receiver.url)
        await _until(lambda: _has(receiver.bodies))
        assert receiver.attempts == 3 and len(receiver.bodies) == 1
    finally:
        receiver.close()


async def _has(items):
    return bool(items)
