"""On SQLite, a run's checkpoint writes are made on the event loop's thread (they take
microseconds) unless another connection holds the file's write lock: then the write waits on
the checkpointer's own thread, and the server keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone

import httpx
from langgraph_sdk import get_client

from conftest import ServerProcess


async def test_a_checkpoint_write_waiting_for_the_write_lock_leaves_the_server_answering(tmp_path):
    path = tmp_path / "wp.sqlite"
    server = ServerProcess(tmp_path / "s", database_uri=f"sqlite:///{path}").start()
    try:
        client = get_client(url=server.url)
        thread_id = (await client.threads.create())["thread_id"]
        run = await client.runs.create(thread_id, "slow", input={"steps": 1, "delay": 0.5})
        while (await client.runs.get(thread_id, run["run_id"]))["status"] == "pending":
            await asyncio.sleep(0.05)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
        try:
            await asyncio.sleep(2.0)  # the step ends meanwhile; its checkpoint write must wait
            # The event loop is not held by that write (/info reads no database).
            async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
                assert (await http.get("/info")).status_code == 200
        finally:
            released = datetime.now(timezone.utc)
            holder.rollback()
            holder.close()
        assert await client.runs.join(thread_id, run["run_id"]) == {"steps": 1, "delay": 0.5, "count": 1}
        finished = await client.runs.get(thread_id, run["run_id"])
        assert finished["status"] == "success"
        assert datetime.fromisoformat(finished["updated_at"]) > released  # it waited for the lock
        assert "database is locked" not in server.log()
    finally:
        server.stop()
