"""Custom auth (`langgraph.json` → `auth.path`) through the official SDK with several
users' tokens: authentication errors, isolation across every endpoint family (with a
seeded, bounded randomized cross-user sweep), filters (`$eq`, `$contains`), 403s, the
user reaching the graph, and the reviewer identity of decisions.
The policy under test is `tests/auth/auth.py`."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import start_up_error, write_config
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError
from langgraph_sdk.schema import Command

AUTH_DIR = Path(__file__).resolve().parent / "auth"
SECRET = "alice-secret-7f3a"  # only ever in alice's data: a response holding it to anyone else leaks


def auth_config(path: Path, **extra) -> Path:
    config = write_config(path, auth={
        "path": str(AUTH_DIR / "auth.py") + ":auth",
        "cache": {"cache_keys": ["Authorization"], "ttl_seconds": 3600, "max_size": 10},
        "openapi": {"securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}},
                    "security": [{"BearerAuth": []}]},
    }, **extra)
    data = json.loads(config.read_text())
    data["graphs"]["whoami"] = str(AUTH_DIR / "whoami.py") + ":make_graph"
    config.write_text(json.dumps(data))
    return config


@pytest.fixture(scope="module")
def auth_server(make_server, tmp_path_factory, backend, output_dir):
    work = tmp_path_factory.mktemp(f"auth-{backend}")
    proc = make_server(work, config=auth_config(work / "langgraph.json"))
    proc.start()
    yield proc
    proc.stop()
    (output_dir / f"server-auth-{backend}.log").write_text(proc.log())


def sdk(server, token: str | None):
    return get_client(url=server.url, headers={"Authorization": f"Bearer {token}"} if token else None)


def http_as(server, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


async def test_authentication_statuses_and_public_routes(auth_server):
    async with http_as(auth_server, None) as anon:
        missing = await anon.post("/threads", json={})
        assert missing.status_code == 401 and missing.json() == {"detail": "Invalid or missing token"}
        assert missing.headers["www-authenticate"] == "Bearer"
        assert (await anon.get("/inbox/items")).status_code == 401
        assert (await anon.get("/ok")).status_code == 200
        assert (await anon.get("/inbox")).status_code == 200
        spec = (await anon.get("/openapi.json")).json()
        assert spec["components"]["securitySchemes"]["BearerAuth"] == {"type": "http", "scheme": "bearer"}
        assert spec["security"] == [{"BearerAuth": []}]
    async with http_as(auth_server, "token-bob") as bob:  # ids that are not UUIDs: the route's 422
        assert (await bob.get("/threads/not-a-uuid")).status_code == 422
        assert (await bob.post("/threads/not-a-uuid/runs", json={"assistant_id": "agent"})).status_code == 422
        assert (await bob.post("/threads/search", json=[1, 2])).status_code == 422  # not an object
        r = await bob.post("/threads", content=b'{"metadata": {"a": "\\ud800"}}',
                           headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/json"
        r = await bob.post("/threads", json={"metadata": {"explode": True}})
        assert r.status_code == 500 and "auth handler failed (error id" in r.json()["detail"]
        error_id = r.json()["detail"].split("error id ")[1].rstrip(")")
        assert f"auth handler failed (error id {error_id})" in auth_server.log()
    async with http_as(auth_server, "nope") as bad:
        assert (await bad.post("/threads/search", json={})).status_code == 401
    async with http_as(auth_server, "boom") as broken:  # the handler raised something else
        r = await broken.post("/threads/search", json={})
        assert r.status_code == 401 and r.json()["detail"] == "Unauthorized"
    assert "auth is on: custom auth from" in auth_server.log()


async def test_auth_cache_reuses_a_user_per_header_value(auth_server):
    async def me(authorization: str) -> str:
        async with httpx.AsyncClient(base_url=auth_server.url) as c:
            return (await c.get("/inbox/me", headers={"Authorization": authorization})).json()["display_name"]

    first = await me("Bearer token-counted")
    assert await me("Bearer token-counted") == first  # answered from the cache
    assert await me("Bearer  token-counted") != first  # another header value: authenticated again


async def test_owner_stamped_and_filters_hide_other_users_threads(auth_server):
    alice, bob, dave = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob"), sdk(auth_server, "token-dave")
    tag = str(uuid.uuid4())
    mine = await alice.threads.create(metadata={"tag": tag, "secret": SECRET})
    shared = await alice.threads.create(metadata={"tag": tag, "invite": ["dave"]})
    assert mine["metadata"]["owner"] == "alice" and mine["metadata"]["participants"] == ["alice"]
    assert shared["metadata"]["participants"] == ["alice", "dave"]

    assert {t["thread_id"] for t in await alice.threads.search(metadata={"tag": tag})} == {
        mine["thread_id"], shared["thread_id"]}
    assert await bob.threads.search(metadata={"tag": tag}) == []
    assert await bob.threads.count(metadata={"tag": tag}) == 0
    # A search naming another owner cannot widen the filter.
    assert await bob.threads.search(metadata={"owner": "alice"}) == []
    # $contains: dave reads and lists the thread he was invited to, but may not change it.
    assert [t["thread_id"] for t in await dave.threads.search(metadata={"tag": tag})] == [shared["thread_id"]]
    assert (await dave.threads.get(shared["thread_id"]))["thread_id"] == shared["thread_id"]
    assert await dave.threads.get_history(shared["thread_id"]) == []  # a POST that reads
    with pytest.raises(NotFoundError):
        await dave.threads.update(shared["thread_id"], metadata={"owner": "dave"})
    with pytest.raises(NotFoundError):
        await bob.threads.get(mine["thread_id"])
    # Creating over another user's id neither reveals nor returns it.
    async with http_as(auth_server, "token-bob") as b:
        r = await b.post("/threads", json={"thread_id": mine["thread_id"], "if_exists": "do_nothing"})
        assert r.status_code == 409 and SECRET not in r.text


async def test_forbidden_is_403(auth_server):
    carol = sdk(auth_server, "token-carol")
    thread = await carol.threads.create()
    async with http_as(auth_server, "token-carol") as c:
        r = await c.delete(f"/threads/{thread['thread_id']}")
        assert r.status_code == 403 and "delete" in r.json()["detail"]
        # No handler allows crons-like unknown resources; the global handler denies a patch
        # of an assistant the user does not own as 404 (filtered), not as success.
        r = await c.patch("/assistants/agent", json={"metadata": {"x": 1}})
        assert r.status_code == 404
    assert (await carol.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]


async def test_user_reaches_graph_and_factory(auth_server):
    alice = sdk(auth_server, "token-alice")
    thread = await alice.threads.create()
    out = await alice.runs.wait(thread["thread_id"], "whoami", input={},
                                config={"configurable": {"langgraph_auth_user_id": "mallory"}})
    assert out == {"built_for": "alice", "run_by": "alice", "display_name": "Alice",
                   "permissions": ["threads:delete"]}


async def test_user_reaches_server_runtime_of_factory(auth_server):
    """A `(config, runtime)` factory sees the authenticated user as `runtime.user`."""
    alice = sdk(auth_server, "token-alice")
    thread = await alice.threads.create()
    out = await alice.runs.wait(thread["thread_id"], "runtime_factory", input={"text": "hi"})
    assert out["user"] == "alice" and out["access_context"] == "threads.create_run"
    # State reads rebuild the factory for the requesting user too.
    assert (await alice.threads.get_state(thread["thread_id"]))["values"]["user"] == "alice"


async def test_reviewer_is_the_authenticated_identity(auth_server):
    alice = sdk(auth_server, "token-alice")
    thread = await alice.threads.create()
    tid = thread["thread_id"]
    await alice.runs.wait(tid, "agent", input={"some_text": "draft"})
    await alice.runs.wait(tid, "agent", command=Command(resume="final"), metadata={"reviewer": "the-ceo"})
    decisions = await alice.http.get(f"/threads/{tid}/decisions")
    assert [(d["reviewer"], d["value"]) for d in decisions] == [("alice", "final")]
    runs = await alice.runs.list(tid)
    resume = next(r for r in runs if r["metadata"].get("reviewer_note"))
    assert resume["metadata"]["reviewer_note"] == "the-ceo" and resume["metadata"].get("reviewer") is None
    async with http_as(auth_server, "token-bob") as b:
        assert (await b.get(f"/threads/{tid}/decisions")).status_code == 404


async def test_store_is_scoped_per_user(auth_server):
    alice, bob = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob")
    await alice.store.put_item(["notes"], "k", {"secret": SECRET})
    assert (await alice.store.get_item(["notes"], "k"))["value"] == {"secret": SECRET}
    assert (await alice.store.get_item(["notes"], "k"))["namespace"] == ["alice", "notes"]
    for namespace in (["notes"], ["alice", "notes"]):
        try:
            item = await bob.store.get_item(namespace, "k")
        except NotFoundError:
            item = None
        assert item is None
    found = await bob.store.search_items([])
    assert all(i["namespace"][0] == "bob" for i in found["items"])
    namespaces = (await bob.store.list_namespaces())["namespaces"]
    assert all(ns[0] == "bob" for ns in namespaces)


async def _alice_world(server) -> dict:
    """Alice's resources of every family: a paused thread with runs and a decision, a
    finished thread, an assistant, a store item."""
    alice = sdk(server, "token-alice")
    paused = await alice.threads.create(metadata={"secret": SECRET})
    await alice.runs.wait(paused["thread_id"], "agent", input={"some_text": SECRET})
    done = await alice.threads.create(metadata={"secret": SECRET})
    await alice.runs.wait(done["thread_id"], "agent", input={"some_text": SECRET})
    await alice.runs.wait(done["thread_id"], "agent", command=Command(resume=SECRET))
    runs = await alice.runs.list(done["thread_id"])
    assistant = await alice.assistants.create("agent", metadata={"secret": SECRET}, name=SECRET)
    await alice.store.put_item(["sweep"], "item", {"secret": SECRET})
    state = await alice.threads.get_state(done["thread_id"])
    cron = await alice.crons.create_for_thread(done["thread_id"], "agent", schedule="0 0 1 1 *",
                                               input={"some_text": SECRET}, metadata={"secret": SECRET})
    return {"paused": paused["thread_id"], "done": done["thread_id"], "run": runs[0]["run_id"],
            "assistant": assistant["assistant_id"], "checkpoint": state["checkpoint"]["checkpoint_id"],
            "cron": cron["cron_id"]}


def _requests(w: dict) -> list[tuple[str, str, dict | None, dict | None]]:
    """Every endpoint family aimed at alice's resources: (method, path, json, params)."""
    t, d, r, a = w["paused"], w["done"], w["run"], w["assistant"]
    return [
        ("GET", f"/threads/{t}", None, None), ("GET", f"/threads/{d}", None, None),
        ("PATCH", f"/threads/{d}", {"metadata": {"owner": "bob"}}, None),
        ("DELETE", f"/threads/{d}", None, None),
        ("POST", f"/threads/{d}/copy", {}, None),
        ("GET", f"/threads/{d}/state", None, None),
        ("GET", f"/threads/{d}/state/{w['checkpoint']}", None, None),
        ("POST", f"/threads/{d}/state/checkpoint", {"checkpoint": {"checkpoint_id": w["checkpoint"]}}, None),
        ("POST", f"/threads/{t}/state", {"values": {"some_text": "x"}}, None),
        ("POST", f"/threads/{d}/history", {"limit": 5}, None), ("GET", f"/threads/{d}/history", None, None),
        ("GET", f"/threads/{d}/decisions", None, None),
        ("GET", f"/threads/{d}/stream", None, None),
        ("GET", f"/threads/{d}/runs", None, None),
        ("GET", f"/threads/{d}/runs/{r}", None, None),
        ("GET", f"/threads/{d}/runs/{r}/join", None, None),
        ("GET", f"/threads/{d}/runs/{r}/stream", None, None),
        ("POST", f"/threads/{d}/runs/{r}/cancel", None, None),
        ("DELETE", f"/threads/{d}/runs/{r}", None, None),
        ("POST", f"/threads/{t}/runs", {"assistant_id": "agent", "command": {"resume": "bob"}}, None),
        ("POST", f"/threads/{t}/runs/wait", {"assistant_id": "agent", "command": {"resume": "bob"}}, None),
        ("POST", f"/threads/{t}/runs/stream", {"assistant_id": "agent", "input": {"some_text": "x"}}, None),
        ("POST", f"/threads/{t}/runs", {"assistant_id": "agent", "input": {}, "if_not_exists": "create"}, None),
        ("POST", "/threads/search", {"metadata": {"secret": SECRET}}, None),
        ("POST", "/threads/search", {"metadata": {"owner": "alice"}, "limit": 100}, None),
        ("POST", "/threads/search", {"ids": [t, d]}, None),
        ("POST", "/threads/search", {"values": {"some_text": SECRET}}, None),
        ("POST", "/threads/count", {"metadata": {"secret": SECRET}}, None),
        ("POST", "/threads", {"thread_id": d, "if_exists": "do_nothing"}, None),
        ("GET", "/inbox/items", None, {"metadata": json.dumps({"secret": SECRET})}),
        ("GET", "/inbox/items", None, None),
        ("GET", f"/threads/{d}/storage", None, None),
        ("POST", "/runs/cancel", {"thread_id": d, "run_ids": [r]}, None),
        ("POST", "/runs/cancel", {"status": "all"}, {"action": "rollback"}),
        ("POST", "/runs/batch", [{"assistant_id": "agent", "input": {"some_text": "bob"}}], None),
        ("POST", f"/assistants/{a}/latest", {"version": 1}, None),
        ("PATCH", f"/assistants/{a}", {"metadata": {"x": 1}}, None),
        ("DELETE", f"/assistants/{a}", None, None),
        ("GET", "/store/items", None, {"namespace": "sweep", "key": "item"}),
        ("GET", "/store/items", None, {"namespace": "alice.sweep", "key": "item"}),
        ("POST", "/store/items/search", {"namespace_prefix": ["alice"]}, None),
        ("POST", "/store/items/search", {"namespace_prefix": []}, None),
        ("POST", "/store/namespaces", {}, None),
        ("DELETE", "/store/items", {"namespace": ["alice", "sweep"], "key": "item"}, None),
        # A2A: alice's runs are not bob's tasks, her threads not his contexts.
        ("POST", "/a2a/agent", _rpc("tasks/get", {"id": r}), None),
        ("POST", "/a2a/agent", _rpc("tasks/cancel", {"id": r}), None),
        ("POST", "/a2a/agent", _rpc("message/send", {"message": {
            "role": "user", "messageId": "m-bob", "contextId": t,
            "parts": [{"kind": "data", "data": {"some_text": "bob"}}]}}), None),
        ("GET", f"/runs/crons/{w['cron']}", None, None),
        ("PATCH", f"/runs/crons/{w['cron']}", {"enabled": False, "metadata": {"owner": "bob"}}, None),
        ("DELETE", f"/runs/crons/{w['cron']}", None, None),
        ("POST", "/runs/crons/search", {"metadata": {"secret": SECRET}}, None),
        ("POST", "/runs/crons/search", {"thread_id": d, "limit": 100}, None),
        ("POST", "/runs/crons/count", {"thread_id": d}, None),
        ("POST", f"/threads/{d}/runs/crons", {"assistant_id": "agent", "schedule": "0 0 1 1 *"}, None),
    ]


def _rpc(method: str, params: dict) -> dict:
    return {"jsonrpc": "2.0", "id": "1", "method": method, "params": params}


#: Per request, what bob may get back: a refusal, or an answer holding nothing of alice's.
_ALLOWED = {200, 202, 204, 403, 404, 409}


async def test_randomized_cross_user_sweep_finds_no_leak(auth_server):
    world = await _alice_world(auth_server)
    requests = _requests(world)
    rng = random.Random(20261123)
    plan = [rng.choice(requests) for _ in range(520)]
    counts: dict[int, int] = {}
    async with http_as(auth_server, "token-bob") as bob:
        for method, path, body, params in plan:
            r = await bob.request(method, path, json=body, params=params)
            counts[r.status_code] = counts.get(r.status_code, 0) + 1
            assert r.status_code in _ALLOWED, (method, path, r.status_code, r.text)
            assert SECRET not in r.text, (method, path, r.text)
            if r.status_code < 300 and r.text.strip() and method == "GET" and path.startswith("/threads/"):
                pytest.fail(f"bob read alice's {path}: {r.text[:200]}")
    print("sweep status counts", counts)
    assert counts.get(404, 0) > 200  # most of the sweep hit alice's records and found nothing
    # Nothing of alice's changed under the sweep.
    alice = sdk(auth_server, "token-alice")
    assert (await alice.threads.get(world["done"]))["metadata"]["owner"] == "alice"
    assert (await alice.threads.get(world["paused"]))["status"] == "interrupted"
    assert len(await alice.runs.list(world["done"])) >= 2
    assert (await alice.assistants.get(world["assistant"]))["metadata"] == {"secret": SECRET, "owner": "alice"}
    assert (await alice.store.get_item(["sweep"], "item"))["value"] == {"secret": SECRET}
    decisions = await alice.http.get(f"/threads/{world['done']}/decisions")
    assert [d["reviewer"] for d in decisions] == ["alice"]
    cron = await alice.http.get(f"/runs/crons/{world['cron']}")
    assert cron["enabled"] is True and cron["metadata"] == {"secret": SECRET, "owner": "alice"}
    assert await alice.crons.count(thread_id=world["done"]) == 1


async def test_crons_are_their_owners_and_run_as_them(auth_server):
    """`crons.*` handlers: the creator is stamped and is the cron's `user_id`; others neither
    see nor change it, nor put a cron on a thread they may not run on; the cron's runs
    reach the graph as its creator."""
    alice, bob = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob")
    thread = await alice.threads.create()
    tid = thread["thread_id"]
    cron = await alice.crons.create_for_thread(tid, "whoami", schedule="* * * * * *", input={},
                                               config={"configurable": {"langgraph_auth_user_id": "mallory"}})
    assert cron["user_id"] == "alice" and cron["metadata"] == {"owner": "alice"}
    assert cron["cron_id"] in [c["cron_id"] for c in await alice.crons.search(thread_id=tid)]
    assert await bob.crons.search(thread_id=tid) == [] and await bob.crons.count(thread_id=tid) == 0
    for call in (bob.http.get(f"/runs/crons/{cron['cron_id']}"), bob.crons.delete(cron["cron_id"]),
                 bob.crons.update(cron["cron_id"], enabled=False),
                 bob.crons.create_for_thread(tid, "whoami", schedule="* * * * * *")):
        with pytest.raises(NotFoundError):
            await call
    for _ in range(900):  # the first tick's run (a generous wait)
        if any(r["status"] == "success" for r in await alice.runs.list(tid)):
            break
        await asyncio.sleep(0.1)
    await alice.crons.delete(cron["cron_id"])
    values = (await alice.threads.get_state(tid))["values"]
    assert values["run_by"] == "alice" and values["built_for"] == "alice"


async def test_cross_origin_browser_with_a_token(auth_server, page_origin_fixture):
    """The browser page from another origin calls the authenticated API with `fetch` and the
    JS SDK, sending a bearer token (preflighted Authorization header)."""
    from test_cors import run_cross_origin_page

    browser, page_origin = page_origin_fixture
    out, _ = await run_cross_origin_page(browser, page_origin, auth_server.url, token="token-alice")
    assert "error" not in out, out["error"]
    assert out["sdk_values"] == {"some_text": "edited by sdk"}
    assert out["sdk_thread"] in out["sdk_search"]
    alice = sdk(auth_server, "token-alice")
    assert (await alice.threads.get(out["sdk_thread"]))["metadata"]["owner"] == "alice"
    with pytest.raises(NotFoundError):
        await sdk(auth_server, "token-bob").threads.get(out["sdk_thread"])


@pytest.fixture(scope="module")
def page_origin_fixture(browser, page_origin):
    return browser, page_origin


from test_cors import page_origin  # noqa: E402,F401  (the CORS tests' page server fixture)


@pytest.mark.parametrize("section, message", [
    ({"path": "./missing.py:auth"}, "does not exist"),
    ({"path": str(AUTH_DIR / "auth.py") + ":nope"}, "failed to load"),
    ({"path": str(AUTH_DIR / "auth.py") + ":auth", "cache": {"ttl_seconds": 5}}, "auth.cache must be an object with cache_keys"),
    ({"path": str(AUTH_DIR / "auth.py") + ":auth", "cahce": {}}, "auth.cahce is not supported"),
])
def test_bad_auth_config_fails_at_start_up(tmp_path, section, message):
    config = write_config(tmp_path / "langgraph.json", auth=section)
    stderr = start_up_error(config)
    assert message in stderr, stderr


def test_without_auth_the_log_says_auth_is_off(server):
    assert "auth is off" in server.log()
    assert httpx.post(f"{server.url}/threads", json={}).status_code == 200


async def test_protocol_run_start_is_a_run_creation(auth_server):
    """`run.start` through `POST /threads/{id}/commands` authorizes as `threads.create_run`:
    the thread it creates carries the owner the handler stamps, and another user can neither
    start a run on it nor send it other commands."""
    tid = str(uuid.uuid4())
    start = {"id": 1, "method": "run.start",
             "params": {"assistant_id": "agent", "input": {"some_text": "protocol"}}}
    async with http_as(auth_server, "token-alice") as alice, http_as(auth_server, "token-bob") as bob:
        r = await alice.post(f"/threads/{tid}/commands", json=start)
        assert r.status_code == 200 and r.json()["type"] == "success", r.text
        thread = (await alice.patch(f"/threads/{tid}", json={"metadata": {}})).json()
        assert thread["metadata"]["owner"] == "alice"
        assert (await bob.post(f"/threads/{tid}/commands", json=start)).status_code == 404
        r = await bob.post(f"/threads/{tid}/commands", json={"id": 2, "method": "run.cancel", "params": {}})
        assert r.status_code == 404


async def test_protocol_websocket_commands_are_authorized_like_http(auth_server):
    """Over a WebSocket session every command is authorized as `POST …/commands` is (the
    upgrade only as a thread read): a participant who may read the thread cannot run or
    cancel on it; the owner's runs (`run.start`, `state.fork`) carry the owner into the graph."""
    import websockets

    tid = str(uuid.uuid4())
    ws_url = auth_server.url.replace("http://", "ws://") + f"/threads/{tid}/stream/events"

    async def session(token: str):
        return websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"})

    async def call(ws, command_id: int, method: str, params: dict) -> dict:
        await ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:  # skip events: the answer is the frame with this id
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame.get("type") != "event" and frame.get("id") == command_id:
                return frame

    async with sdk(auth_server, "token-alice") as alice_sdk:
        await alice_sdk.threads.create(thread_id=tid, metadata={"invite": ["bob"]})
    async with await session("token-alice") as alice:
        started = await call(alice, 1, "run.start", {"assistant_id": "whoami", "input": {}})
        assert started["type"] == "success", started
    async with sdk(auth_server, "token-alice") as alice_sdk:
        await alice_sdk.runs.join(tid, started["result"]["run_id"])
        state = await alice_sdk.threads.get_state(tid)
        assert state["values"]["run_by"] == "alice"
        first = (await alice_sdk.threads.get_history(tid, limit=10))[-1]["checkpoint"]["checkpoint_id"]

    async with await session("token-bob") as bob:  # bob may read the thread, not run on it
        sub = await call(bob, 1, "subscription.subscribe", {"channels": ["lifecycle"], "since": 0})
        assert sub["type"] == "success", sub
        for command_id, method, params in [
            (2, "run.start", {"assistant_id": "whoami", "input": {}}),
            (3, "state.fork", {"checkpoint_id": first}),
            (4, "run.cancel", {}),
        ]:
            refused = await call(bob, command_id, method, params)
            assert refused["type"] == "error" and refused["error"] == "permission_denied", refused
    with pytest.raises(websockets.InvalidStatus) as refused_upgrade:  # not a participant: no session
        async with await session("token-carol"):
            pass
    assert refused_upgrade.value.response.status_code == 403

    async with await session("token-alice") as alice:  # a fork is a run of the owner's too
        forked = await call(alice, 1, "state.fork", {"checkpoint_id": first})
        assert forked["type"] == "success", forked
    async with sdk(auth_server, "token-alice") as alice_sdk:
        await alice_sdk.runs.join(tid, forked["result"]["run_id"])
        runs = await alice_sdk.runs.list(tid)
        assert len(runs) == 2 and {r["status"] for r in runs} == {"success"}
        assert (await alice_sdk.threads.get_state(tid))["values"]["run_by"] == "alice"


async def test_mcp_and_a2a_act_as_the_authenticated_caller(auth_server):
    """Both protocols authenticate like every route; A2A contexts are threads and MCP calls
    run on threads the caller owns (stamped by the `threads.create` handler), a task is
    visible to its thread's readers only, and a resume through A2A records the caller."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with http_as(auth_server, None) as anon:
        for method, path in (("POST", "/mcp/"), ("POST", "/a2a/agent"),
                             ("GET", "/.well-known/agent-card.json?assistant_id=agent")):
            r = await anon.request(method, path, json=_rpc("tasks/get", {"id": str(uuid.uuid4())}))
            assert r.status_code == 401, (path, r.text)
    alice, bob = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob")
    async with http_as(auth_server, "token-alice") as a, http_as(auth_server, "token-bob") as b:
        assert (await a.get("/.well-known/agent-card.json", params={"assistant_id": "agent"})).status_code == 200
        sent = (await a.post("/a2a/agent", json=_rpc("message/send", {"message": {
            "role": "user", "messageId": "m-1", "parts": [{"kind": "data", "data": {"some_text": "a2a draft"}}]}}))).json()
        task = sent["result"]
        assert task["status"]["state"] == "input-required", sent
        thread = await alice.threads.get(task["contextId"])
        assert thread["metadata"]["owner"] == "alice" and thread["metadata"]["participants"] == ["alice"]
        for method in ("tasks/get", "tasks/cancel"):
            refused = (await b.post("/a2a/agent", json=_rpc(method, {"id": task["id"]}))).json()
            assert refused["error"]["code"] == -32001, refused  # TaskNotFound
        hijack = (await b.post("/a2a/agent", json=_rpc("message/send", {"message": {
            "role": "user", "messageId": "m-2", "contextId": task["contextId"], "taskId": task["id"],
            "parts": [{"kind": "text", "text": "bob's answer"}]}}))).json()
        assert "error" in hijack and "a2a draft" not in str(hijack)
        resumed = (await a.post("/a2a/agent", json=_rpc("message/send", {"message": {
            "role": "user", "messageId": "m-3", "contextId": task["contextId"], "taskId": task["id"],
            "parts": [{"kind": "text", "text": "alice's answer"}]}}))).json()
        assert resumed["result"]["status"]["state"] == "completed", resumed
    decisions = await alice.http.get(f"/threads/{task['contextId']}/decisions")
    assert [(d["reviewer"], d["value"]) for d in decisions] == [("alice", "alice's answer")]

    async with create_mcp_http_client(headers={"Authorization": "Bearer token-alice"}) as http:
        async with streamable_http_client(f"{auth_server.url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert "agent" in {t.name for t in (await session.list_tools()).tools}
                paused = (await session.call_tool("agent", {"some_text": "mcp draft"})).structured_content
    assert paused["status"] == "interrupted"
    thread = await alice.threads.get(paused["thread_id"])
    assert thread["metadata"]["owner"] == "alice" and thread["metadata"]["participants"] == ["alice"]
    with pytest.raises(NotFoundError):
        await bob.threads.get(paused["thread_id"])


async def test_bulk_runs_respect_thread_filters(auth_server):
    """A bulk cancel is `threads.update`: by status it reaches only the threads the handler's
    filter lets the caller change, by run ids a filtered-out thread is a 404; each run of a
    batch is a `threads.create_run` (stamped by the handler)."""
    alice, bob = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob")
    thread_id = (await alice.threads.create())["thread_id"]
    delayed = await alice.runs.create(thread_id, "agent", input={"some_text": "later"}, after_seconds=600)
    await bob.runs.cancel_many(status="all")
    assert (await alice.runs.get(thread_id, delayed["run_id"]))["status"] == "pending"
    with pytest.raises(NotFoundError):
        await bob.runs.cancel_many(thread_id=thread_id, run_ids=[delayed["run_id"]])
    assert (await alice.runs.get(thread_id, delayed["run_id"]))["status"] == "pending"
    await alice.runs.cancel_many(status="pending")
    assert (await alice.runs.get(thread_id, delayed["run_id"]))["status"] == "interrupted"

    runs = await bob.runs.create_batch([{"assistant_id": "agent", "input": {"some_text": "b"}},
                                        {"assistant_id": "agent", "input": {"some_text": "c"}}])
    assert [r["metadata"]["owner"] for r in runs] == ["bob", "bob"]
