"""The ASGI application: routers, error mapping, system routes, lifespan."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from waypoint import __version__
from waypoint.api import a2a, assistants, crons, errors, inbox, mcp, metrics, protocol, runs, store, threads, unavailable
from waypoint.api.deps import JSONResponse
from waypoint.service import Services

log = logging.getLogger(__name__)


def create_app(services: Services) -> FastAPI:
    """Build the app over `services`; the lifespan starts and stops them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await services.start()
        try:
            async with mcp_endpoint.lifespan():
                yield
        finally:
            await services.stop()

    # /docs with its assets served from the fastapi-offline package (no CDN, works offline);
    # Swagger UI's online validator badge is off, and /redoc too (its bundle loads a CDN logo).
    app = FastAPIOffline(
        title="Waypoint",
        version=__version__,
        description="Self-hosted LangGraph Server API built around human-in-the-loop.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        swagger_ui_parameters={"validatorUrl": None},
        redoc_url=None,
        static_url="/docs/static",  # under /docs: public with auth on, removed by http.disable_meta
    )
    app.state.services = services

    errors.install(app)  # request limits: `limits.install`, called by `cli.build_app`
    unavailable.register(app)  # 503/507 for a failing dependency

    @app.get("/ok", tags=["system"])
    async def ok():
        """`{"ok": true}`, or `503` JSON naming the dependency (database, Redis) that does not answer."""
        try:
            await services.check_health()
        except Exception as exc:
            if (response := unavailable.response_for(exc)) is None:
                response = JSONResponse({"detail": f"Unhealthy: {exc}"}, status_code=503)
            return response
        return {"ok": True}

    @app.get("/info", tags=["system"])
    async def info():
        """The official `ServerInfo` (`version`, `langgraph_py_version`, `flags`, `metadata`),
        plus Waypoint's `server` and `graphs`."""
        return {
            "version": __version__,
            "langgraph_py_version": importlib.metadata.version("langgraph"),
            "metadata": {},
            "server": "waypoint",
            "flags": {"assistants": True, "crons": True, "langsmith": False},
            "graphs": services.registry.graph_ids,
        }

    # Runs and threads first: routes are matched in order, and theirs are the hot ones (no
    # request fully matches routes of two of these routers, so the order changes no answer).
    # The routers' routes join the app's own list rather than through `include_router`:
    # FastAPI 0.165 matches an included router's routes twice per request (to pick the
    # router, then its route) with bookkeeping in the request's scope at each candidate,
    # 1-2 % of the server's CPU. Nothing is lost: these routers have no include-time options
    # (prefix, tags, response class and dependencies are set on each route when declared)
    # and no lifespan.
    for module in (runs, threads, assistants, crons, store, inbox, protocol, a2a, metrics):
        app.router.routes.extend(module.router.routes)
    mcp_endpoint = mcp.install(app, services)
    return app
