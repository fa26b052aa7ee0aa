"""`/threads` routes other than runs (`langgraph_sdk` `ThreadsClient`)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response

from waypoint.api.deps import JSONResponse, one_batch_each, services, sse_response
from waypoint.api.models import (
    MAX_OFFSET,
    ThreadCount,
    ThreadCreate,
    ThreadHistory,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
    ThreadStateAtCheckpoint,
    ThreadStateUpdate,
)
from waypoint.service import Services

router = APIRouter(prefix="/threads", tags=["threads"], default_response_class=JSONResponse)


@router.post("")
async def create_thread(body: ThreadCreate, s: Services = Depends(services)):
    return await s.threads.create(body.fields())


@router.post("/search")
async def search_threads(body: ThreadSearch, response: Response, s: Services = Depends(services)):
    items = await s.threads.search(body.fields())
    if len(items) == body.limit:
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
    return items


@router.post("/count")
async def count_threads(body: ThreadCount, s: Services = Depends(services)):
    return await s.threads.count(body.fields())


@router.post("/prune")
async def prune_threads(body: ThreadPrune, s: Services = Depends(services)):
    """`delete` removes the threads; `keep_latest` keeps each with its latest checkpoint.
    Answers `{"pruned_count": n}` (ids that do not exist are not counted)."""
    return await s.threads.prune(body.thread_ids, body.strategy, metadata=body.metadata)


@router.get("/{thread_id}")
async def get_thread(thread_id: UUID, include: str | None = None, s: Services = Depends(services)):
    """`include=ttl` adds the thread's `ttl` (`strategy`, `ttl_minutes`, `expires_at`)."""
    fields = [f.strip() for f in (include or "").split(",") if f.strip()]
    return await s.threads.get(str(thread_id), include=fields)


@router.patch("/{thread_id}")
async def patch_thread(thread_id: UUID, body: ThreadPatch, s: Services = Depends(services)):
    return await s.threads.patch(
        str(thread_id), body.metadata, body.ttl.fields() if body.ttl else None
    )


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: UUID, s: Services = Depends(services)):
    await s.threads.delete(str(thread_id))
    return Response(status_code=204)


@router.post("/{thread_id}/copy")
async def copy_thread(thread_id: UUID, s: Services = Depends(services)):
    return await s.threads.copy(str(thread_id))


@router.get("/{thread_id}/storage")
async def get_thread_storage(thread_id: UUID, s: Services = Depends(services)):
    """Bytes the thread's checkpoints, channel values and pending writes occupy."""
    return await s.threads.storage_use(str(thread_id))


@router.get("/{thread_id}/state")
async def get_thread_state(thread_id: UUID, subgraphs: bool = False, s: Services = Depends(services)):
    return await s.threads.get_state(str(thread_id), subgraphs=subgraphs)


@router.post("/{thread_id}/state")
async def update_thread_state(thread_id: UUID, body: ThreadStateUpdate, s: Services = Depends(services)):
    checkpoint = body.checkpoint.fields() if body.checkpoint else {}
    if body.checkpoint_id:
        checkpoint["checkpoint_id"] = body.checkpoint_id
    return await s.threads.update_state(
        str(thread_id), body.values, as_node=body.as_node, checkpoint=checkpoint or None
    )


@router.post("/{thread_id}/state/checkpoint")
async def get_thread_state_at_checkpoint_post(
    thread_id: UUID, body: ThreadStateAtCheckpoint, s: Services = Depends(services)
):
    return await s.threads.get_state(
        str(thread_id), checkpoint=body.checkpoint.fields(), subgraphs=body.subgraphs
    )


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_thread_state_at_checkpoint(
    thread_id: UUID, checkpoint_id: str, subgraphs: bool = False, s: Services = Depends(services)
):
    return await s.threads.get_state(
        str(thread_id), checkpoint={"checkpoint_id": checkpoint_id}, subgraphs=subgraphs
    )


@router.post("/{thread_id}/history")
async def get_thread_history_post(thread_id: UUID, body: ThreadHistory, s: Services = Depends(services)):
    before = body.before
    if isinstance(before, str):
        before = {"checkpoint_id": before}
    elif before is not None:
        before = before.fields()
    return await s.threads.get_history(
        str(thread_id),
        limit=body.limit,
        before=before,
        metadata=body.metadata,
        checkpoint=body.checkpoint.fields() if body.checkpoint else None,
    )


@router.get("/{thread_id}/history")
async def get_thread_history(
    thread_id: UUID,
    limit: int = Query(10, ge=1, le=1000),
    before: str | None = None,
    s: Services = Depends(services),
):
    return await s.threads.get_history(
        str(thread_id), limit=limit, before={"checkpoint_id": before} if before else None
    )


@router.get("/{thread_id}/stream")
async def join_thread_stream(
    thread_id: UUID,
    stream_mode: list[str] | None = Query(None),
    stream_modes: list[str] | None = Query(None),
    last_event_id: str | None = Header(None),
    s: Services = Depends(services),
):
    """Every run of the thread, one after another, until the client leaves (SSE). The SDK
    sends `stream_mode`; the official OpenAPI names it `stream_modes`: both are read."""
    events = await s.thread_streams.open(
        str(thread_id), (stream_mode or []) + (stream_modes or []), last_event_id
    )
    return sse_response(one_batch_each(events))


@router.get("/{thread_id}/decisions")
async def get_thread_decisions(
    thread_id: UUID,
    response: Response,
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    s: Services = Depends(services),
):
    """Waypoint extension: who answered which interrupt, when, with what (oldest first;
    `limit`/`offset` page through them, `X-Pagination-Next` gives the next offset)."""
    decisions = await s.threads.decisions(str(thread_id))
    if len(decisions) > offset + limit:
        response.headers["X-Pagination-Next"] = str(offset + limit)
    return decisions[offset:offset + limit]


@router.get("/{thread_id}/notifications")
async def get_thread_notifications(thread_id: UUID, s: Services = Depends(services)):
    """Waypoint extension: the notifications sent to reviewers about this thread (new
    pending interrupts, reminders before a deadline, escalations), oldest first, with each
    delivery's `status` (`pending`, `sent`, `failed`, `skipped`), `attempts` and `last_error`."""
    return await s.threads.notifications(str(thread_id))
