"""`/store` routes (`langgraph_sdk` `StoreClient`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from waypoint.api.deps import JSONResponse, services
from waypoint.api.models import StoreDelete, StoreNamespaces, StorePut, StoreSearch
from waypoint.service import Services

router = APIRouter(prefix="/store", tags=["store"], default_response_class=JSONResponse)


@router.put("/items", status_code=204)
async def put_item(body: StorePut, s: Services = Depends(services)):
    await s.store.put(body.namespace, body.key, body.value, index=body.index, ttl=body.ttl)
    return Response(status_code=204)


@router.get("/items")
async def get_item(key: str, namespace: str = Query(""), refresh_ttl: bool | None = None,
                   s: Services = Depends(services)):
    # The SDK sends the namespace dot-joined (`a.b.c`).
    return await s.store.get([p for p in namespace.split(".") if p], key, refresh_ttl=refresh_ttl)


@router.delete("/items", status_code=204)
async def delete_item(body: StoreDelete, s: Services = Depends(services)):
    await s.store.delete(body.namespace, body.key)
    return Response(status_code=204)


@router.post("/items/search")
async def search_items(body: StoreSearch, s: Services = Depends(services)):
    return await s.store.search(
        body.namespace_prefix, filter=body.filter, limit=body.limit, offset=body.offset, query=body.query,
        refresh_ttl=body.refresh_ttl,
    )


@router.post("/namespaces")
async def list_namespaces(body: StoreNamespaces, s: Services = Depends(services)):
    return await s.store.list_namespaces(
        prefix=body.prefix, suffix=body.suffix, max_depth=body.max_depth, limit=body.limit, offset=body.offset
    )
