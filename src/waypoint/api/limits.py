"""Request limits, enforced before a body reaches a route: size, then JSON shape.

`RequestLimits` is a pure ASGI middleware:
- a body above `max_body_bytes` gets `413` JSON, refused on its `Content-Length` before any
  of it is read, or (chunked, no length) as soon as the bytes received pass the limit; so no
  request can hold more than the limit in memory;
- a JSON body (`application/json` or `…+json`) is parsed once here by `serde.parse_request`:
  invalid JSON (lone surrogates, NaN, control characters) gets `422`, JSON nested deeper
  than `serde.MAX_JSON_DEPTH` gets `400`, a NUL character in any string or key gets `422`
  naming the field. The body is then replayed to the route unchanged;
- a NUL character in the URL's path or query (`%00`) gets `422` naming the parameter, for
  the same reason as in bodies: no database column can hold it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waypoint import serde

_STATUS = {"invalid": 422, "too_deep": 400, "nul": 422}


class _TooLarge(HTTPException):
    """Raised from `receive` past the limit; an `HTTPException` so that a route reading
    the body answers it as JSON `413` through the app's exception handling."""

    def __init__(self, max_body_bytes: int):
        mb = max_body_bytes / (1024 * 1024)
        super().__init__(413, f"Request body too large: the limit is {mb:g} MB (--max-body-mb)")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _loc_text(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


async def send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    """Send a complete JSON response through a raw ASGI `send`."""
    body = serde.dumps(content)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI, max_body_mb: float) -> None:
    """Add `RequestLimits` to `app`. Call after any middleware that reads bodies (auth) is
    added, so that the limits come first, and before CORS, so that their answers carry
    CORS headers (Starlette runs the last-added middleware first)."""
    app.add_middleware(RequestLimits, max_body_bytes=int(max_body_mb * 1024 * 1024))


class RequestLimits:
    """ASGI middleware enforcing the body size limit and strict JSON (see the module doc)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (nul := _nul_in_url(scope)) is not None:
            await send_json(send, 422, nul)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            # Refused unread; the server discards the rest of the body and keeps the connection.
            await send_json(send, 413, {"detail": _TooLarge(self.max_body_bytes).detail})
            return
        if not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
            await self.app(scope, self._counting(receive), send)
            return
        try:
            body, disconnected = await self._read_body(receive)
        except _TooLarge as exc:
            await send_json(send, 413, {"detail": exc.detail})
            return
        if body and not disconnected:
            try:
                serde.parse_request(body)
            except serde.RejectedJSON as exc:
                await send_json(send, _STATUS[exc.reason], _rejection(exc))
                return
        await self.app(scope, _replay(body, disconnected, receive), send)

    def _counting(self, receive: Receive) -> Receive:
        """`receive` that raises `_TooLarge` past the limit (for bodies the routes stream)."""
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge(self.max_body_bytes)
            return message

        return counted

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge(self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


def _nul_in_url(scope: Scope) -> dict[str, Any] | None:
    """The 422 body for a URL holding a NUL character, else None."""
    msg = "NUL character (\\u0000) in the URL"
    if "\x00" in scope["path"]:
        return {"detail": f"path: {msg}", "errors": [{"loc": ["path"], "msg": msg, "type": "url_nul"}]}
    query = scope.get("query_string") or b""
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return {"detail": f"{name.replace(chr(0), '')}: {msg}",
                        "errors": [{"loc": ["query", name], "msg": msg, "type": "url_nul"}]}
    return None


def _rejection(exc: serde.RejectedJSON) -> dict[str, Any]:
    loc = ["body", *exc.loc]
    return {
        "detail": f"{_loc_text(exc.loc)}: {exc}" if exc.loc else str(exc),
        "errors": [{"loc": loc, "msg": str(exc), "type": f"json_{exc.reason}"}],
    }


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body once, then defers to the server
    (which reports the disconnect when the client goes away)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
