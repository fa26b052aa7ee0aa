"""Run routes on a thread (`/threads/{thread_id}/runs...`) and stateless (`/runs...`).

Response headers follow the official server so the SDK can reconnect: `Location` points
at the join (or join-stream) URL, `Content-Location` at the run.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from waypoint.api.deps import (
    THREAD_FILTER_SCOPE_KEY,
    JSONResponse,
    json_when_ready,
    services,
    sse_response,
    stream_mode_filter,
)
from waypoint.api.models import MAX_OFFSET, RunBatchCreate, RunCreate, RunsCancel, RunStatus
from waypoint.service import Services

router = APIRouter(tags=["runs"], default_response_class=JSONResponse)


def _paths(run: dict, stateless: bool) -> tuple[str, str]:
    base = f"/runs/{run['run_id']}" if stateless else f"/threads/{run['thread_id']}/runs/{run['run_id']}"
    return base, f"/threads/{run['thread_id']}/runs/{run['run_id']}"


async def _create(s: Services, thread_id: UUID | None, body: RunCreate) -> dict:
    return await s.runs.create(str(thread_id) if thread_id else None, body.fields())


def _cancel_on_disconnect(s: Services, run: dict, body: RunCreate):
    if body.on_disconnect != "cancel":
        return None
    return lambda: s.runs.cancel(run["thread_id"], run["run_id"], action="interrupt")


async def _background(s: Services, thread_id: UUID | None, body: RunCreate) -> JSONResponse:
    run = await _create(s, thread_id, body)
    content_location, _ = _paths(run, thread_id is None)
    return JSONResponse(run, headers={"Content-Location": content_location})


async def _stream(s: Services, thread_id: UUID | None, body: RunCreate):
    run = await _create(s, thread_id, body)
    content_location, thread_path = _paths(run, thread_id is None)
    return sse_response(
        s.runs.stream_batches(run["run_id"]),
        headers={"Location": f"{thread_path}/stream", "Content-Location": content_location},
        on_disconnect=_cancel_on_disconnect(s, run, body),
    )


async def _wait(s: Services, thread_id: UUID | None, body: RunCreate):
    run = await _create(s, thread_id, body)
    content_location, thread_path = _paths(run, thread_id is None)
    return json_when_ready(
        lambda: s.runs.join(None, run["run_id"], known=True),
        headers={"Location": f"{thread_path}/join", "Content-Location": content_location},
        on_disconnect=_cancel_on_disconnect(s, run, body),
    )


@router.post("/threads/{thread_id}/runs")
async def create_run(thread_id: UUID, body: RunCreate, s: Services = Depends(services)):
    return await _background(s, thread_id, body)


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(thread_id: UUID, body: RunCreate, s: Services = Depends(services)):
    return await _stream(s, thread_id, body)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(thread_id: UUID, body: RunCreate, s: Services = Depends(services)):
    return await _wait(s, thread_id, body)


@router.post("/runs")
async def create_stateless_run(body: RunCreate, s: Services = Depends(services)):
    return await _background(s, None, body)


@router.post("/runs/stream")
async def stream_stateless_run(body: RunCreate, s: Services = Depends(services)):
    return await _stream(s, None, body)


@router.post("/runs/wait")
async def wait_stateless_run(body: RunCreate, s: Services = Depends(services)):
    return await _wait(s, None, body)


@router.post("/runs/batch")
async def create_run_batch(body: RunBatchCreate, s: Services = Depends(services)):
    """Queue a stateless background run per item; the created runs, in order."""
    return await s.runs.create_batch(body.fields())


@router.post("/runs/cancel", status_code=204)
async def cancel_runs(
    body: RunsCancel,
    request: Request,
    action: Literal["interrupt", "rollback"] = "interrupt",
    s: Services = Depends(services),
):
    """Cancel the `run_ids` of `thread_id`, or every run in `status`; `204` with no body."""
    await s.runs.cancel_many(
        thread_id=str(body.thread_id) if body.thread_id else None,
        run_ids=[str(r) for r in body.run_ids or []],
        status=body.status,
        action=action,
        thread_filter=request.scope.get(THREAD_FILTER_SCOPE_KEY),
    )
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: UUID,
    limit: int = Query(10, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    status: RunStatus | None = None,
    s: Services = Depends(services),
):
    return await s.runs.list(str(thread_id), limit=limit, offset=offset, status=status)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: UUID, run_id: UUID, s: Services = Depends(services)):
    return await s.runs.get(str(thread_id), str(run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: UUID, run_id: UUID, s: Services = Depends(services)):
    await s.runs.delete(str(thread_id), str(run_id))
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(thread_id: UUID, run_id: UUID, s: Services = Depends(services)):
    await s.runs.get(str(thread_id), str(run_id))  # 404 before the response starts
    return json_when_ready(lambda: s.runs.join(str(thread_id), str(run_id), known=True))


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_run_stream(
    thread_id: UUID,
    run_id: UUID,
    stream_mode: list[str] | None = Query(None),
    cancel_on_disconnect: bool = False,
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    s: Services = Depends(services),
):
    run = await s.runs.get(str(thread_id), str(run_id))
    on_disconnect = None
    if cancel_on_disconnect:
        on_disconnect = lambda: s.runs.cancel(run["thread_id"], run["run_id"], action="interrupt")  # noqa: E731
    return sse_response(
        s.runs.stream_batches(run["run_id"], last_event_id=last_event_id),
        keep=stream_mode_filter(stream_mode),
        on_disconnect=on_disconnect,
    )


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: UUID,
    run_id: UUID,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
    s: Services = Depends(services),
):
    run = await s.runs.cancel(str(thread_id), str(run_id), action=action, wait=wait)
    if not wait:
        return Response(status_code=202)
    return run if run is not None else Response(status_code=204)
