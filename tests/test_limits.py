"""Request limits (issue 9, "Limits"): bodies above `--max-body-mb` get `413` JSON before
they are read into memory, whether their length is declared or they arrive chunked; JSON
nested deeper than the documented limit gets `400` saying so."""

from __future__ import annotations

import json

import httpx
import psutil
import pytest

#: The dedicated server's limit, small so that a 100 MB attempt is far above it.
LIMIT_MB = 4
MB = 1024 * 1024


@pytest.fixture(scope="module")
def limited(make_server, tmp_path_factory, backend):
    proc = make_server(tmp_path_factory.mktemp(f"limits-{backend}"), "--max-body-mb", str(LIMIT_MB)).start()
    yield proc
    proc.stop()


def _rss(server) -> int:
    return psutil.Process(server.proc.pid).memory_info().rss


def _input_of(size: int) -> bytes:
    """A run-create body of about `size` bytes."""
    return json.dumps({"assistant_id": "slow", "input": {"steps": 1, "delay": 0, "blob": "x" * size}}).encode()


def _chunks(total: int, chunk: int = MB):
    head = b'{"assistant_id": "slow", "input": {"blob": "'
    yield head
    sent = len(head)
    while sent < total:
        yield b"x" * chunk
        sent += chunk
    yield b'"}}'


def test_body_over_the_limit_is_413_json_and_the_connection_survives(limited):
    with httpx.Client(base_url=limited.url, timeout=120) as http:
        r = http.post("/runs", content=_input_of((LIMIT_MB + 1) * MB), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/json"
        assert f"{LIMIT_MB} MB" in r.json()["detail"] and "--max-body-mb" in r.json()["detail"]
        # Same client, next request: fine.
        assert http.get("/ok").json() == {"ok": True}
        # Chunked (no Content-Length): counted as it arrives.
        r = http.post("/runs", content=_chunks((LIMIT_MB + 1) * MB), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        # Not JSON either: the limit holds for any body.
        r = http.post("/runs", content=_chunks((LIMIT_MB + 1) * MB), headers={"content-type": "text/plain"})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        assert http.get("/ok").json() == {"ok": True}


def test_body_under_the_limit_is_served(limited):
    with httpx.Client(base_url=limited.url, timeout=120) as http:
        blob = "x" * ((LIMIT_MB - 1) * MB)
        r = http.post("/threads", json={"metadata": {"blob": blob}})
        assert r.status_code == 200, r.text[:300]
        thread = http.get(f"/threads/{r.json()['thread_id']}").json()
        assert thread["metadata"]["blob"] == blob
        r = http.post("/runs/wait", content=_input_of((LIMIT_MB - 1) * MB), headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["count"] == 1, r.text[:300]


def test_a_100_mb_body_does_not_grow_the_server(limited):
    """RSS after two 100 MB attempts (declared length, then chunked) stays within the limit
    plus a generous allowance for allocator noise: the bodies were never held."""
    with httpx.Client(base_url=limited.url, timeout=300) as http:
        http.get("/ok")
        before = _rss(limited)
        r = http.post("/runs", content=_input_of(100 * MB), headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = http.post("/runs", content=_chunks(100 * MB), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert http.get("/ok").status_code == 200
        grown = _rss(limited) - before
    assert grown < (LIMIT_MB + 40) * MB, f"server grew by {grown / MB:.0f} MB"


def test_limit_from_the_environment(make_server, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WAYPOINT_MAX_BODY_MB", "0.5")
    proc = make_server(tmp_path_factory.mktemp("limits-env")).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=60) as http:
            r = http.post("/threads", content=_input_of(MB), headers={"content-type": "application/json"})
            assert r.status_code == 413 and "0.5 MB" in r.json()["detail"]
            assert http.post("/threads", json={"metadata": {"small": True}}).status_code == 200
    finally:
        proc.stop()


def _nested(depth: int) -> str:
    """`{"metadata": {"k": [[...[1]...]]}}` with `depth` levels in all."""
    return '{"metadata": {"k": ' + "[" * (depth - 2) + "1" + "]" * (depth - 2) + "}}"


def test_json_nested_at_the_limit_is_accepted(limited):
    r = httpx.post(f"{limited.url}/threads", content=_nested(100), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("depth", [101, 2000, 100_000])
def test_json_nested_too_deeply_is_400(limited, depth):
    r = httpx.post(f"{limited.url}/threads", content=_nested(depth), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "nested too deeply" in r.json()["detail"] and "100" in r.json()["detail"]


def test_limits_apply_before_auth_reads_the_body(make_server, tmp_path_factory, backend):
    """Custom auth reads request bodies; the limits come first, so an oversized or bad body
    never reaches it (and still gets its JSON answer, without a token)."""
    from test_auth import auth_config

    work = tmp_path_factory.mktemp(f"limits-auth-{backend}")
    proc = make_server(work, "--max-body-mb", str(LIMIT_MB), config=auth_config(work / "langgraph.json")).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=300) as http:
            assert http.post("/threads", json={}).status_code == 401  # auth is on
            before = _rss(proc)
            r = http.post("/threads", content=_chunks(100 * MB), headers={"content-type": "application/json"})
            assert r.status_code == 413 and "too large" in r.json()["detail"]
            grown = _rss(proc) - before
            r = http.post("/threads", content=b'{"metadata": {"k": "\\ud800"}}', headers={"content-type": "application/json"})
            assert r.status_code == 422 and "surrogate" in r.json()["detail"]
            assert http.get("/ok").status_code == 200
    finally:
        proc.stop()
    assert grown < (LIMIT_MB + 40) * MB, f"server grew by {grown / MB:.0f} MB"
