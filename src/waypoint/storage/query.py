"""SQL shared by the SQLite and PostgreSQL storages: filters and ordering of searches.

The two differ only in their `Dialect`: placeholder, case-insensitive match, how a JSON
column is filtered by containment (jsonb `@>`; storage/containment.py on SQLite), and how a
list of ids is matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from waypoint.storage.base import UnsupportedValue
from waypoint.storage.containment import has_nul

Clauses = tuple[list[str], list[Any]]

ASSISTANT_SORT = {"assistant_id", "graph_id", "name", "created_at", "updated_at"}
THREAD_SORT = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}
CRON_SORT = {"cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"}


class Dialect(NamedTuple):
    """What differs between the SQL of two databases."""

    ph: str  # parameter placeholder
    ilike: str  # case-insensitive LIKE
    json_filter: Callable[[str, dict | None], Clauses]  # column contains the filter (jsonb @>)
    in_list: Callable[[str, Sequence[str]], Clauses]  # column is one of the values


def _json_filter(d: Dialect, field: str, column: str, value: dict | None) -> Clauses:
    """`column` contains `value` (none for an empty filter); `UnsupportedValue` for a NUL."""
    if value and has_nul(value):
        raise UnsupportedValue(
            f"{field}: a search filter cannot hold the NUL character (\\u0000), which PostgreSQL "
            "cannot store"
        )
    return d.json_filter(column, value)


def _where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def assistant_where(d: Dialect, graph_id: str | None, name: str | None, metadata: dict | None) -> tuple[str, list]:
    """`WHERE` of an assistant search: metadata keys, exact graph id, name substring."""
    clauses, params = _json_filter(d, "metadata", "metadata", metadata)
    if graph_id is not None:
        clauses.append(f"graph_id = {d.ph}")
        params.append(graph_id)
    if name is not None:
        clauses.append(f"name {d.ilike} {d.ph}")
        params.append(f"%{name}%")
    return _where(clauses), params


def thread_where(
    d: Dialect, ids: Sequence[str] | None, metadata: dict | None, values: dict | None, status: str | None
) -> tuple[str, list]:
    """`WHERE` of a thread search: ids, metadata and values keys, status."""
    clauses, params = _json_filter(d, "metadata", "metadata", metadata)
    more, more_params = _json_filter(d, "values", '"values"', values)
    clauses += more
    params += more_params
    if ids:
        more, more_params = d.in_list("thread_id", [str(i) for i in ids])
        clauses += more
        params += more_params
    if status is not None:
        clauses.append(f"status = {d.ph}")
        params.append(status)
    return _where(clauses), params


def cron_where(
    d: Dialect, assistant_id: str | None, thread_id: str | None, enabled: bool | None, metadata: dict | None
) -> tuple[str, list]:
    """`WHERE` of a cron search: metadata keys, exact assistant and thread, enabled."""
    clauses, params = _json_filter(d, "metadata", "metadata", metadata)
    for column, value in (("assistant_id", assistant_id), ("thread_id", thread_id), ("enabled", enabled)):
        if value is not None:
            clauses.append(f"{column} = {d.ph}")
            params.append(value)
    return _where(clauses), params


def page(d: Dialect, sort_by: str | None, sort_order: str | None, allowed: set[str], tiebreak: str) -> str:
    """`ORDER BY … LIMIT … OFFSET …` with `sort_by` checked against `allowed` (default
    `created_at`, newest first); the caller appends limit and offset parameters."""
    column = sort_by if sort_by in allowed else "created_at"
    order = "ASC" if sort_order == "asc" else "DESC"
    return f" ORDER BY {column} {order}, {tiebreak} LIMIT {d.ph} OFFSET {d.ph}"


# -- assistant versions: the same statements on both databases ------------------------
#: What a version keeps (the official `AssistantVersion`, with `created_at`).
_VERSION_COLUMNS = "assistant_id, version, graph_id, config, context, metadata, name, description"


def record_version(d: Dialect) -> str:
    """Record the assistant row as it now is as its version (params: assistant_id)."""
    return (f"INSERT INTO assistant_versions ({_VERSION_COLUMNS}, created_at)"
            f" SELECT {_VERSION_COLUMNS}, updated_at FROM assistants WHERE assistant_id = {d.ph}")


def next_version(d: Dialect) -> str:
    """The number a new version of an assistant gets: one above its highest (params: assistant_id)."""
    return f"SELECT coalesce(max(version), 0) + 1 AS n FROM assistant_versions WHERE assistant_id = {d.ph}"


def pin_version(d: Dialect) -> str:
    """Make a recorded version the assistant's current fields (params: version, now,
    assistant_id, version); changes no row when that version does not exist."""
    fields = "graph_id, config, context, metadata, name, description, version"
    return (f"UPDATE assistants SET ({fields}) = (SELECT {fields} FROM assistant_versions v"
            f" WHERE v.assistant_id = assistants.assistant_id AND v.version = {d.ph}), updated_at = {d.ph}"
            f" WHERE assistant_id = {d.ph} AND EXISTS (SELECT 1 FROM assistant_versions v"
            f" WHERE v.assistant_id = assistants.assistant_id AND v.version = {d.ph})")


def list_versions(d: Dialect, metadata: dict | None) -> tuple[str, list]:
    """An assistant's versions, newest first, whose metadata contains `metadata` (params:
    assistant_id, then the returned filter params, then limit and offset)."""
    clauses, params = _json_filter(d, "metadata", "metadata", metadata)
    return (f"SELECT {_VERSION_COLUMNS}, created_at FROM assistant_versions"
            f"{_where([f'assistant_id = {d.ph}', *clauses])} ORDER BY version DESC LIMIT {d.ph} OFFSET {d.ph}",
            params)
