"""Errors as HTTP answers: every failure is JSON, and never costs the client its connection.

- Service errors map to one status each (`STATUS`); a request the route models refuse is
  a `422` naming the fields.
- Any other exception is a bug of ours: `internal_error` logs it with its traceback under
  a fresh error id and answers `500 {"detail": …, "error_id": …}`.
- `CatchAll` wraps the whole middleware stack (outside Starlette's `ServerErrorMiddleware`,
  which re-raises after answering, so that uvicorn would log the error twice and close the
  keep-alive connection). It swallows what was already answered, answers what was not, and
  ends an SSE stream that fails after its headers were sent with an `error` event.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from langgraph.store.base import InvalidNamespaceError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waypoint import serde
from waypoint.api.unavailable import response_for
from waypoint.service.errors import BadRequest, Conflict, Invalid
from waypoint.storage import NotFound, UnsupportedValue

log = logging.getLogger("waypoint.errors")

#: Service (and library) errors and their HTTP status; `str(exc)` is the `detail`.
STATUS: dict[type[Exception], int] = {
    NotFound: 404, Conflict: 409, BadRequest: 400, Invalid: 422, InvalidNamespaceError: 422,
    UnsupportedValue: 422,
}


def new_error_id() -> str:
    """A fresh id that ties a client's error answer to the server log entry."""
    return uuid.uuid4().hex


#: Scope key under which `internal_error` leaves the id it logged, for `CatchAll`.
_ERROR_ID_KEY = "waypoint.error_id"


def log_internal(exc: BaseException, where: str) -> str:
    """Log `exc` with its traceback under a new error id (returned)."""
    error_id = new_error_id()
    log.error("internal error %s in %s: %s: %s", error_id, where, type(exc).__name__, exc, exc_info=exc)
    return error_id


def internal_body(error_id: str) -> dict[str, str]:
    """The JSON body of a `500`: a message and the error id to find in the server log."""
    return {
        "detail": f"Internal server error; the server log has the details under error id {error_id}",
        "error_id": error_id,
    }


def error_event(error_id: str) -> dict[str, str]:
    """The data of an SSE `error` event reporting an internal error (`{"error", "message"}`
    as the official server sends, plus `error_id`)."""
    return {"error": "InternalServerError", "message": internal_body(error_id)["detail"], "error_id": error_id}


def stream_error(exc: Exception, where: str) -> dict[str, str]:
    """The `{"error", "message"}` reporting `exc` once a response has started (an SSE
    `error` event, a `wait` body's `__error__`): a service error as itself, anything else
    logged as an internal error (with `error_id`)."""
    if isinstance(exc, tuple(STATUS)):
        return {"error": type(exc).__name__, "message": str(exc)}
    return error_event(log_internal(exc, where))


def _json(content: Any, status_code: int) -> Response:
    """A JSON error response encoded by `serde` (the API's own encoder)."""
    return Response(serde.dumps(content), status_code=status_code, media_type="application/json")


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'body'}: {err.get('msg')}")
    return "; ".join(parts)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return _json(
        {
            "detail": _validation_detail(exc),
            "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                       for e in exc.errors()],
        }, status_code=422,
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    """Handler of any unexpected exception: logged with an error id, answered `500` JSON —
    unless it wraps a failing dependency (`unavailable.response_for` walks the exception
    chain), which is a `503`/`507` however deep it was raised."""
    if (response := response_for(exc)) is not None:
        return response
    error_id = log_internal(exc, f"{request.method} {request.url.path}")
    request.scope[_ERROR_ID_KEY] = error_id
    return _json(internal_body(error_id), status_code=500)


def install(app: FastAPI) -> None:
    """Register the error handlers on `app` and put `CatchAll` around its middleware stack."""
    for exc_type, status in STATUS.items():
        async def handler(request: Request, exc: Exception, status: int = status) -> Response:
            return _json({"detail": str(exc)}, status_code=status)

        app.add_exception_handler(exc_type, handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, internal_error)
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: CatchAll(build())  # type: ignore[method-assign]


class CatchAll:
    """Outermost ASGI middleware: no exception reaches the server (see the module doc)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"started": False, "ended": False, "sse": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                state["sse"] = content_type.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["ended"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the point of this middleware
            await self._finish(scope, send, state, exc)

    @staticmethod
    async def _finish(scope: Scope, send: Send, state: dict[str, Any], exc: Exception) -> None:
        if state["ended"]:
            return  # answered (and logged) by the app's handler
        # Logged by `internal_error` unless the exception came from outside the app.
        error_id = scope.get(_ERROR_ID_KEY) or log_internal(exc, f"{scope.get('method')} {scope.get('path')}")
        try:
            if not state["started"]:
                body = serde.dumps(internal_body(error_id))
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
            elif state["sse"]:
                data = serde.dumps(error_event(error_id)).decode()
                await send({"type": "http.response.body",
                            "body": f"event: error\ndata: {data}\n\n".encode()})
            else:
                # A JSON body cut mid-way cannot be mended; end it so the framing holds.
                await send({"type": "http.response.body", "body": b""})
        except Exception:  # noqa: BLE001 - the client is gone or the server closed the response
            log.debug("could not finish the response of error %s", error_id, exc_info=True)
