"""The ASGI application: routers, error mapping, system routes, lifespan."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as PlainJSONResponse

from waypoint import __version__
from waypoint.api import assistants, inbox, runs, store, threads, unavailable
from waypoint.api.deps import JSONResponse
from waypoint.service import Services
from waypoint.service.errors import BadRequest, Conflict, Invalid
from waypoint.storage import NotFound, UnsupportedValue

log = logging.getLogger(__name__)

_STATUS = {NotFound: 404, Conflict: 409, BadRequest: 400, Invalid: 422, UnsupportedValue: 422}


def _detail_of_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'body'}: {err.get('msg')}")
    return "; ".join(parts)


def create_app(services: Services) -> FastAPI:
    """Build the app over `services`; the lifespan starts and stops them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="Waypoint",
        version=__version__,
        description="Self-hosted LangGraph Server API built around human-in-the-loop.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.services = services

    for exc_type, status in _STATUS.items():
        async def handler(request: Request, exc: Exception, status: int = status):
            return PlainJSONResponse({"detail": str(exc)}, status_code=status)

        app.add_exception_handler(exc_type, handler)

    unavailable.register(app)

    @app.exception_handler(RequestValidationError)
    async def validation_handler(request: Request, exc: RequestValidationError):
        return PlainJSONResponse(
            {
                "detail": _detail_of_validation(exc),
                "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                           for e in exc.errors()],
            }, status_code=422
        )

    @app.get("/ok", tags=["system"])
    async def ok():
        """`{"ok": true}`, or `503` JSON naming the dependency (database, Redis) that does not answer."""
        try:
            await services.check_health()
        except Exception as exc:
            if (response := unavailable.response_for(exc)) is None:
                response = PlainJSONResponse({"detail": f"Unhealthy: {exc}"}, status_code=503)
            return response
        return {"ok": True}

    @app.get("/info", tags=["system"])
    async def info():
        return {
            "version": __version__,
            "server": "waypoint",
            "flags": {"assistants": True, "crons": False, "langsmith": False},
            "graphs": services.registry.graph_ids,
        }

    for module in (assistants, threads, runs, store, inbox):
        app.include_router(module.router)
    return app
