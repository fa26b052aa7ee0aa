"""JSON containment as PostgreSQL's jsonb `@>` defines it, for databases without it (SQLite).

Thread and assistant search filters (`metadata`, `values`) mean containment on every
database, so that SQLite and PostgreSQL give the same answer
(https://www.postgresql.org/docs/current/datatype-json.html#JSON-CONTAINMENT).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

#: Name of the SQL function `register_sqlite` installs: `waypoint_json_contains(doc, fragment)`.
SQLITE_FUNCTION = "waypoint_json_contains"
#: Name of the merge function `register_sqlite` installs: `waypoint_json_merge(doc, patch)`.
SQLITE_MERGE_FUNCTION = "waypoint_json_merge"


def json_contains(document: Any, fragment: Any) -> bool:
    """Whether `document` contains `fragment`: an object contains an object whose every key it
    has with a containing value; an array contains an array whose every element is contained
    in some element of it; scalars are equal with their JSON type (`1` and `1.0` are equal,
    `true` and `1` are not)."""
    if isinstance(fragment, dict):
        return isinstance(document, dict) and all(
            key in document and json_contains(document[key], value) for key, value in fragment.items()
        )
    if isinstance(fragment, list):
        return isinstance(document, list) and all(
            any(json_contains(item, wanted) for item in document) for wanted in fragment
        )
    if isinstance(document, (dict, list)):
        return False
    if isinstance(fragment, bool) or isinstance(document, bool):
        return type(fragment) is type(document) and fragment == document
    if isinstance(fragment, (int, float)):
        return isinstance(document, (int, float)) and fragment == document
    return type(fragment) is type(document) and fragment == document


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds the NUL character in a key or a string (PostgreSQL's jsonb
    and text cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    # A search evaluates one filter against every row: parse it once.
    return orjson.loads(text)


def _sqlite_json_contains(document: str | bytes | None, fragment: str | None) -> int:
    if document is None or fragment is None:
        return 0
    doc, wanted = orjson.loads(document), _parsed(fragment)
    if isinstance(doc, list) and not isinstance(wanted, (dict, list)):
        # jsonb's one exception, at the top level only: an array contains a scalar it holds.
        return int(any(json_contains(item, wanted) for item in doc))
    return int(json_contains(doc, wanted))


def _sqlite_json_merge(document: str | bytes | None, patch: str) -> str:
    current = orjson.loads(document) if document is not None else {}
    return orjson.dumps({**current, **_parsed(patch)}).decode()


def register_sqlite(conn) -> None:
    """Install on a `sqlite3` connection `waypoint_json_contains(document_json, fragment_json)`
    (1 or 0: jsonb `@>`) and `waypoint_json_merge(document_json, patch_json)` (jsonb `||`: the
    patch's top-level keys set, not a deep merge). Filters are bound as one JSON parameter:
    any key works and a filter of thousands of keys is still one expression."""
    conn.create_function(SQLITE_FUNCTION, 2, _sqlite_json_contains, deterministic=True)
    conn.create_function(SQLITE_MERGE_FUNCTION, 2, _sqlite_json_merge, deterministic=True)
