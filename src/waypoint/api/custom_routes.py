"""`langgraph.json` → `http.app`: the user's Starlette/FastAPI app served beside the API.

As the LangGraph docs on custom routes, middleware and lifespan describe:
- a request that one of the app's routes matches (path and method) is served by the app,
  also when the API has the same path: custom routes take precedence; anything else
  reaches the API;
- the app's middleware (`app.add_middleware`, `Middleware` in `Starlette(middleware=...)`)
  wraps every request, API routes included; `http.middleware_order` puts it outside auth
  (`"middleware_first"`, the default) or inside (`"auth_first"`);
- auth covers custom routes only with `http.enable_custom_route_auth: true` (the request is
  authenticated; `request.scope["auth_user"]` holds the user); by default they are public;
- the app's lifespan runs inside Waypoint's: after the services start, before they stop.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from waypoint.graphs import import_target

MIDDLEWARE_ORDERS = ("middleware_first", "auth_first")


def load_custom_app(source: str, base: Path) -> Starlette:
    """The app `http.app` names (`./file.py:app`, relative to langgraph.json's folder).
    Raises `GraphConfigError` if it cannot be imported, `ValueError` if it is not a
    Starlette (or FastAPI) application."""
    app = import_target(source, base, label="http.app", module_name="waypoint_http_app")
    if not isinstance(app, Starlette):
        raise ValueError(f"http.app {source!r} must be a Starlette or FastAPI app, not {type(app).__name__}")
    return app


def wrap_in_user_middleware(app: ASGIApp, custom: Starlette) -> ASGIApp:
    """`app` inside a fresh instance of each of `custom`'s middleware (first listed outermost)."""
    for cls, args, kwargs in reversed(custom.user_middleware):
        app = cls(app, *args, **kwargs)
    return app


def routes_only(custom: Starlette) -> ASGIApp:
    """`custom`'s routes with its error and exception handling but without its own
    middleware (Waypoint places that middleware itself, around the API too)."""
    saved, custom.user_middleware = custom.user_middleware, []
    try:
        return custom.build_middleware_stack()
    finally:
        custom.user_middleware = saved


class CustomRoutes:
    """ASGI middleware: requests a custom route matches go to `routes`, others to the API."""

    def __init__(self, app: ASGIApp, custom: Starlette, routes: ASGIApp):
        self.app = app
        self.custom = custom
        self.routes = routes

    def _matches(self, scope: Scope) -> bool:
        sub = {**scope, "path": scope["path"][len(scope.get("root_path", "")):] or "/"}
        return any(route.matches(sub)[0] == Match.FULL for route in self.custom.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._matches(scope):
            await self.routes({**scope, "app": self.custom}, receive, send)
        else:
            await self.app(scope, receive, send)


def chain_lifespan(app: Starlette, custom: Starlette) -> None:
    """Run `custom`'s lifespan inside `app`'s (state of both reaches requests)."""
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any):
        async with outer(a) as state, custom.router.lifespan_context(custom) as custom_state:
            yield {**(state or {}), **(custom_state or {})} or None

    app.router.lifespan_context = lifespan


def install(app: Starlette, custom: Starlette, *, middleware_order: str, custom_route_auth: bool,
            install_auth: Any) -> None:
    """Serve `custom` beside `app` and call `install_auth()` (which adds the auth gate) at
    the place the settings give it. Layers, outermost first:
    middleware_first: user middleware → [auth → custom routes | custom routes → auth] → API;
    auth_first: auth → user middleware → custom routes → API, or, without custom route auth,
    custom routes (in their own user middleware) → auth → user middleware → API."""
    if middleware_order not in MIDDLEWARE_ORDERS:
        raise ValueError(f"http.middleware_order must be one of {', '.join(MIDDLEWARE_ORDERS)}")
    chain_lifespan(app, custom)
    routes = routes_only(custom)

    def add_user_middleware() -> None:
        for cls, args, kwargs in reversed(custom.user_middleware):
            app.add_middleware(cls, *args, **kwargs)  # each add goes outermost

    # Starlette's add_middleware wraps what was added before: add from the inside out.
    if middleware_order == "middleware_first":
        if custom_route_auth:
            app.add_middleware(CustomRoutes, custom=custom, routes=routes)
            install_auth()
        else:
            install_auth()
            app.add_middleware(CustomRoutes, custom=custom, routes=routes)
        add_user_middleware()
    elif custom_route_auth:
        app.add_middleware(CustomRoutes, custom=custom, routes=routes)
        add_user_middleware()
        install_auth()
    else:
        add_user_middleware()
        install_auth()
        app.add_middleware(CustomRoutes, custom=custom, routes=wrap_in_user_middleware(routes, custom))
