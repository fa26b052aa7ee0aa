"""Shared pieces of the HTTP layer: the services handle and response helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from waypoint import serde
from waypoint.api import errors
from waypoint.service import Services
from waypoint.service.dependencies import RETRY_AFTER_SECONDS, unavailable
from waypoint.streams import StreamEvent

#: Seconds between whitespace heartbeats of a `wait`/`join` response (leading whitespace
#: is valid JSON, and keeps proxies from closing an idle connection).
HEARTBEAT_SECONDS = 5.0

#: Scope key under which the auth gate leaves the thread metadata filter (a containment
#: filter) that a bulk cancel by status must respect.
THREAD_FILTER_SCOPE_KEY = "waypoint.thread_filter"


async def services(request: Request) -> Services:
    """FastAPI dependency: the deployment's `Services` (async: FastAPI runs a plain `def`
    dependency in its thread pool, a thread hop per request)."""
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
    batches: AsyncIterator[list[StreamEvent]],
    *,
    headers: dict[str, str] | None = None,
    keep: Callable[[str], bool] = lambda _e: True,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> EventSourceResponse:
    """Serve a run's events as SSE (`event:`, `data:` JSON, `id:` for `Last-Event-ID`), a
    batch of events in one write (`one_batch_each` for one event at a time).
    `on_disconnect` is scheduled if the client goes away before the stream ends."""

    async def body() -> AsyncIterator[bytes | ServerSentEvent]:
        finished = False
        try:
            async for batch in batches:
                chunk = b"".join(sse_event(ev) for ev in batch if keep(ev.event))
                if chunk:
                    yield chunk
            finished = True
        except Exception as exc:  # noqa: BLE001 - headers are sent: end with an `error` event
            # A failing dependency (broker, database) says so; anything else is logged as ours.
            finished = True
            verdict = unavailable(exc)
            data = _unavailable_error(verdict[1]) if verdict is not None else errors.stream_error(exc, "stream")
            yield ServerSentEvent(data=serde.dumps_str(data), event="error")
        finally:
            if not finished and on_disconnect is not None:
                asyncio.get_running_loop().create_task(on_disconnect())

    return EventSourceResponse(body(), headers=headers, ping=15)


def sse_event(event: StreamEvent) -> bytes:
    """One event in SSE wire format, as sse-starlette's `ServerSentEvent` writes it; written
    here directly when no field holds a line break (JSON data never does), the per-event
    cost of a fast stream."""
    ident, name, data = event.id.encode(), event.event.encode(), event.data
    if (b"\n" in data or b"\r" in data or b"\n" in name or b"\r" in name  # no generator: per event
            or b"\n" in ident or b"\r" in ident):
        return ServerSentEvent(data=data.decode(), event=event.event, id=event.id).encode()
    return b"id: %s\r\nevent: %s\r\ndata: %s\r\n\r\n" % (ident, name, data)


async def one_batch_each(events: AsyncIterator[StreamEvent]) -> AsyncIterator[list[StreamEvent]]:
    """Each event as a batch of its own (for `sse_response`)."""
    async for event in events:
        yield [event]


def _unavailable_error(message: str) -> dict[str, str]:
    return {"error": "ServiceUnavailable", "message": message}


class _JSONWhenReady(Response):
    """The response `json_when_ready` returns (see there). Plain asyncio rather than
    `StreamingResponse`: no task group per request, and a body that is ready before the
    first heartbeat goes out whole, with its `Content-Length` (two writes, not three)."""

    media_type = "application/json"

    def __init__(
        self,
        result: Callable[[], Awaitable[Any]],
        headers: dict[str, str] | None,
        on_disconnect: Callable[[], Awaitable[None]] | None,
    ):
        self.status_code = 200
        self.background = None
        self._result = result
        self._on_disconnect = on_disconnect
        self.init_headers(headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        task = asyncio.ensure_future(self._result())
        gone = asyncio.ensure_future(_disconnected(receive))
        started = False
        try:
            while True:
                done, _ = await asyncio.wait(
                    {task, gone}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if task in done:
                    break
                if gone in done:
                    return  # the client left: `finally` cancels the run if asked to
                if not started:
                    started = True
                    await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b"\n", "more_body": True})
            body = self._body(task, started)
            if started:
                await send({"type": "http.response.body", "body": body})
                return
            self.raw_headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                if self._on_disconnect is not None:
                    asyncio.get_running_loop().create_task(self._on_disconnect())

    def _body(self, task: asyncio.Future, started: bool) -> bytes:
        """The JSON body for the finished `task`; an error is raised to the app's handlers
        while nothing was sent, else (and for a failing dependency) answered in the body."""
        try:
            return serde.dumps(task.result())
        except Exception as exc:
            verdict = unavailable(exc)
            if verdict is None and not started:
                raise  # nothing sent yet: the app's error handlers answer (JSON)
            if started:  # the status line is out: report it as a failed run does
                error = _unavailable_error(verdict[1]) if verdict is not None else errors.stream_error(exc, "wait")
                return serde.dumps({"__error__": error})
            self.status_code = verdict[0]
            self.raw_headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            return serde.dumps({"detail": verdict[1]})


async def _disconnected(receive: Any) -> None:
    """Return once the client has gone (its request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def json_when_ready(
    result: Callable[[], Awaitable[Any]],
    *,
    headers: dict[str, str] | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """A JSON response whose body is `await result()`, preceded by whitespace heartbeats
    every `HEARTBEAT_SECONDS` while it is not ready. `on_disconnect` is scheduled if the
    client goes away before the body is sent (`result` is cancelled then).

    A failing dependency (Redis, the database) answers `503` JSON `{"detail"}` while no
    heartbeat was sent; after one (the status line is out), the body is
    `{"__error__": {"error": "ServiceUnavailable", "message"}}`, as for a failed run."""
    return _JSONWhenReady(result, headers, on_disconnect)
