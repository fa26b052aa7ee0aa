"""Test harness: real `waypoint serve` processes on free loopback ports, driven over HTTP."""

from __future__ import annotations

import os
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One `python -m waypoint serve` child process with its own database and log file."""

    def __init__(self, workdir: Path, config: Path = GRAPHS_CONFIG, *extra: str):
        self.workdir = workdir
        self.config = config
        self.extra = list(extra)
        self.database = workdir / "waypoint.sqlite"
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "waypoint", "serve", "--config", str(self.config),
             "--host", "127.0.0.1", "--port", str(self.port),
             "--database-uri", f"sqlite:///{self.database}", "--workers", "32", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
        )
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


@pytest.fixture(scope="session")
def server(tmp_path_factory, output_dir):
    """The shared server: every graph of tests/graphs/langgraph.json on a fresh SQLite file."""
    proc = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield proc
    proc.stop()
    (output_dir / "server.log").write_text(proc.log())


@pytest.fixture
def client(server):
    """An official `langgraph_sdk` async client for the shared server."""
    return get_client(url=server.url)


@pytest.fixture
def http(server):
    """A plain httpx client for calls the SDK has no method for (and raw status codes)."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
