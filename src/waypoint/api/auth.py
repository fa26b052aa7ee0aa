"""Custom auth on every API request: authenticate, authorize, then apply the handler's
edits and filters before the route runs (see `waypoint.service.auth` for the semantics).

Each route maps to the (resource, action) the official server authorizes it as, and to
what a filter means there:
- one thread or assistant (`/threads/{thread_id}…`, `/assistants/{assistant_id}…`): the
  record's metadata must contain the filter, else the answer is 404 as for a missing one;
- a search or count (threads, assistants, the inbox listing): the filter is merged into the
  request's metadata filter, which storage applies by containment;
- a create: the handler's edits of `value` (e.g. `metadata.owner`) are written into the body;
- the store: the handler's edits of `value["namespace"]` are written into the request.
A run gets the user in `config.configurable` (`langgraph_auth_user`, `langgraph_auth_user_id`,
`langgraph_auth_permissions`); a client-supplied `metadata.reviewer` is kept as
`metadata.reviewer_note` (decisions record the authenticated identity).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waypoint import serde
from waypoint.api.deps import THREAD_FILTER_SCOPE_KEY
from waypoint.service.auth import NOTHING, AuthError, AuthPolicy, current_user, matches, merge
from waypoint.storage import NotFound

log = logging.getLogger(__name__)

#: Paths served without authentication: health, API docs, the inbox page's static files.
PUBLIC = re.compile(r"^/(ok|info|metrics|openapi\.json|docs(/.*)?|redoc|inbox|inbox/[\w.-]+\.(js|css))$")
_ID = r"(?P<{}>[^/]+)"


def _route(method: str, template: str, resource: str, action: str, kind: str):
    pattern = re.sub(r"\{(\w+)\}", lambda m: _ID.format(m.group(1)), template)
    return method, re.compile(f"^{pattern}$"), resource, action, kind


#: (method, path, resource, action, kind). `kind`: `thread`/`assistant`/`cron` (one record),
#: `search` (a filtered listing), `create`, `run` (run creation), `batch` (a list of run
#: creations), `cancel` (bulk cancel), `cron_create`, `store`, `command` (a thread streaming
#: protocol command).
ROUTES = [
    _route("POST", "/threads", "threads", "create", "create"),
    _route("POST", "/threads/search", "threads", "search", "search"),
    _route("POST", "/threads/count", "threads", "search", "search"),
    _route("POST", "/threads/prune", "threads", "delete", "search"),
    _route("GET", "/inbox/items", "threads", "search", "search"),
    _route("GET", "/inbox/events", "threads", "search", "search"),
    _route("POST", "/threads/{thread_id}/runs", "threads", "create_run", "run"),
    _route("POST", "/threads/{thread_id}/runs/stream", "threads", "create_run", "run"),
    _route("POST", "/threads/{thread_id}/runs/wait", "threads", "create_run", "run"),
    _route("POST", "/runs", "threads", "create_run", "run"),
    _route("POST", "/runs/stream", "threads", "create_run", "run"),
    _route("POST", "/runs/wait", "threads", "create_run", "run"),
    _route("POST", "/runs/batch", "threads", "create_run", "batch"),
    _route("POST", "/runs/cancel", "threads", "update", "cancel"),
    _route("GET", "/threads/{thread_id}/runs", "threads", "search", "thread"),
    _route("POST", "/threads/{thread_id}/runs/{run_id}/cancel", "threads", "update", "thread"),
    _route("POST", "/threads/{thread_id}/copy", "threads", "read", "thread"),
    _route("POST", "/threads/{thread_id}/history", "threads", "read", "thread"),
    _route("POST", "/threads/{thread_id}/state/checkpoint", "threads", "read", "thread"),
    _route("POST", "/threads/{thread_id}/stream/events", "threads", "read", "thread"),
    _route("POST", "/threads/{thread_id}/commands", "threads", "update", "command"),
    _route("PATCH", "/threads/{thread_id}", "threads", "update", "thread"),
    _route("POST", "/threads/{thread_id}/state", "threads", "update", "thread"),
    _route("POST", "/assistants", "assistants", "create", "create"),
    _route("POST", "/assistants/search", "assistants", "search", "search"),
    _route("POST", "/assistants/{assistant_id}/versions", "assistants", "read", "assistant"),
    _route("POST", "/assistants/{assistant_id}/latest", "assistants", "update", "assistant"),
    _route("POST", "/assistants/count", "assistants", "search", "search"),
    _route("POST", "/runs/crons", "crons", "create", "cron_create"),
    _route("POST", "/threads/{thread_id}/runs/crons", "crons", "create", "cron_create"),
    _route("POST", "/runs/crons/search", "crons", "search", "search"),
    _route("POST", "/runs/crons/count", "crons", "search", "search"),
    _route("GET", "/runs/crons/{cron_id}", "crons", "read", "cron"),
    _route("PATCH", "/runs/crons/{cron_id}", "crons", "update", "cron"),
    _route("DELETE", "/runs/crons/{cron_id}", "crons", "delete", "cron"),
    _route("PUT", "/store/items", "store", "put", "store"),
    _route("GET", "/store/items", "store", "get", "store"),
    _route("DELETE", "/store/items", "store", "delete", "store"),
    _route("POST", "/store/items/search", "store", "search", "store"),
    _route("POST", "/store/namespaces", "store", "list_namespaces", "store"),
    # A2A: the assistant must be visible; the contexts (threads) its messages name are
    # authorized inside the route (`authorize`), as MCP's listing and calls are.
    _route("POST", "/a2a/{assistant_id}", "assistants", "read", "assistant"),
]
#: Anything else under one thread or assistant: read, delete, or update by method.
_THREAD = re.compile(r"^/threads/(?P<thread_id>[^/]+)(?:/runs/(?P<run_id>[^/]+))?(/.*)?$")
_ASSISTANT = re.compile(r"^/assistants/(?P<assistant_id>[^/]+)(/.*)?$")
_BY_METHOD = {"GET": "read", "HEAD": "read", "DELETE": "delete"}


def resolve_route(method: str, path: str) -> tuple[str, str, str, dict[str, str]] | None:
    """(resource, action, kind, path params) of a request, or None (authentication only)."""
    for m, pattern, resource, action, kind in ROUTES:
        if m == method and (found := pattern.match(path)):
            return resource, action, kind, found.groupdict()
    if found := _THREAD.match(path):
        params = {k: v for k, v in found.groupdict().items() if v}
        return "threads", _BY_METHOD.get(method, "update"), "thread", params
    if found := _ASSISTANT.match(path):
        return "assistants", _BY_METHOD.get(method, "update"), "assistant", found.groupdict()
    return None


def _uuid(value: Any) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return value


class _Refusal(Exception):
    def __init__(self, status: int, detail: str, headers: dict | None = None):
        self.status, self.detail, self.headers = status, detail, headers or {}


class AuthGate:
    """ASGI middleware enforcing an `AuthPolicy` (inside CORS, so refusals carry CORS headers)."""

    def __init__(self, app: ASGIApp, policy: AuthPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path = scope["path"][len(scope.get("root_path", "")):] or "/"
        if PUBLIC.match(path):
            await self.app(scope, receive, send)
            return
        body = b""
        if scope["type"] == "http":
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        try:
            scope, body = await self._authorize(scope, path, body)
        except (_Refusal, AuthError) as exc:
            await _refuse(scope, receive, send, exc.status, exc.detail, exc.headers)
            return
        except Exception:  # a bug in an auth handler: a JSON 500, the traceback in the log
            error_id = uuid.uuid4().hex[:12]
            log.exception("auth handler failed (error id %s) on %s %s", error_id, scope.get("method"), path)
            await _refuse(scope, receive, send, 500, f"auth handler failed (error id {error_id})", {})
            return
        token = current_user.set(scope["auth_user"])
        try:
            await self.app(scope, _replay(body, receive) if scope["type"] == "http" else receive, send)
        finally:
            current_user.reset(token)

    async def _authorize(self, scope: Scope, path: str, raw: bytes) -> tuple[Scope, bytes]:
        request = Request(scope) if scope["type"] == "http" else HTTPConnection(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None  # the route answers 422
        route = resolve_route(scope.get("method", "GET"), path)
        user = await self.policy.authenticate({
            "request": request, "body": body, "path": path, "method": scope.get("method", "GET"),
            "path_params": route[3] if route else {}, "query_params": query,
            "headers": {k: v for k, v in scope["headers"]}, "authorization": request.headers.get("authorization"),
            "scope": scope,
        })
        scope = {**scope, "auth_user": user, "auth_policy": self.policy}
        if route is None:
            return scope, raw
        resource, action, kind, params = route
        apply = _KINDS[kind]
        shape = list if kind == "batch" else dict  # the body this kind edits
        edited, query = await apply(self, scope, user, resource, action, params,
                                    body if isinstance(body, shape) else shape(), query)
        if query is not None:
            scope["query_string"] = urlencode(query).encode()
        if edited is None or (raw and not isinstance(body, shape)):
            return scope, raw  # unchanged, or not a JSON object: the route answers it
        try:
            new_raw = serde.dumps(edited)
        except (TypeError, ValueError) as exc:  # e.g. an unpaired surrogate
            raise _Refusal(400, f"request body cannot be encoded as JSON: {exc}") from None
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope["headers"].append((b"content-length", str(len(new_raw)).encode()))
        return scope, new_raw

    # -- kinds ---------------------------------------------------------------
    async def _thread(self, scope, user, resource, action, params, body, query):
        value: dict[str, Any] = {"thread_id": _uuid(params["thread_id"])}
        if "run_id" in params:
            value["run_id"] = _uuid(params["run_id"])
        if action == "update":
            value.update(metadata=body.get("metadata"), action=query.get("action"))
        if action == "search":
            value.update(limit=query.get("limit"), offset=query.get("offset"), status=query.get("status"))
        wanted = await self.policy.authorize(user, resource, action, value)
        await self._visible_thread(scope, params["thread_id"], wanted)
        if action == "update" and isinstance(value.get("metadata"), dict) and "metadata" in body:
            body["metadata"] = value["metadata"]
            return body, None
        return None, None

    async def _assistant(self, scope, user, resource, action, params, body, query):
        value = {"assistant_id": _uuid(params["assistant_id"])}
        if action == "update":
            keys = ("version",) if path_is(scope, "/latest") else (
                "graph_id", "config", "context", "metadata", "name", "description")
            value.update({k: body.get(k) for k in keys})
        elif action == "read" and path_is(scope, "/versions"):
            value["metadata"] = body.get("metadata")  # the versions' filter, as `AssistantsRead` has it
        wanted = await self.policy.authorize(user, resource, action, value)
        if wanted:
            services = scope["app"].state.services
            try:
                assistant = await services.assistants.resolve(params["assistant_id"])
            except NotFound:
                return None, None  # the route answers 404
            if not matches(assistant.get("metadata") or {}, wanted):
                raise _Refusal(404, f"Assistant {params['assistant_id']} not found")
        if action == "update" and body:
            body.update({k: v for k, v in value.items() if k in body})
            return body, None
        return None, None

    async def _search(self, scope, user, resource, action, params, body, query):
        inbox = scope["path"].endswith(("/inbox/items", "/inbox/events"))
        if inbox:
            try:
                metadata = json.loads(query["metadata"]) if query.get("metadata") else {}
            except ValueError:
                return None, None  # the route answers 422
            value = {"metadata": metadata, "limit": query.get("limit"), "offset": 0, "status": "interrupted"}
        else:
            keys = _CRON_SEARCH_KEYS if resource == "crons" else _SEARCH_KEYS
            value = {k: body.get(k) for k in keys}
            value["metadata"] = value["metadata"] or {}
        wanted = await self.policy.authorize(user, resource, action, value)
        metadata = merge(value.get("metadata") or {}, wanted)
        if metadata is NOTHING:
            if inbox:
                raise _Refusal(200, json.dumps({"items": [], "total": 0, "offset": 0, "limit": 0}))
            raise _Refusal(200, "[]" if "count" not in scope["path"] else "0")
        if inbox:
            return None, {**query, "metadata": json.dumps(metadata)} if metadata else query
        body["metadata"] = metadata or None
        return body, None

    async def _create(self, scope, user, resource, action, params, body, query):
        value = dict(body)
        value["metadata"] = dict(body.get("metadata") or {})
        if resource == "threads" and value.get("thread_id"):
            value["thread_id"] = _uuid(value["thread_id"])
        await self.policy.authorize(user, resource, action, value)
        if resource == "threads" and body.get("thread_id"):
            # Creating over an id the user may not read must not reveal (or return) that thread.
            wanted = await self.policy.authorize(user, "threads", "read", {"thread_id": value["thread_id"]})
            try:
                await self._visible_thread(scope, str(body["thread_id"]), wanted)
            except _Refusal:
                raise _Refusal(409, f"Thread {body['thread_id']} already exists") from None
        body.update({k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in value.items()})
        return body, None

    async def _run(self, scope, user, resource, action, params, body, query):
        kwarg_keys = ("input", "command", "config", "context", "stream_mode", "interrupt_before",
                      "interrupt_after", "webhook", "checkpoint", "checkpoint_id", "on_disconnect", "durability")
        metadata = dict(body.get("metadata") or {})
        if "reviewer" in metadata:  # a claim, not an identity: kept as a note only
            metadata["reviewer_note"] = metadata.pop("reviewer")
        value = {
            "thread_id": _uuid(params["thread_id"]) if "thread_id" in params else None,
            "assistant_id": body.get("assistant_id"), "run_id": None, "status": "pending",
            "metadata": metadata, "prevent_insert_if_inflight": True,
            "multitask_strategy": body.get("multitask_strategy") or "enqueue",
            "if_not_exists": body.get("if_not_exists") or "reject",
            "after_seconds": body.get("after_seconds") or 0,
            "kwargs": {k: body.get(k) for k in kwarg_keys},
        }
        wanted = await self.policy.authorize(user, resource, action, value)
        if "thread_id" in params:
            created = await self._visible_thread(scope, params["thread_id"], wanted, missing_ok=True)
            if created is None and value["if_not_exists"] == "create":
                services = scope["app"].state.services
                # The new thread carries the run's metadata (e.g. the owner a handler stamped).
                await services.threads.create({"thread_id": params["thread_id"], "metadata": value["metadata"],
                                               "if_exists": "do_nothing"})
        body["metadata"] = value["metadata"]
        for key, item in (value.get("kwargs") or {}).items():
            if key in body or item is not None:
                body[key] = item
        return _with_user(body, user), None

    async def _cron_create(self, scope, user, resource, action, params, body, query):
        """`crons.create`: the handler may edit `value` (`metadata`, `payload` fields); a
        thread cron also needs its thread to pass the user's `threads.create_run` filter (the
        cron runs on it). The runs the cron queues later carry the user in their config."""
        own = ("schedule", "end_time", "metadata", "timezone", "enabled", "on_run_completed")
        value = {
            "payload": {k: v for k, v in body.items() if k not in own},
            "schedule": body.get("schedule"), "cron_id": None, "user_id": user.identity,
            "thread_id": _uuid(params["thread_id"]) if "thread_id" in params else None,
            "end_time": body.get("end_time"), "metadata": dict(body.get("metadata") or {}),
        }
        await self.policy.authorize(user, resource, action, value)
        if "thread_id" in params:
            wanted = await self.policy.authorize(user, "threads", "create_run", {
                "thread_id": value["thread_id"], "assistant_id": body.get("assistant_id"), "metadata": {},
            })
            await self._visible_thread(scope, params["thread_id"], wanted)
        if isinstance(value.get("payload"), dict):
            body.update({k: v for k, v in value["payload"].items() if k not in own})
        body["metadata"] = value["metadata"]
        return _with_user(body, user), None

    async def _cron(self, scope, user, resource, action, params, body, query):
        """One cron (read, update, delete): a filter must hold on its metadata, else 404."""
        value: dict[str, Any] = {"cron_id": _uuid(params["cron_id"])}
        if action == "update":
            value.update(payload={k: v for k, v in body.items() if k != "schedule"}, schedule=body.get("schedule"))
        wanted = await self.policy.authorize(user, resource, action, value)
        if wanted and isinstance(value["cron_id"], uuid.UUID):
            try:
                cron = await scope["app"].state.services.storage.get_cron(str(value["cron_id"]))
            except NotFound:
                return None, None  # the route answers 404
            if not matches(cron.get("metadata") or {}, wanted):
                raise _Refusal(404, f"Cron {params['cron_id']} not found")
        return None, None

    async def _batch(self, scope, user, resource, action, params, body, query):
        """`POST /runs/batch`: each item is a run creation (`threads.create_run`)."""
        return [(await self._run(scope, user, resource, action, {}, dict(item), query))[0]
                if isinstance(item, dict) else item for item in body], None

    async def _cancel(self, scope, user, resource, action, params, body, query):
        """`POST /runs/cancel`: `threads.update` with the action and the selection
        (`run_ids`, `status`) in `metadata`; the handler's filter must hold for the named
        thread (else 404), or, cancelling by status, limits which threads' runs are cancelled."""
        value: dict[str, Any] = {
            "thread_id": _uuid(body["thread_id"]) if body.get("thread_id") else None,
            "action": query.get("action") or "interrupt",
            "metadata": {"run_ids": body.get("run_ids"), "status": body.get("status")},
        }
        wanted = await self.policy.authorize(user, resource, action, value)
        if body.get("thread_id"):
            await self._visible_thread(scope, str(body["thread_id"]), wanted)
        if wanted:
            scope[THREAD_FILTER_SCOPE_KEY] = wanted
        return None, None

    async def _command(self, scope, user, resource, action, params, body, query):
        """A thread streaming protocol command: `run.start` is a run creation
        (`threads.create_run`, creating the thread as `if_not_exists="create"` does, with the
        metadata the handler stamps); any other command changes the thread (`threads.update`),
        and those that queue a run (`input.respond`, `input.inject`, `state.fork`) carry the
        user in its `config`, as every run does."""
        run_params = body.get("params") if body.get("method") == "run.start" else None
        if not isinstance(run_params, dict):
            await self._thread(scope, user, resource, action, params, {}, query)
            if body.get("method") in _RUN_QUEUEING_COMMANDS and isinstance(body.get("params"), dict):
                body["params"] = _with_user(dict(body["params"]), user)
                return body, None
            return None, None
        run_body = {**run_params, "if_not_exists": "create"}
        run_body, _ = await self._run(scope, user, resource, "create_run", params, run_body, query)
        run_body.pop("if_not_exists")
        body["params"] = run_body
        return body, None

    async def _store(self, scope, user, resource, action, params, body, query):
        source = query if action == "get" else body
        field = {"search": "namespace_prefix", "list_namespaces": "prefix"}.get(action, "namespace")
        namespace = source.get(field)
        if action == "get":
            namespace = [p for p in (namespace or "").split(".") if p]
        value = {"namespace": tuple(namespace or ()), **{k: v for k, v in source.items() if k != field}}
        await self.policy.authorize(user, resource, action, value)
        namespace = list(value.get("namespace") or ())
        if action == "get":
            return None, {**query, "namespace": ".".join(namespace)}
        body[field] = namespace
        return body, None

    async def _visible_thread(self, scope, thread_id: str, wanted: dict | None, missing_ok: bool = False):
        """The thread if it exists and satisfies `wanted`; raise a 404 refusal when it is
        filtered out; None when it does not exist (the route answers that)."""
        if not isinstance(_uuid(thread_id), uuid.UUID):
            return None  # the route answers 422
        services = scope["app"].state.services
        try:
            thread = await services.storage.get_thread(str(thread_id))
        except NotFound:
            return None
        if wanted and not matches(thread.get("metadata") or {}, wanted):
            raise _Refusal(404, f"Thread {thread_id} not found")
        return thread


_KINDS: dict[str, Callable] = {
    "thread": AuthGate._thread, "assistant": AuthGate._assistant, "search": AuthGate._search,
    "create": AuthGate._create, "run": AuthGate._run, "store": AuthGate._store,
    "command": AuthGate._command, "cron_create": AuthGate._cron_create, "cron": AuthGate._cron,
    "batch": AuthGate._batch, "cancel": AuthGate._cancel,
}
#: Protocol commands besides `run.start` that queue a run on the thread.
_RUN_QUEUEING_COMMANDS = ("input.respond", "input.inject", "state.fork")
_SEARCH_KEYS = ("metadata", "values", "status", "limit", "offset", "ids", "graph_id")
_CRON_SEARCH_KEYS = ("metadata", "assistant_id", "thread_id", "enabled", "limit", "offset")


def _with_user(body: dict[str, Any], user) -> dict[str, Any]:
    """`body` whose `config.configurable` carries the user for the graph (`langgraph_auth_user`,
    `langgraph_auth_user_id`, `langgraph_auth_permissions`), replacing what a client sent."""
    config = dict(body.get("config") or {})
    configurable = dict(config.get("configurable") or {})
    body["config"] = {**config, "configurable": {**configurable, **run_config(user)["configurable"]}}
    return body


def run_config(user: Any) -> dict[str, Any]:
    """The `config` carrying `user` into a run (`langgraph_auth_user`, `langgraph_auth_user_id`,
    `langgraph_auth_permissions` in `configurable`, as the official server passes them);
    `{"configurable": {}}` without auth."""
    if user is None:
        return {"configurable": {}}
    return {"configurable": {
        "langgraph_auth_user": user.to_dict(), "langgraph_auth_user_id": user.identity,
        "langgraph_auth_permissions": list(user.permissions),
    }}


@contextlib.contextmanager
def with_user(connection: HTTPConnection | None) -> Iterator[Any]:
    """Make the request's authenticated user (None without auth) the current one while
    serving it from another task (MCP's and A2A's handlers run in their library's tasks,
    outside the gate's context); yields the user."""
    user = connection.scope.get("auth_user") if connection is not None else None
    token = current_user.set(user)
    try:
        yield user
    finally:
        current_user.reset(token)


async def authorize(connection: HTTPConnection | None, resource: str, action: str, value: dict) -> dict | None:
    """Authorize an action a route performs for its caller, as the gate authorizes a
    route: the auth handler for (`resource`, `action`) may edit `value` in place; returns
    its metadata filter (None: no filter, or auth is off). Raises `AuthError` (refused)."""
    scope = connection.scope if connection is not None else {}
    policy: AuthPolicy | None = scope.get("auth_policy")
    if policy is None:
        return None
    return await policy.authorize(scope["auth_user"], resource, action, value)


async def new_thread_metadata(connection: HTTPConnection | None, thread_id: str | None) -> dict[str, Any]:
    """The metadata of a thread a route creates for its caller, authorized as
    `threads.create` (the handler may stamp it, e.g. with an owner). Raises `AuthError`."""
    value: dict[str, Any] = {"thread_id": _uuid(thread_id) if thread_id else None, "metadata": {}}
    await authorize(connection, "threads", "create", value)
    return dict(value.get("metadata") or {})


async def authorize_command(connection: HTTPConnection, thread_id: str, command: dict) -> dict:
    """Authorize one thread streaming protocol command sent over a WebSocket session
    exactly as `POST /threads/{thread_id}/commands` is authorized (the gate sees only the
    connection's upgrade, authorized as `threads.read`); returns the command as the handler
    edited it (unchanged without auth). Raises `CommandRefused`."""
    policy: AuthPolicy | None = connection.scope.get("auth_policy")
    if policy is None:
        return command
    gate = AuthGate(connection.scope["app"], policy)
    try:
        edited, _ = await gate._command(connection.scope, connection.scope["auth_user"], "threads", "update",
                                        {"thread_id": thread_id}, dict(command), {})
    except (_Refusal, AuthError) as exc:
        raise CommandRefused(exc.status, exc.detail) from None
    return edited if edited is not None else command


class CommandRefused(Exception):
    """A protocol command the auth handler refused: `status` is what the HTTP route would
    answer (403 forbidden, 404 for a thread the user may not see)."""

    def __init__(self, status: int, detail: str):
        self.status = status
        super().__init__(detail)


def path_is(scope: Scope, suffix: str) -> bool:
    """Whether the request's path ends with `suffix` (e.g. `/versions`)."""
    return scope["path"].rstrip("/").endswith(suffix)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields `body` once, then the client's later messages (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: dict) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 4000 + min(status, 999), "reason": detail[:120]})
        return
    # An impossible search filter is an empty answer, not an error.
    body = detail.encode() if status == 200 else serde.dumps({"detail": detail})
    raw_headers = [(b"content-type", b"application/json")]
    raw_headers += [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def install_auth(app: FastAPI, policy: AuthPolicy | None) -> None:
    """Enforce `policy` on `app` (None: auth is off, as the start-up log says) and add its
    `openapi` security schemes to `/openapi.json`. Call before the CORS middleware is added."""
    if policy is None:
        log.info("auth is off: no 'auth' in langgraph.json, every request is served (add auth.path to enable)")
        return
    log.info("auth is on: custom auth from %s", policy.source)
    app.add_middleware(AuthGate, policy=policy)
    if policy.openapi:
        build_openapi = app.openapi

        def openapi() -> dict[str, Any]:
            schema = build_openapi()
            schemes = policy.openapi.get("securitySchemes") or {}
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
            if policy.openapi.get("security") is not None:
                schema["security"] = policy.openapi["security"]
            return schema

        app.openapi = openapi
