"""`GET /metrics`: this process's operations metrics (see `service/metrics.py`).

`format=prometheus` (default, Prometheus text exposition) or `format=json`, as the official
OpenAPI's `GET /metrics`. Public like `/ok` and `/info`; `http.disable_meta` removes it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from waypoint.service import metrics

router = APIRouter(tags=["system"])


@router.get("/metrics")
async def get_metrics(request: Request, format: Literal["prometheus", "json"] = Query("prometheus")):
    """The figures of the process that answers; a failing database answers 503 (its gauges
    cannot be read)."""
    await metrics.refresh(request.app.state.services)
    if format == "json":
        return metrics.render_json()
    body, content_type = metrics.render_prometheus()
    return Response(body, media_type=content_type)
