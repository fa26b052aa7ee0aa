"""`langgraph.json` → `http`: CORS, route groups and the mount prefix.

Keys follow the official `HttpConfig` (langgraph-cli `schemas.py`):
`cors` (`allow_origins`, `allow_origin_regex`, `allow_methods`, `allow_headers`,
`allow_credentials`, `expose_headers`, `max_age`) is applied with Starlette's
`CORSMiddleware`; `disable_assistants|threads|runs|store|meta` remove a route group
(`disable_webhooks` stops webhook delivery: see `cli.build_app`); `disable_mcp` removes `/mcp`, `disable_a2a` removes `/a2a/…`
and the agent card; `disable_ui` names a group Waypoint does not serve, so it is accepted either way; `mount_prefix` serves every route under a prefix.
`app`, `middleware_order` and `enable_custom_route_auth` are served by `custom_routes.py`
(validated here). `configurable_headers` and `logging_headers` are not honoured: a config
that sets them fails at start-up with `HttpConfigError` naming the key, rather than being
silently ignored.

Without `cors`, CORS behaves as the official server's default: preflights from any
origin are answered (also Chrome's Private Network Access preflight, sent when a public
page calls localhost, answered with `Access-Control-Allow-Private-Network`), and the
headers the SDK reads (`Content-Location`, `Location`, pagination) are exposed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waypoint import serde

#: Response headers every cross-origin client may read (the SDKs follow these).
EXPOSED_HEADERS = ["Content-Location", "Location", "X-Pagination-Next", "X-Pagination-Total"]

_CORS_KEYS = {
    "allow_origins", "allow_origin_regex", "allow_methods", "allow_headers",
    "allow_credentials", "expose_headers", "max_age",
}
#: Route groups by `disable_*` key: the paths they remove (`{thread_id}` in the OpenAPI
#: paths matches `[^/]+` as a concrete id does).
_GROUPS = {
    "disable_assistants": r"/assistants",
    "disable_threads": r"/threads",
    "disable_runs": r"/runs|/threads/[^/]+/runs",
    "disable_store": r"/store",
    "disable_meta": r"/openapi\.json|/docs|/redoc|/info|/metrics",
    "disable_mcp": r"/mcp",
    "disable_a2a": r"/a2a|/\.well-known/agent-card\.json",
}
_ABSENT_GROUPS = {"disable_ui"}  # Waypoint serves no such group
_UNSUPPORTED = {"configurable_headers", "logging_headers"}


class HttpConfigError(ValueError):
    """`http` in langgraph.json has a key or value Waypoint does not honour."""


def check_http_config(http: Any) -> dict[str, Any]:
    """Validate the `http` object (None → {}); returns it. Raises `HttpConfigError`."""
    if http is None:
        return {}
    if not isinstance(http, dict):
        raise HttpConfigError("langgraph.json 'http' must be an object")
    known = set(_GROUPS) | _ABSENT_GROUPS | {
        "disable_webhooks", "cors", "mount_prefix", "app", "middleware_order", "enable_custom_route_auth",
    }
    for key, value in http.items():
        if key in _UNSUPPORTED:
            if value in (None, False, [], {}):
                continue
            raise HttpConfigError(f"langgraph.json http.{key} is not supported by Waypoint; remove it")
        if key not in known:
            raise HttpConfigError(f"langgraph.json http.{key} is not a known http setting")
        if key.startswith("disable_") and not isinstance(value, bool):
            raise HttpConfigError(f"langgraph.json http.{key} must be true or false")
    cors = http.get("cors")
    if cors is not None:
        if not isinstance(cors, dict):
            raise HttpConfigError("langgraph.json http.cors must be an object")
        unknown = set(cors) - _CORS_KEYS
        if unknown:
            raise HttpConfigError(f"langgraph.json http.cors has unknown key(s): {', '.join(sorted(unknown))}")
    if http.get("app") is not None and not isinstance(http["app"], str):
        raise HttpConfigError("langgraph.json http.app must be a string such as \"./webapp.py:app\"")
    if http.get("middleware_order") not in (None, "middleware_first", "auth_first"):
        raise HttpConfigError("langgraph.json http.middleware_order must be \"middleware_first\" or \"auth_first\"")
    if not isinstance(http.get("enable_custom_route_auth", False), bool):
        raise HttpConfigError("langgraph.json http.enable_custom_route_auth must be true or false")
    prefix = http.get("mount_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/")):
        raise HttpConfigError("langgraph.json http.mount_prefix must start with '/' and not end with '/', e.g. \"/api\"")
    return http


def cors_options(cors: dict | None) -> dict[str, Any]:
    """Keyword arguments of Starlette's `CORSMiddleware` for `http.cors` (None: the default)."""
    if cors is None:
        return {
            "allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"],
            "expose_headers": EXPOSED_HEADERS, "max_age": 600, "allow_private_network": True,
        }
    options = {k: v for k, v in cors.items() if k in _CORS_KEYS and v is not None}
    options.setdefault("allow_methods", ["*"])
    options.setdefault("allow_headers", ["*"])
    options["allow_private_network"] = True  # granted only to the origins allowed above
    options["expose_headers"] = list(dict.fromkeys([*options.get("expose_headers", []), *EXPOSED_HEADERS]))
    return options


class MountPrefix:
    """Serves the app under `prefix`: `/api/threads` reaches `/threads` (Starlette routes by
    `path` minus `root_path`); other paths get a JSON 404. Path-absolute `Location` and
    `Content-Location` response headers get the prefix too, so clients follow them."""

    def __init__(self, app: ASGIApp, prefix: str):
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            if scope["type"] == "http":
                body = serde.dumps({"detail": f"Not Found: routes are served under {self.prefix}"})
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
            return
        scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        prefix = self.prefix.encode()

        async def send_prefixed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, prefix + v) if k.lower() in (b"location", b"content-location") and v.startswith(b"/")
                    else (k, v)
                    for k, v in message.get("headers", [])
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_prefixed)


def _group_pattern(http: dict[str, Any]) -> re.Pattern | None:
    groups = [pattern for key, pattern in _GROUPS.items() if http.get(key)]
    return re.compile(rf"^(?:{'|'.join(groups)})(?:/|$)") if groups else None


class DisabledRoutes:
    """Answers requests to a disabled route group with a JSON 404 (before routing)."""

    def __init__(self, app: ASGIApp, pattern: re.Pattern):
        self.app = app
        self.pattern = pattern

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path = scope["path"][len(scope.get("root_path", "")):]
            if self.pattern.match(path):
                if scope["type"] == "http":
                    await send({"type": "http.response.start", "status": 404,
                                "headers": [(b"content-type", b"application/json")]})
                    await send({"type": "http.response.body",
                                "body": serde.dumps({"detail": "Not Found: this route group is disabled"})})
                return
        await self.app(scope, receive, send)


def apply_http_config(app: FastAPI, http: dict[str, Any] | None) -> None:
    """Add the middleware `http` asks for: disabled route groups (also left out of
    `/openapi.json`), CORS, the mount prefix. Call before the app starts.
    Raises `HttpConfigError`."""
    http = check_http_config(http)
    pattern = _group_pattern(http)
    if pattern is not None:
        app.add_middleware(DisabledRoutes, pattern=pattern)
        build_openapi = app.openapi

        def openapi() -> dict[str, Any]:
            schema = build_openapi()
            schema["paths"] = {p: v for p, v in schema.get("paths", {}).items() if not pattern.match(p)}
            return schema

        app.openapi = openapi
    app.add_middleware(CORSMiddleware, **cors_options(http.get("cors")))
    if http.get("mount_prefix"):
        app.add_middleware(MountPrefix, prefix=http["mount_prefix"])
