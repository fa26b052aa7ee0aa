"""`/docs` works offline: every asset is served by Waypoint itself, no CDN. (`/redoc` is off:
Redoc's bundle loads its logo from a CDN.)"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from test_auth import auth_server  # noqa: F401  (the auth tests' server fixture)
from conftest import CHROMIUM, CHROMIUM_ARGS

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def assert_docs_served_locally(http: httpx.Client) -> None:
    """`/docs` answers, references only assets of this server, and each answers 200."""
    response = http.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "//" not in re.sub(r"<!--.*?-->", "", response.text.replace("window.location.origin", ""), flags=re.S)
    references = [a or b for a, b in _REFERENCE.findall(response.text)]
    assert "/openapi.json" in references
    assets = [r for r in references if r != "/openapi.json"]
    assert assets, "the page references no script or stylesheet"
    for ref in [*assets, "/openapi.json"]:
        assert ref.startswith("/") and not urlsplit(ref).netloc, ref
        asset = http.get(ref)
        assert asset.status_code == 200 and asset.content, ref
    assert http.get("/redoc").status_code == 404


def test_docs_page_references_only_local_assets(http):
    assert_docs_served_locally(http)


def test_docs_work_without_a_token_when_auth_is_on(auth_server):
    with httpx.Client(base_url=auth_server.url, timeout=30) as anonymous:
        assert anonymous.post("/threads", json={}).status_code == 401
        assert_docs_served_locally(anonymous)


async def test_swagger_ui_renders_with_every_other_host_blocked(server, browser):
    """A browser that may reach only the server still renders the operations list."""
    local = urlsplit(server.url).netloc
    elsewhere: list[str] = []

    async def only_the_server(route):
        if urlsplit(route.request.url).netloc == local:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    async with browser.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page()
            await page.route("**/*", only_the_server)
            await page.goto(f"{server.url}/docs")
            operation = page.locator(".opblock-summary-path", has_text="/threads/{thread_id}/runs/wait")
            await operation.first.wait_for(timeout=30000)
            await operation.first.click()  # expands: the request body schema renders too
            await page.locator(".opblock-body .model-example").first.wait_for(timeout=30000)
        finally:
            await chromium.close()
    assert elsewhere == []
