"""Server settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Default port, the official server's container default (2024 is `langgraph dev`'s).
DEFAULT_PORT = 8123

#: Default request body limit in megabytes (`--max-body-mb`, `WAYPOINT_MAX_BODY_MB`).
DEFAULT_MAX_BODY_MB = 32.0


@dataclass
class Settings:
    """One deployment's settings.

    `database_uri`: `sqlite:///path` (default: `.waypoint/waypoint.sqlite` next to the config)
    or `postgresql://…`. `redis_uri`: `redis://…` to share run streams and signals between
    processes (without it, one process serves everything).
    `workers`: runs executed concurrently by this process. `run_timeout`: seconds before a
    run ends with status `timeout` (None: no limit). `lease_seconds`: how long a run's worker
    may go silent before other workers treat the run as orphaned (heartbeats every third of it).
    `max_run_attempts`: executions a run gets when its worker dies mid-run (then `error`).
    `shutdown_grace_seconds`: on SIGTERM, how long running runs may finish before they are
    handed back to the queue to continue in another (or the next) process.
    `max_body_mb`: request bodies above this many megabytes are refused with `413`.
    `stream_retention_seconds`: how long a thread's protocol events stay replayable after its
    last event; `stream_max_events`: the most events kept per thread (oldest dropped first).
    `public_url`: the server's address as reviewers reach it, for the inbox links in
    notifications (default `http://host:port`, see `resolved_public_url`).
    """

    config_path: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database_uri: str | None = None
    redis_uri: str | None = None
    workers: int = 10
    run_timeout: float | None = None
    lease_seconds: float = 30.0
    max_run_attempts: int = 3
    shutdown_grace_seconds: float = 10.0
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    stream_retention_seconds: float = 3600.0
    stream_max_events: int = 10_000
    public_url: str | None = None

    def resolved_database_uri(self) -> str:
        if self.database_uri:
            return self.database_uri
        return f"sqlite:///{self.config_path.resolve().parent / '.waypoint' / 'waypoint.sqlite'}"

    def resolved_public_url(self, mount_prefix: str = "") -> str:
        """`public_url`, else `http://host:port` + `mount_prefix` (a wildcard host, which no
        browser can open, becomes `localhost`)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{mount_prefix}".rstrip("/")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings from `WAYPOINT_*`/`DATABASE_URI` environment variables, then `overrides`
        (None values are ignored)."""
        env = os.environ
        values = {
            "config_path": Path(env.get("WAYPOINT_CONFIG", "langgraph.json")),
            "host": env.get("WAYPOINT_HOST", "127.0.0.1"),
            "port": int(env.get("WAYPOINT_PORT", DEFAULT_PORT)),
            "database_uri": env.get("DATABASE_URI"),
            "redis_uri": env.get("REDIS_URI"),
            "workers": int(env.get("WAYPOINT_WORKERS", 10)),
            "run_timeout": float(env["WAYPOINT_RUN_TIMEOUT"]) if env.get("WAYPOINT_RUN_TIMEOUT") else None,
            "lease_seconds": float(env.get("WAYPOINT_LEASE_SECONDS", 30)),
            "max_run_attempts": int(env.get("WAYPOINT_MAX_RUN_ATTEMPTS", 3)),
            "shutdown_grace_seconds": float(env.get("WAYPOINT_SHUTDOWN_GRACE_SECONDS", 10)),
            "max_body_mb": float(env.get("WAYPOINT_MAX_BODY_MB", DEFAULT_MAX_BODY_MB)),
            "stream_retention_seconds": float(env.get("WAYPOINT_STREAM_RETENTION_SECONDS", 3600)),
            "stream_max_events": int(env.get("WAYPOINT_STREAM_MAX_EVENTS", 10_000)),
            "public_url": env.get("WAYPOINT_PUBLIC_URL"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["config_path"] = Path(values["config_path"])
        return cls(**values)
