"""`waypoint serve`: load `langgraph.json`, open storage, serve the API with uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import gc
import json
import logging
import os
import socket
import sys
from pathlib import Path

from waypoint import __version__
from waypoint.config import DEFAULT_PORT, Settings

#: Carries `--reload`'s settings (JSON) to the server processes uvicorn's reloader spawns.
_RELOAD_ENV = "WAYPOINT_RELOAD_SETTINGS"
#: The server process's GIL switch interval (`sys.setswitchinterval`; CPython's default is
#: 5 ms). A sync node runs in a thread beside the event loop; while it computes, each
#: syscall of the loop (`select`, a socket send) hands it the GIL until this interval
#: passes, so a node streaming from a loop held its run's events for ~9 ms before the first
#: reached the loop, and each hop of an event to the client (Redis send, read, SSE write)
#: waited as long again.
GIL_SWITCH_SECONDS = 0.0005
#: Seconds an idle keep-alive connection stays open (uvicorn's default is 5). httpx, under
#: the official Python SDK, drops its idle pooled connections after 5 s too: at the same
#: limit a request sent as the server closes the connection fails with a reset (`ReadError`).
#: Longer on the server's side, the client always closes first.
KEEP_ALIVE_SECONDS = 30
#: The server process's garbage collector thresholds (`gc.set_threshold`; CPython's default
#: is 700, 10, 10). A run allocates tens of thousands of container objects (LangGraph's
#: tasks, checkpoints, pydantic models) that die young: at 700 the youngest generation is
#: collected ~65 times a second at 10 clients, and each collection of the oldest scanned
#: every object imported at startup (~95 ms each). Frozen after startup
#: (`_freeze_startup_objects`) and the youngest collected every 5,000 allocations, the
#: server spent 4-7 % less CPU per HITL cycle. Higher thresholds saved no more CPU but kept
#: more dead objects between collections (RSS per parked thread 4.4 KB at 700, 4.8 at
#: 5,000, 5.2 at 10,000 / 20 / 20, 5,000 threads parked): bench/NOTES.md, "Session 10".
GC_THRESHOLDS = (5_000, 10, 10)


def build_app(settings: Settings):
    """The ASGI app for `settings`. Raises `GraphConfigError`/`ValueError` on bad config."""
    from waypoint.api.app import create_app
    from waypoint.api.auth import install_auth
    from waypoint.api.http_config import apply_http_config
    from waypoint.api.limits import install as install_limits
    from waypoint.service.auth import load_auth
    from waypoint.service.notification_targets import NotificationTargets
    from waypoint.service.webhook_policy import WebhookPolicy
    from waypoint.graphs import GraphRegistry
    from waypoint.persistence import store_config, thread_ttl_config
    from waypoint.service import Services
    from waypoint.storage import open_storage
    from waypoint.streams import InProcessBroker

    registry = GraphRegistry.from_config(settings.config_path)  # loads `env` first: notifications may use it
    raw = json.loads(settings.config_path.read_text())
    notification_targets = NotificationTargets.from_config(raw.get("waypoint"))
    webhook_policy = WebhookPolicy.from_config(raw.get("webhooks"))
    webhook_policy.enabled = not (raw.get("http") or {}).get("disable_webhooks")
    if settings.stream_retention_seconds <= 0 or settings.stream_max_events <= 0:
        raise ValueError("--stream-retention-seconds and --stream-max-events must be positive")
    retention = {
        "thread_retention_seconds": settings.stream_retention_seconds,
        "thread_max_events": settings.stream_max_events,
    }
    base = settings.config_path.resolve().parent
    thread_ttl, store = thread_ttl_config(raw), store_config(raw, base)
    # A TTL config always: langgraph's SQLite store renews an item's TTL on read only with one.
    storage = open_storage(settings.resolved_database_uri(), store_index=store.index,
                           store_ttl=store.ttl or {"refresh_on_read": True})
    storage.default_thread_ttl = thread_ttl.default_thread_ttl if thread_ttl else None
    if settings.redis_uri:
        if not settings.resolved_database_uri().startswith(("postgresql://", "postgres://")):
            raise ValueError("--redis-uri needs a PostgreSQL --database-uri: SQLite serves one process")
        from waypoint.streams.redis import RedisBroker

        broker = RedisBroker(settings.redis_uri, **retention)
    else:
        # One process serves the database: the broker keeps thread event logs in it too.
        broker = InProcessBroker(**retention, durable=storage)
    services = Services.build(
        storage, broker, registry, workers=settings.workers, run_timeout=settings.run_timeout,
        lease_seconds=settings.lease_seconds, webhook_policy=webhook_policy,
        max_run_attempts=settings.max_run_attempts, shutdown_grace_seconds=settings.shutdown_grace_seconds,
        notification_targets=notification_targets,
        public_url=settings.resolved_public_url((raw.get("http") or {}).get("mount_prefix") or ""),
        thread_ttl=thread_ttl, store_config=store,
    )
    app = create_app(services)
    base = settings.config_path.resolve().parent
    policy = load_auth(raw.get("auth"), base)
    http = raw.get("http") or {}
    if http.get("app"):
        from waypoint.api import custom_routes

        custom_routes.install(
            app, custom_routes.load_custom_app(http["app"], base),
            middleware_order=http.get("middleware_order") or "middleware_first",
            custom_route_auth=bool(http.get("enable_custom_route_auth")),
            install_auth=lambda: install_auth(app, policy),
        )
    else:
        install_auth(app, policy)
    install_limits(app, settings.max_body_mb)  # after auth: bodies are limited before auth reads them
    apply_http_config(app, raw.get("http"))  # after auth: CORS wraps auth's refusals too
    return app


def reload_app():
    """App factory for `--reload`: uvicorn's reloader calls it in each new server process,
    with the settings `main` put in the environment (`WAYPOINT_RELOAD_SETTINGS`)."""
    payload = json.loads(os.environ[_RELOAD_ENV])
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    _configure_logging(payload["log_level"])
    settings = payload["settings"]
    return build_app(Settings(**{**settings, "config_path": Path(settings["config_path"])}))


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _cannot_listen(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound (a message naming the flag to change), or None.

    Binds and releases a socket the way uvicorn will (SO_REUSEADDR), so a taken port fails
    before any graph is loaded or database opened."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; choose another with --port"
            return f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waypoint", description="Self-hosted LangGraph server.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the graphs of a langgraph.json")
    serve.add_argument("--config", default=None, help="path to langgraph.json (default ./langgraph.json)")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--database-uri", default=None,
                       help="sqlite:///path (default .waypoint/ next to the config) or postgresql://… (env DATABASE_URI)")
    serve.add_argument("--redis-uri", default=None, help="redis://… for several processes (env REDIS_URI)")
    serve.add_argument("--workers", type=int, default=None, help="concurrent runs in this process (default 10)")
    serve.add_argument("--run-timeout", type=float, default=None, help="seconds before a run times out")
    serve.add_argument("--lease-seconds", type=float, default=None,
                       help="seconds before a silent worker's runs count as orphaned (default 30)")
    serve.add_argument("--max-run-attempts", type=int, default=None,
                       help="executions a run gets when its worker dies mid-run (default 3)")
    serve.add_argument("--shutdown-grace-seconds", type=float, default=None,
                       help="on SIGTERM, seconds running runs may finish before they are re-queued (default 10)")
    serve.add_argument("--max-body-mb", type=float, default=None,
                       help="refuse request bodies above this many MB with 413 (default 32; env WAYPOINT_MAX_BODY_MB)")
    serve.add_argument("--stream-retention-seconds", type=float, default=None,
                       help="seconds a thread's stream events stay replayable after its last one (default 3600)")
    serve.add_argument("--stream-max-events", type=int, default=None,
                       help="most stream events kept per thread, oldest dropped first (default 10000)")
    serve.add_argument("--public-url", default=None,
                       help="the server's address as reviewers reach it, for inbox links in notifications "
                            "(default http://HOST:PORT; env WAYPOINT_PUBLIC_URL)")
    serve.add_argument("--reload", action="store_true",
                       help="development: restart when a file under the config's directory changes "
                            "(*.py, the config itself), as `langgraph dev` does")
    serve.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    from waypoint.graphs import GraphConfigError

    _configure_logging(args.log_level)
    settings = Settings.from_env(
        config_path=args.config, host=args.host, port=args.port, database_uri=args.database_uri,
        redis_uri=args.redis_uri,
        workers=args.workers, run_timeout=args.run_timeout, lease_seconds=args.lease_seconds,
        max_run_attempts=args.max_run_attempts, shutdown_grace_seconds=args.shutdown_grace_seconds,
        max_body_mb=args.max_body_mb,
        stream_retention_seconds=args.stream_retention_seconds, stream_max_events=args.stream_max_events,
        public_url=args.public_url,
    )
    problem = _cannot_listen(settings.host, settings.port)
    if problem:
        print(f"waypoint: {problem}", file=sys.stderr)
        return 1
    if args.reload:
        return _serve_with_reload(settings, args.log_level)
    try:
        app = build_app(settings)
    except (GraphConfigError, ValueError) as exc:
        print(f"waypoint: {exc}", file=sys.stderr)
        return 2
    _serve(app, settings, args.log_level)
    return 0


def _serve(app, settings: Settings, log_level: str) -> None:
    """Run uvicorn. A signal to exit also tells the worker pool to stop claiming runs at
    once: uvicorn first waits (up to the shutdown grace) for open connections to close,
    which may be the very runs in progress."""
    import uvicorn

    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    gc.set_threshold(*GC_THRESHOLDS)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)  # the lifespan first: services started, graphs loaded
            _freeze_startup_objects()

        def handle_exit(self, sig, frame):
            app.state.services.workers.drain()
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)), http=_http_protocol(),
    )).run()


def _freeze_startup_objects() -> None:
    """Collect once, then move every object alive (modules, graphs, app, pools) to the
    permanent generation (`gc.freeze`, Python docs): later collections of the oldest
    generation scan only what requests created since, not the whole import graph."""
    gc.collect()
    gc.freeze()


def _http_protocol():
    """uvicorn's `http` setting: httptools with one write per response
    (`waypoint.api.http_protocol`), or uvicorn's choice where httptools is not installed."""
    try:
        from waypoint.api.http_protocol import CoalescingHttpToolsProtocol
    except ImportError:
        return "auto"
    return CoalescingHttpToolsProtocol


def _serve_with_reload(settings: Settings, log_level: str) -> int:
    """Serve through uvicorn's reloader (watchfiles): each change of a `*.py` file or of the
    config under the config's directory restarts the server process on the same socket."""
    import uvicorn

    config_path = settings.config_path.resolve()
    if not config_path.is_file():
        print(f"waypoint: no config file at {config_path}; pass --config", file=sys.stderr)
        return 2
    fields = dataclasses.asdict(settings)
    fields["config_path"] = str(config_path)
    os.environ[_RELOAD_ENV] = json.dumps({"settings": fields, "log_level": log_level})
    uvicorn.run(
        "waypoint.cli:reload_app", factory=True, host=settings.host, port=settings.port,
        log_level=log_level, timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=10, reload=True,
        http=_http_protocol(),
        reload_dirs=[str(config_path.parent)], reload_includes=["*.py", config_path.name],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
