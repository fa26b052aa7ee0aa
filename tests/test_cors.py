"""`langgraph.json` → `http`: CORS (also from a real browser on another origin, with
`fetch` and the JS SDK), route groups, the mount prefix, and refusal of unknown keys."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading

import httpx
import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, ServerProcess, free_port, start_up_error, write_config
from langgraph_sdk import get_client

JS_DIR = ROOT / "tests" / "js"


def preflight(url: str, origin: str, *, headers: str = "content-type,authorization", **extra) -> httpx.Response:
    return httpx.options(url, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers, **extra,
    })


def test_default_cors_answers_any_origin(server):
    r = preflight(f"{server.url}/threads", "https://ui.example.test",
                  **{"Access-Control-Request-Private-Network": "true"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://ui.example.test")
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-private-network"] == "true"
    created = httpx.post(f"{server.url}/threads", json={}, headers={"Origin": "https://ui.example.test"})
    assert created.status_code == 200
    assert created.headers["access-control-allow-origin"] in ("*", "https://ui.example.test")
    exposed = created.headers["access-control-expose-headers"].lower()
    assert "content-location" in exposed and "location" in exposed.split(", ")


class PrefixedServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


@pytest.fixture(scope="module")
def configured(make_server, tmp_path_factory, backend):
    """A server with explicit `http` settings: one allowed origin, a mount prefix, no store."""
    work = tmp_path_factory.mktemp(f"http-config-{backend}")
    config = write_config(work / "langgraph.json", http={
        "cors": {"allow_origins": ["https://allowed.example.test"], "allow_credentials": True,
                 "expose_headers": ["X-Custom"], "max_age": 42},
        "mount_prefix": "/api",
        "disable_store": True,
    })
    proc = make_server(work, config=config)
    proc.__class__ = PrefixedServer  # every route, /ok included, is under /api
    proc.start()
    yield proc
    proc.stop()


async def test_configured_cors_prefix_and_disabled_group(configured):
    base = configured.url
    ok = preflight(f"{base}/threads", "https://allowed.example.test")
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://allowed.example.test"
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert ok.headers["access-control-max-age"] == "42"
    refused = preflight(f"{base}/threads", "https://evil.example.test")
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    simple = httpx.post(f"{base}/threads", json={}, headers={"Origin": "https://allowed.example.test"})
    assert "x-custom" in simple.headers["access-control-expose-headers"].lower()

    # The official SDK works unchanged under the prefix (it follows the prefixed Location).
    client = get_client(url=base)
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "hi"})
    assert result["__interrupt__"][0]["value"] == {"text_to_revise": "hi"}
    r = httpx.post(f"{base}/threads/{thread['thread_id']}/runs/wait",
                   json={"assistant_id": "chain", "input": {"input": "x"}})
    assert r.headers["content-location"].startswith("/api/threads/")

    # Outside the prefix, and the disabled store group: JSON 404s.
    outside = httpx.get(f"http://127.0.0.1:{configured.port}/threads/{thread['thread_id']}")
    assert outside.status_code == 404 and "/api" in outside.json()["detail"]
    store = httpx.put(f"{base}/store/items", json={"namespace": ["a"], "key": "k", "value": {}})
    assert store.status_code == 404
    assert "/store/items" not in httpx.get(f"{base}/openapi.json").json()["paths"]


@pytest.mark.parametrize("http_section, message", [
    ({"configurable_headers": {"includes": ["x-a"]}}, "http.configurable_headers is not supported"),
    ({"middleware_order": "sometimes"}, "middleware_order must be"),
    ({"disable_assistant": True}, "http.disable_assistant is not a known"),
    ({"cors": {"allow_origin": ["x"]}}, "unknown key(s): allow_origin"),
    ({"mount_prefix": "api/"}, "mount_prefix must start with '/'"),
])
def test_unhonoured_http_keys_fail_at_start_up(tmp_path, http_section, message):
    config = write_config(tmp_path / "langgraph.json", http=http_section)
    stderr = start_up_error(config)
    assert message in stderr, stderr


# -- a real browser on another origin ---------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports": {
  "p-queue": "/node_modules/p-queue/dist/index.js",
  "p-retry": "/node_modules/p-retry/index.js",
  "p-timeout": "/node_modules/p-timeout/index.js",
  "is-network-error": "/node_modules/is-network-error/index.js",
  "eventemitter3": "/node_modules/eventemitter3/dist/eventemitter3.esm.js",
  "uuid": "/node_modules/uuid/dist/index.js"
}}</script></head><body><pre id="out">running</pre>
<script type="module">
const api = new URLSearchParams(location.search).get("api");
const token = new URLSearchParams(location.search).get("token");
const auth = token ? {Authorization: `Bearer ${token}`} : {};
const out = {};
try {
  // fetch with a JSON body and an Authorization header: the browser preflights it.
  const created = await fetch(`${api}/threads`, {method: "POST",
    headers: {"Content-Type": "application/json", ...auth}, body: JSON.stringify({metadata: {via: "fetch"}})});
  out.fetch_status = created.status;
  out.fetch_thread = (await created.json()).thread_id;
  const waited = await fetch(`${api}/threads/${out.fetch_thread}/runs/wait`, {method: "POST",
    headers: {"Content-Type": "application/json", ...auth},
    body: JSON.stringify({assistant_id: "agent", input: {some_text: "from fetch"}})});
  out.content_location = waited.headers.get("Content-Location");
  out.fetch_interrupt = (await waited.json()).__interrupt__[0].value;
  // The official JS SDK, unchanged, from the same page.
  const {Client} = await import("/node_modules/@langchain/langgraph-sdk/dist/client.js");
  const client = new Client({apiUrl: api, defaultHeaders: auth});
  const thread = await client.threads.create({metadata: {via: "sdk"}});
  const result = await client.runs.wait(thread.thread_id, "agent", {input: {some_text: "from sdk"}});
  out.sdk_interrupt = result.__interrupt__[0].value;
  const resumed = await client.runs.wait(thread.thread_id, "agent", {command: {resume: "edited by sdk"}});
  out.sdk_values = resumed;
  const chunks = [];
  for await (const chunk of client.runs.stream(null, "chain", {input: {input: "x"}, streamMode: "values"})) {
    chunks.push(chunk.event);
  }
  out.sdk_stream_events = chunks;
  out.sdk_search = (await client.threads.search({metadata: {via: "sdk"}, limit: 100})).map(t => t.thread_id);
  out.sdk_thread = thread.thread_id;
} catch (e) { out.error = String(e && e.stack || e); }
document.getElementById("out").textContent = JSON.stringify(out);
document.body.dataset.done = "1";
</script></body></html>"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript"}

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/page"):
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_origin():
    """A second local HTTP server (another origin): the test page and the JS SDK's ESM files."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (JS_DIR / "node_modules").is_dir():
        if npm is None:
            pytest.skip("npm is needed to install the JS SDK for the browser test")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, capture_output=True)
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Handler, directory=str(JS_DIR)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


async def run_cross_origin_page(browser, page_origin: str, api: str, token: str | None = None) -> tuple[dict, list]:
    """Load the test page from `page_origin` calling `api`; returns (its result, API requests seen)."""
    async with browser.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page()
            seen = []
            page.on("request", lambda req: seen.append((req.method, req.url)) if req.url.startswith(api) else None)
            query = f"?api={api}" + (f"&token={token}" if token else "")
            await page.goto(f"{page_origin}/page{query}")
            await page.wait_for_selector("body[data-done='1']", timeout=60000)
            return json.loads(await page.inner_text("#out")), seen
        finally:
            await chromium.close()


async def test_browser_on_another_origin_uses_fetch_and_the_js_sdk(server, browser, page_origin, client):
    out, seen = await run_cross_origin_page(browser, page_origin, server.url)
    assert "error" not in out, out["error"]
    assert out["fetch_status"] == 200
    assert out["fetch_interrupt"] == {"text_to_revise": "from fetch"}
    assert out["content_location"].startswith(f"/threads/{out['fetch_thread']}/runs/")
    assert out["sdk_interrupt"] == {"text_to_revise": "from sdk"}
    assert out["sdk_values"] == {"some_text": "edited by sdk"}
    assert "values" in out["sdk_stream_events"]
    assert out["sdk_thread"] in out["sdk_search"]
    # The JSON POSTs with Authorization were preflighted (the page's origin differs by port).
    assert '"OPTIONS /threads HTTP/1.1" 200' in server.log()
    assert ("POST", f"{server.url}/threads") in seen
    # What the browser did is what the server holds.
    assert (await client.threads.get_state(out["sdk_thread"]))["values"] == {"some_text": "edited by sdk"}
    assert (await client.threads.get(out["fetch_thread"]))["metadata"]["via"] == "fetch"
