"""The `checkpointer` and `store` sections of `langgraph.json`: retention and semantic search.

Shapes follow the langgraph.json schema of the LangGraph CLI (`CheckpointerConfig.ttl` is a
`ThreadTTLConfig`; `store` is a `StoreConfig` with langgraph's `IndexConfig` and `TTLConfig`):

    "checkpointer": {"ttl": {"strategy": "delete" | "keep_latest", "default_ttl": minutes,
                             "sweep_interval_minutes": minutes, "sweep_limit": threads}},
    "store": {"ttl": {"default_ttl": minutes, "refresh_on_read": true,
                      "sweep_interval_minutes": minutes},
              "index": {"embed": "provider:model" | "./file.py:function", "dims": int,
                        "fields": ["$"]}}

Waypoint accepts fractions of a minute for the sweep intervals (the schema says integers),
which tests and small deployments use. Every error is a `GraphConfigError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waypoint.graphs import GraphConfigError, import_target

#: Sweep interval when langgraph.json names none (the official default: "typically ~5 minutes").
DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0
#: Threads a sweep handles per pass (the schema's `sweep_limit` default).
DEFAULT_SWEEP_LIMIT = 1000
STRATEGIES = ("delete", "keep_latest")


@dataclass
class ThreadTTLConfig:
    """`checkpointer.ttl`: `default_ttl` (minutes, None: threads get no TTL unless one is
    given) and `strategy` are stamped on threads created from then on; the sweeper runs every
    `sweep_interval_minutes` and acts on at most `sweep_limit` threads per pass."""

    strategy: str = "delete"
    default_ttl: float | None = None
    sweep_interval_minutes: float = DEFAULT_SWEEP_INTERVAL_MINUTES
    sweep_limit: int = DEFAULT_SWEEP_LIMIT

    @property
    def default_thread_ttl(self) -> dict | None:
        """The API-shaped TTL new threads get (`{"strategy", "ttl"}`), or None."""
        return None if self.default_ttl is None else {"strategy": self.strategy, "ttl": self.default_ttl}


@dataclass
class StoreConfig:
    """`store`: langgraph's `IndexConfig` (None: no semantic search) and `TTLConfig` for the
    store, `refresh_on_read` (the default of a read's `refresh_ttl`), and the sweep interval
    (None: expired items are not swept)."""

    index: dict | None = None
    ttl: dict | None = None
    refresh_on_read: bool = True
    sweep_interval_minutes: float | None = None


def _positive(section: dict, key: str, where: str, *, integer: bool = False) -> Any:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
        integer and not isinstance(value, int)
    ):
        kind = "a positive integer" if integer else "a positive number"
        raise GraphConfigError(f"langgraph.json {where}.{key} must be {kind}, got {value!r}")
    return value


def _section(raw: dict, *path: str) -> dict:
    value: Any = raw
    for i, key in enumerate(path):
        value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise GraphConfigError(f"langgraph.json {'.'.join(path[:i + 1])} must be an object")
    return value


def thread_ttl_config(raw: dict) -> ThreadTTLConfig | None:
    """Parse `checkpointer.ttl` of a loaded langgraph.json; None when it is absent."""
    section = _section(raw, "checkpointer", "ttl")
    if not section:
        return None
    strategy = section.get("strategy", "delete")
    if strategy not in STRATEGIES:
        raise GraphConfigError(
            f"langgraph.json checkpointer.ttl.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
        )
    where = "checkpointer.ttl"
    return ThreadTTLConfig(
        strategy=strategy,
        default_ttl=_positive(section, "default_ttl", where),
        sweep_interval_minutes=_positive(section, "sweep_interval_minutes", where) or DEFAULT_SWEEP_INTERVAL_MINUTES,
        sweep_limit=_positive(section, "sweep_limit", where, integer=True) or DEFAULT_SWEEP_LIMIT,
    )


def store_config(raw: dict, base: Path) -> StoreConfig:
    """Parse `store` of a loaded langgraph.json whose folder is `base`. `store.index.embed`
    is resolved now: a `./file.py:function` (relative to `base`) is imported; any other string is a provider string for langchain's `init_embeddings`
    (which builds the client without calling it: no network at start-up)."""
    out = StoreConfig()
    ttl = _section(raw, "store", "ttl")
    if ttl:
        refresh = ttl.get("refresh_on_read", True)
        if not isinstance(refresh, bool):
            raise GraphConfigError(f"langgraph.json store.ttl.refresh_on_read must be true or false, got {refresh!r}")
        out.refresh_on_read = refresh
        out.sweep_interval_minutes = _positive(ttl, "sweep_interval_minutes", "store.ttl")
        # refresh_on_read stays on in the store itself: langgraph's SQLite store refreshes only
        # when it is, whatever a read asks; the service passes each read's choice explicitly.
        out.ttl = {"refresh_on_read": True, "default_ttl": _positive(ttl, "default_ttl", "store.ttl")}
    index = _section(raw, "store", "index")
    if index:
        dims = _positive(index, "dims", "store.index", integer=True)
        if dims is None:
            raise GraphConfigError("langgraph.json store.index.dims is required (the embedding size)")
        fields = index.get("fields")
        if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
            raise GraphConfigError("langgraph.json store.index.fields must be a list of JSON paths")
        out.index = {**index, "dims": dims, "embed": _embeddings(index.get("embed"), base)}
        if fields is None:
            out.index.pop("fields", None)
    return out


def _embeddings(embed: Any, base: Path) -> Any:
    if not isinstance(embed, str) or ":" not in embed:
        raise GraphConfigError(
            "langgraph.json store.index.embed must be a provider string ('openai:text-embedding-3-small') "
            f"or a './file.py:function' path, got {embed!r}"
        )
    location = embed.rsplit(":", 1)[0]
    if location.endswith(".py") or location.startswith((".", "/")):
        return import_target(embed, base, label="store.index embed", module_name="waypoint_store_embed")
    try:
        from langchain.embeddings import init_embeddings

        return init_embeddings(embed)
    except Exception as exc:  # a missing provider package, an unknown provider, a missing key
        raise GraphConfigError(
            f"langgraph.json store.index.embed {embed!r}: {type(exc).__name__}: {exc}"
        ) from exc
