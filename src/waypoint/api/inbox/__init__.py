"""`/inbox`: the approval inbox web page (Waypoint extension), served by the server itself.

The page is static HTML + JS from this folder (no CDN); it lists `/inbox/items` page by
page, follows `/inbox/events`, renders LangChain `HumanInTheLoopMiddleware` and agent-inbox
`HumanInterrupt` values as forms, and acts through the standard API (`POST
/threads/{id}/runs` with `command.resume`; `POST /threads/{id}/state` as `__end__` to
resolve). With custom
auth on, `auth.js` signs the reviewer in (a pasted token, or a cookie the authenticate
handler accepts) and `/inbox/me` says who that is.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from waypoint.api.deps import JSONResponse, services
from waypoint.service import Services
from waypoint.service.auth import current_user
from waypoint.service.errors import Invalid

router = APIRouter(prefix="/inbox", tags=["inbox"], default_response_class=JSONResponse)
_FILES = resources.files(__package__)


#: The page runs only its own scripts, talks only to this server, and is never framed
#: (clickjacking a reviewer into approving); styles are inline in the page.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def inbox_page():
    return HTMLResponse((_FILES / "inbox.html").read_text(), headers=SECURITY_HEADERS)


@router.get("/{script}.js", include_in_schema=False)
async def inbox_script(script: Literal["inbox", "auth"]):
    return Response((_FILES / f"{script}.js").read_text(), media_type="text/javascript", headers=SECURITY_HEADERS)


@router.get("/me")
async def inbox_me():
    """Who the page is signed in as: `{"auth": true, "identity", "display_name"}` with custom
    auth on (401 when not signed in), `{"auth": false, …: null}` without."""
    user = current_user.get()
    if user is None:
        return {"auth": False, "identity": None, "display_name": None}
    return {"auth": True, "identity": user.identity, "display_name": user.display_name}


def _metadata_filter(metadata: str | None) -> dict | None:
    """The `metadata` query parameter as a JSON object; `Invalid` (422) otherwise."""
    if not metadata:
        return None
    try:
        filters = json.loads(metadata)
    except json.JSONDecodeError as exc:
        raise Invalid("metadata", f"must be a JSON object: {exc}") from None
    if not isinstance(filters, dict):
        raise Invalid("metadata", "must be a JSON object")
    return filters


_METADATA = Query(None, description='JSON object the thread metadata must contain, e.g. {"team": "support"}')


@router.get("/items")
async def inbox_items(
    graph_id: str | None = None,
    metadata: str | None = _METADATA,
    limit: int = Query(25, ge=1, le=200),
    offset: int = Query(0, ge=0),
    thread_id: UUID | None = Query(None, description="only this thread (the page's ?thread_id= link)"),
    s: Services = Depends(services),
):
    """One page of the threads waiting for a person (pending interrupts or breakpoints),
    most recently paused first: `{"items": [...], "total", "offset", "limit"}`."""
    return await s.threads.awaiting_review(
        graph_id=graph_id, metadata=_metadata_filter(metadata), limit=limit, offset=offset,
        thread_id=str(thread_id) if thread_id else None,
    )


@router.get("/events", include_in_schema=False)
async def inbox_events(
    graph_id: str | None = None,
    metadata: str | None = _METADATA,
    interval: float = Query(1.0, ge=0.2, le=60, description="seconds between checks"),
    s: Services = Depends(services),
):
    """Server-sent events for a live inbox page: `event: inbox` with `{"total", "latest"}`
    first, then again whenever the set of paused threads matching the filters changes.

    The server checks the database every `interval` seconds (the database is the one
    place every process's pauses are visible): one open page costs two small indexed
    queries (a count and the newest row) per interval."""
    filters = _metadata_filter(metadata)

    async def body():
        last = None
        while True:
            marker = await s.threads.review_marker(graph_id=graph_id, metadata=filters)
            if marker != last:
                last = marker
                yield ServerSentEvent(event="inbox", data=json.dumps(marker))
            await asyncio.sleep(interval)

    return EventSourceResponse(body(), ping=15)
