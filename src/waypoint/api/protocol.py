"""Thread streaming protocol routes (semantics in `service/protocol.py`).

- `POST /threads/{thread_id}/commands`: one command `{id, method, params}` in, its
  response envelope out (HTTP 200, also for a protocol error, which the SDKs read from the
  body; 400 for a body that is not a command at all).
- `POST /threads/{thread_id}/stream/events`: SSE of the thread's events matching the
  `EventStreamRequest` body (`channels`, `namespaces`, `depth`, `since`); `event:` is the
  event's method, `id:` its `seq`. Open until the client leaves (comment heartbeats).
- The same path as a WebSocket: every frame from the client is a command;
  `subscription.subscribe` (with an optional `since`), `subscription.unsubscribe` and
  `subscription.reconnect` manage this connection's subscriptions, any other method is
  authorized and applied as over HTTP (the upgrade itself is authorized as a thread read). Events are sent once per connection even when several
  subscriptions match, in seq order (but for the replay of a subscription made later).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse, ServerSentEvent

from waypoint import serde
from waypoint.api.auth import CommandRefused, authorize_command
from waypoint.api.deps import JSONResponse, services
from waypoint.service import Services
from waypoint.service.protocol import EventFilter, ProtocolError, ThreadProtocol, wire_event
from waypoint.storage import NotFound
from waypoint.streams import ThreadEvent

log = logging.getLogger(__name__)

router = APIRouter(tags=["thread streaming protocol"], default_response_class=JSONResponse)

#: Seconds between SSE comment heartbeats.
HEARTBEAT_SECONDS = 10.0


def _error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message}


def _parse_command(raw: bytes | str) -> tuple[Any, Any, Any]:
    """`(id, method, params)` of a command frame. Raises `ProtocolError`."""
    try:
        command = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("invalid_argument", f"body is not JSON: {exc}") from None
    if not isinstance(command, dict) or not isinstance(command.get("method"), str):
        raise ProtocolError("invalid_argument", "a command is an object {id, method, params}")
    command_id = command.get("id")
    if command_id is not None and (isinstance(command_id, bool) or not isinstance(command_id, int)):
        raise ProtocolError("invalid_argument", "id: an integer is required")
    return command_id, command["method"], command.get("params") or {}


async def _apply(protocol: ThreadProtocol, thread_id: str, command_id: Any, method: str, params: Any) -> dict:
    try:
        result, seq = await protocol.command(thread_id, method, params)
    except ProtocolError as exc:
        return _error(command_id, exc.code, str(exc))
    return {"type": "success", "id": command_id, "result": result, "meta": {"applied_through_seq": seq}}


@router.post("/threads/{thread_id}/commands")
async def command(thread_id: UUID, request: Request, s: Services = Depends(services)):
    """Apply one protocol command to the thread (see `service/protocol.py`)."""
    try:
        command_id, method, params = _parse_command(await request.body())
    except ProtocolError as exc:
        # the envelope the SDKs read, plus the `detail` every other 4xx body carries
        return JSONResponse({**_error(None, exc.code, str(exc)), "detail": str(exc)}, status_code=400)
    return await _apply(s.protocol, str(thread_id), command_id, method, params)


def _since(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError("invalid_argument", f"since: a non-negative integer is required, got {value!r}")
    return value


@router.post("/threads/{thread_id}/stream/events")
async def stream_events(thread_id: UUID, request: Request, s: Services = Depends(services)):
    """SSE of the thread's events matching the body's filter, replayed after `since`."""
    try:
        body = orjson.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise ProtocolError("invalid_argument", "the body is an object {channels, namespaces?, depth?, since?}")
        event_filter = EventFilter.from_params(body)
        since = _since(body.get("since"))
    except orjson.JSONDecodeError as exc:
        return JSONResponse({"detail": f"body is not JSON: {exc}"}, status_code=400)
    except ProtocolError as exc:
        return JSONResponse({"detail": str(exc), "error": exc.code}, status_code=400)
    events = await s.protocol.follow(str(thread_id), event_filter, since=since)  # NotFound -> 404

    async def sse() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in events:
                yield ServerSentEvent(
                    data=wire_event(event).decode(), event=serde.loads(event.body)["method"], id=str(event.seq)
                )
        except Exception as exc:  # the log became unreadable (e.g. Redis went away)
            log.warning("thread %s event stream failed: %s", thread_id, exc)
            yield ServerSentEvent(data=serde.dumps(_error(None, "unknown_error", str(exc))).decode(), event="error")

    return EventSourceResponse(
        sse(), ping=HEARTBEAT_SECONDS, ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"),
        headers={"Cache-Control": "no-store"},
    )


class _Connection:
    """One WebSocket session on a thread: its subscriptions, and one pump following the
    thread's log that sends each event once if any subscription wants it. A subscription
    made while the pump runs first gets its replay (`since` up to the pump's cursor)."""

    #: Seqs remembered as sent, so a replay never repeats what the pump already sent.
    SENT_MEMORY = 10_000

    def __init__(self, websocket: WebSocket, protocol: ThreadProtocol, thread_id: str):
        self.websocket = websocket
        self.protocol = protocol
        self.thread_id = thread_id
        self.subscriptions: dict[str, EventFilter] = {}
        self._send_lock = asyncio.Lock()
        self._sent: set[int] = set()
        self._sent_order: collections.deque[int] = collections.deque()
        self._cursor: int | None = None  # seq through which the pump has looked
        self._pump_task: asyncio.Task | None = None

    async def send(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.websocket.send_text(frame.decode())

    async def send_event(self, event: ThreadEvent) -> None:
        async with self._send_lock:
            if event.seq in self._sent:
                return
            self._sent.add(event.seq)
            self._sent_order.append(event.seq)
            if len(self._sent_order) > self.SENT_MEMORY:
                self._sent.discard(self._sent_order.popleft())
            await self.websocket.send_text(wire_event(event).decode())

    async def _replay(self, filters: list[EventFilter], since: int, until: int) -> list[ThreadEvent]:
        events = await self.protocol.broker.read_thread_events(self.thread_id, since=since)
        return [
            e for e in events
            if e.seq <= until and any(f.matches(serde.loads(e.body)) for f in filters)
        ]

    async def subscribe(self, command_id: Any, params: dict) -> None:
        event_filter = EventFilter.from_params(params)
        since = _since(params.get("since"))
        await self.protocol.storage.get_thread(self.thread_id)  # NotFound for an unknown thread
        if self._cursor is None:
            self._cursor = max(await self.protocol.broker.thread_seq(self.thread_id), since)
        subscription_id = str(uuid.uuid4())
        # Registered together with reading the cursor (no await between): the pump applies
        # it to every event after `until`, the replay below covers the rest.
        self.subscriptions[subscription_id] = event_filter
        until = self._cursor
        backlog = await self._replay([event_filter], since, until) if until > since else []
        await self.send(serde.dumps({
            "type": "success", "id": command_id,
            "result": {"subscription_id": subscription_id, "replayed_events": len(backlog)},
            "meta": {"applied_through_seq": until},
        }))
        for event in backlog:
            await self.send_event(event)
        if self._pump_task is None:
            self._pump_task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for event in self.protocol.broker.follow_thread(self.thread_id, since=self._cursor):
                self._cursor = event.seq
                decoded = serde.loads(event.body)
                if any(f.matches(decoded) for f in list(self.subscriptions.values())):
                    await self.send_event(event)
        except (asyncio.CancelledError, WebSocketDisconnect):
            raise
        except Exception as exc:  # the log became unreadable (e.g. Redis went away)
            log.warning("thread %s websocket stream failed: %s", self.thread_id, exc)
            with contextlib.suppress(Exception):
                await self.send(serde.dumps(_error(None, "unknown_error", str(exc))))
                await self.websocket.close(code=1011)

    async def unsubscribe(self, params: dict) -> dict:
        if self.subscriptions.pop(str(params.get("subscription_id")), None) is None:
            raise ProtocolError("no_such_subscription", f"no subscription {params.get('subscription_id')!r}")
        return {}

    async def reconnect(self, command_id: Any, params: dict) -> None:
        """`subscription.reconnect`: send again this connection's named subscriptions'
        events after `last_event_id` (a seq). Subscriptions live with their connection, so
        on a new connection nothing is restored (`restored: false`): subscribe again with
        `since`."""
        try:
            since = int(params.get("last_event_id") or 0)
        except ValueError:
            raise ProtocolError("invalid_argument", "last_event_id: an event id (a seq) is required") from None
        names = params.get("subscriptions") or list(self.subscriptions)
        filters = [self.subscriptions[n] for n in names if n in self.subscriptions]
        until = self._cursor or 0
        missed = await self._replay(filters, since, until) if filters else []
        await self.send(serde.dumps({
            "type": "success", "id": command_id,
            "result": {"restored": bool(filters), "missed_events": len(missed)},
            "meta": {"applied_through_seq": until},
        }))
        for event in missed:  # the client asks to see these again
            self._sent.discard(event.seq)
            await self.send_event(event)

    async def handle(self, raw: str | bytes) -> None:
        command_id = None
        try:
            command_id, method, params = _parse_command(raw)
            if not isinstance(params, dict):
                raise ProtocolError("invalid_argument", "params: an object is required")
            if method == "subscription.subscribe":
                await self.subscribe(command_id, params)
            elif method == "subscription.unsubscribe":
                result = await self.unsubscribe(params)
                await self.send(serde.dumps({"type": "success", "id": command_id, "result": result}))
            elif method == "subscription.reconnect":
                await self.reconnect(command_id, params)
            else:
                try:
                    command = await authorize_command(
                        self.websocket, self.thread_id, {"id": command_id, "method": method, "params": params}
                    )
                except CommandRefused as exc:  # this connection may read the thread: no secret to keep
                    raise ProtocolError("permission_denied", str(exc)) from None
                params = command.get("params") or {}
                await self.send(serde.dumps(await _apply(self.protocol, self.thread_id, command_id, method, params)))
        except ProtocolError as exc:
            await self.send(serde.dumps(_error(command_id, exc.code, str(exc))))
        except NotFound as exc:
            await self.send(serde.dumps(_error(command_id, "invalid_argument", str(exc))))

    async def close(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(BaseException):
                await self._pump_task


@router.websocket("/threads/{thread_id}/stream/events")
async def stream_events_ws(websocket: WebSocket, thread_id: UUID):
    """The thread's protocol session over a WebSocket (commands in, responses and events out)."""
    s: Services = websocket.app.state.services
    await websocket.accept()
    connection = _Connection(websocket, s.protocol, str(thread_id))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text") if message.get("text") is not None else message.get("bytes")
            if raw is not None:
                await connection.handle(raw)
    except WebSocketDisconnect:
        pass
    finally:
        await connection.close()
