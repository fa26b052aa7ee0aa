"""Loading graphs from `langgraph.json`, as the LangGraph CLI and server read it.

The file's `graphs` maps a graph id to `"./path/to/file.py:attr"` (or `"package.module:attr"`).
`attr` may be a compiled graph (`Pregel`), an uncompiled `StateGraph`, or a factory
callable - sync or async, or an (async) context manager - taking nothing, the
`RunnableConfig`, a `langgraph_sdk.runtime.ServerRuntime`, or both `(config, runtime)`, and
returning either. The factory is called for every use of the graph with the assistant's
config and the `access_context` of that use (`threads.create_run`, `threads.read`,
`threads.update`, `assistants.read`), as the official server does (docs: "Rebuild graph at
runtime"). `dependencies` are added to `sys.path`; `env` (a dict, or the path of a `.env`
file) is loaded into the process environment before any graph module is imported. The
environment variable `LANGGRAPH_CONFIG` (JSON, `{graph_id: config}`, a config's `context`
key being the assistant's context) gives each graph's default assistant its config, as the
official servers read it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid5

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

#: Namespace of system assistant ids: `uuid5(NAMESPACE_GRAPH, graph_id)`, as the official
#: server derives them (langgraph_api.graph.NAMESPACE_GRAPH).
NAMESPACE_GRAPH = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


#: Why a graph is being built (`langgraph_sdk.runtime.AccessContext`).
AccessContext = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]


class GraphConfigError(Exception):
    """`langgraph.json` or a graph it names cannot be loaded; the message says which and why."""


@functools.lru_cache(maxsize=1024)  # per run created: a SHA-1 and a UUID each time otherwise
def system_assistant_id(graph_id: str) -> str:
    """The deterministic id of the assistant created for `graph_id` at start-up."""
    return str(uuid5(NAMESPACE_GRAPH, graph_id))


@dataclass
class GraphSpec:
    """One entry of `graphs`: its id, the `path:attr` it came from, and the loaded object."""

    graph_id: str
    source: str
    target: Any  # Pregel | StateGraph | factory callable


def _load_env(env: Any, base: Path) -> None:
    if isinstance(env, dict):
        for key, value in env.items():
            os.environ.setdefault(str(key), str(value))
    elif isinstance(env, str):
        from dotenv import load_dotenv

        path = (base / env).resolve()
        if not path.exists():
            raise GraphConfigError(f"env file {path} named in langgraph.json does not exist")
        load_dotenv(path, override=False)
    elif env is not None:
        raise GraphConfigError("langgraph.json 'env' must be an object or a path to a .env file")


def import_target(source: str, base: Path, *, label: str, module_name: str) -> Any:
    """The object named by `source` (`./file.py:attribute`, relative to `base`, or
    `package.module:attribute`), as langgraph.json names graphs, auth handlers and
    `http.app`. `label` names the setting in errors ("graph 'agent'"); a file is loaded as
    `module_name`. Raises `GraphConfigError` with the reason."""
    if ":" not in source:
        raise GraphConfigError(f"{label}: {source!r} must have the form './file.py:attribute'")
    location, attr = source.rsplit(":", 1)
    try:
        if location.endswith(".py") or location.startswith((".", "/")):
            path = (base / location).resolve()
            if not path.exists():
                raise GraphConfigError(f"{label}: file {path} does not exist")
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except GraphConfigError:
        raise
    except Exception as exc:  # the user's module failed to import
        raise GraphConfigError(f"{label}: importing {location} failed: {type(exc).__name__}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise GraphConfigError(f"{label}: {location} has no attribute {attr!r}") from None


def _assistant_configs(raw: str | None) -> dict[str, dict]:
    """Parse `LANGGRAPH_CONFIG`, the setting the official servers read for their default
    assistants: a JSON object `{graph_id: {"configurable": {...}, "context": {...}, ...}}`.
    Raises `GraphConfigError` when it is not such an object."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GraphConfigError(f"LANGGRAPH_CONFIG is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise GraphConfigError("LANGGRAPH_CONFIG must be a JSON object mapping graph ids to config objects")
    return parsed


def _wants_runtime(param: inspect.Parameter) -> bool:
    """Whether a factory parameter asks for the `ServerRuntime` (by annotation or by name)
    rather than the `RunnableConfig`."""
    annotation = param.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    if "Runtime" in str(text):
        return True
    if "Config" in str(text):
        return False
    return param.name == "runtime"


def factory_arguments(factory: Any, config: dict, runtime: Any) -> list[Any]:
    """The positional arguments for `factory`: for each of its (up to two) leading
    parameters, `runtime` where it asks for a `ServerRuntime`, else `config`."""
    try:
        params = [
            p for p in inspect.signature(factory).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):  # a builtin or C callable: the classic one-argument form
        return [config]
    return [runtime if _wants_runtime(p) else config for p in params[:2]]


def server_runtime(
    access_context: AccessContext, store: BaseStore | None, user: Any = None, context: Any = None
) -> Any:
    """The `langgraph_sdk.runtime.ServerRuntime` handed to a graph factory: the execution
    variant (with `context`) for `threads.create_run`, the read variant otherwise."""
    from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

    if access_context == "threads.create_run":
        return _ExecutionRuntime(access_context=access_context, user=user, store=store, context=context)
    return _ReadRuntime(access_context=access_context, user=user, store=store)


class GraphRegistry:
    """The graphs of one `langgraph.json`, ready to run with Waypoint's checkpointer and store."""

    def __init__(
        self,
        specs: dict[str, GraphSpec],
        config_path: Path | None = None,
        assistant_configs: dict[str, dict] | None = None,
    ):
        self.specs = specs
        self.config_path = config_path
        #: graph id -> config (with an optional `context`) of its default assistant.
        self.assistant_configs = assistant_configs or {}
        #: (graph id, checkpointer, store) -> the graph bound to them; graphs that are not
        #: factories never change, so each is compiled and bound once per process.
        self._bound: dict[tuple[str, int, int], Pregel] = {}

    @classmethod
    def from_config(cls, config_path: str | Path) -> GraphRegistry:
        """Read `langgraph.json` at `config_path` and import every graph it names.

        Raises `GraphConfigError` with the reason when the file or a graph cannot be loaded.
        """
        path = Path(config_path).resolve()
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise GraphConfigError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise GraphConfigError(f"config file {path} is not valid JSON: {exc}") from None
        base = path.parent
        graphs = config.get("graphs")
        if not isinstance(graphs, dict) or not graphs:
            raise GraphConfigError(f"{path}: 'graphs' must be a non-empty object")
        _load_env(config.get("env"), base)
        for dep in config.get("dependencies") or ["."]:
            dep_path = str((base / dep).resolve())
            if dep_path not in sys.path:
                sys.path.insert(0, dep_path)
        specs = {}
        for graph_id, source in graphs.items():
            if isinstance(source, dict):  # {"path": "...", "description": ...} form
                source = source.get("path", "")
            specs[graph_id] = GraphSpec(graph_id, source, import_target(
                source, base, label=f"graph {graph_id!r}", module_name=f"waypoint_graphs.{graph_id}".replace("-", "_")))
        return cls(specs, path, _assistant_configs(os.environ.get("LANGGRAPH_CONFIG")))

    def default_assistant(self, graph_id: str) -> tuple[dict, dict]:
        """`(config, context)` of the default assistant of `graph_id`, from `LANGGRAPH_CONFIG`."""
        entry = dict(self.assistant_configs.get(graph_id) or {})
        context = entry.pop("context", None) or {}
        return entry, context

    def __contains__(self, graph_id: str) -> bool:
        return graph_id in self.specs

    @property
    def graph_ids(self) -> list[str]:
        return list(self.specs)

    def is_factory(self, graph_id: str) -> bool:
        """Whether `graph_id` is built per use by a factory (so its config matters)."""
        target = self.specs[graph_id].target
        return not isinstance(target, (Pregel, StateGraph)) and callable(target)

    @contextlib.asynccontextmanager
    async def graph(
        self,
        graph_id: str,
        config: dict | None = None,
        *,
        checkpointer: BaseCheckpointSaver | None = None,
        store: BaseStore | None = None,
        access_context: AccessContext = "threads.create_run",
        user: Any = None,
        context: Any = None,
    ) -> AsyncIterator[Pregel]:
        """Yield the compiled graph `graph_id` bound to `checkpointer` and `store`.

        Factories are called each time with `config` and/or a `ServerRuntime` built from
        `access_context`, `store`, `user` and (for `threads.create_run`) `context`. The
        graph's own compile-time `interrupt_before`/`interrupt_after` are kept. Raises
        `KeyError` for an unknown id.
        """
        key = (graph_id, id(checkpointer), id(store))
        if key in self._bound:
            yield self._bound[key]
            return
        target = self.specs[graph_id].target
        async with contextlib.AsyncExitStack() as stack:
            factory = self.is_factory(graph_id)
            if factory:
                runtime = server_runtime(access_context, store, user, context)
                value = target(*factory_arguments(target, config or {}, runtime))
                if inspect.isawaitable(value):
                    value = await value
                if hasattr(value, "__aenter__"):
                    value = await stack.enter_async_context(value)
                elif hasattr(value, "__enter__"):
                    value = stack.enter_context(value)
                target = value
            if isinstance(target, StateGraph):
                target = target.compile()
            if not isinstance(target, Pregel):
                raise GraphConfigError(
                    f"graph {graph_id!r} is a {type(target).__name__}, not a LangGraph graph"
                )
            bound = target.copy(update={"checkpointer": checkpointer, "store": store})
            if not factory:
                self._bound[key] = bound
            yield bound
