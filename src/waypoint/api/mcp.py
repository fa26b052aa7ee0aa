"""MCP at `/mcp`: every assistant as an MCP tool, over Streamable HTTP (the `mcp` package).

As the official server's MCP endpoint (LangGraph docs, "MCP endpoint in Agent Server";
its OpenAPI `/mcp/`): stateless (no session survives a request), JSON responses to
`POST`, `GET` answered `405` (no server-initiated stream), `DELETE` `404` (there is no
session to end); `http.disable_mcp` removes the route.

A tool is an assistant: name = the assistant's name (characters outside
`[A-Za-z0-9_.-]` become `_`; a name already taken gets `-` and the first 8 characters of
the assistant id), description = the assistant's description (else one naming its graph),
input schema = the graph's input schema (`GET /assistants/{id}/schemas` `input_schema`).
`tools/call` runs the assistant on a new thread with the arguments as input and returns
the graph's output (`structuredContent`, and the same JSON as text); the thread is deleted
afterwards. A run that pauses at `interrupt()` cannot finish inside one tool call: the
result has `isError: true`, says so in its text, and carries
`{"status": "interrupted", "thread_id", "run_id", "interrupts"}` as `structuredContent`;
that thread is kept, so a person can answer the interrupt (inbox, or `Command(resume=…)`
on that thread) and read the output there. A failed run is an `isError` result with
the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from waypoint import __version__, serde
from waypoint.api.auth import authorize, new_thread_metadata, run_config, with_user
from waypoint.service.auth import NOTHING, AuthError, merge
from waypoint.service import Services
from waypoint.service.errors import ServiceError
from waypoint.storage import NotFound

if TYPE_CHECKING:  # the `mcp` package is imported on the first /mcp request: it adds seconds to start-up
    import mcp_types as types
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

log = logging.getLogger(__name__)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_PAGE = 100


def tool_names(assistants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`{tool name: assistant}` for `assistants` (oldest first, so a name stays with the
    assistant that had it first); the naming rule is the module's."""
    out: dict[str, dict[str, Any]] = {}
    for assistant in assistants:
        name = _NOT_NAME.sub("_", assistant.get("name") or assistant["graph_id"])[:64] or "assistant"
        if name in out:
            name = f"{name[:55]}-{assistant['assistant_id'][:8]}"
        out[name] = assistant
    return out


class McpEndpoint:
    """The `/mcp` ASGI endpoint over one `Services`; `lifespan()` must wrap serving."""

    def __init__(self, services: Services):
        self.services = services
        self._manager: StreamableHTTPSessionManager | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _started(self) -> StreamableHTTPSessionManager:
        """The session manager, started on first use in a task that lives until `lifespan` ends."""
        async with self._lock:
            if self._manager is None:
                from mcp.server.lowlevel import Server
                from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

                server = Server("waypoint", version=__version__,
                                on_list_tools=self._list_tools, on_call_tool=self._call_tool)
                manager = StreamableHTTPSessionManager(server, json_response=True, stateless=True)
                running = asyncio.Event()

                async def hold() -> None:
                    async with manager.run():
                        running.set()
                        await self._stop.wait()

                self._task = asyncio.get_running_loop().create_task(hold())
                await running.wait()
                self._manager = manager
            return self._manager

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self._stop.set()
            if self._task is not None:
                await self._task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if method == "POST":
            await (await self._started()).handle_request(scope, receive, send)
            return
        status, detail = (405, "Method Not Allowed: this MCP server opens no GET stream") if method == "GET" \
            else (404, "Session not found: this MCP server is stateless") if method == "DELETE" \
            else (405, "Method Not Allowed")
        headers = [(b"content-type", b"application/json"), (b"allow", b"POST, GET, DELETE")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": serde.dumps({"detail": detail})})

    async def _tools(self, request) -> dict[str, dict[str, Any]]:
        """The tools the caller may see: with auth on, the `assistants.search` handler's filter applies."""
        value = {"metadata": {}, "graph_id": None, "limit": _PAGE, "offset": 0}
        metadata = merge(value["metadata"], await authorize(request, "assistants", "search", value))
        if metadata is NOTHING:
            return {}
        assistants: list[dict[str, Any]] = []
        while True:
            page = await self.services.assistants.search(
                {"limit": _PAGE, "offset": len(assistants), "sort_by": "created_at", "sort_order": "asc",
                 "metadata": metadata or None}
            )
            assistants += page
            if len(page) < _PAGE:
                return tool_names(assistants)

    async def _list_tools(self, ctx, params) -> types.ListToolsResult:
        import mcp_types as types

        with with_user(ctx.request):
            tools = []
            for name, assistant in (await self._tools(ctx.request)).items():
                try:
                    schema = (await self.services.assistants.get_schemas(assistant["assistant_id"]))["input_schema"]
                except Exception:  # a graph that cannot be built now must not hide the other tools
                    log.warning("MCP tools/list: no input schema for assistant %s", assistant["assistant_id"],
                                exc_info=True)
                    schema = None
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    schema = {"type": "object", "properties": {}}
                description = assistant.get("description") or f"Runs the LangGraph graph {assistant['graph_id']!r}."
                tools.append(types.Tool(name=name, description=description, input_schema=schema))
            return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        import mcp_types as types

        with with_user(ctx.request) as user:
            assistant = (await self._tools(ctx.request)).get(params.name)
            if assistant is None:
                return _error(f"Unknown tool {params.name!r}: no assistant has that name")
            # As a run creation on a new thread (`threads.create_run`): the handler may stamp metadata.
            value = {"thread_id": None, "assistant_id": assistant["assistant_id"], "metadata": {},
                     "kwargs": {"input": params.arguments}}
            try:
                metadata = await new_thread_metadata(ctx.request, None)
                await authorize(ctx.request, "threads", "create_run", value)
            except AuthError as exc:
                return _error(f"Refused ({exc.status}): {exc.detail}")
            s = self.services
            thread = await s.threads.create({"metadata": {**metadata, "mcp_tool": params.name}})
            thread_id = thread["thread_id"]
            try:
                run = await s.runs.create(thread_id, {
                    "assistant_id": assistant["assistant_id"], "input": dict(params.arguments or {}),
                    "config": run_config(user), "metadata": value.get("metadata") or {},
                })
                output = await s.runs.join(thread_id, run["run_id"], known=True)
            except ServiceError as exc:
                await _delete(s, thread_id)
                return _error(str(exc))
            if isinstance(output, dict) and output.get("__interrupt__"):
                paused = {"status": "interrupted", "thread_id": thread_id, "run_id": run["run_id"],
                          "interrupts": output["__interrupt__"]}
                return types.CallToolResult(
                    content=[types.TextContent(text=(
                        f"The agent paused at an interrupt and waits for a person: thread {thread_id} is kept; "
                        f"answer the interrupt there (Waypoint's inbox, or Command(resume=...)) to continue. "
                        f"Interrupts: {serde.dumps_str(output['__interrupt__'])}"
                    ))],
                    structured_content=paused, is_error=True,
                )
            await _delete(s, thread_id)
            if isinstance(output, dict) and output.get("__error__"):
                error = output["__error__"]
                return _error(f"The run failed: {error.get('error')}: {error.get('message')}")
            output = serde.to_jsonable(output)
            return types.CallToolResult(
                content=[types.TextContent(text=serde.dumps_str(output))],
                structured_content=output if isinstance(output, dict) else {"result": output},
            )


def _error(text: str) -> types.CallToolResult:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


async def _delete(s: Services, thread_id: str) -> None:
    with contextlib.suppress(NotFound):
        await s.threads.delete(thread_id)


def install(app: FastAPI, services: Services) -> McpEndpoint:
    """Serve MCP at `/mcp` and `/mcp/` on `app`; the caller enters `lifespan()`."""
    endpoint = McpEndpoint(services)
    for path in ("/mcp", "/mcp/"):
        app.router.routes.append(Route(path, endpoint=endpoint, methods=["GET", "POST", "DELETE"],
                                       include_in_schema=False))
    return endpoint
