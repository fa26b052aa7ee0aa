"""JSON encoding of graph values and server records.

Graph state may hold LangChain messages, pydantic models, dataclasses and LangGraph
types; they are encoded the way the official server does (pydantic `model_dump()`,
so a message becomes `{"type": "human", "content": ..., ...}`).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from typing import Any

import orjson
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


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
    """Encode `obj` as JSON bytes; unknown objects fall back to their `str()`."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def dumps_str(obj: Any) -> str:
    """`dumps` as text (for database columns)."""
    return dumps(obj).decode()


def loads(data: bytes | str | None) -> Any:
    """Decode JSON; None stays None."""
    return None if data is None else orjson.loads(data)


def to_jsonable(obj: Any) -> Any:
    """Round-trip `obj` through JSON so it holds only plain JSON types."""
    return orjson.loads(dumps(obj))
