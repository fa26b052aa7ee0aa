"""`/inbox`: the approval inbox web page (Waypoint extension), served by the server itself.

The page is static HTML + JS from this folder (no CDN); it lists `/inbox/items` and acts
through the standard API (`POST /threads/{id}/runs` with `command.resume`).
"""

from __future__ import annotations

import json
from importlib import resources

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from waypoint.api.deps import JSONResponse, services
from waypoint.service import Services
from waypoint.service.errors import Invalid

router = APIRouter(prefix="/inbox", tags=["inbox"], default_response_class=JSONResponse)
_FILES = resources.files(__package__)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def inbox_page():
    return HTMLResponse((_FILES / "inbox.html").read_text())


@router.get("/inbox.js", include_in_schema=False)
async def inbox_script():
    return Response((_FILES / "inbox.js").read_text(), media_type="text/javascript")


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
