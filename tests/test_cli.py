"""The `waypoint` command as a user runs it: `--version`, a taken port, `serve --reload`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx

from conftest import EXAMPLES_CONFIG, ServerProcess, free_port

#: The console script pip installed next to this interpreter (what a user types).
WAYPOINT = Path(sys.executable).parent / "waypoint"


def test_version_prints_the_installed_distribution_version():
    done = subprocess.run([str(WAYPOINT), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"waypoint {version('waypoint-server')}"


def test_taken_port_fails_fast_naming_the_port_flag(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = tmp_path / "waypoint.sqlite"
        done = subprocess.run(
            [sys.executable, "-m", "waypoint", "serve", "--config", str(EXAMPLES_CONFIG),
             "--host", "127.0.0.1", "--port", str(port), "--database-uri", f"sqlite:///{database}"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not database.exists(), "it failed only after opening the database"


_GRAPH = '''"""A one-node graph whose answer the reload test edits."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    answer: str


def answer(state: State):
    return {{"answer": {answer!r}}}


builder = StateGraph(State)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
builder.add_edge("answer", END)
graph = builder.compile()
'''


def _answer(url: str) -> str | None:
    """The tiny graph's answer through a stateless `/runs/wait`, or None while restarting."""
    try:
        response = httpx.post(f"{url}/runs/wait", json={"assistant_id": "tiny", "input": {}}, timeout=30)
    except httpx.HTTPError:
        return None
    return response.json().get("answer") if response.status_code == 200 else None


def test_reload_serves_the_edited_graph(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "tiny.py").write_text(_GRAPH.format(answer="first"))
    (project / "langgraph.json").write_text(json.dumps({"graphs": {"tiny": "./tiny.py:graph"}}))
    server = ServerProcess(tmp_path / "server", "--reload", config=project / "langgraph.json").start()
    try:
        assert _answer(server.url) == "first"
        # A different length too: a same-size rewrite in the same second could reuse the .pyc.
        (project / "tiny.py").write_text(_GRAPH.format(answer="second, after the edit"))
        deadline = time.monotonic() + 120  # a bound so a broken reload fails instead of hanging
        while (seen := _answer(server.url)) != "second, after the edit" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert seen == "second, after the edit", server.log()
        assert server.proc.poll() is None
    finally:
        server.stop()
