"""Webhooks without SSRF (`langgraph.json` → `webhooks`): loopback and private targets are
refused by default (literal, after DNS resolution, and on redirects), allowed when
configured; deliveries carry configured headers and an HMAC signature that verifies."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import free_port, write_config
from langgraph_sdk import get_client

from waypoint.service.webhook_policy import (
    SIGNATURE_HEADER,
    WebhookConfigError,
    WebhookPolicy,
    WebhookRefused,
    sign,
    verify,
)

SECRET = "whsec-test-4c1d"


class Receiver:
    """A loopback HTTP server recording POSTs (body and headers); `redirect_to` makes it
    answer 307 to that URL instead."""

    def __init__(self, redirect_to: str | None = None):
        self.posts: list[tuple[bytes, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((body, {k.lower(): v for k, v in self.headers.items()}))
                if redirect_to:
                    self.send_response(307)
                    self.send_header("Location", redirect_to)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


async def _until(predicate, what: str, timeout: float = 30.0):
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# -- the policy itself ------------------------------------------------------------------

@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:9/hook", "loopback or private"),
    ("http://0x7f000001/hook", "loopback or private"),
    ("http://2130706433/hook", "loopback or private"),
    ("http://127.1/hook", "loopback or private"),
    ("http://[::1]/hook", "loopback or private"),
    ("http://localhost/hook", "loopback or private"),
    ("http://10.1.2.3/hook", "loopback or private"),
    ("http://169.254.169.254/latest/meta-data", "loopback or private"),
    ("http://[::ffff:192.168.0.1]/hook", "loopback or private"),
    ("https://user:pw@hooks.example.com/hook", "credentials"),
    ("ftp://hooks.example.com/hook", r"absolute http\(s\)"),
    ("/relative/hook", r"absolute http\(s\)"),
])
def test_refused_urls(url, reason):
    with pytest.raises(WebhookRefused, match=reason):
        WebhookPolicy().check_url(url)


def test_policy_keys_and_header_templates():
    policy = WebhookPolicy.from_config({
        "url": {"require_https": True, "allowed_domains": ["hooks.example.com", "*.corp.example"],
                "allowed_ports": [443, 8443], "max_url_length": 60},
        "headers": {"Authorization": "Bearer ${{ env.LG_WEBHOOK_TOKEN }}", "X-Static": "s"},
    }, environ={"LG_WEBHOOK_TOKEN": "t0k"})
    assert policy.headers == {"Authorization": "Bearer t0k", "X-Static": "s"}
    assert policy.check_url("https://hooks.example.com/x") == ("hooks.example.com", 443)
    assert policy.check_url("https://a.corp.example:8443/x") == ("a.corp.example", 8443)
    for url, reason in [("http://hooks.example.com/x", "https"), ("https://corp.example/x", "allowed_domains"),
                        ("https://evil.example.com/x", "allowed_domains"), ("https://hooks.example.com:9/x", "ports"),
                        ("https://hooks.example.com/" + "x" * 60, "longer")]:
        with pytest.raises(WebhookRefused, match=reason):
            policy.check_url(url)
    with pytest.raises(WebhookConfigError, match="env_prefix"):
        WebhookPolicy.from_config({"headers": {"X": "${{ env.HOME }}"}}, environ={"HOME": "/root"})
    with pytest.raises(WebhookConfigError, match="not set"):
        WebhookPolicy.from_config({"headers": {"X": "${{ env.LG_WEBHOOK_MISSING }}"}}, environ={})
    with pytest.raises(WebhookConfigError):
        WebhookPolicy.from_config({"url": {"allow_everything": True}})


def test_signature_verifies_and_detects_tampering():
    body = b'{"run_id": "r"}'
    header = sign(SECRET, body)
    assert verify(SECRET, body, header)
    assert not verify(SECRET, body + b" ", header)
    assert not verify("other-secret", body, header)
    assert not verify(SECRET, body, sign(SECRET, body, timestamp=1))  # too old: a replay


# -- a server with the safe defaults ------------------------------------------------------

@pytest.fixture(scope="module")
def strict_server(make_server, tmp_path_factory, backend):
    work = tmp_path_factory.mktemp(f"webhooks-strict-{backend}")
    proc = make_server(work, config=write_config(work / "langgraph.json", webhooks={}))
    proc.start()
    yield proc
    proc.stop()


async def test_loopback_refused_by_default(strict_server):
    receiver = Receiver()
    client = get_client(url=strict_server.url)
    try:
        thread = await client.threads.create()
        for url in (receiver.url, f"http://0x7f000001:{receiver.port}/hook", f"http://localhost:{receiver.port}/h",
                    f"http://u:p@example.com:{receiver.port}/h"):
            r = httpx.post(f"{strict_server.url}/threads/{thread['thread_id']}/runs",
                           json={"assistant_id": "chain", "input": {"input": "x"}, "webhook": url})
            assert r.status_code == 422 and "webhook" in r.json()["detail"], r.text

        # A host name is checked after DNS resolution: this machine's name resolves to loopback.
        host = socket.gethostname()
        addresses = {i[4][0] for i in socket.getaddrinfo(host, None)}
        if not all(a.startswith("127.") or a == "::1" for a in addresses):
            pytest.skip(f"{host} does not resolve to loopback here")
        run = await client.runs.create(thread["thread_id"], "chain", input={"input": "x"},
                                       webhook=f"http://{host}:{receiver.port}/hook")
        await client.runs.join(thread["thread_id"], run["run_id"])
        await _until(lambda: f"refused for run {run['run_id']}: webhook host {host} resolves to non-public"
                     in strict_server.log(), "the refusal in the log")
        assert receiver.posts == []
    finally:
        receiver.close()


# -- a server allowing private targets, with headers and a signing secret -------------------

@pytest.fixture(scope="module")
def open_server(make_server, tmp_path_factory, backend):
    """Receivers: `target`; `hop` redirects to target; `elsewhere` is on a port the policy
    does not allow; `bad_hop` redirects there."""
    work = tmp_path_factory.mktemp(f"webhooks-open-{backend}")
    target, elsewhere = Receiver(), Receiver()
    hop, bad_hop = Receiver(redirect_to=target.url), Receiver(redirect_to=elsewhere.url)
    config = write_config(work / "langgraph.json", webhooks={
        "url": {"allow_private_networks": True, "allowed_ports": [target.port, hop.port, bad_hop.port]},
        "headers": {"X-Team": "team-${{ env.LG_WEBHOOK_TEAM }}"},
    })
    saved = {k: os.environ.get(k) for k in ("LG_WEBHOOK_TEAM", "WAYPOINT_WEBHOOK_SECRET")}
    os.environ.update(LG_WEBHOOK_TEAM="blue", WAYPOINT_WEBHOOK_SECRET=SECRET)
    try:
        proc = make_server(work, config=config)
        proc.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    receivers = {"target": target, "elsewhere": elsewhere, "hop": hop, "bad_hop": bad_hop}
    yield proc, receivers
    proc.stop()
    for r in receivers.values():
        r.close()


async def test_allowed_when_configured_signed_with_headers(open_server):
    server, rcv = open_server
    target = rcv["target"]
    client = get_client(url=server.url)
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "chain", input={"input": "signed"}, webhook=target.url)
    await _until(lambda: any(json.loads(b)["thread_id"] == thread["thread_id"] for b, _ in target.posts), "the webhook")
    body, headers = next((b, h) for b, h in target.posts if json.loads(b)["thread_id"] == thread["thread_id"])
    assert headers["x-team"] == "team-blue"
    assert verify(SECRET, body, headers[SIGNATURE_HEADER.lower()])
    assert headers["host"] == f"127.0.0.1:{target.port}"


async def test_redirects_are_checked(open_server):
    server, rcv = open_server
    client = get_client(url=server.url)
    # A port outside allowed_ports is refused at creation.
    r = httpx.post(f"{server.url}/runs/wait", json={"assistant_id": "chain", "input": {"input": "x"},
                                                    "webhook": rcv["elsewhere"].url})
    assert r.status_code == 422 and "allowed_ports" in r.json()["detail"]

    # An allowed redirect is followed (and still signed)...
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "chain", input={"input": "via hop"}, webhook=rcv["hop"].url)

    def delivered():
        return [h for b, h in rcv["target"].posts if json.loads(b)["thread_id"] == thread["thread_id"]]

    await _until(delivered, "the redirected webhook")
    assert SIGNATURE_HEADER.lower() in delivered()[0]

    # ...a redirect to a URL the policy refuses is not.
    other = await client.threads.create()
    await client.runs.wait(other["thread_id"], "chain", input={"input": "via bad hop"}, webhook=rcv["bad_hop"].url)
    await _until(lambda: rcv["bad_hop"].posts, "the first hop")
    refusal = f"webhook {rcv['bad_hop'].url} refused for run"
    await _until(lambda: any(refusal in line and "allowed_ports" in line for line in server.log().splitlines()),
                 "the refusal in the log")
    assert rcv["elsewhere"].posts == []
