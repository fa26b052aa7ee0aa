"""Notifications to reviewers through Apprise, end to end: a local SMTP server (aiosmtpd)
receives the emails Waypoint sends through a `mailto://` URL whose password comes from the
environment. On PostgreSQL two server processes share the database, so every assertion
that exactly one email arrived is also an exactly-once check across processes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import uuid

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command
from prometheus_client.parser import text_string_to_metric_families

from conftest import EXAMPLES_CONFIG, free_port, start_up_error, write_config

PASSWORD = "s3cr/et@pass"  # needs percent-encoding in a URL: ${SMTP_PASSWORD} does it
PUBLIC_URL = "https://reviews.example.test/waypoint"
DEAD_ASSISTANT = str(uuid.uuid4())


class Mailbox:
    """aiosmtpd handler keeping every message received, with the logins it accepted."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == PASSWORD)

    def about(self, thread_id: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if thread_id in m.get_body(("plain",)).get_content()]


class Silent:
    """A TCP server that accepts connections and never says a word (a hanging SMTP server)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module")
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=box.authenticate,
                            auth_require_tls=False)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def notifying(make_server, backend, tmp_path_factory, smtp, output_dir):
    """Servers whose `agent` graph notifies the SMTP server and whose DEAD_ASSISTANT notifies
    a closed port and a silent one: one process on SQLite, two sharing PostgreSQL."""
    work = tmp_path_factory.mktemp(f"notify-{backend}")
    silent = Silent()
    mail = "?from=waypoint@example.com&to=reviewers@example.com"
    config = write_config(
        work / "langgraph.json",
        env={"SMTP_PASSWORD": PASSWORD},
        waypoint={"notifications": {
            "graphs": {"agent": {
                "urls": [f"mailto://waypoint:${{SMTP_PASSWORD}}@127.0.0.1:{smtp.port}{mail}"],
                "remind_before_seconds": [6],
            }},
            "assistants": {DEAD_ASSISTANT: {"urls": [
                f"mailto://waypoint:${{SMTP_PASSWORD}}@127.0.0.1:{free_port()}{mail}",
                f"mailto://127.0.0.1:{silent.port}{mail}&cto=30",
            ]}},
            "attempts": 3, "retry_delay_seconds": 0.5, "timeout_seconds": 2,
        }},
    )
    first = make_server(work / "a", "--public-url", PUBLIC_URL, config=config).start()
    servers = [first]
    if backend == "postgres":
        servers.append(make_server(work / "b", "--public-url", PUBLIC_URL, config=config,
                                   database_uri=first.database_uri).start())
    yield servers
    for i, proc in enumerate(servers):
        proc.stop()
        (output_dir / f"server-notify-{backend}-{i}.log").write_text(proc.log())
    silent.close()


async def until(predicate, timeout: float = 60.0):
    """Poll `predicate` (async) until it returns something truthy; fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (found := await predicate()):
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.2)
    return found


async def notifications(client, tid: str) -> list[dict]:
    return await client.http.get(f"/threads/{tid}/notifications")


async def test_pause_emails_a_deep_link(notifying, smtp):
    client = get_client(url=notifying[0].url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    result = await client.runs.wait(tid, "agent", input={"some_text": "please review"})
    assert result["__interrupt__"]

    async def arrived():
        return smtp.about(tid)
    [message] = await until(arrived)
    link = f"{PUBLIC_URL}/inbox?thread_id={tid}"
    body = message.get_body(("plain",)).get_content()
    assert link in body
    assert message["Subject"] == "[Waypoint] agent is waiting for a person"
    assert message["To"] == "reviewers@example.com"
    assert '"text_to_revise": "please review"' in body
    assert ("waypoint", PASSWORD) in smtp.logins  # ${SMTP_PASSWORD} reached the server, decoded

    async def recorded():
        rows = await notifications(client, tid)
        return rows if rows and rows[0]["status"] == "sent" else None
    [row] = await until(recorded)
    assert (row["event"], row["attempts"], row["target"]) == (
        "interrupt", 1, "waypoint.notifications.graphs.agent.urls[0]")
    assert PASSWORD not in json.dumps(row) and "s3cr" not in row["target_url"]
    # The process that sent it counts it in /metrics (each process counts its own).
    sent = 0.0
    for proc in notifying:
        text = (await client.http.client.get(f"{proc.url}/metrics")).text
        sent += sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                    if sample.name == "waypoint_notification_deliveries_total"
                    and sample.labels.get("outcome") == "sent")
    assert sent >= 1

    # The link's page lists exactly that item (/inbox?thread_id= asks /inbox/items for it).
    page = await client.http.get(f"/inbox/items?thread_id={tid}")
    assert [item["thread_id"] for item in page["items"]] == [tid] and page["total"] == 1

    # Resumed and paused again: a new interrupt, one new email; the first is not repeated.
    await client.runs.wait(tid, "agent", command=Command(resume="done"))
    assert len(smtp.about(tid)) == 1
    for proc in notifying:
        assert PASSWORD not in proc.log() and "s3cr" not in proc.log()


async def test_reminder_before_the_deadline_then_escalation(notifying, smtp):
    client = get_client(url=notifying[-1].url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "urgent"},
                           metadata={"interrupt_ttl_seconds": 9, "on_expire": "escalate"})

    async def escalation_arrived():
        return [m for m in smtp.about(tid) if m["Subject"].startswith("[Waypoint] Escalated")]
    await until(escalation_arrived)
    subjects = [m["Subject"] for m in smtp.about(tid)]
    assert subjects[0] == "[Waypoint] agent is waiting for a person"
    assert subjects[1].startswith("[Waypoint] Reminder: agent is still waiting (deadline ")
    assert subjects[2] == "[Waypoint] Escalated: agent waited past its deadline"
    assert len(subjects) == 3  # each once, also with two processes sweeping
    assert f"{PUBLIC_URL}/inbox?thread_id={tid}" in smtp.about(tid)[1].get_body(("plain",)).get_content()

    rows = {r["event"]: r for r in await notifications(client, tid)}
    assert {e: r["status"] for e, r in rows.items()} == {"interrupt": "sent", "reminder": "sent", "escalation": "sent"}
    [decision] = await client.http.get(f"/threads/{tid}/decisions")
    assert decision["action"] == "deadline:escalate"
    # The reminder went out before the deadline expired (the escalation's decision time).
    assert rows["reminder"]["sent_at"] < decision["decided_at"]


async def test_a_reminder_after_the_answer_is_skipped(notifying, smtp):
    client = get_client(url=notifying[0].url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input={"some_text": "quick"},
                           metadata={"interrupt_ttl_seconds": 12, "on_expire": "escalate"})
    await client.runs.wait(tid, "agent", command=Command(resume="answered"))  # reminder due in ~6 s

    async def settled():
        rows = {r["event"]: r for r in await notifications(client, tid)}
        return rows if rows.get("reminder", {}).get("status") != "pending" else None
    rows = await until(settled)
    assert rows["reminder"]["status"] == "skipped" and rows["reminder"]["attempts"] == 0
    assert rows["interrupt"]["status"] in ("sent", "skipped")  # skipped if answered before its send
    assert not [m for m in smtp.about(tid) if "Reminder" in m["Subject"]]


async def test_dead_and_hanging_targets_never_touch_the_run(notifying, smtp):
    client = get_client(url=notifying[0].url)
    await client.assistants.create("agent", assistant_id=DEAD_ASSISTANT)
    waiting = (await client.threads.create())["thread_id"]
    assert (await client.runs.wait(waiting, DEAD_ASSISTANT, input={"some_text": "nobody hears"}))["__interrupt__"]
    # While its deliveries fail and retry in the background, another thread pauses and resumes.
    other = (await client.threads.create())["thread_id"]
    assert (await client.runs.wait(other, DEAD_ASSISTANT, input={"some_text": "x"}))["__interrupt__"]
    assert await client.runs.wait(other, DEAD_ASSISTANT, command=Command(resume="fine")) == {"some_text": "fine"}

    async def given_up():
        rows = await notifications(client, waiting)
        return rows if len(rows) == 2 and all(r["status"] == "failed" for r in rows) else None
    rows = await until(given_up)
    assert [r["attempts"] for r in rows] == [3, 3]
    errors = {r["target"].rsplit(".", 1)[1]: r["last_error"] for r in rows}
    assert "error" in errors["urls[0]"].lower() and PASSWORD not in errors["urls[0]"]
    assert errors["urls[1]"]  # the silent server: no answer in time
    assert smtp.about(waiting) == []
    assert await client.runs.wait(waiting, DEAD_ASSISTANT, command=Command(resume="late")) == {"some_text": "late"}


def test_config_errors_name_the_key_not_the_secret(tmp_path):
    def refused(channel: dict) -> str:
        config = tmp_path / "langgraph.json"  # one small graph: start-up fails fast
        config.write_text(json.dumps({
            "graphs": {"agent": str(EXAMPLES_CONFIG.parent / "human_node.py") + ":graph"},
            "waypoint": {"notifications": {"graphs": {"agent": channel}}},
        }))
        return start_up_error(config)

    assert "graphs.agent.urls[0]: environment variable WAYPOINT_TEST_UNSET_VAR is not set" in refused(
        {"urls": ["mailto://u:${WAYPOINT_TEST_UNSET_VAR}@example.com"]})
    assert "graphs.agent.urls[0] is not a URL Apprise supports" in refused({"urls": ["nosuchscheme://x"]})
    assert "waypoint.notifications.graphs.agent.when is not a known setting" in refused(
        {"urls": ["json://localhost"], "when": "always"})
