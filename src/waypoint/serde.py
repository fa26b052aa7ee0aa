"""JSON encoding of graph values and server records.

Graph state may hold LangChain messages, pydantic models, dataclasses and LangGraph
types; they are encoded the way the official server does (pydantic `model_dump()`,
so a message becomes `{"type": "human", "content": ..., ...}`).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from typing import Any

import orjson
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
#: orjson's output holds on to its working buffer: ~4 KB more than its length (measured
#: with orjson 3.13, at every size). Outputs shorter than this are copied to their length,
#: as many small ones are kept for a while (run streams, thread event logs, run results).
_COMPACT_BELOW = 64 * 1024


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, Interrupt):
        return {"value": obj.value, "id": obj.id}
    if isinstance(obj, Send):
        return {"node": obj.node, "arg": obj.arg}
    if isinstance(obj, Command):
        return {k: v for k, v in dataclasses.asdict(obj).items() if v is not None}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (bytes, bytearray)):
        try:
            return obj.decode()
        except UnicodeDecodeError:
            return base64.b64encode(obj).decode()
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return obj.to_json()
    return str(obj)


def dumps(obj: Any) -> bytes:
    """Encode `obj` as JSON bytes; unknown objects fall back to their `str()`.

    Integers beyond 64 bits (orjson refuses them; a graph may compute one) are written by
    the standard library instead, exactly. Raises `TypeError` for a string holding a lone
    surrogate (not encodable as UTF-8; requests holding one are refused by `parse_request`).
    """
    try:
        out = orjson.dumps(obj, default=_default, option=_OPTIONS)
    except TypeError as exc:
        if "Integer exceeds 64-bit range" not in str(exc):
            raise
        return json.dumps(
            obj, default=_default, ensure_ascii=False, separators=(",", ":")
        ).encode()
    return bytes(memoryview(out)) if len(out) < _COMPACT_BELOW else out


def dumps_str(obj: Any) -> str:
    """`dumps` as text (for database columns)."""
    return dumps(obj).decode()


def loads(data: bytes | str | None) -> Any:
    """Decode JSON; None stays None."""
    return None if data is None else orjson.loads(data)


def to_jsonable(obj: Any) -> Any:
    """Round-trip `obj` through JSON so it holds only plain JSON types."""
    return orjson.loads(dumps(obj))


# -- request bodies ----------------------------------------------------------

#: Deepest nesting of arrays/objects accepted in a request body. Graph state rarely nests
#: beyond ten levels; orjson cannot encode beyond 254 and parses up to 1024, so 100 leaves
#: room for the envelope (`{"input": {"messages": [...]}}`) while every layer can store it.
MAX_JSON_DEPTH = 100


class RejectedJSON(ValueError):
    """A request body Waypoint will not accept. `reason`: `invalid` (not JSON, including
    lone surrogates, NaN and control characters), `too_deep` (nesting beyond
    `MAX_JSON_DEPTH`) or `nul` (a NUL character in a string or key); `loc`: the path to
    the offending value (keys and list indexes), empty when it is the whole body."""

    def __init__(self, reason: str, message: str, loc: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.reason = reason
        self.loc = loc


def parse_request(data: bytes) -> Any:
    """Parse a request body strictly: RFC 8259 JSON (orjson: no lone surrogates, no NaN,
    no raw control characters), nested at most `MAX_JSON_DEPTH` deep, with no NUL
    character in any string or key (PostgreSQL `jsonb` and `text` cannot hold `\\u0000`,
    so both backends refuse it alike). Raises `RejectedJSON`."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg or "recursion" in exc.msg.lower():
            raise RejectedJSON("too_deep", _too_deep_message()) from None
        raise RejectedJSON("invalid", f"invalid JSON: {exc}") from None
    # Cheap byte counts first: a body with few brackets cannot be deep, one without
    # an escaped NUL cannot hold one.
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH or b"\\u0000" in data:
        _check_tree(value)
    return value


def _too_deep_message() -> str:
    return f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays/objects are accepted"


def _check_tree(root: Any) -> None:
    """Walk `root` iteratively (no recursion limit): depth, then NUL characters."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise RejectedJSON("nul", "NUL character (\\u0000) in a string", loc)
            continue
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        if len(loc) >= MAX_JSON_DEPTH:
            raise RejectedJSON("too_deep", _too_deep_message(), loc[:3] + ("...",))
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                raise RejectedJSON("nul", "NUL character (\\u0000) in a key", (*loc, key))
            stack.append((item, (*loc, key)))
