"""The long-term store (`/store/*`), shared with graphs as `graph.store` (LangGraph `BaseStore`)."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import Item

from waypoint.clock import to_iso
from waypoint.persistence import StoreConfig
from waypoint.service.errors import Invalid
from waypoint.storage import Storage


def _item(item: Item) -> dict[str, Any]:
    """An `Item` as the API shows it: timestamps ISO-8601 with microseconds and time zone
    (the SQLite store keeps naive UTC seconds)."""
    out = item.dict()
    out["created_at"] = to_iso(item.created_at)
    out["updated_at"] = to_iso(item.updated_at)
    if getattr(item, "score", None) is not None:
        out["score"] = item.score
    return out


def _check_namespace(namespace: list[str]) -> tuple[str, ...]:
    if not namespace or any(not isinstance(p, str) or not p or "." in p for p in namespace):
        raise Invalid("namespace", "must be a non-empty list of non-empty labels without '.'")
    return tuple(namespace)


class StoreService:
    """Items keyed by (namespace, key) with JSON values; mirrors `langgraph_sdk` `StoreClient`."""

    def __init__(self, storage: Storage, config: StoreConfig | None = None):
        self.storage = storage
        self.config = config or StoreConfig()

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        """Whether a read renews its items' TTL: the request's `refresh_ttl`, else the
        configured `store.ttl.refresh_on_read` (default true, as langgraph's TTLConfig)."""
        return self.config.refresh_on_read if refresh_ttl is None else refresh_ttl

    async def put(self, namespace: list[str], key: str, value: dict, index: Any = None,
                  ttl: float | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if index is not None:
            kwargs["index"] = index
        if ttl is not None:
            kwargs["ttl"] = ttl
        await self.storage.store.aput(_check_namespace(namespace), key, value, **kwargs)

    async def get(self, namespace: list[str], key: str, refresh_ttl: bool | None = None) -> dict[str, Any] | None:
        """The item, or None when there is none (the official server answers `200 null`)."""
        item = await self.storage.store.aget(_check_namespace(namespace), key, refresh_ttl=self._refresh(refresh_ttl))
        return None if item is None else _item(item)

    async def delete(self, namespace: list[str], key: str) -> None:
        await self.storage.store.adelete(_check_namespace(namespace), key)

    async def search(self, namespace_prefix: list[str], *, filter: dict | None, limit: int,
                     offset: int, query: str | None, refresh_ttl: bool | None = None) -> dict[str, Any]:
        """Items under `namespace_prefix` matching `filter`; with `query` and `store.index`
        configured, ranked by similarity to it (each item has a `score`). Raises `Invalid` (422) for a filter
        key the store cannot match: one holding the NUL character (PostgreSQL cannot hold it),
        or, on SQLite, one outside langgraph's `[a-zA-Z0-9_.-]` (it builds a JSON path of it)."""
        if any("\x00" in key for key in filter or {}):
            raise Invalid("filter", "a filter key cannot hold the NUL character (\\u0000)")
        try:
            items = await self.storage.store.asearch(
                tuple(namespace_prefix), filter=filter, limit=limit, offset=offset, query=query,
                refresh_ttl=self._refresh(refresh_ttl),
            )
        except ValueError as exc:
            if not str(exc).startswith("Invalid filter key"):
                raise
            raise Invalid("filter", str(exc)) from exc
        return {"items": [_item(i) for i in items]}

    async def list_namespaces(self, *, prefix: list[str] | None, suffix: list[str] | None,
                              max_depth: int | None, limit: int, offset: int) -> dict[str, Any]:
        namespaces = await self.storage.store.alist_namespaces(
            prefix=tuple(prefix) if prefix else None,
            suffix=tuple(suffix) if suffix else None,
            max_depth=max_depth, limit=limit, offset=offset,
        )
        return {"namespaces": [list(ns) for ns in namespaces]}
