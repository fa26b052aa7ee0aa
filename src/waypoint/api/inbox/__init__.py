"""`/inbox`: the approval inbox web page (Waypoint extension), served by the server itself.

The page is static HTML + JS from this folder (no CDN); it lists `/inbox/items` and acts
through the standard API (`POST /threads/{id}/runs` with `command.resume`). With custom
auth on, `auth.js` signs the reviewer in (a pasted token, or a cookie the authenticate
handler accepts) and `/inbox/me` says who that is.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

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


@router.get("/items")
async def inbox_items(
    graph_id: str | None = None,
    metadata: str | None = Query(None, description='JSON object, e.g. {"team": "support"}'),
    limit: int = Query(100, ge=1, le=1000),
    s: Services = Depends(services),
):
    """Threads waiting for a person (pending interrupts or breakpoints), newest first."""
    filters = None
    if metadata:
        try:
            filters = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise Invalid("metadata", f"must be a JSON object: {exc}") from None
        if not isinstance(filters, dict):
            raise Invalid("metadata", "must be a JSON object")
    return await s.threads.awaiting_review(graph_id=graph_id, metadata=filters, limit=limit)
