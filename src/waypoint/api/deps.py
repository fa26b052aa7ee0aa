"""Shared pieces of the HTTP layer: the services handle and response helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from waypoint import serde
from waypoint.service import Services
from waypoint.streams import StreamEvent

#: Seconds between whitespace heartbeats of a `wait`/`join` response (leading whitespace
#: is valid JSON, and keeps proxies from closing an idle connection).
HEARTBEAT_SECONDS = 5.0


def services(request: Request) -> Services:
    """FastAPI dependency: the deployment's `Services`."""
    return request.app.state.services


class JSONResponse(Response):
    """JSON encoded with Waypoint's serde (orjson; messages and LangGraph types handled)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return serde.dumps(content)


def stream_mode_filter(stream_mode: list[str] | None) -> Callable[[str], bool]:
    """Predicate on SSE event names keeping the given stream modes (all when None);
    `metadata` and `error` always pass."""
    stream_mode = [m for m in stream_mode or [] if m]  # the SDK sends `stream_mode=` for None
    if not stream_mode:
        return lambda _event: True
    wanted = {"messages" if m == "messages-tuple" else m for m in stream_mode} | {"metadata", "error"}

    def keep(event: str) -> bool:
        base = event.split("|", 1)[0]
        return base in wanted or base.split("/", 1)[0] in wanted

    return keep


def sse_response(
    events: AsyncIterator[StreamEvent],
    *,
    headers: dict[str, str] | None = None,
    keep: Callable[[str], bool] = lambda _e: True,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> EventSourceResponse:
    """Serve a run's events as SSE (`event:`, `data:` JSON, `id:` for `Last-Event-ID`).
    `on_disconnect` is scheduled if the client goes away before the stream ends."""

    async def body() -> AsyncIterator[ServerSentEvent]:
        finished = False
        try:
            async for ev in events:
                if keep(ev.event):
                    yield ServerSentEvent(data=ev.data.decode(), event=ev.event, id=ev.id)
            finished = True
        finally:
            if not finished and on_disconnect is not None:
                asyncio.get_running_loop().create_task(on_disconnect())

    return EventSourceResponse(body(), headers=headers, ping=15)


def json_when_ready(
    result: Callable[[], Awaitable[Any]],
    *,
    headers: dict[str, str] | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> StreamingResponse:
    """A JSON response whose body is `await result()`, preceded by whitespace heartbeats."""

    async def body() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(result())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
                if done:
                    break
                yield b"\n"
            yield serde.dumps(task.result())
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                if on_disconnect is not None:
                    asyncio.get_running_loop().create_task(on_disconnect())

    return StreamingResponse(body(), media_type="application/json", headers=headers)
