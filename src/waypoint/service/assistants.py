"""Assistants: versioned configurations of a graph (`langgraph_sdk` `AssistantsClient`)."""

from __future__ import annotations

import uuid
from typing import Any, get_type_hints

import typing_extensions
from typing_extensions import is_typeddict

from waypoint import serde
from waypoint.graphs import GraphRegistry, system_assistant_id
from waypoint.service.auth import graph_user
from waypoint.service.errors import Conflict, Invalid, NotFound
from waypoint.storage import AlreadyExists, Storage


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _json_schema(typ: Any) -> dict[str, Any] | None:
    """JSON Schema of a state/input/output type, or None when pydantic cannot build one.

    A `typing.TypedDict` (which pydantic refuses on Python < 3.12, and which the seeds use)
    is rebuilt as a `typing_extensions.TypedDict` with the same fields first.
    """
    from pydantic import TypeAdapter

    if is_typeddict(typ):
        hints = get_type_hints(typ, include_extras=True)
        typ = typing_extensions.TypedDict(typ.__name__, hints, total=getattr(typ, "__total__", True))
    try:
        return serde.to_jsonable(TypeAdapter(typ).json_schema())
    except Exception:
        return None


def _graph_schemas(graph: Any) -> dict[str, Any]:
    """`input_schema`, `output_schema`, `state_schema`, `config_schema`, `context_schema`
    of a compiled graph (None for any LangGraph cannot express)."""
    builder = getattr(graph, "builder", None)

    def schema(attr: str, fallback):
        typ = getattr(builder, attr, None) if builder is not None else None
        if typ is not None and (found := _json_schema(typ)) is not None:
            return found
        try:
            return serde.to_jsonable(fallback())
        except Exception:  # a type LangGraph cannot express in JSON Schema
            return None

    return {
        "input_schema": schema("input_schema", graph.get_input_jsonschema),
        "output_schema": schema("output_schema", graph.get_output_jsonschema),
        "state_schema": schema("state_schema", graph.get_output_jsonschema),
        "config_schema": flat_config_schema(schema("config_schema", graph.get_config_jsonschema)),
        "context_schema": schema("context_schema", graph.get_context_jsonschema),
    }


def flat_config_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of the `configurable` fields themselves, as the official server shows
    `config_schema`: LangGraph describes the whole `RunnableConfig`
    (`{"properties": {"configurable": {"$ref": "#/$defs/Context"}}, "$defs": {...}}`);
    clients (Studio's assistant editor, the SDKs) read the flat `{"properties": {...}}`.
    A schema without `configurable` is returned as it is."""
    if not isinstance(schema, dict):
        return schema
    configurable = (schema.get("properties") or {}).get("configurable")
    if not isinstance(configurable, dict):
        return schema
    defs = dict(schema.get("$defs") or {})
    refs = [configurable] + list(configurable.get("anyOf") or []) + list(configurable.get("allOf") or [])
    ref = next((r["$ref"] for r in refs if isinstance(r, dict) and "$ref" in r), None)
    if ref is None or not ref.startswith("#/$defs/") or ref.split("/")[-1] not in defs:
        return {k: v for k, v in configurable.items() if k != "default"}
    flat = dict(defs.pop(ref.split("/")[-1]))
    if defs:  # other definitions the fields refer to
        flat["$defs"] = {**defs, **(flat.get("$defs") or {})}
    return flat


#: Most assistants `AssistantService.for_new_run` keeps per process.
_CACHE_MAX = 1_000

#: Most assistants `AssistantService.remember_for_run` keeps: runs that another process
#: starts never collect theirs, so the oldest are dropped past this count.
_FOR_RUNS_MAX = 10_000


class AssistantService:
    """CRUD and introspection of assistants; a graph id is accepted wherever an assistant id is."""

    def __init__(self, storage: Storage, registry: GraphRegistry):
        self.storage = storage
        self.registry = registry
        #: run id -> the assistant the run was created with, until the run starts here.
        self._for_runs: dict[str, dict[str, Any]] = {}
        #: assistant id -> the assistant as last read here, for run creation (which checks
        #: it is still current in its own transaction: `Storage.create_run(assistant_stamp=)`).
        self._cache: dict[str, dict[str, Any]] = {}

    async def for_new_run(self, assistant_id: str) -> tuple[dict[str, Any], tuple[int, str] | None]:
        """The assistant a new run is created with, as `resolve` gives it, but from this
        process's cache when it holds it: then also its stamp `(version, updated_at)`, to
        pass to `Storage.create_run`, which refuses it (`AssistantChanged`) if it is no
        longer current; None when it was read just now. Raises `NotFound`."""
        cached = self._cache.get(self._cache_key(assistant_id))
        if cached is not None:
            return cached, (cached["version"], cached["updated_at"])
        assistant = await self.resolve(assistant_id)
        self._cache[assistant["assistant_id"]] = assistant
        if len(self._cache) > _CACHE_MAX:
            del self._cache[next(iter(self._cache))]
        return assistant, None

    def forget(self, assistant_id: str) -> None:
        """Drop the cached assistant (it changed); `assistant_id` as `resolve` takes it."""
        self._cache.pop(self._cache_key(assistant_id), None)

    def _cache_key(self, assistant_id: str) -> str:
        if _is_uuid(assistant_id) or assistant_id not in self.registry:
            return assistant_id
        return system_assistant_id(assistant_id)

    def remember_for_run(self, run_id: str, assistant: dict[str, Any]) -> None:
        """Keep `assistant`, as just read to create the run `run_id`, for that run's start
        (`for_run`), so a run created and started in this process reads its assistant once."""
        self._for_runs[run_id] = assistant
        if len(self._for_runs) > _FOR_RUNS_MAX:
            del self._for_runs[next(iter(self._for_runs))]

    def forget_for_run(self, run_id: str) -> None:
        """Drop what `remember_for_run` kept for `run_id` (its creation failed)."""
        self._for_runs.pop(run_id, None)

    async def for_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """The assistant `run` executes with: as read when the run was created, if that was
        in this process (the official server, too, fixes a run's assistant config when the
        run is created); else (created by another process, or a retried run) as stored now.
        Raises `NotFound`. No cache to invalidate: what is kept is the creation's own read."""
        assistant = self._for_runs.pop(run["run_id"], None)
        if assistant is None:
            assistant = await self.storage.get_assistant(run["assistant_id"])
        return assistant

    async def ensure_system_assistants(self) -> None:
        """Create the default assistant of every graph (id `uuid5(NAMESPACE_GRAPH, graph_id)`,
        metadata `{"created_by": "system"}`, config and context from `LANGGRAPH_CONFIG`), as
        the official server does at start-up; an existing one is left as it is."""
        for graph_id in self.registry.graph_ids:
            config, context = self.registry.default_assistant(graph_id)
            await self.storage.put_assistant(
                system_assistant_id(graph_id),
                graph_id=graph_id,
                config=config,
                context=context,
                metadata={"created_by": "system"},
                name=graph_id,
                description=None,
                if_exists="do_nothing",
            )

    async def resolve(self, assistant_id: str) -> dict[str, Any]:
        """The assistant named by `assistant_id`: a UUID, or a graph id meaning its system
        assistant. Raises `NotFound`."""
        if not _is_uuid(assistant_id):
            if assistant_id not in self.registry:
                raise NotFound(f"Assistant {assistant_id} not found: no such assistant id or graph id")
            assistant_id = system_assistant_id(assistant_id)
        return await self.storage.get_assistant(assistant_id)

    def _check_graph(self, graph_id: str) -> None:
        if graph_id not in self.registry:
            known = ", ".join(self.registry.graph_ids)
            raise Invalid("graph_id", f"unknown graph {graph_id!r}; this server has: {known}")

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create from an `AssistantCreate` body. Raises `Invalid` (unknown graph),
        `Conflict` (id taken and `if_exists="raise"`)."""
        self._check_graph(body["graph_id"])
        assistant_id = body.get("assistant_id") or str(uuid.uuid4())
        try:
            return await self.storage.put_assistant(
                assistant_id,
                graph_id=body["graph_id"],
                config=body.get("config") or {},
                context=body.get("context") or {},
                metadata=body.get("metadata") or {},
                name=body.get("name") or "Untitled",
                description=body.get("description"),
                if_exists=body.get("if_exists") or "raise",
            )
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None

    async def update(self, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply an `AssistantPatch` body. Raises `NotFound`, `Invalid`."""
        assistant = await self.resolve(assistant_id)
        if body.get("graph_id") is not None:
            self._check_graph(body["graph_id"])
        fields = {k: v for k, v in body.items() if v is not None}
        self.forget(assistant["assistant_id"])
        return await self.storage.update_assistant(assistant["assistant_id"], fields)

    async def versions(self, assistant_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The assistant's versions, newest first (`POST /assistants/{id}/versions`, SDK
        `assistants.get_versions`): `metadata` (containment filter), `limit`, `offset` from
        an `AssistantVersionsSearchRequest` body. Raises `NotFound` for an unknown assistant."""
        assistant = await self.resolve(assistant_id)
        return await self.storage.list_assistant_versions(
            assistant["assistant_id"], metadata=body.get("metadata"),
            limit=body.get("limit", 10), offset=body.get("offset", 0),
        )

    async def set_latest(self, assistant_id: str, version: int) -> dict[str, Any]:
        """Pin `version` as the assistant's current one (`POST /assistants/{id}/latest`, SDK
        `assistants.set_latest`): reads and new runs use its config, context, metadata,
        name, description and graph. Raises `NotFound` (assistant or version)."""
        assistant = await self.resolve(assistant_id)
        self.forget(assistant["assistant_id"])
        return await self.storage.set_assistant_version(assistant["assistant_id"], version)

    async def delete(self, assistant_id: str) -> None:
        assistant = await self.resolve(assistant_id)
        self.forget(assistant["assistant_id"])
        await self.storage.delete_assistant(assistant["assistant_id"])

    async def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.storage.search_assistants(
            graph_id=body.get("graph_id"),
            name=body.get("name"),
            metadata=body.get("metadata"),
            limit=body.get("limit", 10),
            offset=body.get("offset", 0),
            sort_by=body.get("sort_by") or "created_at",
            sort_order=body.get("sort_order") or "desc",
        )

    async def count(self, body: dict[str, Any]) -> int:
        return await self.storage.count_assistants(
            graph_id=body.get("graph_id"), name=body.get("name"), metadata=body.get("metadata")
        )

    def _graph(self, assistant: dict[str, Any]):
        """The assistant's graph for introspection (`assistants.read`), a factory built with
        the assistant's config."""
        return self.registry.graph(
            assistant["graph_id"], assistant.get("config") or {},
            store=self.storage.store, access_context="assistants.read", user=graph_user(),
        )

    async def get_graph(self, assistant_id: str, xray: bool | int = False) -> dict[str, Any]:
        """The drawable graph as `{"nodes": [...], "edges": [...]}` (LangGraph's `Graph.to_json`)."""
        assistant = await self.resolve(assistant_id)
        async with self._graph(assistant) as graph:
            drawable = await graph.aget_graph(xray=xray)
            return serde.to_jsonable(drawable.to_json())

    async def get_schemas(self, assistant_id: str) -> dict[str, Any]:
        """`{"graph_id", "input_schema", "output_schema", "state_schema", "config_schema",
        "context_schema"}` as JSON Schemas (None where LangGraph cannot derive one)."""
        assistant = await self.resolve(assistant_id)
        async with self._graph(assistant) as graph:
            return {"graph_id": assistant["graph_id"], **_graph_schemas(graph)}

    async def get_subgraphs(
        self, assistant_id: str, namespace: str | None = None, recurse: bool = False
    ) -> dict[str, Any]:
        """Schemas of the graph's subgraphs keyed by namespace."""
        assistant = await self.resolve(assistant_id)
        out: dict[str, Any] = {}
        async with self._graph(assistant) as graph:
            async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse):
                out[ns] = {"graph_id": assistant["graph_id"], **_graph_schemas(sub)}
        return out
