"""Real PostgreSQL and Redis servers for the tests, started on free loopback ports.

PostgreSQL comes from the machine's install (`pg_ctl`/`initdb`, as the `postgres` user
when the tests run as root); Redis from `redis-server` (Debian's package, which .ci/run
installs). Each is a throwaway instance in a temporary folder, removed at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path



def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return candidates[-1]


class PostgresServer:
    """A PostgreSQL cluster with trust auth for user `waypoint`."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="waypoint-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> PostgresServer:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "waypoint", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server (an outage: every connection is cut), keeping its data for
        `resume()`. A fast, not immediate, stop: with `synchronous_commit=off` an immediate
        one would lose the last commits, which no real outage of a durable server does."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the (initialized, halted) server on its port."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
        )
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def create_database(self) -> str:
        """A new empty database; returns its URI."""
        import psycopg

        name = "wp_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"postgresql://waypoint@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://waypoint@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A Redis server without persistence."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def halt(self) -> None:
        """Kill the server (an outage); `start()` brings it back on the same port."""
        self.proc.kill()
        self.proc.wait(10)
