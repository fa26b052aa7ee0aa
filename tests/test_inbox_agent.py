"""The inbox answering a real `create_agent` agent (examples/support_agent.py) in Chromium:
HumanInTheLoopMiddleware approve / edit / reject / respond (one call and a batch of two) and
agent-inbox accept / edit / respond / ignore, "Mark as resolved", and what the agent then did.
One Chromium serves the whole module; each test opens its own page."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS

ASK = "Please email ada@example.com and refund order #A17 30 EUR"


@pytest.fixture(scope="module")
async def chromium(browser):
    """One headless Chromium for the module (launching one per test is most of their cost)."""
    async with browser.async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", *CHROMIUM_ARGS])
        yield instance
        await instance.close()


@pytest.fixture
async def inbox(server, chromium):
    """`open(tag)`: a fresh page on /inbox filtered to threads tagged `tag`;
    `open(thread_id=…)`: the page a notification links to (`/inbox?thread_id=…`)."""
    errors: list[str] = []
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})

    async def open_(tag: str | None = None, *, thread_id: str | None = None):
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{server.url}/inbox" + (f"?thread_id={thread_id}" if thread_id else ""))
        if tag:
            await page.fill("#filter-metadata", json.dumps({"tag": tag}))
            await page.click("#refresh")
        await page.locator("#live.ok").wait_for(timeout=15000)
        return page

    try:
        yield open_
    finally:
        await context.close()
    assert errors == []


async def start(client, text: str, tag: str, graph: str = "support_agent") -> str:
    thread = await client.threads.create(metadata={"tag": tag})
    if graph == "agent":
        await client.runs.wait(thread["thread_id"], graph, input={"some_text": text})
    else:
        await client.runs.wait(thread["thread_id"], graph, input={"messages": [{"role": "user", "content": text}]})
    return thread["thread_id"]


def pending(page, tid: str, shape: str):
    """The unanswered card of `tid` once it shows an interrupt of `shape` (it appears by itself:
    the page follows /inbox/events)."""
    return page.locator(f'section.item:not(.answered)[data-thread-id="{tid}"]:has(.interrupt[data-shape="{shape}"])')


async def asked(client, inbox):
    """A thread of a fresh tag asked `ASK`, the inbox page filtered to the tag, and the
    thread's card once it shows the HumanInTheLoopMiddleware interrupt."""
    tag = str(uuid.uuid4())
    tid = await start(client, ASK, tag)
    page = await inbox(tag)
    card = pending(page, tid, "hitl")
    await card.wait_for(timeout=15000)
    return tid, page, card


async def answered(card):
    await card.locator(".run-status .status-success").wait_for(timeout=20000)


async def messages(client, tid: str) -> list[dict]:
    return (await client.threads.get_state(tid))["values"]["messages"]


async def test_approve_then_accept_by_keyboard(client, inbox, backend, output_dir):
    tid, page, card = await asked(client, inbox)
    # Only the decisions the review config allows: approve / edit / reject, no respond.
    assert await card.locator("button.act.approve, button.act.edit, button.act.reject").count() == 3
    assert await card.locator("button.respond").count() == 0
    assert await card.locator(".markdown strong").inner_text() == "email"
    assert await card.locator('[data-arg="to"]').input_value() == "ada@example.com"
    await page.fill("#reviewer", "ada")
    await page.screenshot(path=str(output_dir / f"inbox-agent-approve-{backend}.png"))
    await page.locator("#reviewer").press("Escape")  # leave the field: keys act on items
    await page.keyboard.press("j")
    await page.keyboard.press("a")
    await answered(page.locator(f'section.item.answered[data-thread-id="{tid}"]'))

    refund = pending(page, tid, "agent-inbox")
    await refund.wait_for(timeout=20000)  # no refresh clicked: the page followed the server
    assert "30.00 EUR" in await refund.locator(".markdown").inner_text()
    assert await refund.locator(".interrupt button.act").count() == 4  # accept, edit, respond, ignore
    await page.screenshot(path=str(output_dir / f"inbox-agent-approved-{backend}.png"), full_page=True)
    await page.keyboard.press("j")
    await page.keyboard.press("a")
    await page.locator(f'section.item.answered[data-thread-id="{tid}"] .status-success').nth(1).wait_for(timeout=20000)

    history = await messages(client, tid)
    tools = {m["name"]: m["content"] for m in history if m["type"] == "tool"}
    assert tools == {
        "send_email": "Email sent to ada@example.com with subject 'About your request'.",
        "issue_refund": "Refunded 30.00 EUR on order A17.",
    }
    assert history[-1]["type"] == "ai" and "Email sent to ada@example.com" in history[-1]["content"]
    assert (await client.threads.get(tid))["status"] == "idle"
    decisions = await client.http.get(f"/threads/{tid}/decisions")
    assert [(d["reviewer"], d["value"]) for d in decisions] == [
        ("ada", {"decisions": [{"type": "approve"}]}),
        ("ada", [{"type": "accept", "args": None}]),
    ]


async def test_reason_typed_while_the_thread_changes_goes_with_the_reject(client, inbox):
    """A card rebuilt while the reviewer types (the thread's row changed, here its metadata,
    and the page followed /inbox/events) keeps the typed reason: the reject carries it."""
    tid, page, card = await asked(client, inbox)
    await card.locator("textarea.message").fill("Not on weekends")
    updated = await client.threads.update(tid, metadata={"note": "seen"})
    rebuilt = f'section.item[data-thread-id="{tid}"][data-updated-at="{updated["updated_at"]}"]'
    await page.locator(rebuilt).wait_for(timeout=15000)
    assert await page.locator(f"{rebuilt} textarea.message").input_value() == "Not on weekends"
    await card.locator("button.reject").click()
    await answered(page.locator(f'section.item.answered[data-thread-id="{tid}"]'))
    decisions = [d["value"] for d in await client.http.get(f"/threads/{tid}/decisions")]
    assert decisions == [{"decisions": [{"type": "reject", "message": "Not on weekends"}]}]


async def test_typing_goes_on_in_a_card_rebuilt_meanwhile(client, inbox):
    """The card being typed in is rebuilt (its thread's metadata changed): the rebuilt card's
    field has the focus, with the caret where it was, and the next keystrokes land there."""
    tid, page, card = await asked(client, inbox)
    await card.locator("textarea.message").fill("Not on")
    updated = await client.threads.update(tid, metadata={"note": "seen"})
    rebuilt = page.locator(f'section.item[data-thread-id="{tid}"][data-updated-at="{updated["updated_at"]}"]')
    await rebuilt.wait_for(timeout=15000)
    await page.keyboard.type(" weekends")
    assert await rebuilt.locator("textarea.message").input_value() == "Not on weekends"


async def test_thread_written_again_unchanged_keeps_its_card(client, inbox):
    """A thread row written again with nothing the card shows changed (an empty metadata
    patch: only `updated_at` moves) keeps the very card node, its typed field and its focus,
    with the new time: a rebuild there could land between a reviewer's keystrokes."""
    tid, page, card = await asked(client, inbox)
    field = card.locator('[data-arg="subject"]')
    await field.fill("Your refund")
    node = await card.element_handle()
    updated = await client.threads.update(tid, metadata={})
    await page.locator(f'section.item[data-thread-id="{tid}"][data-updated-at="{updated["updated_at"]}"]').wait_for(timeout=15000)
    assert await node.evaluate("(n) => n.isConnected && n.contains(document.activeElement)")
    assert await field.input_value() == "Your refund"
    since = await card.locator(".since").inner_text()
    assert since.startswith("waiting since ") and updated["updated_at"][11:19] in since


async def test_card_arriving_above_leaves_the_one_being_typed_in(client, inbox):
    """Another thread pausing (its card goes above) while the reviewer types in a card: that
    card is not taken out and put back, so focus stays and the next keystrokes land."""
    tid, page, card = await asked(client, inbox)
    field = card.locator('[data-arg="subject"]')
    await field.fill("Your")
    node = await card.element_handle()
    other = await start(client, ASK, (await client.threads.get(tid))["metadata"]["tag"])
    await pending(page, other, "hitl").wait_for(timeout=15000)
    assert await page.locator("section.item").evaluate_all("(ns) => ns.map((n) => n.dataset.threadId)") == [other, tid]
    assert await node.evaluate("(n) => n.isConnected && n.contains(document.activeElement)")
    await page.keyboard.type(" refund")
    assert await field.input_value() == "Your refund"


async def test_edit_both_tool_calls(client, inbox):
    tid, page, card = await asked(client, inbox)
    await card.locator('[data-arg="to"]').fill("bob@example.com")
    await card.locator('[data-arg="subject"]').fill("Your refund")
    await card.locator("button.edit").click()
    await answered(page.locator(f'section.item.answered[data-thread-id="{tid}"]'))

    refund = pending(page, tid, "agent-inbox")
    await refund.wait_for(timeout=20000)
    await refund.locator('[data-arg="amount"]').fill("12.5")
    await refund.locator("button.edit").click()
    await page.locator(f'section.item.answered[data-thread-id="{tid}"] .status-success').nth(1).wait_for(timeout=20000)

    tools = {m["name"]: m["content"] for m in await messages(client, tid) if m["type"] == "tool"}
    assert tools == {
        "send_email": "Email sent to bob@example.com with subject 'Your refund'.",
        "issue_refund": "Refunded 12.50 EUR on order A17.",
    }
    decisions = [d["value"] for d in await client.http.get(f"/threads/{tid}/decisions")]
    edited = decisions[0]["decisions"][0]
    assert edited["type"] == "edit" and edited["edited_action"]["name"] == "send_email"
    assert edited["edited_action"]["args"]["to"] == "bob@example.com"
    assert edited["edited_action"]["args"]["body"].startswith("Hello,\n\nwe received your message")
    assert decisions[1] == [{"type": "edit", "args": {"action": "issue_refund", "args": {"order_id": "A17", "amount": 12.5}}}]


async def test_reject_then_respond(client, inbox):
    tid, page, card = await asked(client, inbox)
    await card.locator("textarea.message").fill("Do not email customers on weekends")
    await card.locator("button.reject").click()
    await answered(page.locator(f'section.item.answered[data-thread-id="{tid}"]'))

    refund = pending(page, tid, "agent-inbox")
    await refund.wait_for(timeout=20000)
    await refund.locator("button.respond").click()  # without a message: refused in the page
    assert "needs a message" in await refund.locator(".interrupt .outcome").inner_text()
    await refund.locator("textarea.message").fill("Offer a voucher instead")
    await refund.locator("button.respond").click()
    await page.locator(f'section.item.answered[data-thread-id="{tid}"] .status-success').nth(1).wait_for(timeout=20000)

    history = await messages(client, tid)
    email = [m for m in history if m["type"] == "tool" and m["name"] == "send_email"]
    assert [(m["status"], m["content"]) for m in email] == [
        ("error", "User rejected the tool call for `send_email` with reason: Do not email customers on weekends"),
    ]
    assert not any("Email sent" in str(m["content"]) for m in history)  # the tool did not run
    # The model got the reason (the scripted model quotes every tool message it receives).
    assert "Do not email customers on weekends" in history[-1]["content"]
    assert "The reviewer said: Offer a voucher instead" in history[-1]["content"]
    decisions = [d["value"] for d in await client.http.get(f"/threads/{tid}/decisions")]
    assert decisions == [
        {"decisions": [{"type": "reject", "message": "Do not email customers on weekends"}]},
        [{"type": "response", "args": "Offer a voucher instead"}],
    ]


async def test_ignore_resolve_and_free_form(client, inbox):
    tag = str(uuid.uuid4())
    refund_only = await start(client, "Refund order #B2 5 EUR", tag)
    email_only = await start(client, "Email carl@example.com", tag)
    free = await start(client, "<img src=x onerror=alert(1)> **not bold**", tag, graph="agent")
    page = await inbox(tag)

    card = pending(page, refund_only, "agent-inbox")
    await card.wait_for(timeout=15000)
    await card.locator("button.reject").click()  # "Ignore"
    await answered(page.locator(f'section.item.answered[data-thread-id="{refund_only}"]'))
    tools = [m["content"] for m in await messages(client, refund_only) if m["type"] == "tool"]
    assert tools == ["No refund issued: the reviewer ignored the request."]

    card = pending(page, email_only, "hitl")
    await card.wait_for(timeout=15000)
    await card.locator("button.resolve").click()  # update_state(values=None, as_node="__end__")
    await page.locator(f'section.item.answered[data-thread-id="{email_only}"] .status-success').wait_for(timeout=15000)
    assert (await client.threads.get(email_only))["status"] == "idle"
    assert not any(m["type"] == "tool" for m in await messages(client, email_only))
    assert [d["action"] for d in await client.http.get(f"/threads/{email_only}/decisions")] == ["update_state"]

    # Anything else: the value as text and a free-form answer only, no invented buttons.
    card = pending(page, free, "free")
    await card.wait_for(timeout=15000)
    assert await card.locator(".interrupt button.act").count() == 1  # "Send response"
    assert await card.locator("button.approve, button.reject").count() == 0
    assert await card.locator("img").count() == 0
    assert "<img src=x onerror=alert(1)>" in await card.locator("pre").first.inner_text()


async def test_batch_of_two_approve_and_respond_from_the_notification_link(client, inbox):
    """One model turn, two guarded tool calls: one interrupt, one decision per action, sent
    together; `respond` answers in the tool's place (the tool does not run)."""
    tid = await start(client, "Email dan@example.com: what is the status of order #C3?", str(uuid.uuid4()))
    page = await inbox(thread_id=tid)  # the deep link of notifications: only this thread
    assert await page.locator("section.item").count() == 1
    assert await page.locator("#show-all").is_visible()
    card = pending(page, tid, "hitl")
    await card.wait_for(timeout=15000)
    email, lookup = card.locator('.action[data-action-index="0"]'), card.locator('.action[data-action-index="1"]')
    assert await email.locator(".tool").inner_text() == "send_email"
    assert await lookup.locator(".tool").inner_text() == "lookup_order"
    # lookup_order allows approve and respond only.
    assert [await b.inner_text() for b in await lookup.locator("button.act").all()] == ["Approve", "Respond"]
    submit = card.locator("button.submit-decisions")
    await email.locator("button.approve").click()
    assert await submit.is_disabled()  # the batch goes out once every action has a decision
    await lookup.locator("button.respond").click()  # without a message: refused in the page
    assert "Respond needs a message" in await card.locator(".outcome").last.inner_text()
    await lookup.locator("textarea.message").fill("Shipped yesterday, tracking 1Z999")
    await lookup.locator("button.respond").click()
    await submit.click()
    await answered(page.locator(f'section.item.answered[data-thread-id="{tid}"]'))

    history = await messages(client, tid)
    tools = {m["name"]: (m["status"], m["content"]) for m in history if m["type"] == "tool"}
    assert tools == {
        "send_email": ("success", "Email sent to dan@example.com with subject 'About your request'."),
        "lookup_order": ("success", "Shipped yesterday, tracking 1Z999"),  # the reviewer's words, not the tool's
    }
    assert "lookup_order: Shipped yesterday, tracking 1Z999" in history[-1]["content"]  # reached the model
    assert [d["value"] for d in await client.http.get(f"/threads/{tid}/decisions")] == [
        {"decisions": [{"type": "approve"}, {"type": "respond", "message": "Shipped yesterday, tracking 1Z999"}]},
    ]
