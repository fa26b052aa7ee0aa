"""The long-term store (`/store/*`), shared with graphs as `graph.store` (LangGraph `BaseStore`)."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import Item

from waypoint.service.errors import Invalid, NotFound
from waypoint.storage import Storage


def _item(item: Item) -> dict[str, Any]:
    out = item.dict()
    if getattr(item, "score", None) is not None:
        out["score"] = item.score
    return out


def _check_namespace(namespace: list[str]) -> tuple[str, ...]:
    if not namespace or any(not isinstance(p, str) or not p or "." in p for p in namespace):
        raise Invalid("namespace", "must be a non-empty list of non-empty labels without '.'")
    return tuple(namespace)


class StoreService:
    """Items keyed by (namespace, key) with JSON values; mirrors `langgraph_sdk` `StoreClient`."""

    def __init__(self, storage: Storage):
        self.storage = storage

    async def put(self, namespace: list[str], key: str, value: dict, index: Any = None,
                  ttl: float | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if index is not None:
            kwargs["index"] = index
        if ttl is not None:
            kwargs["ttl"] = ttl
        await self.storage.store.aput(_check_namespace(namespace), key, value, **kwargs)

    async def get(self, namespace: list[str], key: str) -> dict[str, Any]:
        """The item; raises `NotFound`."""
        item = await self.storage.store.aget(_check_namespace(namespace), key)
        if item is None:
            raise NotFound(f"Item {key!r} not found in namespace {namespace}")
        return _item(item)

    async def delete(self, namespace: list[str], key: str) -> None:
        await self.storage.store.adelete(_check_namespace(namespace), key)

    async def search(self, namespace_prefix: list[str], *, filter: dict | None, limit: int,
                     offset: int, query: str | None) -> dict[str, Any]:
        items = await self.storage.store.asearch(
            tuple(namespace_prefix), filter=filter, limit=limit, offset=offset, query=query
        )
        return {"items": [_item(i) for i in items]}

    async def list_namespaces(self, *, prefix: list[str] | None, suffix: list[str] | None,
                              max_depth: int | None, limit: int, offset: int) -> dict[str, Any]:
        namespaces = await self.storage.store.alist_namespaces(
            prefix=tuple(prefix) if prefix else None,
            suffix=tuple(suffix) if suffix else None,
            max_depth=max_depth, limit=limit, offset=offset,
        )
        return {"namespaces": [list(ns) for ns in namespaces]}
