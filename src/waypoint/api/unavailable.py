"""HTTP answers for a failing dependency: `503`/`507` JSON with `Retry-After`, never a 500.

Which exceptions count is decided in one place, `waypoint.service.dependencies`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from waypoint.service.dependencies import RETRY_AFTER_SECONDS, ROOT_TYPES, unavailable


def response_for(exc: BaseException) -> JSONResponse | None:
    """The JSON response for a dependency failure (`{"detail": message}` with `Retry-After`),
    or None when `exc` is not one."""
    verdict = unavailable(exc)
    if verdict is None:
        return None
    status, message = verdict
    return JSONResponse({"detail": message}, status_code=status, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def register(app: FastAPI) -> None:
    """Map dependency failures to 503/507 JSON on `app`; other exceptions of the same types
    are re-raised untouched (to the catch-all 500 handler)."""

    async def handler(request: Request, exc: Exception):
        response = response_for(exc)
        if response is None:
            raise exc
        return response

    for exc_type in ROOT_TYPES:
        app.add_exception_handler(exc_type, handler)
