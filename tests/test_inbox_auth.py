"""The inbox with custom auth on: the reviewer signs in by pasting a token (kept in the
tab's session storage) or with a cookie the authenticate handler accepts, sees only what
that user may see, and the decision is recorded under the signed-in identity. The page
is sent with anti-framing and a restrictive Content-Security-Policy."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from langgraph_sdk import get_client
from test_auth import auth_config
from conftest import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def auth_server(make_server, tmp_path_factory, backend):
    work = tmp_path_factory.mktemp(f"inbox-auth-{backend}")
    proc = make_server(work, config=auth_config(work / "langgraph.json"))
    proc.start()
    yield proc
    proc.stop()


def sdk(server, token):
    return get_client(url=server.url, headers={"Authorization": f"Bearer {token}"})


def test_inbox_security_headers(auth_server):
    for path in ("/inbox", "/inbox/inbox.js", "/inbox/auth.js"):
        r = httpx.get(f"{auth_server.url}{path}")
        assert r.status_code == 200
        assert r.headers["x-frame-options"] == "DENY"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{auth_server.url}/inbox/me").status_code == 401
    me = httpx.get(f"{auth_server.url}/inbox/me", headers={"Authorization": "Bearer token-alice"}).json()
    assert me == {"auth": True, "identity": "alice", "display_name": "Alice"}


async def test_inbox_signs_in_with_a_token_and_shows_only_the_users_items(auth_server, browser, output_dir, backend):
    tag = str(uuid.uuid4())
    alice, bob = sdk(auth_server, "token-alice"), sdk(auth_server, "token-bob")
    mine = await alice.threads.create(metadata={"tag": tag})
    await alice.runs.wait(mine["thread_id"], "agent", input={"some_text": "alice's draft"})
    theirs = await bob.threads.create(metadata={"tag": tag})
    await bob.runs.wait(theirs["thread_id"], "agent", input={"some_text": "bob's draft"})

    async with browser.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", *CHROMIUM_ARGS])
        try:
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{auth_server.url}/inbox")
            await page.locator("#sign-in").wait_for(timeout=15000)
            assert await page.locator("section.item").count() == 0
            await page.fill("#token", "token-alice")
            await page.click("#sign-in button")
            await page.locator("#who").wait_for(timeout=15000)
            assert "Alice" in await page.inner_text("#who")
            assert await page.evaluate("sessionStorage.getItem('waypoint.token')") == "token-alice"
            assert not await page.locator("#reviewer").is_visible()

            await page.fill("#filter-metadata", json.dumps({"tag": tag}))
            await page.press("#filter-metadata", "Tab")  # `change` refreshes the list (once)
            card = page.locator(f'section.item[data-thread-id="{mine["thread_id"]}"]')
            await card.wait_for(timeout=15000)
            # The page keeps /inbox/events open (never network-idle); an unchanged card keeps its node.
            await page.locator("#live.ok").wait_for(timeout=15000)
            assert await page.locator(f'section.item[data-thread-id="{theirs["thread_id"]}"]').count() == 0
            assert "bob's draft" not in await page.inner_text("main")
            await card.locator("textarea.answer").fill("Approved by Alice")
            await card.locator("button.send").click()
            await card.locator(".run-status .status-success").wait_for(timeout=15000)
            await card.locator("table.decisions").wait_for(timeout=15000)
            assert "alice" in await card.locator("table.decisions").inner_text()
            await page.screenshot(path=str(output_dir / f"inbox-auth-{backend}.png"), full_page=True)

            await page.click("#sign-out")
            await page.locator("#sign-in").wait_for(timeout=15000)
            assert await page.evaluate("sessionStorage.getItem('waypoint.token')") is None

            # A cookie the authenticate handler accepts signs in with nothing pasted.
            context = await chromium.new_context()
            await context.add_cookies([{"name": "waypoint_token", "value": "token-bob", "url": auth_server.url}])
            page = await context.new_page()
            await page.goto(f"{auth_server.url}/inbox")
            await page.locator("#who").wait_for(timeout=15000)
            await page.fill("#filter-metadata", json.dumps({"tag": tag}))
            await page.press("#filter-metadata", "Tab")
            await page.locator(f'section.item[data-thread-id="{theirs["thread_id"]}"]').wait_for(timeout=15000)
            assert await page.locator(f'section.item[data-thread-id="{mine["thread_id"]}"]').count() == 0
        finally:
            await chromium.close()

    decisions = await alice.http.get(f"/threads/{mine['thread_id']}/decisions")
    assert [(d["reviewer"], d["value"]) for d in decisions] == [("alice", "Approved by Alice")]
    assert (await alice.threads.get_state(mine["thread_id"]))["values"] == {"some_text": "Approved by Alice"}
    assert (await bob.threads.get(theirs["thread_id"]))["status"] == "interrupted"
