"""Bad input gets a clear 4xx JSON answer naming the problem, never a 500, and never costs
the client its keep-alive connection; unexpected errors are JSON 500s with an error id.

Issue 9, "Never a 500". Runs on both backends (PostgreSQL `jsonb` cannot hold `\\u0000`,
so NUL is refused up front on both, before anything is written).
"""

from __future__ import annotations

import http.client
import json
import re
import uuid

import pytest


def _post(http, path, body_text: str):
    """POST a raw JSON text (to send what `json=` would escape or refuse)."""
    return http.post(path, content=body_text.encode(), headers={"content-type": "application/json"})


def _thread(http) -> str:
    r = http.post("/threads", json={})
    assert r.status_code == 200, r.text
    return r.json()["thread_id"]


def _assert_json_error(r, status: int, *needles: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    for needle in needles:
        assert needle in body["detail"], body
    return body


class KeepAliveConnection:
    """One raw HTTP/1.1 connection: proves a response did not cost the connection."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.sock = None

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        self.conn.request(method, path, body=body.encode() if body is not None else None,
                          headers={"content-type": "application/json", **(headers or {})})
        response = self.conn.getresponse()
        data = response.read()
        if self.sock is None:
            self.sock = self.conn.sock
        # http.client reopens silently when the server closed: the socket must be the same one.
        assert self.conn.sock is self.sock, "the server closed the keep-alive connection"
        return response.status, response.getheader("content-type"), data

    def close(self):
        self.conn.close()


# -- run create ----------------------------------------------------------------------

def test_config_configurable_must_be_an_object(http):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "slow", "config": {"configurable": "x"}})
    _assert_json_error(r, 422, "config.configurable")
    r = http.post("/assistants", json={"graph_id": "slow", "config": {"configurable": "x"}})
    _assert_json_error(r, 422, "config.configurable")
    assert http.get(f"/threads/{thread_id}/runs").json() == []


@pytest.mark.parametrize("value", [-1, 0, "x", True, 2.5])
def test_recursion_limit_must_be_a_positive_integer(http, value):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs",
                  json={"assistant_id": "slow", "config": {"recursion_limit": value}})
    _assert_json_error(r, 422, "config.recursion_limit")


def test_recursion_limit_is_applied(http):
    r = http.post("/runs/wait", json={"assistant_id": "slow", "input": {"steps": 1, "delay": 0},
                                      "config": {"recursion_limit": 5}})
    assert r.status_code == 200 and r.json()["count"] == 1


def test_command_must_set_something(http):
    thread_id = _thread(http)
    for command in ({}, {"resume": None, "update": None, "goto": None}):
        r = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "slow", "command": command})
        _assert_json_error(r, 422, "command", "update, resume, goto")
    assert http.get(f"/threads/{thread_id}/runs").json() == []


def test_input_and_command_together_are_refused(http):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs",
                  json={"assistant_id": "slow", "input": {"steps": 1}, "command": {"update": {"steps": 1}}})
    _assert_json_error(r, 422, "input", "command")
    assert http.get(f"/threads/{thread_id}/runs").json() == []


@pytest.mark.parametrize("goto", ["nope", ["tick", "nope"], {"node": "nope", "input": {}},
                                  [{"node": "nope", "input": 1}], "__start__"])
def test_command_goto_must_name_a_node(http, goto):
    graph = http.get("/assistants/slow/graph").json()
    assert "nope" not in {n["id"] for n in graph["nodes"]}
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "slow", "command": {"goto": goto}})
    _assert_json_error(r, 422, "command.goto", "nope" if "nope" in json.dumps(goto) else "__start__")
    # Stateless runs are checked the same way, before their temporary thread exists.
    r = http.post("/runs", json={"assistant_id": "slow", "command": {"goto": goto}})
    _assert_json_error(r, 422, "command.goto")
    assert http.get(f"/threads/{thread_id}/runs").json() == []


def test_command_goto_to_a_real_node_runs(http):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs/wait",
                  json={"assistant_id": "slow", "command": {"goto": "tick", "update": {"steps": 1, "delay": 0}}})
    assert r.status_code == 200 and r.json()["count"] == 1, r.text


def test_unknown_checkpoint_is_404(http):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "slow", "input": {"steps": 1, "delay": 0}})
    assert r.status_code == 200
    missing = "1f0c0000-0000-6000-8000-000000000000"
    for body in ({"checkpoint_id": missing}, {"checkpoint": {"checkpoint_id": missing}},
                 {"checkpoint": {"checkpoint_id": "not-a-checkpoint", "checkpoint_ns": ""}}):
        r = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "slow", **body})
        _assert_json_error(r, 404, "not found")
    r = http.post("/runs", json={"assistant_id": "slow", "checkpoint_id": missing})
    _assert_json_error(r, 404, "checkpoint")
    fresh = str(uuid.uuid4())
    r = http.post(f"/threads/{fresh}/runs", json={"assistant_id": "slow", "checkpoint_id": missing,
                                                   "if_not_exists": "create"})
    _assert_json_error(r, 404, "checkpoint")
    assert http.get(f"/threads/{fresh}").status_code == 404  # nothing was created
    assert len(http.get(f"/threads/{thread_id}/runs").json()) == 1
    # A checkpoint the thread has is accepted.
    history = http.get(f"/threads/{thread_id}/history").json()
    first = history[-1]["checkpoint"]["checkpoint_id"]
    r = http.post(f"/threads/{thread_id}/runs/wait",
                  json={"assistant_id": "slow", "checkpoint_id": first, "input": {"steps": 1, "delay": 0}})
    assert r.status_code == 200, r.text


# -- JSON bodies -----------------------------------------------------------------------

LONE_SURROGATE_BODIES = [
    ("/threads", '{"metadata": {"k": "\\ud800"}}'),
    ("/threads", '{"metadata": {"\\udc00": 1}}'),
    ("/runs", '{"assistant_id": "slow", "input": {"a": ["x\\ud800y"]}}'),
    ("/assistants/search", '{"metadata": {"k": "\\ud800"}}'),
    ("/threads/search", '{"values": {"k": "\\ud800"}}'),
    ("/store/items/search", '{"namespace_prefix": ["\\ud800"]}'),
]


@pytest.mark.parametrize("path,body", LONE_SURROGATE_BODIES)
def test_lone_surrogate_is_refused(server, path, body):
    conn = KeepAliveConnection(server.url)
    try:
        status, content_type, data = conn.request("POST", path, body)
        assert status == 422 and content_type == "application/json", data
        assert "surrogate" in json.loads(data)["detail"]
        status, _, data = conn.request("POST", "/threads", "{}")  # same connection, still fine
        assert status == 200, data
    finally:
        conn.close()


def test_nul_is_refused_naming_the_field_and_nothing_is_written(http):
    marker = uuid.uuid4().hex
    before = http.post("/threads/count", json={"metadata": {"marker": marker}}).json()
    assert before == 0
    r = _post(http, "/threads", json.dumps({"metadata": {"marker": marker, "note": "a\u0000b"}}))
    body = _assert_json_error(r, 422, "metadata.note", "NUL")
    assert body["errors"][0]["loc"] == ["body", "metadata", "note"]
    r = _post(http, "/threads", json.dumps({"metadata": {"marker": marker, "bad\u0000key": 1}}))
    _assert_json_error(r, 422, "metadata.bad", "NUL")
    assert http.post("/threads/count", json={"metadata": {"marker": marker}}).json() == 0

    thread_id = _thread(http)
    r = _post(http, f"/threads/{thread_id}/runs",
              json.dumps({"assistant_id": "slow", "input": {"steps": 1, "items": ["ok", "\u0000"]}}))
    _assert_json_error(r, 422, "input.items.1")
    r = _post(http, f"/threads/{thread_id}/runs",
              json.dumps({"assistant_id": "slow", "metadata": {"reviewer": "\u0000"}}))
    _assert_json_error(r, 422, "metadata.reviewer")
    assert http.get(f"/threads/{thread_id}/runs").json() == []

    r = _post(http, f"/threads/{thread_id}/state", json.dumps({"values": {"steps": 1, "note": "\u0000"}}))
    _assert_json_error(r, 422, "values.note")
    assert http.get(f"/threads/{thread_id}/history").json() == []

    r = http.patch(f"/threads/{thread_id}", content=json.dumps({"metadata": {"x": "\u0000"}}).encode(),
                   headers={"content-type": "application/json"})
    _assert_json_error(r, 422, "metadata.x")
    assert "x" not in http.get(f"/threads/{thread_id}").json()["metadata"]

    ns = ["nul", marker]
    r = http.put("/store/items", content=json.dumps({"namespace": ns, "key": "k", "value": {"v": "\u0000"}}).encode(),
                 headers={"content-type": "application/json"})
    _assert_json_error(r, 422, "value.v")
    missing = http.get("/store/items", params={"namespace": ".".join(ns), "key": "k"})
    assert missing.status_code == 404 or missing.json() is None  # the official server: 200 null

    r = _post(http, "/assistants", json.dumps({"graph_id": "slow", "name": "n\u0000", "metadata": {"m": marker}}))
    _assert_json_error(r, 422, "name")
    assert http.post("/assistants/count", json={"metadata": {"m": marker}}).json() == 0


def test_escaped_backslash_u0000_is_ordinary_text(http):
    """`"\\\\u0000"` in JSON is the six characters `\\u0000`, not a NUL: accepted."""
    r = _post(http, "/threads", '{"metadata": {"text": "\\\\u0000"}}')
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["text"] == "\\u0000"


def test_invalid_json_is_422(http):
    for text in ('{"metadata": ', '{"a": NaN}', "[1, 2", '{"a": "\x01"}'):
        r = _post(http, "/threads", text)
        _assert_json_error(r, 422, "invalid JSON")


def test_huge_integers_are_stored_without_error(http):
    r = _post(http, "/threads", '{"metadata": {"big": 123456789012345678901234567890}}')
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["big"] == pytest.approx(1.2345678901234568e29)


# -- paging --------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{"limit": -1}, {"limit": 0}, {"offset": -1}, {"limit": 10**30},
                                    {"offset": 2**63}, {"limit": "x"}])
def test_decisions_paging_out_of_range_is_422(http, params):
    thread_id = _thread(http)
    r = http.get(f"/threads/{thread_id}/decisions", params=params)
    _assert_json_error(r, 422, next(iter(params)))


def test_decisions_paging(http):
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "agent", "input": {"some_text": "t"}})
    assert r.status_code == 200 and r.json()["__interrupt__"], r.text
    r = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "agent", "command": {"resume": "ok"}})
    assert r.status_code == 200, r.text
    everything = http.get(f"/threads/{thread_id}/decisions").json()
    assert everything
    assert http.get(f"/threads/{thread_id}/decisions", params={"limit": 1}).json() == everything[:1]
    assert http.get(f"/threads/{thread_id}/decisions", params={"offset": len(everything)}).json() == []


@pytest.mark.parametrize("path,params", [
    ("/threads/{t}/runs", {"offset": 2**63}),
    ("/threads/{t}/runs", {"limit": 0}),
    ("/threads/{t}/history", {"limit": -5}),
    ("/threads/{t}/history", {"limit": 2**70}),
])
def test_other_paging_out_of_range_is_422(http, path, params):
    r = http.get(path.format(t=_thread(http)), params=params)
    _assert_json_error(r, 422, next(iter(params)))


# -- unexpected errors -----------------------------------------------------------------

def test_unexpected_error_is_json_500_with_logged_id_and_connection_survives(server, http):
    r = http.post("/assistants", json={"graph_id": "faulty", "config": {"configurable": {"explode": True}}})
    assert r.status_code == 200, r.text
    assistant_id = r.json()["assistant_id"]
    conn = KeepAliveConnection(server.url)
    try:
        status, content_type, data = conn.request("GET", f"/assistants/{assistant_id}/graph")
        assert status == 500 and content_type == "application/json", data
        body = json.loads(data)
        assert re.fullmatch(r"[0-9a-f]{32}", body["error_id"])
        assert body["error_id"] in body["detail"] and "exploded" not in body["detail"]
        # The same connection serves the next request.
        status, _, data = conn.request("GET", "/ok")
        assert status == 200 and json.loads(data) == {"ok": True}
    finally:
        conn.close()
    log = server.log()
    entry = log[log.index(body["error_id"]):]
    assert "Traceback" in entry and "the graph factory exploded on purpose" in entry


def test_graph_errors_are_logged_with_traceback(server, http):
    r = http.post("/runs/wait", json={"assistant_id": "failing", "input": {}})
    assert r.status_code == 200 and r.json()["__error__"]["error"] == "ValueError"
    run_id = r.headers["content-location"].rsplit("/", 1)[1]
    log = server.log()
    entry = log[log.index(f"run {run_id}: graph 'failing' raised ValueError"):]
    assert "Traceback" in entry and "the node exploded on purpose" in entry


def test_stream_failing_after_headers_ends_with_error_event(server, http):
    """A failure once the SSE headers are out ends the stream with an `error` event (here a
    `Last-Event-ID` the in-process broker cannot parse), and the connection stays usable."""
    thread_id = _thread(http)
    r = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "slow", "input": {"steps": 1, "delay": 0}})
    run_id = r.headers["content-location"].rsplit("/", 1)[1]
    conn = KeepAliveConnection(server.url)
    try:
        status, content_type, data = conn.request(
            "GET", f"/threads/{thread_id}/runs/{run_id}/stream", headers={"Last-Event-ID": "not-an-id"}
        )
        assert status == 200 and content_type.startswith("text/event-stream")
        text = data.decode()
        if "event: error" not in text:
            # A broker that understands this id (Redis ids look alike) replays the run instead.
            assert "event: values" in text
        else:
            event = json.loads(text.split("event: error", 1)[1].split("data: ", 1)[1].split("\n", 1)[0])
            assert event["error"] and event["message"]
        status, _, _ = conn.request("GET", "/ok")
        assert status == 200
    finally:
        conn.close()


@pytest.mark.parametrize("url,name", [
    ("/assistants/a%00b", "path"),
    ("/assistants/a%00b/graph", "path"),
    ("/store/items?key=k%00&namespace=a.b", "key"),
    ("/store/items?key=k&namespace=a%00.b", "namespace"),
])
def test_nul_in_the_url_is_422(http, url, name):
    _assert_json_error(http.get(url), 422, name, "NUL")


@pytest.mark.parametrize("ttl,status", [(5e-324, 422), (1e-9, 422), (-1, 422), (1e12, 422), (0.5, 204)])
def test_store_ttl_out_of_range_is_422(http, ttl, status):
    """Found by the fuzzer: a denormal `ttl` reached PostgreSQL as `2.96e-322 seconds`."""
    r = http.put("/store/items", json={"namespace": ["ttl", uuid.uuid4().hex], "key": "k", "value": {}, "ttl": ttl})
    assert r.status_code == status, r.text
    if status == 422:
        assert "ttl" in r.json()["detail"]
