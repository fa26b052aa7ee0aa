"""`/assistants` routes (`langgraph_sdk` `AssistantsClient`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from waypoint.api.deps import JSONResponse, services
from waypoint.api.models import (
    AssistantCount,
    AssistantCreate,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionChange,
    AssistantVersionsSearch,
)
from waypoint.service.errors import Invalid
from waypoint.service import Services

router = APIRouter(prefix="/assistants", tags=["assistants"], default_response_class=JSONResponse)


@router.post("")
async def create_assistant(body: AssistantCreate, s: Services = Depends(services)):
    return await s.assistants.create(body.fields())


@router.post("/search")
async def search_assistants(body: AssistantSearch, response: Response, s: Services = Depends(services)):
    fields = body.fields()
    items = await s.assistants.search(fields)
    if len(items) == body.limit:
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
    if body.select:
        items = [{k: a.get(k) for k in body.select} for a in items]
    return items


@router.post("/count")
async def count_assistants(body: AssistantCount, s: Services = Depends(services)):
    return await s.assistants.count(body.fields())


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: str, s: Services = Depends(services)):
    return await s.assistants.resolve(assistant_id)


@router.patch("/{assistant_id}")
async def patch_assistant(assistant_id: str, body: AssistantPatch, s: Services = Depends(services)):
    return await s.assistants.update(assistant_id, body.fields())


@router.delete("/{assistant_id}", status_code=204)
async def delete_assistant(assistant_id: str, s: Services = Depends(services)):
    await s.assistants.delete(assistant_id)
    return Response(status_code=204)


@router.post("/{assistant_id}/versions")
async def get_assistant_versions(
    assistant_id: str, body: AssistantVersionsSearch | None = None, s: Services = Depends(services)
):
    """Every version of the assistant, newest first (`metadata` filter, `limit`, `offset`)."""
    return await s.assistants.versions(assistant_id, body.fields() if body else {})


@router.post("/{assistant_id}/latest")
async def set_latest_assistant_version(
    assistant_id: str,
    body: AssistantVersionChange | None = None,
    version: int | None = Query(None, ge=1, description="The version (the SDK sends it in the body)."),
    s: Services = Depends(services),
):
    """Pin a recorded version as the assistant's current one; the assistant as it now is."""
    chosen = body.version if body and body.version is not None else version
    if chosen is None:
        raise Invalid("version", "give the version to pin, in the body ({\"version\": n}) or the query")
    return await s.assistants.set_latest(assistant_id, chosen)


@router.get("/{assistant_id}/graph")
async def get_assistant_graph(assistant_id: str, xray: int | bool = False, s: Services = Depends(services)):
    return await s.assistants.get_graph(assistant_id, xray=xray)


@router.get("/{assistant_id}/schemas")
async def get_assistant_schemas(assistant_id: str, s: Services = Depends(services)):
    return await s.assistants.get_schemas(assistant_id)


@router.get("/{assistant_id}/subgraphs")
async def get_assistant_subgraphs(assistant_id: str, recurse: bool = False, s: Services = Depends(services)):
    return await s.assistants.get_subgraphs(assistant_id, recurse=recurse)


@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs_ns(
    assistant_id: str, namespace: str, recurse: bool = False, s: Services = Depends(services)
):
    return await s.assistants.get_subgraphs(assistant_id, namespace=namespace, recurse=recurse)
