"""Runs that read and write the long-term store, many at once, never fail with
`database is locked` (issue: 7 of 30 concurrent runs failed on SQLite). SQLite's design:
one writer connection for server rows, `BEGIN IMMEDIATE` wherever a transaction reads then
writes (server rows and the store), a busy timeout, WAL."""

from __future__ import annotations

import asyncio

from langgraph_sdk import get_client

RUNS = 50
ROUNDS = 5


async def test_fifty_concurrent_store_writing_runs_all_succeed(make_server, tmp_path):
    server = make_server(tmp_path, "--workers", str(RUNS + 10)).start()
    try:
        client = get_client(url=server.url)
        threads = await asyncio.gather(*(client.threads.create() for _ in range(RUNS)))
        ids = [t["thread_id"] for t in threads]
        outputs = await asyncio.gather(*(
            client.runs.wait(i, "store_rw", input={"key": i, "rounds": ROUNDS}) for i in ids
        ))
        assert outputs == [{"key": i, "rounds": ROUNDS, "count": ROUNDS} for i in ids]
        runs = await asyncio.gather(*(client.runs.list(i) for i in ids))
        assert [[r["status"] for r in rs] for rs in runs] == [["success"]] * RUNS
        for i in ids:
            assert (await client.store.get_item(["counters"], i))["value"] == {"n": ROUNDS}
            logged = await client.store.search_items(["log", i], limit=100)
            assert sorted(item["key"] for item in logged["items"]) == [str(n) for n in range(ROUNDS)]
        assert "database is locked" not in server.log()
    finally:
        server.stop()
