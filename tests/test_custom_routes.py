"""`http.app`: a user's FastAPI app beside the API — its routes first, its middleware on
every response, its lifespan, and auth on custom routes only when asked (LangGraph docs:
custom routes, custom middleware, custom lifespan)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import write_config

GRAPHS = Path(__file__).resolve().parent / "graphs"
AUTH = str(Path(__file__).resolve().parent / "auth" / "auth.py") + ":auth"
ALICE = {"Authorization": "Bearer token-alice"}


def serve(make_server, tmp_path_factory, name: str, *, auth: bool = False, **http):
    """A server whose langgraph.json has `http.app` = tests/graphs/webapp.py plus `http`
    settings (and the auth tests' policy with `auth`); `(server, its lifespan.log)`."""
    work = tmp_path_factory.mktemp(name)
    sections = {"http": {"app": str(GRAPHS / "webapp.py") + ":app", **http}}
    if auth:
        sections["auth"] = {"path": AUTH}
    config = write_config(work / "langgraph.json", **sections)
    return make_server(work, config=config), work / "lifespan.log"


@pytest.fixture(scope="module")
def open_server(make_server, tmp_path_factory, backend):
    proc, log = serve(make_server, tmp_path_factory, f"custom-{backend}")
    proc.start()
    yield proc, log
    proc.stop()
    assert log.read_text().split() == ["start", "stop"]  # the lifespan ran on both ends


def test_custom_routes_first_middleware_everywhere(open_server):
    proc, log = open_server
    hello = httpx.get(f"{proc.url}/hello")
    assert hello.status_code == 200
    assert hello.json() == {"hello": "world", "greeting": "hello from lifespan", "user": None}
    assert hello.headers["x-custom-middleware"] == "seen"
    info = httpx.get(f"{proc.url}/info")  # the custom app's /info wins over the API's
    assert info.json() == {"overridden": True} and info.headers["x-custom-middleware"] == "seen"
    # API routes still answer, inside the custom middleware.
    thread = httpx.post(f"{proc.url}/threads", json={})
    assert thread.status_code == 200 and thread.headers["x-custom-middleware"] == "seen"
    assert httpx.post(f"{proc.url}/hello").status_code in (404, 405)  # method not routed by the app
    assert log.read_text().split() == ["start"]


@pytest.mark.parametrize("order", ["middleware_first", "auth_first"])
def test_custom_route_auth(make_server, tmp_path_factory, backend, order):
    # Auth on, custom routes public (the default) ...
    proc, _ = serve(make_server, tmp_path_factory, f"custom-open-{order}-{backend}",
                    auth=True, middleware_order=order)
    proc.start()
    try:
        assert httpx.get(f"{proc.url}/hello").json()["user"] is None
        assert httpx.post(f"{proc.url}/threads", json={}).status_code == 401
        refused = httpx.post(f"{proc.url}/threads", json={})
        # middleware_first: the custom middleware sees (and stamps) even auth's refusals.
        assert ("x-custom-middleware" in refused.headers) == (order == "middleware_first")
        ok = httpx.post(f"{proc.url}/threads", json={}, headers=ALICE)
        assert ok.status_code == 200 and ok.headers["x-custom-middleware"] == "seen"
        # auth_first: the middleware runs after auth, so it sees the user on API routes.
        assert ok.headers["x-saw-user"] == ("yes" if order == "auth_first" else "no")
    finally:
        proc.stop()
    # ... and with enable_custom_route_auth, custom routes need a user too.
    proc, _ = serve(make_server, tmp_path_factory, f"custom-auth-{order}-{backend}",
                    auth=True, middleware_order=order, enable_custom_route_auth=True)
    proc.start()
    try:
        assert httpx.get(f"{proc.url}/hello").status_code == 401
        hello = httpx.get(f"{proc.url}/hello", headers=ALICE)
        assert hello.status_code == 200 and hello.json()["user"] == "alice"
    finally:
        proc.stop()
