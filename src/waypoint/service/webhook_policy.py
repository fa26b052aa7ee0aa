"""Where webhooks may go, and how receivers verify them: `langgraph.json` → `webhooks`.

Keys follow the official `WebhooksConfig` (langgraph-cli `schemas.py`):
`url.require_https`, `url.allowed_domains` (exact hosts and `*.example.com`, which matches
subdomains only), `url.allowed_ports` (default ports 80/443 when the URL has none),
`url.max_url_length`, `url.disable_loopback` (relative URLs: Waypoint refuses those
always), `headers` (static headers; `${{ env.VAR }}` templates resolved at start-up from
variables starting with `env_prefix`, default `LG_WEBHOOK_`).

SSRF protection (safe by default): a URL with credentials is refused, and every address
its host resolves to must be public — loopback, private, link-local, shared, reserved,
multicast and unspecified addresses are refused unless `url.allow_private_networks` (a
Waypoint extension) is true. The check runs at run creation on the URL and at delivery
after DNS resolution; delivery then connects to the checked address (no second lookup
a DNS rebinding could change), and follows redirects only to URLs that pass the same
checks.

Signature: with `WAYPOINT_WEBHOOK_SECRET` set, each delivery carries
`X-Waypoint-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
(see `sign`/`verify`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

SIGNATURE_HEADER = "X-Waypoint-Signature"
SECRET_ENV = "WAYPOINT_WEBHOOK_SECRET"
MAX_REDIRECTS = 3
_URL_KEYS = {"require_https", "allowed_domains", "allowed_ports", "max_url_length", "disable_loopback",
             "allow_private_networks"}
_TEMPLATE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class WebhookConfigError(ValueError):
    """`webhooks` in langgraph.json is malformed; the message names the key."""


class WebhookRefused(ValueError):
    """A webhook URL the policy does not allow; the message says why."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Waypoint-Signature` value of `body`: `t=<unix>,v1=<hex HMAC-SHA256>` over
    `"<t>." + body` (the timestamp lets receivers refuse replays)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_seconds: float = 300) -> bool:
    """True when `header` is a valid signature of `body` no older than `tolerance_seconds`
    (what a receiver runs)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, t), header)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class WebhookPolicy:
    """The `webhooks` settings of one deployment (see the module docstring)."""

    require_https: bool = False
    allowed_domains: list[str] = field(default_factory=list)
    allowed_ports: list[int] = field(default_factory=list)
    max_url_length: int = 4096
    allow_private_networks: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    secret: str | None = None
    enabled: bool = True

    @classmethod
    def from_config(cls, section: Any, environ: dict[str, str] | None = None) -> WebhookPolicy:
        """Policy of langgraph.json's `webhooks` (None: the safe defaults), with header
        templates resolved from `environ`. Raises `WebhookConfigError`."""
        environ = os.environ if environ is None else environ
        section = section or {}
        if not isinstance(section, dict):
            raise WebhookConfigError("langgraph.json 'webhooks' must be an object")
        unknown = set(section) - {"url", "headers", "env_prefix"}
        if unknown:
            raise WebhookConfigError(f"langgraph.json webhooks.{sorted(unknown)[0]} is not a known webhooks setting")
        url = section.get("url") or {}
        if not isinstance(url, dict) or set(url) - _URL_KEYS:
            raise WebhookConfigError(
                f"langgraph.json webhooks.url must be an object with keys among {', '.join(sorted(_URL_KEYS))}"
            )
        prefix = section.get("env_prefix", "LG_WEBHOOK_")
        headers = {}
        for name, template in (section.get("headers") or {}).items():
            def resolve(match: re.Match, name: str = name) -> str:
                var = match.group(1)
                if not var.startswith(prefix):
                    raise WebhookConfigError(
                        f"webhooks.headers.{name}: env.{var} does not start with env_prefix {prefix!r}")
                if var not in environ:
                    raise WebhookConfigError(f"webhooks.headers.{name}: environment variable {var} is not set")
                return environ[var]

            headers[str(name)] = _TEMPLATE.sub(resolve, str(template))
        return cls(
            require_https=bool(url.get("require_https", False)),
            allowed_domains=[d.lower() for d in url.get("allowed_domains") or []],
            allowed_ports=[int(p) for p in url.get("allowed_ports") or []],
            max_url_length=int(url.get("max_url_length") or 4096),
            allow_private_networks=bool(url.get("allow_private_networks", False)),
            headers=headers,
            secret=environ.get(SECRET_ENV) or None,
        )

    # -- checks --------------------------------------------------------------
    def check_url(self, url: str) -> tuple[str, int]:
        """Check `url` without DNS; returns (host, port). Raises `WebhookRefused`."""
        if len(url) > self.max_url_length:
            raise WebhookRefused(f"webhook URL is longer than {self.max_url_length} characters")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRefused(f"webhook must be an absolute http(s) URL, got {url!r}")
        if self.require_https and parts.scheme != "https":
            raise WebhookRefused("webhook URL must use https (webhooks.url.require_https)")
        if parts.username is not None or parts.password is not None:
            raise WebhookRefused("webhook URL must not carry credentials (user:password@)")
        host = parts.hostname.lower().rstrip(".")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise WebhookRefused(f"webhook URL has an invalid port: {url!r}") from None
        if self.allowed_domains and not any(
            host == d or (d.startswith("*.") and host.endswith(d[1:])) for d in self.allowed_domains
        ):
            raise WebhookRefused(f"webhook host {host} is not in webhooks.url.allowed_domains")
        if self.allowed_ports and port not in self.allowed_ports:
            raise WebhookRefused(f"webhook port {port} is not in webhooks.url.allowed_ports")
        if not self.allow_private_networks:
            literal = _literal_ip(host)
            if host == "localhost" or host.endswith(".localhost") or (literal and not _public(literal)):
                raise WebhookRefused(f"webhook host {host} is a loopback or private address")
        return host, port

    async def resolve(self, url: str) -> tuple[str, str, int]:
        """Check `url`, resolve its host and check every address; returns (host, address,
        port) to connect to. Raises `WebhookRefused`."""
        host, port = self.check_url(url)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise WebhookRefused(f"webhook host {host} does not resolve: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not self.allow_private_networks:
            private = [a for a in addresses if not _public(a)]
            if private:
                raise WebhookRefused(f"webhook host {host} resolves to non-public address {private[0]}")
        return host, addresses[0], port

    # -- delivery ------------------------------------------------------------
    async def post(self, client: httpx.AsyncClient, url: str, body: bytes) -> httpx.Response:
        """POST `body` to `url` under the policy: resolved and checked, connected to the
        checked address, signed, redirects followed only to allowed URLs. Raises
        `WebhookRefused` or `httpx.HTTPError`."""
        headers = {"Content-Type": "application/json", **self.headers}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        for _ in range(MAX_REDIRECTS + 1):
            host, address, port = await self.resolve(url)
            parts = urlsplit(url)
            netloc = f"[{address}]" if ":" in address else address
            pinned = parts._replace(netloc=f"{netloc}:{port}").geturl()
            host_header = host if parts.port is None else f"{host}:{parts.port}"
            response = await client.post(
                pinned, content=body, headers={**headers, "Host": host_header},
                extensions={"sni_hostname": host} if parts.scheme == "https" else None,
            )
            if response.status_code not in (301, 302, 303, 307, 308) or "location" not in response.headers:
                return response
            url = urljoin(url, response.headers["location"])
        raise WebhookRefused(f"webhook redirected more than {MAX_REDIRECTS} times")


def _literal_ip(host: str) -> str | None:
    """The address a literal host denotes, also in the forms `inet_aton` accepts
    (`0x7f000001`, `2130706433`, `127.1`), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None
