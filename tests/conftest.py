"""Test harness: real `waypoint serve` processes on free loopback ports, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

ROOT = Path(__file__).resolve().parent.parent
GRAPHS_CONFIG = ROOT / "tests" / "graphs" / "langgraph.json"
EXAMPLES_CONFIG = ROOT / "examples" / "langgraph.json"


#: Seconds a server gets to start: a bound for a hung start-up, not a timed check. Generous,
#: as on a loaded 2-core CI machine a start (imports, migrations) took over 30 s and one
#: late session-wide server failed every test that used it.
START_TIMEOUT = 120.0


def write_config(path: Path, **sections) -> Path:
    """Write a langgraph.json at `path` serving tests/graphs' graphs plus `sections`
    (`http`, `auth`, `webhooks`, …); returns `path`."""
    import json

    base = json.loads(GRAPHS_CONFIG.read_text())
    base["graphs"] = {k: str((GRAPHS_CONFIG.parent / v).resolve()) for k, v in base["graphs"].items()}
    base["dependencies"] = [str(GRAPHS_CONFIG.parent)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**base, **sections}))
    return path


def start_up_error(config: Path) -> str:
    """Start `waypoint serve` on `config`, expecting it to refuse (exit 2); its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "waypoint", "serve", "--config", str(config), "--port", str(free_port()),
         "--database-uri", f"sqlite:///{config.parent / 'refused.sqlite'}"],
        capture_output=True, text=True, timeout=START_TIMEOUT, cwd=config.parent,
    )
    assert done.returncode == 2, f"exit {done.returncode}:\n{done.stderr}"
    return done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One `python -m waypoint serve` child process with its own log file.

    `database_uri` defaults to a SQLite file in `workdir`; `redis_uri` adds the Redis broker.
    """

    def __init__(
        self,
        workdir: Path,
        *extra: str,
        database_uri: str | None = None,
        redis_uri: str | None = None,
        config: Path = GRAPHS_CONFIG,
    ):
        self.workdir = workdir
        self.config = config
        self.extra = list(extra)
        self.database_uri = database_uri or f"sqlite:///{workdir / 'waypoint.sqlite'}"
        self.redis_uri = redis_uri
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Launch the process and wait until it answers `/ok`."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "waypoint", "serve", "--config", str(self.config),
             "--host", "127.0.0.1", "--port", str(self.port), "--database-uri", self.database_uri,
             *(["--redis-uri", self.redis_uri] if self.redis_uri else []),
             "--workers", "32", "--lease-seconds", "3", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Wait until the launched process answers `/ok`; raise with its log if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests write artefacts (server logs): `test-output/` at the repository root."""
    path = Path(os.environ.get("WAYPOINT_TEST_OUTPUT", ROOT / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Backends every server-driving test runs against; WAYPOINT_TEST_BACKENDS=sqlite narrows it.
BACKENDS = os.environ.get("WAYPOINT_TEST_BACKENDS", "sqlite,postgres").split(",")


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server (started on first use)."""
    from services import PostgresServer

    pg = PostgresServer().start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway Redis server (started on first use)."""
    from services import RedisServer

    r = RedisServer().start()
    yield r
    r.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """`sqlite` (SQLite + in-process broker) or `postgres` (PostgreSQL + Redis)."""
    return request.param


@pytest.fixture(scope="session")
def make_server(backend, request):
    """Factory of `ServerProcess`es on the current backend; for PostgreSQL each call gets a
    fresh database unless `database_uri` is given (to share one between processes).
    `config` is the langgraph.json to serve (default tests/graphs/langgraph.json)."""

    def make(workdir: Path, *extra: str, database_uri: str | None = None,
             config: Path = GRAPHS_CONFIG) -> ServerProcess:
        if backend == "sqlite":
            return ServerProcess(workdir, *extra, database_uri=database_uri, config=config)
        pg = request.getfixturevalue("postgres")
        redis_uri = request.getfixturevalue("redis_server").uri
        return ServerProcess(workdir, *extra, database_uri=database_uri or pg.create_database(),
                             redis_uri=redis_uri, config=config)

    return make


@pytest.fixture(scope="session")
def server(make_server, backend, tmp_path_factory, output_dir):
    """The shared server of a backend: every graph of tests/graphs/langgraph.json, fresh database."""
    proc = make_server(tmp_path_factory.mktemp(f"server-{backend}")).start()
    yield proc
    proc.stop()
    (output_dir / f"server-{backend}.log").write_text(proc.log())


@pytest.fixture(scope="module")
def module_server(make_server, backend, tmp_path_factory, output_dir, request):
    """A server of the test module's own (fresh database), for tests that act on the whole
    deployment (a cancel of every pending run, …)."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    proc = make_server(tmp_path_factory.mktemp(f"{name}-{backend}")).start()
    yield proc
    proc.stop()
    (output_dir / f"server-{name}-{backend}.log").write_text(proc.log())


@pytest.fixture
def client(server):
    """An official `langgraph_sdk` async client for the shared server."""
    return get_client(url=server.url)


@pytest.fixture
def http(server):
    """A plain httpx client for calls the SDK has no method for (and raw status codes)."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


#: Debian's Chromium, driven by Playwright in the browser tests; the flags keep it off the
#: network (this machine's closed network refuses its background connections).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """`playwright.async_api`, or a skip when Playwright or Chromium is missing."""
    playwright_api = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return playwright_api
