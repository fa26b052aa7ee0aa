"""The approval inbox: its JSON listing over HTTP, and the page in headless Chromium."""

from __future__ import annotations

import json

from conftest import CHROMIUM, CHROMIUM_ARGS


async def test_inbox_items_lists_waiting_threads(client, http):
    tag = "inbox-listing"
    paused = await client.threads.create(metadata={"team": tag})
    await client.runs.wait(paused["thread_id"], "agent", input={"some_text": "needs review"})
    at_breakpoint = await client.threads.create(metadata={"team": tag})
    await client.runs.wait(at_breakpoint["thread_id"], "breakpoints", input={"input": "x"})
    done = await client.threads.create(metadata={"team": tag})
    await client.runs.wait(done["thread_id"], "chain", input={"input": "x"})

    page = http.get("/inbox/items", params={"metadata": json.dumps({"team": tag})}).json()
    assert (page["total"], page["offset"], page["limit"]) == (2, 0, 25)
    items = page["items"]
    assert [i["thread_id"] for i in items] == [at_breakpoint["thread_id"], paused["thread_id"]]
    by_id = {i["thread_id"]: i for i in items}
    waiting = by_id[paused["thread_id"]]
    assert waiting["graph_id"] == "agent" and waiting["values"] == {"some_text": "needs review"}
    assert [i["value"] for i in waiting["interrupts"]] == [{"text_to_revise": "needs review"}]
    assert by_id[at_breakpoint["thread_id"]]["interrupts"] == []
    assert by_id[at_breakpoint["thread_id"]]["next"] == ["node_a"]

    only_agent = http.get("/inbox/items", params={"graph_id": "agent", "metadata": json.dumps({"team": tag})}).json()
    assert [i["thread_id"] for i in only_agent["items"]] == [paused["thread_id"]] and only_agent["total"] == 1
    second = http.get("/inbox/items", params={"metadata": json.dumps({"team": tag}), "limit": 1, "offset": 1}).json()
    assert [i["thread_id"] for i in second["items"]] == [paused["thread_id"]] and second["total"] == 2
    bad = http.get("/inbox/items", params={"metadata": "{oops"})
    assert bad.status_code == 422 and "metadata" in bad.text
    assert http.get("/inbox/items", params={"limit": 0}).status_code == 422
    page = http.get("/inbox")
    assert page.status_code == 200 and "Waypoint inbox" in page.text
    assert http.get("/inbox/inbox.js").headers["content-type"].startswith("text/javascript")


async def test_inbox_page_edits_and_resumes_in_a_browser(client, server, browser, output_dir, backend):
    tag = f"browser-{backend}"
    thread = await client.threads.create(metadata={"team": tag})
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "original text"})

    async with browser.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{server.url}/inbox")
            await page.fill("#filter-metadata", json.dumps({"team": tag}))
            await page.click("#refresh")
            card = page.locator(f'section.item[data-thread-id="{tid}"]')
            await card.wait_for(timeout=15000)
            assert "original text" in await card.locator("pre").first.inner_text()

            await page.fill("#reviewer", "ada")
            await card.locator("textarea.answer").fill("Edited in the inbox")
            await page.screenshot(path=str(output_dir / f"inbox-{backend}-before.png"), full_page=True)
            await card.locator("button.send").click()
            await card.locator(".run-status .status-success").wait_for(timeout=15000)
            live = await card.locator("pre.live").inner_text()
            assert json.loads(live) == {"some_text": "Edited in the inbox"}
            await card.locator("table.decisions").wait_for(timeout=15000)
            assert "ada" in await card.locator("table.decisions").inner_text()
            await page.screenshot(path=str(output_dir / f"inbox-{backend}.png"), full_page=True)
        finally:
            await chromium.close()

    # The SDK sees the same outcome.
    state = await client.threads.get_state(tid)
    assert state["values"] == {"some_text": "Edited in the inbox"}
    assert (await client.threads.get(tid))["status"] == "idle"
    decisions = await client.http.get(f"/threads/{tid}/decisions")
    assert [(d["reviewer"], d["value"]) for d in decisions] == [("ada", "Edited in the inbox")]


async def test_update_state_as_end_resolves_like_agent_inbox(client, http):
    """agent-inbox's "Ignore" / "Mark as resolved": `update_state(values=None, as_node="__end__")`."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "ignore me"})
    [pending] = (await client.threads.get_state(tid))["interrupts"]

    await client.threads.update_state(tid, None, as_node="__end__")
    assert (await client.threads.get(tid))["status"] == "idle"
    assert (await client.threads.get_state(tid))["interrupts"] == []
    [decision] = await client.http.get(f"/threads/{tid}/decisions")
    assert (decision["interrupt_id"], decision["action"], decision["closes"]) == (pending["id"], "update_state", True)
    # The interrupt is closed: a resume naming it loses, exactly once.
    late = http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "command": {"resume": {pending["id"]: "x"}}})
    assert late.status_code == 409 and pending["id"] in late.text


async def test_inbox_events_follow_new_pending_threads(client, server):
    """`/inbox/events` sends a marker first and a new one when a thread pauses."""
    import httpx

    tag = {"team": "events-" + str(id(client))}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with http.stream("GET", "/inbox/events", params={"metadata": json.dumps(tag), "interval": 0.2}) as stream:
            markers = []
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                markers.append(json.loads(line[5:]))
                if len(markers) == 1:
                    assert markers[0] == {"total": 0, "latest": None}
                    thread = await client.threads.create(metadata=tag)
                    await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "new"})
                else:
                    break
    assert markers[1]["total"] == 1 and markers[1]["latest"]


async def test_a_backlog_of_10000_pending_threads_pages_in_the_browser(client, server, browser, http):
    """10,000 paused threads (one run, then `POST /threads/{id}/copy`): the inbox lists them
    25 a page from the database, and a reviewer pages through them by keyboard."""
    import asyncio
    import uuid

    tag = {"team": f"backlog-{uuid.uuid4()}"}
    first = await client.threads.create(metadata=tag)
    await client.runs.wait(first["thread_id"], "agent", input={"some_text": "backlog"})
    gate = asyncio.Semaphore(8)

    async def copy(_):
        async with gate:
            return (await client.threads.copy(first["thread_id"]))["thread_id"]

    await asyncio.gather(*(copy(i) for i in range(9_999)))
    params = {"metadata": json.dumps(tag)}
    assert (await client.threads.count(metadata=tag, status="interrupted")) == 10_000
    last = http.get("/inbox/items", params={**params, "offset": 9_975}).json()
    assert last["total"] == 10_000 and len(last["items"]) == 25
    assert http.get("/inbox/items", params={**params, "offset": 10_000}).json()["items"] == []

    async with browser.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{server.url}/inbox")
            await page.fill("#filter-metadata", json.dumps(tag))
            await page.click("#refresh")
            count = page.locator("#count")
            await page.locator("#count", has_text="1–25 of 10000 waiting").wait_for(timeout=30000)
            assert await page.locator("section.item").count() == 25
            page_one = await page.locator("section.item").first.get_attribute("data-thread-id")
            await page.locator("#filter-metadata").press("Escape")
            await page.keyboard.press("n")
            await page.locator("#count", has_text="26–50 of 10000 waiting").wait_for(timeout=30000)
            assert await page.locator("section.item").count() == 25
            assert await page.locator("section.item").first.get_attribute("data-thread-id") != page_one
            await page.keyboard.press("p")
            await page.locator("#count", has_text="1–25 of 10000 waiting").wait_for(timeout=30000)
            assert await page.locator("section.item").first.get_attribute("data-thread-id") == page_one
            assert "of 10000 waiting" in await count.inner_text()
        finally:
            await chromium.close()
