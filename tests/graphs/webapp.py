"""The custom app the custom-route tests serve (`langgraph.json` → `http.app`).

A new route, an override of an API path (`/info`), a middleware that stamps every
response, and a lifespan that appends to `lifespan.log` in the server's working directory on
start and stop.
"""

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware


def _log(line: str) -> None:
    with (Path.cwd() / "lifespan.log").open("a") as f:
        f.write(line + "\n")


@asynccontextmanager
async def lifespan(app: FastAPI):
    _log("start")
    yield {"greeting": "hello from lifespan"}
    _log("stop")


app = FastAPI(lifespan=lifespan)


class Stamp(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Custom-Middleware"] = "seen"
        response.headers["X-Saw-User"] = "yes" if request.scope.get("auth_user") else "no"
        return response


app.add_middleware(Stamp)


@app.get("/hello")
async def hello(request: Request):
    user = request.scope.get("auth_user")
    return {"hello": "world", "greeting": request.state.greeting,
            "user": getattr(user, "identity", None) if user else None}


@app.get("/info")
async def info():
    return {"overridden": True}
