"""SQLite's disk-sync option: `sqlite:///path?synchronous=full` (every commit synced to disk)."""

from __future__ import annotations

import subprocess
import sys

from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

from conftest import GRAPHS_CONFIG, ServerProcess, free_port


async def test_synchronous_full_serves_and_keeps_a_paused_thread_across_kill(tmp_path):
    """The option is read from the URI (the file is `wp.sqlite`, not a name with `?` in it),
    and a thread paused under it survives `kill -9` and resumes once."""
    uri = f"sqlite:///{tmp_path / 'wp.sqlite'}?synchronous=full"
    first = ServerProcess(tmp_path / "a", database_uri=uri).start()
    try:
        client = get_client(url=first.url)
        thread = await client.threads.create()
        paused = await client.runs.wait(thread["thread_id"], "agent", input={"some_text": "draft"})
        assert paused["__interrupt__"][0]["value"]["text_to_revise"] == "draft"
    finally:
        first.proc.kill()
        first.proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir() if "?" in p.name) == []
    assert (tmp_path / "wp.sqlite").exists()
    second = ServerProcess(tmp_path / "b", database_uri=uri).start()
    try:
        client = get_client(url=second.url)
        done = await client.runs.wait(thread["thread_id"], "agent", command=Command(resume="final"))
        assert done["some_text"] == "final"
    finally:
        second.stop()


def test_an_unknown_synchronous_value_is_refused_at_start_up(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "waypoint", "serve", "--config", str(GRAPHS_CONFIG), "--port", str(free_port()),
         "--database-uri", f"sqlite:///{tmp_path / 'wp.sqlite'}?synchronous=sometimes"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "synchronous must be normal or full" in done.stderr
