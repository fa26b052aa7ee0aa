"""Custom auth: `langgraph.json` → `auth.path`, a `langgraph_sdk.Auth` object.

Semantics follow `langgraph_sdk.auth` and the LangGraph custom-auth docs:

- `@auth.authenticate` runs on every request; it asks for any of `request`, `body`, `path`,
  `method`, `path_params`, `query_params`, `headers` (`dict[bytes, bytes]`), `authorization`,
  `scope` by parameter name and returns a user: a string identity, a dict with `identity`
  (`MinimalUserDict`), or an object with an `identity` attribute. `Auth.exceptions.HTTPException`
  answers with its status, detail and headers; any other exception is a 401. With
  `auth.cache` (`cache_keys`: header names, `ttl_seconds`, `max_size`), a user is reused
  for requests carrying the same values of those headers until the TTL ends.
- Authorization calls the most specific handler registered for (resource, action):
  `@auth.on.<resource>.<action>`, then `@auth.on.<resource>`, then `@auth.on(actions=…)`
  registered for every resource, then the global `@auth.on`; with none, the request is
  allowed. A handler may edit `value` in place, return `None`/`True` (allow), `False` (403),
  or a filter `{key: value | {"$eq": value} | {"$contains": value | [values]}}` (AND of its
  keys) that the resource's metadata must satisfy; a resource filtered out is a 404.

Filters become metadata *containment* filters (`containment`), the form storage searches
already take; `matches` applies the same rule to one record in Python.
"""

from __future__ import annotations

import contextvars
import importlib.util
import inspect
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth

log = logging.getLogger(__name__)

#: The user of the request being served (None without auth, or outside a request).
current_user: contextvars.ContextVar[AuthUser | None] = contextvars.ContextVar("waypoint_auth_user", default=None)

#: Parameters `@auth.authenticate` may ask for by name.
AUTHENTICATE_PARAMS = ("request", "body", "path", "method", "path_params", "query_params", "headers",
                       "authorization", "scope")
_AUTH_KEYS = {"path", "disable_studio_auth", "openapi", "cache"}
_CACHE_KEYS = {"cache_keys", "ttl_seconds", "max_size"}
#: Impossible filter (two filters demand different values of one key).
NOTHING = None


class AuthConfigError(ValueError):
    """`auth` in langgraph.json cannot be loaded; the message says which key and why."""


class AuthError(Exception):
    """A request refused by auth: `status` (401, 403, or a handler's own), `detail`, `headers`."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class AuthUser(Mapping):
    """The authenticated user as handlers see it: attributes `identity`, `display_name`,
    `is_authenticated`, `permissions` (the `BaseUser` protocol) and dict access to every
    field the authenticate handler returned."""

    def __init__(self, fields: dict[str, Any]):
        self._fields = {
            "display_name": fields["identity"], "is_authenticated": True, "permissions": [], **fields,
        }
        self._fields["permissions"] = list(self._fields["permissions"] or [])

    @classmethod
    def of(cls, returned: Any) -> AuthUser:
        """Normalise what `@auth.authenticate` returned. Raises `AuthError` (401) when it
        names no identity."""
        if isinstance(returned, str) and returned:
            return cls({"identity": returned})
        if isinstance(returned, Mapping) and returned.get("identity"):
            return cls({**returned, "identity": str(returned["identity"])})
        identity = getattr(returned, "identity", None)
        if identity:
            fields = {"identity": str(identity)}
            for attr in ("display_name", "is_authenticated", "permissions"):
                if hasattr(returned, attr):
                    fields[attr] = getattr(returned, attr)
            return cls(fields)
        raise AuthError(401, "Unauthorized: the authenticate handler returned no user identity")

    identity = property(lambda self: self._fields["identity"])
    display_name = property(lambda self: self._fields["display_name"])
    is_authenticated = property(lambda self: bool(self._fields["is_authenticated"]))
    permissions = property(lambda self: self._fields["permissions"])

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (what a graph receives as `langgraph_auth_user`)."""
        from waypoint import serde

        return serde.to_jsonable(dict(self._fields))


def load_auth(section: Any, base: Path) -> AuthPolicy | None:
    """The `AuthPolicy` of langgraph.json's `auth` object (None when absent). `path` is
    `./file.py:attr` relative to `base` or `package.module:attr`. Raises `AuthConfigError`."""
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("path"), str) or ":" not in section["path"]:
        raise AuthConfigError("langgraph.json 'auth' must be an object with \"path\": \"./auth.py:auth\"")
    unknown = set(section) - _AUTH_KEYS
    if unknown:
        raise AuthConfigError(f"langgraph.json auth.{sorted(unknown)[0]} is not supported by Waypoint; remove it")
    location, attr = section["path"].rsplit(":", 1)
    try:
        if location.endswith(".py") or location.startswith((".", "/")):
            file = (base / location).resolve()
            spec = importlib.util.spec_from_file_location("waypoint_auth_module", file)
            if spec is None or not file.exists():
                raise AuthConfigError(f"auth.path: file {file} does not exist")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
        auth = getattr(module, attr)
    except AuthConfigError:
        raise
    except Exception as exc:
        raise AuthConfigError(f"auth.path {section['path']!r} failed to load: {type(exc).__name__}: {exc}") from exc
    if not isinstance(auth, Auth):
        raise AuthConfigError(f"auth.path {section['path']!r} is a {type(auth).__name__}, not a langgraph_sdk.Auth")
    if auth._authenticate_handler is None:
        raise AuthConfigError(f"auth.path {section['path']!r}: the Auth object has no @auth.authenticate handler")
    unknown_params = set(inspect.signature(auth._authenticate_handler).parameters) - set(AUTHENTICATE_PARAMS)
    if unknown_params:
        raise AuthConfigError(
            f"@auth.authenticate asks for {', '.join(sorted(unknown_params))}; "
            f"Waypoint passes {', '.join(AUTHENTICATE_PARAMS)}"
        )
    openapi = section.get("openapi")
    if openapi is not None and not isinstance(openapi, dict):
        raise AuthConfigError("langgraph.json auth.openapi must be an object (securitySchemes, security)")
    cache = section.get("cache")
    if cache is not None and (
        not isinstance(cache, dict) or set(cache) - _CACHE_KEYS or not cache.get("cache_keys")
    ):
        raise AuthConfigError(
            "langgraph.json auth.cache must be an object with cache_keys (header names), "
            "and optionally ttl_seconds and max_size"
        )
    return AuthPolicy(auth, openapi=openapi, source=section["path"], cache=cache)


def graph_user(config: dict | None = None) -> AuthUser | None:
    """The user a graph factory's `ServerRuntime.user` is: the request's authenticated user,
    or, in a worker executing a run, the one the run's config carries (`langgraph_auth_user`);
    None without auth."""
    user = current_user.get()
    if user is not None:
        return user
    fields = ((config or {}).get("configurable") or {}).get("langgraph_auth_user")
    return AuthUser(fields) if isinstance(fields, dict) and fields.get("identity") else None


class AuthPolicy:
    """Runs a `langgraph_sdk.Auth`'s handlers (see the module docstring)."""

    def __init__(self, auth: Auth, *, openapi: dict | None = None, source: str = "", cache: dict | None = None):
        self.auth = auth
        self.openapi = openapi
        self.source = source
        self._params = list(inspect.signature(auth._authenticate_handler).parameters)
        # auth.cache: users by the values of `cache_keys` headers, for `ttl_seconds`, at most `max_size`.
        self._cache_keys = [k.lower().encode() for k in (cache or {}).get("cache_keys", [])]
        self._cache_ttl = float((cache or {}).get("ttl_seconds", 60))
        self._cache_size = int((cache or {}).get("max_size", 1000))
        self._cache: OrderedDict[tuple, tuple[float, AuthUser]] = OrderedDict()

    async def authenticate(self, request_args: dict[str, Any]) -> AuthUser:
        """Call `@auth.authenticate` with the parameters it names (from `request_args`), or
        answer from `auth.cache` (successes only, keyed by the `cache_keys` headers' values).
        Raises `AuthError`: the handler's `HTTPException` status, else 401."""
        key = None
        if self._cache_keys:
            headers = request_args.get("headers") or {}
            key = tuple(headers.get(k) for k in self._cache_keys)
            hit = self._cache.get(key) if any(key) else None
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        user = await self._authenticate(request_args)
        if key is not None and any(key):
            self._cache[key] = (time.monotonic() + self._cache_ttl, user)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return user

    async def _authenticate(self, request_args: dict[str, Any]) -> AuthUser:
        kwargs = {name: request_args.get(name) for name in self._params}
        try:
            returned = await self.auth._authenticate_handler(**kwargs)
        except Auth.exceptions.HTTPException as exc:
            raise AuthError(exc.status_code, exc.detail, exc.headers) from None
        except Exception as exc:
            log.info("authenticate handler refused a request: %s: %s", type(exc).__name__, exc)
            raise AuthError(401, "Unauthorized") from None
        return AuthUser.of(returned)

    def handler_for(self, resource: str, action: str):
        """The handler `@auth.on…` registered most specifically for (resource, action), or None."""
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action)):
            if key in handlers:
                return handlers[key][-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    async def authorize(self, user: AuthUser, resource: str, action: str, value: dict[str, Any]) -> dict | None:
        """Run the handler for (resource, action) on `value` (which it may edit in place).
        Returns the containment filter it asked for (None: no filter). Raises `AuthError`
        (403 when the handler returns False, a handler's `HTTPException` status)."""
        handler = self.handler_for(resource, action)
        if handler is None:
            return None
        ctx = Auth.types.AuthContext(
            permissions=user.permissions, user=user, resource=resource, action=action
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except Auth.exceptions.HTTPException as exc:
            raise AuthError(exc.status_code, exc.detail, exc.headers) from None
        if result is None or result is True:
            return None
        if result is False:
            raise AuthError(403, f"Forbidden: not allowed to {action} {resource}")
        if isinstance(result, dict):
            try:
                return containment(result)
            except ValueError as exc:
                raise AuthError(500, f"auth handler for {resource}.{action}: {exc}") from None
        raise AuthError(500, f"auth handler for {resource}.{action} returned {type(result).__name__}")


def containment(filters: dict[str, Any]) -> dict[str, Any]:
    """A handler's filter as a metadata containment filter: `{"k": v}` and `{"k": {"$eq": v}}`
    → `{"k": v}`; `{"k": {"$contains": v}}` → `{"k": [v]}` (a list holding v); with a list
    of values, the list must hold them all. Raises `ValueError` for another operator."""
    out: dict[str, Any] = {}
    for key, cond in filters.items():
        if isinstance(cond, dict) and len(cond) == 1 and next(iter(cond)).startswith("$"):
            op, operand = next(iter(cond.items()))
            if op == "$eq":
                out[key] = operand
            elif op == "$contains":
                out[key] = list(operand) if isinstance(operand, (list, tuple)) else [operand]
            else:
                raise ValueError(f"auth filter operator {op!r} on {key!r} is not supported ($eq, $contains)")
        else:
            out[key] = cond
    return out


def matches(document: Any, wanted: Any) -> bool:
    """JSON containment (PostgreSQL `@>` at the top level of a filter): every key of a
    wanted object is present and contains the wanted value; a wanted list's items each
    appear in the document's list; scalars are equal."""
    if isinstance(wanted, dict):
        return isinstance(document, dict) and all(k in document and matches(document[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(document, list) and all(any(matches(d, w) for d in document) for w in wanted)
    return type(document) is type(wanted) and document == wanted or (
        isinstance(document, (int, float)) and not isinstance(document, bool)
        and isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and document == wanted
    )


def merge(first: dict | None, second: dict | None) -> dict | None:
    """One containment filter meaning both (`NOTHING` when no document can match both)."""
    if not first or not second:
        return {**(first or {}), **(second or {})}
    out = dict(first)
    for key, value in second.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            inner = merge(out[key], value)
            if inner is NOTHING:
                return NOTHING
            out[key] = inner
        elif isinstance(out[key], list) and isinstance(value, list):
            out[key] = out[key] + [v for v in value if v not in out[key]]
        elif out[key] != value:
            return NOTHING
    return out
